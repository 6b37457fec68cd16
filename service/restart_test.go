package service_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/service"
)

// TestRestartMidway restarts the NATS server and then the service while
// opens are in flight. Clients retry requests whose outcome they did not
// learn (timeouts, 503s), as the contract allows. Every open that was
// acknowledged is in the stream with the amount the user was told, and the
// envelope carries on to exactly its total.
func TestRestartMidway(t *testing.T) {
	h := newHarness(t, service.Config{RequestTimeout: 2 * time.Second})
	const count, total = 60, 60 * 500
	id := h.wrapAndPay("lucky", total, count)

	var mu sync.Mutex
	told := map[string]api.OpenReply{} // user -> the first opened / already_opened answer
	var acked atomic.Int32
	openUntilKnown := func(user string) {
		for attempt := 0; attempt < 200; attempt++ {
			m, err := h.nc.Request("hongbao.open."+id, fmt.Appendf(nil, `{"user":%q}`, user), 2*time.Second)
			if err != nil {
				continue // outcome unknown: retry
			}
			r := parseReply(t, m)
			if r.status == "503" {
				continue
			}
			o := decode[api.OpenReply](t, r)
			if o.Status == api.StatusOpened || o.Status == api.StatusAlreadyOpened {
				mu.Lock()
				if prev, ok := told[user]; ok && (prev.Amount != o.Amount || prev.Index != o.Index) {
					t.Errorf("%s told %d/#%d, then %d/#%d", user, prev.Amount, prev.Index, o.Amount, o.Index)
				}
				told[user] = o
				mu.Unlock()
				acked.Add(1)
			}
			return
		}
		t.Errorf("open by %s never got an answer", user)
	}

	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); openUntilKnown(fmt.Sprintf("early%02d", i)) }()
	}
	natstest.Eventually(t, 30*time.Second, func() error {
		if acked.Load() < 10 {
			return errors.New("waiting for some opens")
		}
		return nil
	})
	h.srv.Restart(t) // the store goes away under running requests
	wg.Wait()

	// Now the service: a new instance with an empty cache.
	stop(t, h.svc)
	h.svc = h.startService(h.srv.Conn(t))
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); openUntilKnown(fmt.Sprintf("late%02d", i)) }()
	}
	wg.Wait()

	e := h.stored(id)
	checkInvariants(t, e)
	eq(t, "status", e.Status, envelope.StatusFinished)
	eq(t, "total opened", e.OpenedTotal, int64(total))
	for _, s := range e.Opens {
		if o, ok := told[s.User]; ok && o.Amount != s.Amount {
			t.Fatalf("%s was told %d, the stream says %d", s.User, o.Amount, s.Amount)
		}
	}
	for user, o := range told {
		s, i, ok := e.Opened(user)
		if !ok || s.Amount != o.Amount || i != o.Index {
			t.Fatalf("acknowledged open of %s (%d, #%d) lost: stored %v %d %v", user, o.Amount, o.Index, ok, s.Amount, i)
		}
	}
}

func countEvents(e *envelope.Envelope, h *harness, typ events.Type) int {
	h.t.Helper()
	st := h.srvStore()
	recs, err := st.Load(context.Background(), e.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Event.Type == typ {
			n++
		}
	}
	return n
}

// TestExpiry: a live envelope expires at expires_at with the exact rest
// refunded, once; afterwards opens and grabs say expired and openers keep
// their answer.
func TestExpiry(t *testing.T) {
	l := envelope.DefaultLimits()
	l.Expiry = time.Second
	h := newHarness(t, service.Config{Limits: l})
	id := h.wrapAndPay("lucky", 1000, 5)
	a, b := h.open(id, "bob"), h.open(id, "carol")
	natstest.Eventually(t, 10*time.Second, func() error {
		if s := h.stored(id).Status; s != envelope.StatusExpired {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	e := h.stored(id)
	eq(t, "refund", e.Refund, 1000-a.Amount-b.Amount)
	eq(t, "expired events", countEvents(e, h, events.TypeExpired), 1)
	eq(t, "open after expiry", h.open(id, "dave").Status, api.StatusExpired)
	eq(t, "grab after expiry", decode[api.GrabReply](t, h.request("hongbao.grab."+id, `{"user":"dave"}`)).Status, api.StatusExpired)
	eq(t, "opener after expiry", h.open(id, "bob").Amount, a.Amount)
	g := h.get(id)
	eq(t, "get state", g.Envelope.State, api.StateExpired)
	eq(t, "get refunded", g.Envelope.Refunded, e.Refund)
	for _, o := range g.Opens {
		if o.BestLuck {
			t.Fatal("best luck on an envelope that did not finish")
		}
	}
}

// TestExpiryAcrossRestart: the service is down when the envelope is due;
// two instances started afterwards expire it exactly once.
func TestExpiryAcrossRestart(t *testing.T) {
	l := envelope.DefaultLimits()
	l.Expiry = 2 * time.Second
	h := newHarness(t, service.Config{Limits: l})
	id := h.wrapAndPay("equal", 900, 9)
	h.open(id, "bob")
	expiresAt := h.stored(id).ExpiresAt
	stop(t, h.svc)
	h.srv.Restart(t)
	natstest.Eventually(t, 10*time.Second, func() error {
		if time.Now().Before(expiresAt) {
			return errors.New("not due yet")
		}
		return nil
	})
	eq(t, "status while down", h.stored(id).Status, envelope.StatusLive)
	h.startService(h.srv.Conn(t))
	h.startService(h.srv.Conn(t))
	natstest.Eventually(t, 10*time.Second, func() error {
		if s := h.stored(id).Status; s != envelope.StatusExpired {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	e := h.stored(id)
	eq(t, "refund", e.Refund, int64(800))
	eq(t, "expired events", countEvents(e, h, events.TypeExpired), 1)
	checkInvariants(t, e)
}

// TestCancelUnpaid: an envelope not paid by its deadline is cancelled;
// paying it afterwards is a conflict.
func TestCancelUnpaid(t *testing.T) {
	l := envelope.DefaultLimits()
	l.PayTimeout = time.Second
	h := newHarness(t, service.Config{Limits: l})
	id := h.wrap("lucky", 100, 2)
	natstest.Eventually(t, 10*time.Second, func() error {
		if s := h.stored(id).Status; s != envelope.StatusCancelled {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	h.expectError(h.request("hongbao.pay."+id, `{"payment_id":"p","amount":100}`), "409", api.CodeConflict)
	h.expectError(h.request("hongbao.open."+id, `{"user":"bob"}`), "409", api.CodeNotLive)
	eq(t, "get state", h.get(id).Envelope.State, api.StateCancelled)
}

// TestIdempotencyAcrossRestart: wrap by request id and pay by payment id
// answer the same after the server and the service restarted.
func TestIdempotencyAcrossRestart(t *testing.T) {
	h := newHarness(t, service.Config{})
	body := `{"request_id":"r-restart","sender":"alice","kind":"lucky","total":500,"count":5}`
	w := decode[api.WrapReply](t, h.request("hongbao.wrap", body))
	pay := `{"payment_id":"p-restart","amount":500}`
	p := decode[api.PayReply](t, h.request("hongbao.pay."+w.EnvelopeID, pay))
	stop(t, h.svc)
	h.srv.Restart(t)
	h.svc = h.startService(h.srv.Conn(t))
	w2 := decode[api.WrapReply](t, h.request("hongbao.wrap", body))
	eq(t, "envelope after restart", w2.EnvelopeID, w.EnvelopeID)
	eq(t, "state after restart", w2.State, api.StateLive)
	eq(t, "pay after restart", decode[api.PayReply](t, h.request("hongbao.pay."+w.EnvelopeID, pay)), p)
	eq(t, "events", h.stored(w.EnvelopeID).Version, 2)
}
