package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/eventstore"
	"github.com/hongbao/hongbao/internal/app"
	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/seal"
	"github.com/hongbao/hongbao/ops"
	"github.com/hongbao/hongbao/projections/projector"
	"github.com/hongbao/hongbao/reconcile"
	"github.com/hongbao/hongbao/topology"
)

// TestForgedOpenedIsNotCredited: a plausible forged Opened — the right
// JSON, the share the seed derives, the right expected sequence — published
// with the service's own rights onto envelope.<id>, but not signed by an
// instance key: no view applies it (each parks it as forged_event), so the
// outbox has no transfer and no wallet is credited; reconcile reports it as
// forged_event; the envelope answers 500 corrupt; other envelopes keep
// working. An event signed by a key that is not registered is forged too.
func TestForgedOpenedIsNotCredited(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	a, err := app.Start(ctx, srv.Conn(t), app.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	nc := srv.Conn(t)
	js := srv.JetStream(t)
	top := topology.Default()
	request := func(subject, body string) *nats.Msg {
		t.Helper()
		m, err := nc.Request(subject, []byte(body), 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
		return m
	}
	req := func(subject, body string) map[string]any {
		t.Helper()
		m := request(subject, body)
		var v map[string]any
		if err := json.Unmarshal(m.Data, &v); err != nil || m.Header.Get("Nats-Service-Error-Code") != "" {
			t.Fatalf("%s: %s (%v)", subject, m.Data, err)
		}
		return v
	}
	wrapAndPay := func(n int) string {
		id := req("hongbao.wrap", fmt.Sprintf(`{"request_id":"r%d","sender":"alice","kind":"lucky","total":1000,"count":4}`, n))["envelope_id"].(string)
		req("hongbao.pay."+id, fmt.Sprintf(`{"payment_id":"p%d","amount":1000}`, n))
		return id
	}
	balance := func(user string) float64 {
		return req("hongbao.wallet."+user, `{}`)["balance"].(float64)
	}

	// The instance signs: its key is registered and trusted.
	regs, from, err := seal.Trusted(ctx, js, top.KeysBucket())
	if err != nil || len(regs) != 1 || regs[0].Key != a.InstanceKey || len(from) != 2 {
		t.Fatalf("trusted %+v, signed from %v (%v); want the instance's key %s", regs, from, err, a.InstanceKey)
	}

	target := wrapAndPay(1)
	req("hongbao.open."+target, `{"user":"bob"}`)

	// Forge the next open exactly as the service would decide it.
	store, err := eventstore.Open(ctx, js, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := store.Load(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	st, err := envelope.Fold(target, recs)
	if err != nil {
		t.Fatal(err)
	}
	res, ev, err := st.Open("mallory", time.Now())
	if err != nil || ev == nil {
		t.Fatalf("deciding the forged open: %v %v", res, err)
	}
	data, err := events.Encode(*ev)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: top.EnvelopeSubject(target), Data: data},
		jetstreamExpect(recs[len(recs)-1].Seq)...)
	if err != nil {
		t.Fatal(err)
	}
	forgedSeq := ack.Sequence

	// A second forgery, signed by a key nobody registered.
	other := wrapAndPay(2)
	rogue, _, err := seal.Generate()
	if err != nil {
		t.Fatal(err)
	}
	recs2, err := store.Load(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	st2, _ := envelope.Fold(other, recs2)
	_, ev2, err := st2.Open("mallory", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	data2, _ := events.Encode(*ev2)
	m2 := &nats.Msg{Subject: top.EnvelopeSubject(other), Data: data2}
	rogue.Seal(m2, seal.Hash(nats.Header{}, nil)) // any link: the key is what fails
	if _, err := js.PublishMsg(ctx, m2); err != nil {
		t.Fatal(err)
	}

	// Other envelopes keep working, and their opens are credited.
	good := wrapAndPay(3)
	carol := req("hongbao.open."+good, `{"user":"carol"}`)["amount"].(float64)
	natstest.Eventually(t, 20*time.Second, func() error {
		if b := balance("carol"); b != carol {
			return fmt.Errorf("carol's wallet %v, want %v", b, carol)
		}
		return nil
	})

	// The forged envelope answers a clear, final error; mallory got nothing.
	m := request("hongbao.open."+target, `{"user":"erin"}`)
	if code := m.Header.Get("Nats-Service-Error-Code"); code != "500" {
		t.Fatalf("open of the forged envelope: %s %s", code, m.Data)
	}
	var body struct{ Error struct{ Code string } }
	if err := json.Unmarshal(m.Data, &body); err != nil || body.Error.Code != api.CodeCorrupt {
		t.Fatalf("open of the forged envelope: %s", m.Data)
	}
	if b := balance("mallory"); b != 0 {
		t.Fatalf("mallory was credited %v", b)
	}
	// Every view parked the two forgeries, and the outbox holds no
	// transfer for them.
	natstest.Eventually(t, 20*time.Second, func() error {
		for _, view := range []string{"detail", "users", "outbox"} {
			parked, err := a.Views.Parked(ctx, view)
			if err != nil {
				return err
			}
			if len(parked) != 2 || parked[0].Seq != forgedSeq || parked[0].Kind != projector.KindForged || parked[1].Kind != projector.KindForged {
				return fmt.Errorf("%s parked %+v", view, parked)
			}
		}
		return nil
	})
	ts, err := a.Views.Outbox(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range ts {
		if tr.Credit == "wallet:mallory" {
			t.Fatalf("the outbox holds %+v", tr)
		}
	}

	// reconcile and audit report both, by kind.
	rep, err := reconcile.Run(ctx, js, reconcile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	forged := map[string]uint64{}
	for _, d := range rep.Discrepancies {
		if d.Kind == reconcile.KindForgedEvent {
			forged[d.EnvelopeID] = d.Seq
		}
	}
	if forged[target] != forgedSeq || forged[other] == 0 {
		t.Fatalf("reconcile: %v; want forged_event on %s (seq %d) and %s", rep.Discrepancies, target, forgedSeq, other)
	}
	aud, err := reconcile.Audit(ctx, js, top, target)
	if err != nil {
		t.Fatal(err)
	}
	if n := aud.History[len(aud.History)-1]; n.Type != "forged" || n.Seq != forgedSeq {
		t.Fatalf("audit's last row %+v, want the forged event", n)
	}

	// The status shows the instance's key and the parked counts.
	sm := request(a.Ops.Subject("status"), `{}`)
	var status ops.Status
	if err := json.Unmarshal(sm.Data, &status); err != nil || status.InstanceKey != a.InstanceKey {
		t.Fatalf("status %s (%v)", sm.Data, err)
	}
	for _, l := range status.Projections {
		if l.Name != "wallets" && l.Parked != 2 {
			t.Fatalf("status of %s: %+v", l.Name, l)
		}
	}
}

// jetstreamExpect is the expected-sequence option the service uses.
func jetstreamExpect(seq uint64) []jetstream.PublishOpt {
	return []jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(seq)}
}
