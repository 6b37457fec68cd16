package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/eventstore"
	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/service"
)

// harness is one test's NATS server, client connection and service.
type harness struct {
	t   testing.TB
	srv *natstest.Server
	nc  *nats.Conn
	svc *service.Service
	cfg service.Config
}

func newHarness(t testing.TB, cfg service.Config) *harness {
	t.Helper()
	h := &harness{t: t, srv: natstest.Start(t), cfg: cfg}
	h.nc = h.srv.Conn(t)
	h.svc = h.startService(h.srv.Conn(t))
	return h
}

// startService starts a service instance on nc; stopped at cleanup.
func (h *harness) startService(nc *nats.Conn) *service.Service {
	h.t.Helper()
	ctx := context.Background()
	svc, err := service.New(ctx, nc, h.cfg)
	if err != nil {
		h.t.Fatalf("service.New: %v", err)
	}
	if err := svc.Start(ctx); err != nil {
		h.t.Fatalf("service.Start: %v", err)
	}
	h.t.Cleanup(func() { stop(h.t, svc) })
	return svc
}

func stop(t testing.TB, svc *service.Service) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.Stop(ctx); err != nil {
		t.Errorf("service.Stop: %v", err)
	}
}

// reply is a decoded answer: the body, and the error code if it failed.
type reply struct {
	data   []byte
	status string // Nats-Service-Error-Code, "" on success
	code   string // machine code of the error body
}

func (h *harness) request(subject string, body any) reply {
	h.t.Helper()
	var data []byte
	switch b := body.(type) {
	case string:
		data = []byte(b)
	case []byte:
		data = b
	default:
		var err error
		if data, err = json.Marshal(body); err != nil {
			h.t.Fatal(err)
		}
	}
	m, err := h.nc.Request(subject, data, requestTimeout)
	if err != nil {
		h.t.Fatalf("request %s %s: %v", subject, data, err)
	}
	return parseReply(h.t, m)
}

func parseReply(t testing.TB, m *nats.Msg) reply {
	t.Helper()
	r := reply{data: m.Data}
	if r.status = m.Header.Get(micro.ErrorCodeHeader); r.status != "" {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(m.Data, &e); err != nil || e.Error.Code == "" {
			t.Fatalf("error reply %s without a contract body: %s", r.status, m.Data)
		}
		if m.Header.Get(micro.ErrorHeader) == "" {
			t.Fatalf("error reply %s without %s", r.status, micro.ErrorHeader)
		}
		r.code = e.Error.Code
	}
	return r
}

// decode fails the test unless the reply succeeded, and decodes it.
func decode[T any](t testing.TB, r reply) T {
	t.Helper()
	var v T
	if r.status != "" {
		t.Fatalf("request failed: %s %s: %s", r.status, r.code, r.data)
	}
	if err := json.Unmarshal(r.data, &v); err != nil {
		t.Fatalf("reply %s: %v", r.data, err)
	}
	return v
}

func (h *harness) expectError(r reply, status, code string) {
	h.t.Helper()
	if r.status != status || r.code != code {
		h.t.Fatalf("got %q %q (%s), want %s %s", r.status, r.code, r.data, status, code)
	}
}

var requestIDs atomic.Int64

// requestTimeout is generous: -race on two cores is slow, and a timeout
// is a failure, not a skip.
const requestTimeout = 30 * time.Second

// wrapAndPay creates a live envelope and returns its id.
func (h *harness) wrapAndPay(kind string, total int64, count int) string {
	h.t.Helper()
	id := h.wrap(kind, total, count)
	p := decode[api.PayReply](h.t, h.request("hongbao.pay."+id, map[string]any{"payment_id": "pay-" + id, "amount": total}))
	if p.State != api.StateLive {
		h.t.Fatalf("pay: state %s", p.State)
	}
	return id
}

func (h *harness) wrap(kind string, total int64, count int) string {
	h.t.Helper()
	w := decode[api.WrapReply](h.t, h.request("hongbao.wrap", map[string]any{
		"request_id": fmt.Sprintf("r-%d", requestIDs.Add(1)), "sender": "alice", "kind": kind, "total": total, "count": count}))
	if w.State != api.StateWrapped || !api.ValidEnvelopeID(w.EnvelopeID) {
		h.t.Fatalf("wrap reply %+v", w)
	}
	return w.EnvelopeID
}

func (h *harness) open(id, user string) api.OpenReply {
	h.t.Helper()
	return decode[api.OpenReply](h.t, h.request("hongbao.open."+id, map[string]string{"user": user}))
}

func (h *harness) get(id string) api.GetReply {
	h.t.Helper()
	return decode[api.GetReply](h.t, h.request("hongbao.get."+id, map[string]any{"limit": 100}))
}

// stored folds an envelope from the stream, bypassing every cache: the
// truth that survived.
func (h *harness) stored(id string) *envelope.Envelope {
	h.t.Helper()
	recs, err := h.srvStore().Load(context.Background(), id)
	if err != nil {
		h.t.Fatalf("load %s: %v", id, err)
	}
	e, err := envelope.Fold(id, recs)
	if err != nil {
		h.t.Fatalf("fold %s: %v", id, err)
	}
	return e
}

// srvStore opens the event store on its own connection.
func (h *harness) srvStore() *eventstore.Store {
	h.t.Helper()
	st, err := eventstore.Open(context.Background(), h.srv.JetStream(h.t), eventstore.Config{})
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// checkInvariants checks I1–I3 on a stored envelope.
func checkInvariants(t testing.TB, e *envelope.Envelope) {
	t.Helper()
	var sum int64
	users := map[string]bool{}
	for _, o := range e.Opens {
		if users[o.User] {
			t.Fatalf("%s: I3: %s opened twice", e.ID, o.User)
		}
		users[o.User] = true
		if o.Amount < e.MinShare || o.Amount > e.MaxShare {
			t.Fatalf("%s: I2: share %d outside [%d, %d]", e.ID, o.Amount, e.MinShare, e.MaxShare)
		}
		sum += o.Amount
	}
	if len(e.Opens) > e.Count {
		t.Fatalf("%s: I3: %d opens of %d", e.ID, len(e.Opens), e.Count)
	}
	if sum+e.Refund > e.Total {
		t.Fatalf("%s: I1: %d opened + %d refunded > %d", e.ID, sum, e.Refund, e.Total)
	}
	if (e.Status == envelope.StatusFinished || e.Status == envelope.StatusExpired) && sum+e.Refund != e.Total {
		t.Fatalf("%s: I1: %s with %d opened + %d refunded of %d", e.ID, e.Status, sum, e.Refund, e.Total)
	}
}

func eq[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}
