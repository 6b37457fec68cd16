package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/client"
	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/reconcile"
	"github.com/hongbao/hongbao/service"
	"github.com/hongbao/hongbao/topology"
)

// start runs a whole hongbao with authentication, listening on a loopback
// port, and makes one paid envelope that bob opened, so that both streams
// and the buckets hold something. Env.NC is the client's connection.
func start(t *testing.T) (*testenv.Env, string) {
	t.Helper()
	h := testenv.Start(t, service.Config{}, testenv.WithAuth(), testenv.WithListen())
	c := client.New(h.NC) // Env.NC is the client's connection
	w, err := c.Wrap(ctx(t), client.WrapRequest{Sender: "alice", Kind: client.Equal, Total: 300, Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pay(ctx(t), w.EnvelopeID, "pay-"+w.EnvelopeID, 300); err != nil {
		t.Fatal(err)
	}
	id := w.EnvelopeID
	if o, err := c.Open(ctx(t), id, "bob"); err != nil || !o.Opened() {
		t.Fatalf("open: %+v %v", o, err)
	}
	// Wait until the credit has reached the ledger (the books balance), so
	// that the counts taken by the tests do not move under them.
	js := h.Srv.JetStream(t)
	natstest.Eventually(t, 30*time.Second, func() error {
		rep, err := reconcile.Run(ctx(t), js, reconcile.Options{})
		if err != nil {
			return err
		}
		if !rep.OK() {
			return fmt.Errorf("not reconciled yet: %d discrepancies", len(rep.Discrepancies))
		}
		return nil
	})
	return h, id
}

// conn is a connection as one role that records the asynchronous errors
// the server sends it (permissions violations).
type conn struct {
	*nats.Conn
	mu   sync.Mutex
	errs []error
}

func connect(t *testing.T, h *testenv.Env, creds string) *conn {
	t.Helper()
	c := &conn{}
	c.Conn = h.Srv.ConnAs(t, creds, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		c.mu.Lock()
		c.errs = append(c.errs, err)
		c.mu.Unlock()
	}))
	return c
}

func (c *conn) violated(subject string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, err := range c.errs {
		if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
			return true
		}
	}
	return false
}

// waitViolation polls until the server has reported a permissions
// violation mentioning subject. The server checks a publish before routing
// it, so once the violation has arrived the message has been dropped.
func (c *conn) waitViolation(t *testing.T, subject string) {
	t.Helper()
	natstest.Eventually(t, 10*time.Second, func() error {
		if c.violated(subject) {
			return nil
		}
		if err := c.FlushTimeout(time.Second); err != nil {
			return err
		}
		return errors.New("no permissions violation for " + subject)
	})
}

// refused publishes to subject (a request when reply) and waits for the
// server's permissions violation.
func (c *conn) refused(t *testing.T, subject string, data []byte) {
	t.Helper()
	if err := c.PublishRequest(subject, nats.NewInbox(), data); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
	c.waitViolation(t, subject)
}

func (c *conn) js(t *testing.T) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(c.Conn)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// counts returns the message counts of the money streams, read as the
// service.
func counts(t *testing.T, h *testenv.Env) map[string]uint64 {
	t.Helper()
	js := h.Srv.JetStream(t)
	out := map[string]uint64{}
	for _, n := range []string{topology.DefaultEnvelopeStream, topology.DefaultLedgerStream} {
		s, err := js.Stream(ctx(t), n)
		if err != nil {
			t.Fatalf("stream %s: %v", n, err)
		}
		out[n] = s.CachedInfo().State.Msgs
	}
	return out
}

// unchanged fails the test unless the money streams hold what they held
// before.
func unchanged(t *testing.T, h *testenv.Env, before map[string]uint64) {
	t.Helper()
	after := counts(t, h)
	for n, c := range before {
		if after[n] != c {
			t.Errorf("stream %s holds %d messages, had %d", n, after[n], c)
		}
	}
	if len(after) != len(before) {
		t.Errorf("streams %v, were %v", after, before)
	}
}

// short bounds a call the server is expected to refuse: a request whose
// publish is denied gets no reply, only the asynchronous violation, so the
// caller sees a timeout.
func short(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Second)
	t.Cleanup(cancel)
	return c
}
