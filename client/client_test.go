package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/client"
	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/projections"
	"github.com/hongbao/hongbao/risk"
	"github.com/hongbao/hongbao/service"
)

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testenv.RequestTimeout)
	t.Cleanup(cancel)
	return ctx
}

var senders atomic.Int64

// live wraps and pays an equal envelope of a sender of its own (the
// tests' rate limits are per sender) and returns its id.
func live(t *testing.T, c *client.Client, total int64, count int) string {
	t.Helper()
	w := wrapped(t, c, total, count)
	if p, err := c.Pay(tctx(t), w, "pay-"+w, total); err != nil || p.State != client.StateLive || p.EnvelopeID != w {
		t.Fatalf("pay %s: %+v %v", w, p, err)
	}
	return w
}

func wrapped(t *testing.T, c *client.Client, total int64, count int) string {
	t.Helper()
	sender := "s" + strconv.FormatInt(senders.Add(1), 10)
	w, err := c.Wrap(tctx(t), client.WrapRequest{Sender: sender, Kind: client.Equal, Total: total, Count: count})
	if err != nil || w.State != client.StateWrapped || len(w.EnvelopeID) != 26 {
		t.Fatalf("wrap: %+v %v", w, err)
	}
	return w.EnvelopeID
}

// expect fails unless err is an *Error of sentinel's code and status,
// matched by errors.Is and by no other sentinel.
func expect(t *testing.T, what string, err error, sentinel *client.Error) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: %v, want %s", what, err, sentinel.Code)
	}
	if !errors.Is(err, sentinel) || e.Code != sentinel.Code || e.Status != sentinel.Status {
		t.Fatalf("%s: %v (code %q status %d), want %s %d", what, err, e.Code, e.Status, sentinel.Code, sentinel.Status)
	}
	for _, other := range allSentinels {
		if other != sentinel && errors.Is(err, other) {
			t.Fatalf("%s: %v also matches %s", what, err, other.Code)
		}
	}
	if e.Message == "" {
		t.Fatalf("%s: %v without a message", what, err)
	}
	return e
}

var allSentinels = []*client.Error{
	client.ErrBadRequest, client.ErrInvalidAmount, client.ErrInvalidCount, client.ErrInvalidID, client.ErrInvalidTicket,
	client.ErrForbidden, client.ErrNotFound, client.ErrConflict, client.ErrNotLive, client.ErrBusy, client.ErrRateLimited,
	client.ErrUnavailable, client.ErrOverloaded, client.ErrCorrupt,
}

// TestErrorCodes: every machine code the service answers with on this
// branch, provoked through the client against a real instance (with risk
// controls: a wrap limit of 1 per sender an hour), comes back as an
// *Error that errors.Is matches with its sentinel alone.
func TestErrorCodes(t *testing.T) {
	h := testenv.Start(t, service.Config{}, testenv.WithRisk(risk.Config{WrapLimit: risk.Limit{Burst: 1, Per: time.Hour}}))
	c := client.New(h.NC)
	ctx := tctx(t)
	id := live(t, c, 300, 3)

	_, err := c.Get(ctx, id, client.Limit(1000))
	expect(t, "get limit 1000", err, client.ErrBadRequest)
	_, err = c.UserReceived(ctx, "bob", client.Year(1999))
	expect(t, "received 1999", err, client.ErrBadRequest)
	_, err = c.Wrap(ctx, client.WrapRequest{Sender: "z1", Kind: client.Lucky, Total: 0, Count: 1})
	expect(t, "wrap total 0", err, client.ErrInvalidAmount)
	_, err = c.Wrap(ctx, client.WrapRequest{Sender: "z2", Kind: client.Lucky, Total: 100, Count: 0})
	expect(t, "wrap count 0", err, client.ErrInvalidCount)
	_, err = c.Open(ctx, "not-an-id", "bob")
	e := expect(t, "open not-an-id", err, client.ErrInvalidID)
	if e.Subject != "hongbao.open.not-an-id" {
		t.Fatalf("subject %q", e.Subject)
	}
	// An id that would change the subject is refused before it is sent.
	for _, bad := range []string{"a.b", "*", ">", "", "a b"} {
		_, err = c.Open(ctx, bad, "bob")
		expect(t, "open "+strconv.Quote(bad), err, client.ErrInvalidID)
		_, err = c.Wallet(ctx, bad)
		expect(t, "wallet "+strconv.Quote(bad), err, client.ErrBadRequest)
	}
	_, err = c.Get(ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV")
	expect(t, "get unknown", err, client.ErrNotFound)
	_, err = c.Pay(ctx, id, "pay-other", 300)
	expect(t, "second payment id", err, client.ErrConflict)
	_, err = c.Pay(ctx, wrapped(t, c, 300, 3), "pay-x", 299)
	expect(t, "amount mismatch", err, client.ErrConflict)
	_, err = c.Open(ctx, wrapped(t, c, 300, 3), "bob")
	expect(t, "open unpaid", err, client.ErrNotLive)
	if g, err := c.Grab(ctx, wrapped(t, c, 300, 3), "bob"); err != nil || g.Status != client.StatusNotLive {
		t.Fatalf("grab unpaid: %+v %v, want the status not_live", g, err)
	}

	if _, err := risk.Block(ctx, h.NC, "hongbao", "mallory", "client test"); err != nil {
		t.Fatal(err)
	}
	_, err = c.Open(ctx, id, "mallory")
	expect(t, "blocked open", err, client.ErrForbidden)

	if _, err := c.Wrap(ctx, client.WrapRequest{Sender: "rl", Kind: client.Equal, Total: 100, Count: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Wrap(ctx, client.WrapRequest{Sender: "rl", Kind: client.Equal, Total: 100, Count: 1})
	e = expect(t, "second wrap within the limit's period", err, client.ErrRateLimited)
	if e.RetryAfter <= 0 || e.RetryAfter > time.Hour || !e.Temporary() {
		t.Fatalf("rate_limited: RetryAfter %v, temporary %v", e.RetryAfter, e.Temporary())
	}
}

// TestErrorBusy: with per-envelope admission, opens of a one-share envelope
// published all at once (OpenRequest, ParseOpenReply) find it busy while
// the first is being stored; exactly one opens.
func TestErrorBusy(t *testing.T) {
	h := testenv.Start(t, service.Config{OpenAdmission: true}, testenv.WithoutProjections())
	c := client.New(h.NC)
	natstest.Eventually(t, time.Minute, func() error {
		id := live(t, c, 100, 1)
		const n = 200
		inbox := nats.NewInbox()
		sub, err := h.NC.SubscribeSync(inbox + ".*")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sub.Unsubscribe() }()
		_ = sub.SetPendingLimits(-1, -1)
		for i := range n {
			m := c.OpenRequest(id, "b"+strconv.Itoa(i))
			m.Reply = inbox + "." + strconv.Itoa(i)
			if err := h.NC.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
		}
		var opened, busy int
		for range n {
			m, err := sub.NextMsg(testenv.RequestTimeout)
			if err != nil {
				t.Fatal(err)
			}
			r, err := client.ParseOpenReply(m)
			switch {
			case errors.Is(err, client.ErrBusy):
				expect(t, "burst open", err, client.ErrBusy)
				busy++
			case err != nil:
				t.Fatalf("burst open: %v", err)
			case r.Status == client.StatusOpened:
				opened++
			case r.Status != client.StatusExhausted:
				t.Fatalf("burst open: %+v", r)
			}
		}
		if opened != 1 {
			t.Fatalf("%d opened of a one-share envelope", opened)
		}
		if busy == 0 {
			return errors.New("no busy answer in this burst")
		}
		return nil
	})
}

// stalled runs the Env's service with read models that never catch up
// (opened, never fed), as service.TestOverloadDegraded does: a query with
// after_seq holds its in-flight slot for RequestTimeout and then answers
// 503 unavailable.
func stalled(t *testing.T, cfg service.Config) *testenv.Env {
	h := testenv.Start(t, cfg, testenv.WithoutProjections())
	views, err := projections.Open(h.Srv.JetStream(t), projections.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = views.Close() })
	testenv.Stop(t, h.Svc)
	h.Cfg.Projections = views
	h.Svc = h.StartService(h.Srv.Conn(t))
	return h
}

// observe records the bodies of the requests on subject (a plain
// subscriber gets a copy of each; the service answers in its queue group).
func observe(t *testing.T, h *testenv.Env, subject string) func() [][]byte {
	t.Helper()
	nc := h.Srv.Conn(t)
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() [][]byte {
		var out [][]byte
		for {
			m, err := sub.NextMsg(100 * time.Millisecond)
			if err != nil {
				return out
			}
			out = append(out, m.Data)
		}
	}
}

func identical(t *testing.T, what string, bodies [][]byte, atLeast int) {
	t.Helper()
	if len(bodies) < atLeast {
		t.Fatalf("%s: %d attempts seen, want at least %d", what, len(bodies), atLeast)
	}
	for _, b := range bodies[1:] {
		if !bytes.Equal(b, bodies[0]) {
			t.Fatalf("%s: retried with another body: %s then %s", what, bodies[0], b)
		}
	}
}

// TestRetry503: an instance with room for one request in flight, held by
// a read-your-writes query its stalled read models cannot answer. Without
// retries a wrap is shed (overloaded); with retries the same wrap — the
// same body, so the same generated request_id — is sent until the slot
// frees, and succeeds once. The held query answers unavailable; retried,
// it is resent with the same body, and the client gives up after its
// attempts.
func TestRetry503(t *testing.T) {
	h := stalled(t, service.Config{MaxInFlight: 1, RequestTimeout: time.Second})
	once := client.New(h.NC, client.WithRetry(client.NoRetry), client.WithTimeout(testenv.RequestTimeout))
	patient := client.New(h.NC, client.WithTimeout(testenv.RequestTimeout),
		client.WithRetry(client.RetryPolicy{Attempts: 1000, Backoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}))
	ctx := tctx(t)
	id := live(t, once, 300, 3)
	o, err := once.Open(ctx, id, "bob")
	if err != nil || !o.Opened() || o.Seq == 0 {
		t.Fatalf("open: %+v %v", o, err)
	}

	held := make(chan error, 1)
	go func() {
		_, err := once.GetAfter(ctx, id, o.Seq)
		held <- err
	}()
	natstest.Eventually(t, 10*time.Second, func() error {
		if n := h.Svc.Stats().InFlight; n != 1 {
			return fmt.Errorf("%d in flight", n)
		}
		return nil
	})
	_, err = once.Wrap(ctx, client.WrapRequest{Sender: "r1", Kind: client.Equal, Total: 100, Count: 1})
	if e := expect(t, "wrap while the slot is held", err, client.ErrOverloaded); !e.Temporary() {
		t.Fatal("overloaded is not temporary")
	}

	wraps := observe(t, h, "hongbao.wrap")
	w, err := patient.Wrap(ctx, client.WrapRequest{Sender: "r2", Kind: client.Equal, Total: 100, Count: 1})
	if err != nil || w.State != client.StateWrapped || w.RequestID == "" {
		t.Fatalf("retried wrap: %+v %v", w, err)
	}
	expect(t, "held query", <-held, client.ErrUnavailable)
	sent := wraps()
	identical(t, "retried wrap", sent, 2)
	if !bytes.Contains(sent[0], []byte(`"request_id":"`+w.RequestID+`"`)) {
		t.Fatalf("request id %s not in the body %s", w.RequestID, sent[0])
	}

	gets := observe(t, h, "hongbao.get.>")
	twice := client.New(h.NC, client.WithTimeout(testenv.RequestTimeout), client.WithRetry(client.RetryPolicy{Attempts: 2, Backoff: time.Millisecond}))
	_, err = twice.GetAfter(ctx, id, o.Seq)
	expect(t, "retried read-your-writes query", err, client.ErrUnavailable)
	bodies := gets()
	identical(t, "retried get", bodies, 2)
	if len(bodies) != 2 {
		t.Fatalf("%d attempts, want 2", len(bodies))
	}
}

// TestDeadlines: a call ends at its context's deadline, or at the
// client's timeout when the context has none, even while the service is
// still working on it; with nothing listening, retries end in no
// responders.
func TestDeadlines(t *testing.T) {
	h := stalled(t, service.Config{RequestTimeout: 5 * time.Second})
	c := client.New(h.NC)
	id := live(t, c, 100, 1)
	o, err := c.Open(tctx(t), id, "bob")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.GetAfter(ctx, id, o.Seq)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("get past the context's deadline: %v", err)
	}
	short := client.New(h.NC, client.WithTimeout(100*time.Millisecond))
	_, err = short.GetAfter(context.Background(), id, o.Seq)
	if !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("get past the client's timeout: %v", err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := c.Grab(cctx, id, "bob"); !errors.Is(err, context.Canceled) {
		t.Fatalf("grab with a cancelled context: %v", err)
	}
	nobody := client.New(h.NC, client.WithPrefix("nobody"))
	if _, err := nobody.Grab(tctx(t), id, "bob"); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("grab with no service: %v", err)
	}
}
