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
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/service"
)

// TestRestartMidway restarts the NATS server and then the service while
// opens are in flight. Clients retry requests whose outcome they did not
// learn (timeouts, 503s), as the contract allows. Every open that was
// acknowledged is in the stream with the amount the user was told, and the
// envelope carries on to exactly its total.
func TestRestartMidway(t *testing.T) {
	h := testenv.Start(t, service.Config{RequestTimeout: 2 * time.Second})
	const count, total = 60, 60 * 500
	id := h.WrapAndPay("lucky", total, count)

	var mu sync.Mutex
	told := map[string]api.OpenReply{} // user -> the first opened / already_opened answer
	var acked atomic.Int32
	openUntilKnown := func(user string) {
		for attempt := 0; attempt < 200; attempt++ {
			m, err := h.NC.Request("hongbao.open."+id, fmt.Appendf(nil, `{"user":%q}`, user), 2*time.Second)
			if err != nil {
				continue // outcome unknown: retry
			}
			r := testenv.ParseReply(t, m)
			if r.Status == "503" {
				continue
			}
			o := testenv.Decode[api.OpenReply](t, r)
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
	h.Srv.Restart(t) // the store goes away under running requests
	wg.Wait()

	// Now the service: a new instance with an empty cache.
	testenv.Stop(t, h.Svc)
	h.Svc = h.StartService(h.Srv.Conn(t))
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); openUntilKnown(fmt.Sprintf("late%02d", i)) }()
	}
	wg.Wait()

	e := h.Stored(id)
	testenv.CheckInvariants(t, e)
	testenv.Eq(t, "status", e.Status, envelope.StatusFinished)
	testenv.Eq(t, "total opened", e.OpenedTotal, int64(total))
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

func countEvents(h *testenv.Env, e *envelope.Envelope, typ events.Type) int {
	h.T.Helper()
	st := h.Store()
	recs, err := st.Load(context.Background(), e.ID)
	if err != nil {
		h.T.Fatal(err)
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
	h := testenv.Start(t, service.Config{Limits: l})
	id := h.WrapAndPay("lucky", 1000, 5)
	a, b := h.Open(id, "bob"), h.Open(id, "carol")
	natstest.Eventually(t, 10*time.Second, func() error {
		if s := h.Stored(id).Status; s != envelope.StatusExpired {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	e := h.Stored(id)
	testenv.Eq(t, "refund", e.Refund, 1000-a.Amount-b.Amount)
	testenv.Eq(t, "expired events", countEvents(h, e, events.TypeExpired), 1)
	testenv.Eq(t, "open after expiry", h.Open(id, "dave").Status, api.StatusExpired)
	testenv.Eq(t, "grab after expiry", testenv.Decode[api.GrabReply](t, h.Request("hongbao.grab."+id, `{"user":"dave"}`)).Status, api.StatusExpired)
	testenv.Eq(t, "opener after expiry", h.Open(id, "bob").Amount, a.Amount)
	g := h.Get(id, e.LastSeq)
	testenv.Eq(t, "get state", g.Envelope.State, api.StateExpired)
	testenv.Eq(t, "get refunded", g.Envelope.Refunded, e.Refund)
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
	h := testenv.Start(t, service.Config{Limits: l})
	id := h.WrapAndPay("equal", 900, 9)
	h.Open(id, "bob")
	expiresAt := h.Stored(id).ExpiresAt
	testenv.Stop(t, h.Svc)
	h.Srv.Restart(t)
	natstest.Eventually(t, 10*time.Second, func() error {
		if time.Now().Before(expiresAt) {
			return errors.New("not due yet")
		}
		return nil
	})
	testenv.Eq(t, "status while down", h.Stored(id).Status, envelope.StatusLive)
	h.StartService(h.Srv.Conn(t))
	h.StartService(h.Srv.Conn(t))
	natstest.Eventually(t, 10*time.Second, func() error {
		if s := h.Stored(id).Status; s != envelope.StatusExpired {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	e := h.Stored(id)
	testenv.Eq(t, "refund", e.Refund, int64(800))
	testenv.Eq(t, "expired events", countEvents(h, e, events.TypeExpired), 1)
	testenv.CheckInvariants(t, e)
}

// TestCancelUnpaid: an envelope not paid by its deadline is cancelled;
// paying it afterwards is a conflict.
func TestCancelUnpaid(t *testing.T) {
	l := envelope.DefaultLimits()
	l.PayTimeout = time.Second
	h := testenv.Start(t, service.Config{Limits: l})
	id := h.Wrap("lucky", 100, 2)
	natstest.Eventually(t, 10*time.Second, func() error {
		if s := h.Stored(id).Status; s != envelope.StatusCancelled {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	h.ExpectError(h.Request("hongbao.pay."+id, `{"payment_id":"p","amount":100}`), "409", api.CodeConflict)
	h.ExpectError(h.Request("hongbao.open."+id, `{"user":"bob"}`), "409", api.CodeNotLive)
	testenv.Eq(t, "get state", h.Get(id, h.Stored(id).LastSeq).Envelope.State, api.StateCancelled)
}

// TestIdempotencyAcrossRestart: wrap by request id and pay by payment id
// answer the same after the server and the service restarted.
func TestIdempotencyAcrossRestart(t *testing.T) {
	h := testenv.Start(t, service.Config{})
	body := `{"request_id":"r-restart","sender":"alice","kind":"lucky","total":500,"count":5}`
	w := testenv.Decode[api.WrapReply](t, h.Request("hongbao.wrap", body))
	pay := `{"payment_id":"p-restart","amount":500}`
	p := testenv.Decode[api.PayReply](t, h.Request("hongbao.pay."+w.EnvelopeID, pay))
	testenv.Stop(t, h.Svc)
	h.Srv.Restart(t)
	h.Svc = h.StartService(h.Srv.Conn(t))
	w2 := testenv.Decode[api.WrapReply](t, h.Request("hongbao.wrap", body))
	testenv.Eq(t, "envelope after restart", w2.EnvelopeID, w.EnvelopeID)
	testenv.Eq(t, "state after restart", w2.State, api.StateLive)
	testenv.Eq(t, "pay after restart", testenv.Decode[api.PayReply](t, h.Request("hongbao.pay."+w.EnvelopeID, pay)), p)
	testenv.Eq(t, "events", h.Stored(w.EnvelopeID).Version, 2)
}
