package events

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

const campaignID = "01JQ0000000000000000000001"

func campaignSample() []CampaignEvent {
	return []CampaignEvent{
		NewCampaign(campaignID, at, CampaignCreated{RequestID: "r-1", Sponsor: "brand", Total: 1_000_000, Count: 1000,
			Slices: 4, PerUser: 1, MinShare: 1, MaxShare: 20000, StartsAt: at.Add(time.Hour), EndsAt: at.Add(2 * time.Hour),
			PayBy: at.Add(15 * time.Minute), Seed: Seed{9, 8, 7}}),
		NewCampaign(campaignID, at, CampaignPaid{PaymentID: "p-1", Amount: 1_000_000}),
		NewCampaign(campaignID, at, CampaignPaused{Operator: "ops-1", Reason: "fraud wave"}),
		NewCampaign(campaignID, at, CampaignResumed{Operator: "ops-1"}),
		NewCampaign(campaignID, at, TicketsReserved{Slice: 2, From: 500, To: 564}),
		NewCampaign(campaignID, at, TicketOpened{Slice: 2, Index: 501, User: "bob", Amount: 1234, KeyID: "k1a2b3c4d", Ticket: "AQ-x_y"}),
		NewCampaign(campaignID, at, SliceClosed{Slice: 2, Reserved: 64, OpenedCount: 1, OpenedTotal: 1234}),
		NewCampaign(campaignID, at, CampaignEnded{Refund: 998_766, OpenedCount: 1, OpenedTotal: 1234, Reserved: 64}),
		NewCampaign(campaignID, at, CampaignCancelled{Reason: "pay timeout"}),
	}
}

func TestCampaignRoundTrip(t *testing.T) {
	for _, e := range campaignSample() {
		b, err := EncodeCampaign(e)
		if err != nil {
			t.Fatalf("encode %s: %v", e.Type, err)
		}
		got, err := DecodeCampaign(b)
		if err != nil {
			t.Fatalf("decode %s: %v\n%s", e.Type, err, b)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip of %s:\n got %#v\nwant %#v", e.Type, got, e)
		}
		again, err := EncodeCampaign(got)
		if err != nil || string(again) != string(b) {
			t.Fatalf("re-encoding %s is not stable:\n%s\n%s (%v)", e.Type, b, again, err)
		}
	}
}

func TestCampaignSlice(t *testing.T) {
	for _, e := range campaignSample() {
		k, onSlice := e.Slice()
		want := e.Type == TypeTicketsReserved || e.Type == TypeTicketOpened || e.Type == TypeSliceClosed
		if onSlice != want || (onSlice && k != 2) {
			t.Errorf("%s: slice %d, %v", e.Type, k, onSlice)
		}
	}
}

// The two unions never accept each other's events: each stream's decoder
// fails loudly on the other kind (the existing envelope switches never see
// a campaign payload).
func TestCampaignAndEnvelopeDecodersAreDisjoint(t *testing.T) {
	for _, e := range campaignSample() {
		b, err := EncodeCampaign(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(b); err == nil {
			t.Errorf("Decode accepted campaign event %s", b)
		}
		// Even with the id key renamed, the type is unknown to Decode.
		renamed := strings.Replace(string(b), `"campaign_id"`, `"envelope_id"`, 1)
		if _, err := Decode([]byte(renamed)); !errors.Is(err, ErrUnknownType) {
			t.Errorf("Decode(%s) = %v, want ErrUnknownType", renamed, err)
		}
	}
	for _, e := range sample() {
		b, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		renamed := strings.Replace(string(b), `"envelope_id"`, `"campaign_id"`, 1)
		if _, err := DecodeCampaign([]byte(renamed)); !errors.Is(err, ErrUnknownType) {
			t.Errorf("DecodeCampaign(%s) = %v, want ErrUnknownType", renamed, err)
		}
		if _, err := DecodeCampaign(b); err == nil {
			t.Errorf("DecodeCampaign accepted envelope event %s", b)
		}
	}
}

func TestDecodeCampaignRejects(t *testing.T) {
	good, err := EncodeCampaign(campaignSample()[5])
	if err != nil {
		t.Fatal(err)
	}
	g := string(good)
	cases := []struct {
		name string
		in   string
		want error
	}{
		{"empty", ``, ErrMalformed},
		{"not json", `{`, ErrMalformed},
		{"unknown type", strings.Replace(g, `"type":"ticket_opened"`, `"type":"ticket_stolen"`, 1), ErrUnknownType},
		{"future version", strings.Replace(g, `"v":1`, `"v":2`, 1), ErrUnknownType},
		{"unknown field", strings.Replace(g, `"user":"bob"`, `"user":"bob","bonus":1`, 1), ErrMalformed},
		{"unknown wrapper field", strings.Replace(g, `"v":1`, `"v":1,"x":0`, 1), ErrMalformed},
		{"trailing", g + `{}`, ErrMalformed},
		{"no id", strings.Replace(g, `"campaign_id":"`+campaignID+`"`, `"campaign_id":""`, 1), ErrMalformed},
		{"null data", g[:strings.Index(g, `"data":`)] + `"data":null}`, ErrMalformed},
		{"float amount", strings.Replace(g, `"amount":1234`, `"amount":12.5`, 1), ErrMalformed},
		{"zero amount", strings.Replace(g, `"amount":1234`, `"amount":0`, 1), ErrMalformed},
		{"negative index", strings.Replace(g, `"index":501`, `"index":-1`, 1), ErrMalformed},
		{"no ticket", strings.Replace(g, `"ticket":"AQ-x_y"`, `"ticket":""`, 1), ErrMalformed},
	}
	for _, c := range cases {
		if _, err := DecodeCampaign([]byte(c.in)); !errors.Is(err, c.want) {
			t.Errorf("%s: DecodeCampaign(%s) = %v, want %v", c.name, c.in, err, c.want)
		}
	}
}

func TestCampaignValidate(t *testing.T) {
	base := campaignSample()[0].Data.(CampaignCreated)
	bad := map[string]func(*CampaignCreated){
		"no sponsor":       func(c *CampaignCreated) { c.Sponsor = "" },
		"zero count":       func(c *CampaignCreated) { c.Count = 0 },
		"count over cap":   func(c *CampaignCreated) { c.Count, c.Total = HardMaxCampaignCount+1, HardMaxCampaignCount+1 },
		"more slices":      func(c *CampaignCreated) { c.Slices = c.Count + 1 },
		"zero slices":      func(c *CampaignCreated) { c.Slices = 0 },
		"zero per_user":    func(c *CampaignCreated) { c.PerUser = 0 },
		"under min":        func(c *CampaignCreated) { c.Total = int64(c.Count) - 1 },
		"over max":         func(c *CampaignCreated) { c.Total = int64(c.Count)*c.MaxShare + 1 },
		"ends before":      func(c *CampaignCreated) { c.EndsAt = c.StartsAt },
		"no pay_by":        func(c *CampaignCreated) { c.PayBy = time.Time{} },
		"max under min":    func(c *CampaignCreated) { c.MinShare, c.MaxShare = 10, 9 },
		"max share capped": func(c *CampaignCreated) { c.MaxShare = HardMaxCampaignShare + 1 },
	}
	for name, f := range bad {
		c := base
		f(&c)
		if _, err := EncodeCampaign(NewCampaign(campaignID, at, c)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: encode = %v, want ErrMalformed", name, err)
		}
	}
	if _, err := EncodeCampaign(CampaignEvent{Type: TypeCampaignPaid, CampaignID: campaignID, At: at, Data: CampaignEnded{}}); !errors.Is(err, ErrMalformed) {
		t.Errorf("mismatched payload: %v", err)
	}
}
