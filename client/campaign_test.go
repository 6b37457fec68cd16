package client_test

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/client"
	"github.com/hongbao/hongbao/internal/natstest"
)

// TestCampaignContract holds the campaign methods to api.md v1.1 while
// the service side is built elsewhere: a responder on a real server
// checks each request's subject and body against the contract and answers
// the contract's replies (and an invalid_ticket error with micro's
// headers), which the client must decode. Once the campaign endpoints are
// merged, internal/e2e's endpoint test holds the real service to the same
// list (docs/api.md).
func TestCampaignContract(t *testing.T) {
	srv := natstest.Start(t)
	nc := srv.Conn(t)
	const id = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
	ends := time.Date(2027, 2, 1, 12, 0, 0, 0, time.UTC)
	replies := map[string]string{
		"hongbao.campaign.create":         `{"campaign_id":"` + id + `","state":"created","total":100000,"count":1000}`,
		"hongbao.campaign.pay." + id:      `{"campaign_id":"` + id + `","state":"live","starts_at":"2027-01-01T00:00:00.000Z","ends_at":"2027-02-01T12:00:00.000Z"}`,
		"hongbao.shake." + id:             `{"status":"won","ticket":"t.k-1"}`,
		"hongbao.campaign.open." + id:     `{"status":"opened","amount":88,"seq":7}`,
		"hongbao.campaign.get." + id:      `{"campaign":{"campaign_id":"` + id + `","sponsor":"acme","total":100000,"count":1000,"state":"live","issued":3,"opened_count":1,"opened_total":88,"refunded":0,"starts_at":"2027-01-01T00:00:00.000Z","ends_at":"2027-02-01T12:00:00.000Z"}}`,
		"hongbao.campaign.open.BADTICKET": "",
	}
	want := map[string]map[string]any{
		"hongbao.campaign.create":     {"sponsor": "acme", "total": 100000.0, "count": 1000.0, "ends_at": "2027-02-01T12:00:00.000Z", "per_user": 2.0},
		"hongbao.campaign.pay." + id:  {"payment_id": "p-1", "amount": 100000.0},
		"hongbao.shake." + id:         {"user": "bob"},
		"hongbao.campaign.open." + id: {"user": "bob", "ticket": "t.k-1"},
		"hongbao.campaign.get." + id:  {},
	}
	var mu sync.Mutex // the handler runs on the subscription's goroutine
	got := map[string]map[string]any{}
	sub, err := nc.Subscribe("hongbao.>", func(m *nats.Msg) {
		var body map[string]any
		if err := json.Unmarshal(m.Data, &body); err != nil {
			t.Errorf("%s: body %s: %v", m.Subject, m.Data, err)
		}
		mu.Lock()
		got[m.Subject] = body
		mu.Unlock()
		if m.Subject == "hongbao.campaign.open.BADTICKET" {
			r := nats.NewMsg(m.Reply)
			r.Header.Set("Nats-Service-Error-Code", "400")
			r.Header.Set("Nats-Service-Error", "invalid ticket")
			r.Data = []byte(`{"error":{"code":"invalid_ticket","message":"the ticket is not this user's"}}`)
			_ = m.RespondMsg(r)
			return
		}
		_ = m.Respond([]byte(replies[m.Subject]))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	c := client.New(srv.Conn(t))
	ctx := tctx(t)
	cr, err := c.CampaignCreate(ctx, client.CampaignCreateRequest{Sponsor: "acme", Total: 100000, Count: 1000, EndsAt: ends, PerUser: 2})
	if err != nil || cr.CampaignID != id || cr.State != client.StateCreated || cr.Total != 100000 || cr.Count != 1000 || cr.RequestID == "" {
		t.Fatalf("create: %+v %v", cr, err)
	}
	want["hongbao.campaign.create"]["request_id"] = cr.RequestID
	p, err := c.CampaignPay(ctx, id, "p-1", 100000)
	if err != nil || p.State != client.StateLive || !p.EndsAt.Equal(ends) || p.StartsAt.IsZero() {
		t.Fatalf("pay: %+v %v", p, err)
	}
	s, err := c.Shake(ctx, id, "bob")
	if err != nil || s.Status != client.StatusWon || s.Ticket != "t.k-1" {
		t.Fatalf("shake: %+v %v", s, err)
	}
	o, err := c.CampaignOpen(ctx, id, "bob", s.Ticket)
	if err != nil || o.Status != client.StatusOpened || o.Amount != 88 || o.Seq != 7 {
		t.Fatalf("campaign open: %+v %v", o, err)
	}
	g, err := c.CampaignGet(ctx, id)
	if err != nil || g.Sponsor != "acme" || g.Issued != 3 || g.OpenedTotal != 88 || g.State != client.StateLive || !g.EndsAt.Equal(ends) {
		t.Fatalf("campaign get: %+v %v", g, err)
	}
	_, err = c.CampaignOpen(ctx, "BADTICKET", "bob", "forged")
	var e *client.Error
	if !errors.Is(err, client.ErrInvalidTicket) || !errors.As(err, &e) || e.Status != 400 || e.Message != "the ticket is not this user's" {
		t.Fatalf("forged ticket: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for subj, w := range want {
		b, _ := json.Marshal(got[subj])
		wb, _ := json.Marshal(w)
		if string(b) != string(wb) {
			t.Errorf("%s: sent %s, want %s", subj, b, wb)
		}
	}
}
