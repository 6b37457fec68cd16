package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/projections/projector"
	"github.com/hongbao/hongbao/reconcile"
	"github.com/hongbao/hongbao/service"
	"github.com/hongbao/hongbao/topology"
)

// eventually polls cond until it holds, failing the test after a while.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(testenv.RequestTimeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s: not after %v", what, testenv.RequestTimeout)
		}
	}
}

func walletBalance(t *testing.T, h *testenv.Env, user string) int64 {
	t.Helper()
	p, err := h.Views.Wallet(t.Context(), user, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	return p.Balance
}

// TestMalformedMessagesAreParked: a message that does not decode, written
// with the service's own rights onto an escrow subject and onto an
// envelope subject, freezes nothing: the read models park it (counted per
// view in their status), the dispatcher parks the transfers of that
// escrow, other users' wallets keep being credited, the envelope answers
// 500 corrupt (not 503), and reconcile reports both as malformed_event.
func TestMalformedMessagesAreParked(t *testing.T) {
	h := testenv.Start(t, service.Config{})
	top := topology.Default()
	js := h.Srv.JetStream(t)
	ctx := t.Context()

	escrowEnv := h.WrapAndPay("equal", 300, 3)
	alice := h.Open(escrowEnv, "alice")
	eventually(t, "alice credited", func() bool { return walletBalance(t, h, "alice") == alice.Amount })
	if _, err := js.Publish(ctx, top.EscrowSubject(escrowEnv), []byte(`{"v":1,"id":"forged`)); err != nil {
		t.Fatal(err)
	}

	badEnv := h.WrapAndPay("lucky", 500, 5)
	h.Open(badEnv, "bob") // cached in the mailbox before the bad event lands
	if _, err := js.Publish(ctx, top.EnvelopeSubject(badEnv), []byte(`{"type":"opened","v":1,"bonus":1}`)); err != nil {
		t.Fatal(err)
	}

	// Everything else keeps flowing: a new envelope's opener is credited
	// through the outbox, the dispatcher and the wallets view.
	goodEnv := h.WrapAndPay("lucky", 1000, 2)
	carol := h.Open(goodEnv, "carol")
	testenv.Eq(t, "carol's open", carol.Status, api.StatusOpened)
	eventually(t, "carol credited", func() bool { return walletBalance(t, h, "carol") == carol.Amount })
	// The escrow with the bad entry: its later transfer is parked, not
	// retried for ever.
	h.Open(escrowEnv, "dave")
	eventually(t, "dave's transfer parked", func() bool { return h.Dispatcher.Stats().Parked >= 1 })

	// The envelope with the bad event: a clear, final error, every time.
	for range 2 {
		h.ExpectError(h.Request("hongbao.open."+badEnv, map[string]string{"user": "erin"}), "500", api.CodeCorrupt)
	}

	// Each view parked the one bad message of its stream.
	eventually(t, "views parked", func() bool {
		lags, err := h.Views.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lags {
			if l.Parked != 1 || l.Lag != 0 {
				return false
			}
		}
		return true
	})
	for _, view := range []string{"detail", "users", "outbox", "wallets"} {
		parked, err := h.Views.Parked(ctx, view)
		if err != nil {
			t.Fatal(err)
		}
		want := top.EnvelopeSubject(badEnv)
		if view == "wallets" {
			want = top.EscrowSubject(escrowEnv)
		}
		if len(parked) != 1 || parked[0].Kind != projector.KindMalformed || parked[0].Subject != want {
			t.Fatalf("%s parked %+v, want one %s on %s", view, parked, projector.KindMalformed, want)
		}
	}

	rep, err := reconcile.Run(context.Background(), js, reconcile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var onEscrow, onEnvelope bool
	for _, d := range rep.Discrepancies {
		if d.Kind == reconcile.KindMalformedEvent {
			onEscrow = onEscrow || (d.EnvelopeID == escrowEnv && d.LedgerSeq > 0)
			onEnvelope = onEnvelope || (d.EnvelopeID == badEnv && d.Seq > 0)
		}
	}
	if !onEscrow || !onEnvelope {
		t.Fatalf("reconcile: %v; want malformed_event on escrow %s and envelope %s", rep.Discrepancies, escrowEnv, badEnv)
	}
}
