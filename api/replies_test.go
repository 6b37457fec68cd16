package api

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

func wantJSON(t *testing.T, v any, want string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %#v: %v", v, err)
	}
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestReplyShapes(t *testing.T) {
	zero, seven := 0, 7
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"wrap", WrapReply{EnvelopeID: goodID, State: StateWrapped, Total: 10000, Count: 10, Kind: KindLucky},
			`{"envelope_id":"` + goodID + `","state":"wrapped","total":10000,"count":10,"kind":"lucky"}`},
		{"pay", PayReply{EnvelopeID: goodID, State: StateLive, ExpiresAt: "2026-11-24T08:00:00Z"},
			`{"envelope_id":"` + goodID + `","state":"live","expires_at":"2026-11-24T08:00:00Z"}`},
		{"grab can_open", GrabReply{Status: StatusCanOpen}, `{"status":"can_open"}`},
		{"grab already_opened", GrabReply{Status: StatusAlreadyOpened, Amount: 1234}, `{"status":"already_opened","amount":1234}`},
		{"open opened", OpenReply{Status: StatusOpened, Amount: 1234, Index: 3, RemainingCount: &seven, Seq: 42},
			`{"status":"opened","amount":1234,"index":3,"remaining_count":7,"seq":42}`},
		{"open last share", OpenReply{Status: StatusOpened, Amount: 1, Index: 10, RemainingCount: &zero, Seq: 50},
			`{"status":"opened","amount":1,"index":10,"remaining_count":0,"seq":50}`},
		{"open already_opened", OpenReply{Status: StatusAlreadyOpened, Amount: 1234, Index: 3},
			`{"status":"already_opened","amount":1234,"index":3}`},
		{"open exhausted", OpenReply{Status: StatusExhausted}, `{"status":"exhausted"}`},
		{"get", GetReply{
			Envelope: EnvelopeView{EnvelopeID: goodID, Sender: "alice", Kind: KindLucky, Total: 10000, Count: 10, State: StateFinished,
				OpenedCount: 10, OpenedTotal: 10000, Greeting: "恭喜发财", CreatedAt: "c", ExpiresAt: "e"},
			Opens: []OpenView{{User: "bob", Amount: 1234, Index: 1, At: "a", BestLuck: true}},
		}, `{"envelope":{"envelope_id":"` + goodID + `","sender":"alice","kind":"lucky","total":10000,"count":10,"state":"finished",` +
			`"opened_count":10,"opened_total":10000,"refunded":0,"greeting":"恭喜发财","created_at":"c","expires_at":"e"},` +
			`"opens":[{"user":"bob","amount":1234,"index":1,"at":"a","best_luck":true}],"next":""}`},
		{"get wrapped, nil opens", GetReply{Envelope: EnvelopeView{EnvelopeID: goodID, State: StateWrapped}},
			`{"envelope":{"envelope_id":"` + goodID + `","sender":"","kind":"","total":0,"count":0,"state":"wrapped",` +
				`"opened_count":0,"opened_total":0,"refunded":0,"greeting":"","created_at":""},"opens":[],"next":""}`},
		{"get by pointer", &GetReply{Next: "n"}, `{"envelope":{"envelope_id":"","sender":"","kind":"","total":0,"count":0,"state":"",` +
			`"opened_count":0,"opened_total":0,"refunded":0,"greeting":"","created_at":""},"opens":[],"next":"n"}`},
		{"received", ReceivedReply{Items: []ReceivedItem{{EnvelopeID: goodID, Sender: "alice", Amount: 5, At: "a", BestLuck: true}},
			Totals: ListTotals{Count: 1, Amount: 5, BestLuckCount: 1}},
			`{"items":[{"envelope_id":"` + goodID + `","sender":"alice","amount":5,"at":"a","best_luck":true}],"next":"",` +
				`"totals":{"count":1,"amount":5,"best_luck_count":1}}`},
		{"received empty", ReceivedReply{}, `{"items":[],"next":"","totals":{"count":0,"amount":0,"best_luck_count":0}}`},
		{"sent", SentReply{Items: []SentItem{{EnvelopeID: goodID, Kind: KindEqual, Total: 100, Count: 2, OpenedCount: 1, Refunded: 50, State: StateExpired, At: "a"}}},
			`{"items":[{"envelope_id":"` + goodID + `","kind":"equal","total":100,"count":2,"opened_count":1,"refunded":50,"state":"expired","at":"a"}],` +
				`"next":"","totals":{"count":0,"amount":0,"best_luck_count":0}}`},
		{"sent empty", SentReply{}, `{"items":[],"next":"","totals":{"count":0,"amount":0,"best_luck_count":0}}`},
		{"wallet", WalletReply{User: "bob", Balance: 5, Entries: []WalletEntry{{TransferID: "t", Amount: 5, Kind: EntryOpen, EnvelopeID: goodID, At: "a"}}},
			`{"user":"bob","balance":5,"entries":[{"transfer_id":"t","amount":5,"kind":"open","envelope_id":"` + goodID + `","at":"a"}],"next":""}`},
		{"wallet empty", WalletReply{User: "bob"}, `{"user":"bob","balance":0,"entries":[],"next":""}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantJSON(t, c.v, c.want)
		})
	}
}

// TestRequestTagsRoundTrip: a request encoded with its json tags (as a Go
// client would) decodes back to itself.
func TestRequestTagsRoundTrip(t *testing.T) {
	w := WrapRequest{RequestID: "c-1", Sender: "alice", Kind: KindEqual, Total: 100, Count: 4, Greeting: "hi"}
	b, _ := json.Marshal(w)
	gotW, err := DecodeWrap(b)
	wantNoError(t, err)
	wantEqual(t, gotW, w)

	l := ListRequest{User: "bob", Year: 2026, Limit: 5, Cursor: "x", AfterSeq: 9}
	b, _ = json.Marshal(l)
	gotL, err := DecodeList(b)
	wantNoError(t, err)
	wantEqual(t, gotL, l)

	g := GetRequest{Limit: 20}
	b, _ = json.Marshal(g)
	gotG, err := DecodeGet(b)
	wantNoError(t, err)
	wantEqual(t, gotG, g)
}

// TestOpenReplyJSON: OpenReply.AppendJSON writes what json.Marshal writes.
func TestOpenReplyJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	statuses := []string{"opened", "exhausted", "already_opened", "", "<&>", "\xff", "恭喜"}
	ints := []int64{0, 1, -1, 61, math.MaxInt64, math.MinInt64}
	for range 5000 {
		r := OpenReply{Status: statuses[rng.IntN(len(statuses))], Amount: ints[rng.IntN(len(ints))],
			Index: int(ints[rng.IntN(len(ints))]), Seq: uint64(ints[rng.IntN(len(ints))])}
		if rng.IntN(2) == 0 {
			n := int(ints[rng.IntN(len(ints))])
			r.RemainingCount = &n
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AppendJSON([]byte("x")); !bytes.Equal(got, append([]byte("x"), want...)) {
			t.Fatalf("%+v:\n got %s\nwant x%s", r, got, want)
		}
	}
}
