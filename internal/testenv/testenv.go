package testenv

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
	"github.com/hongbao/hongbao/dispatch"
	"github.com/hongbao/hongbao/eventstore"
	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/ledger"
	"github.com/hongbao/hongbao/ops"
	"github.com/hongbao/hongbao/projections"
	"github.com/hongbao/hongbao/risk"
	"github.com/hongbao/hongbao/service"
	"github.com/hongbao/hongbao/topology"
)

// Env is one test's NATS server, client connection, service and
// projections.
type Env struct {
	T          testing.TB
	Srv        *natstest.Server
	NC         *nats.Conn // the client's connection (client credentials WithAuth)
	Svc        *service.Service
	Views      *projections.Set
	Ledger     *ledger.Ledger
	Dispatcher *dispatch.Dispatcher
	Ops        *ops.Ops    // the admin endpoints of the last service started
	Risk       *risk.Guard // with WithRisk: the service's risk controls
	Cfg        service.Config
}

// Option changes how Start sets things up.
type Option func(*options)

type options struct {
	noViews    bool
	noDispatch bool
	risk       *risk.Config
	auth       bool
	server     []natstest.Option
}

// WithRisk gives the service risk controls (Env.Risk) with cfg; its Bucket
// defaults to the topology's.
func WithRisk(cfg risk.Config) Option { return func(o *options) { o.risk = &cfg } }

// WithoutProjections runs the service without read models (get reads the
// aggregate).
func WithoutProjections() Option { return func(o *options) { o.noViews = true } }

// WithoutDispatcher leaves the outbox undelivered (tests run their own).
func WithoutDispatcher() Option { return func(o *options) { o.noDispatch = true } }

// WithListen makes the server listen on a loopback port (Env.Srv.URL()),
// for tests of programs that connect over TCP.
func WithListen() Option {
	return func(o *options) { o.server = append(o.server, natstest.WithListen()) }
}

// WithAuth runs the whole hongbao behind the credentials `hongbao serve`
// generates (natstest.WithAuth): the service, projections, dispatcher and
// ledger connect as the service, Env.NC as the client, so requests cross
// the clients account's imports as in production; Env.Srv.Auth() holds the
// credentials and Env.Srv.ConnAs connects with them.
func WithAuth() Option {
	return func(o *options) {
		o.auth = true
		o.server = append(o.server, natstest.WithAuth())
	}
}

// Start starts a server, projections and a service with cfg.
func Start(t testing.TB, cfg service.Config, opts ...Option) *Env {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	h := &Env{T: t, Srv: natstest.Start(t, o.server...), Cfg: cfg}
	if o.auth {
		h.NC = h.Srv.ConnAs(t, h.Srv.Auth().ClientCreds)
	} else {
		h.NC = h.Srv.Conn(t)
	}
	led, err := ledger.Open(context.Background(), h.Srv.JetStream(t), ledger.Config{})
	if err != nil {
		t.Fatalf("ledger.Open: %v", err)
	}
	h.Ledger = led
	if !o.noViews && cfg.Projections == nil {
		h.Views = h.StartProjections(t.TempDir())
		h.Cfg.Projections = h.Views
	}
	if h.Views != nil && !o.noDispatch {
		h.Dispatcher = h.StartDispatcher()
	}
	if o.risk != nil {
		h.Risk = h.StartRisk(*o.risk)
		h.Cfg.Risk = h.Risk
	}
	h.Svc = h.StartService(h.Srv.Conn(t))
	return h
}

// StartRisk opens risk controls on the Env's server (another instance's,
// when called again); stopped at cleanup.
func (h *Env) StartRisk(cfg risk.Config) *risk.Guard {
	h.T.Helper()
	if cfg.Bucket == "" {
		cfg.Bucket = topology.Default().RiskBucket()
	}
	g, err := risk.Open(context.Background(), h.Srv.JetStream(h.T), cfg)
	if err != nil {
		h.T.Fatalf("risk.Open: %v", err)
	}
	h.T.Cleanup(g.Stop)
	return g
}

// StartDispatcher runs a dispatcher from the Env's outbox into its ledger
// until the test ends.
func (h *Env) StartDispatcher() *dispatch.Dispatcher {
	h.T.Helper()
	d, err := dispatch.New(context.Background(), h.Srv.JetStream(h.T), h.Views, h.Ledger, dispatch.Config{})
	if err != nil {
		h.T.Fatalf("dispatch.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Run(ctx)
	}()
	h.T.Cleanup(func() {
		cancel()
		<-done
	})
	return d
}

// StartProjections opens and runs projections under dir; closed at cleanup.
func (h *Env) StartProjections(dir string) *projections.Set {
	h.T.Helper()
	set, err := projections.Open(h.Srv.JetStream(h.T), projections.Config{Dir: dir})
	if err != nil {
		h.T.Fatalf("projections.Open: %v", err)
	}
	set.Start()
	h.T.Cleanup(func() {
		if err := set.Close(); err != nil {
			h.T.Errorf("projections.Close: %v", err)
		}
	})
	return set
}

// StartService starts a service instance on nc with the Env's config and,
// unless the config has an extension, its operations (h.Ops) on the Env's
// read models and dispatcher, as internal/app wires them; stopped at
// cleanup.
func (h *Env) StartService(nc *nats.Conn) *service.Service {
	h.T.Helper()
	ctx := context.Background()
	cfg := h.Cfg
	var o *ops.Ops
	if cfg.Extension == nil {
		var oc ops.Config
		if h.Views != nil {
			oc.Views = h.Views
		}
		if h.Dispatcher != nil {
			oc.Dispatch = h.Dispatcher
		}
		o = ops.New(oc)
		cfg.Extension = o
		h.Ops = o
	}
	svc, err := service.New(ctx, nc, cfg)
	if err != nil {
		h.T.Fatalf("service.New: %v", err)
	}
	if err := svc.Start(ctx); err != nil {
		h.T.Fatalf("service.Start: %v", err)
	}
	h.T.Cleanup(func() {
		Stop(h.T, svc)
		if o != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := o.Stop(ctx); err != nil {
				h.T.Errorf("ops.Stop: %v", err)
			}
		}
	})
	return svc
}

// Stop stops a service, failing the test if it does not stop cleanly.
func Stop(t testing.TB, svc *service.Service) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.Stop(ctx); err != nil {
		t.Errorf("service.Stop: %v", err)
	}
}

// Reply is a decoded answer: the body, and the error code if it failed.
type Reply struct {
	Data   []byte
	Status string // Nats-Service-Error-Code, "" on success
	Code   string // machine code of the error body
}

// Request sends body (a string, bytes, or a value to encode as JSON).
func (h *Env) Request(subject string, body any) Reply {
	h.T.Helper()
	var data []byte
	switch b := body.(type) {
	case string:
		data = []byte(b)
	case []byte:
		data = b
	default:
		var err error
		if data, err = json.Marshal(body); err != nil {
			h.T.Fatal(err)
		}
	}
	m, err := h.NC.Request(subject, data, RequestTimeout)
	if err != nil {
		h.T.Fatalf("request %s %s: %v", subject, data, err)
	}
	return ParseReply(h.T, m)
}

// ParseReply reads a reply, checking error replies against the contract.
func ParseReply(t testing.TB, m *nats.Msg) Reply {
	t.Helper()
	r := Reply{Data: m.Data}
	if r.Status = m.Header.Get(micro.ErrorCodeHeader); r.Status != "" {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(m.Data, &e); err != nil || e.Error.Code == "" {
			t.Fatalf("error reply %s without a contract body: %s", r.Status, m.Data)
		}
		if m.Header.Get(micro.ErrorHeader) == "" {
			t.Fatalf("error reply %s without %s", r.Status, micro.ErrorHeader)
		}
		r.Code = e.Error.Code
	}
	return r
}

// Decode fails the test unless the reply succeeded, and decodes it.
func Decode[T any](t testing.TB, r Reply) T {
	t.Helper()
	var v T
	if r.Status != "" {
		t.Fatalf("request failed: %s %s: %s", r.Status, r.Code, r.Data)
	}
	if err := json.Unmarshal(r.Data, &v); err != nil {
		t.Fatalf("reply %s: %v", r.Data, err)
	}
	return v
}

// ExpectError fails the test unless r is the error status/code.
func (h *Env) ExpectError(r Reply, status, code string) {
	h.T.Helper()
	if r.Status != status || r.Code != code {
		h.T.Fatalf("got %q %q (%s), want %s %s", r.Status, r.Code, r.Data, status, code)
	}
}

var requestIDs atomic.Int64

// RequestTimeout is generous: -race on two cores is slow, and a timeout
// is a failure, not a skip.
const RequestTimeout = 30 * time.Second

// WrapAndPay creates a live envelope and returns its id.
func (h *Env) WrapAndPay(kind string, total int64, count int) string {
	h.T.Helper()
	id := h.Wrap(kind, total, count)
	p := Decode[api.PayReply](h.T, h.Request("hongbao.pay."+id, map[string]any{"payment_id": "pay-" + id, "amount": total}))
	if p.State != api.StateLive {
		h.T.Fatalf("pay: state %s", p.State)
	}
	return id
}

// Wrap creates an envelope of alice's and returns its id.
func (h *Env) Wrap(kind string, total int64, count int) string {
	h.T.Helper()
	w := Decode[api.WrapReply](h.T, h.Request("hongbao.wrap", map[string]any{
		"request_id": fmt.Sprintf("r-%d", requestIDs.Add(1)), "sender": "alice", "kind": kind, "total": total, "count": count}))
	if w.State != api.StateWrapped || !api.ValidEnvelopeID(w.EnvelopeID) {
		h.T.Fatalf("wrap reply %+v", w)
	}
	return w.EnvelopeID
}

// Open opens id for user and fails on an error reply.
func (h *Env) Open(id, user string) api.OpenReply {
	h.T.Helper()
	return Decode[api.OpenReply](h.T, h.Request("hongbao.open."+id, map[string]string{"user": user}))
}

// Get returns the details of id (up to 100 opens) reflecting at least
// stream sequence afterSeq.
func (h *Env) Get(id string, afterSeq uint64) api.GetReply {
	h.T.Helper()
	return Decode[api.GetReply](h.T, h.Request("hongbao.get."+id, map[string]any{"limit": 100, "after_seq": afterSeq}))
}

// Stored folds an envelope from the stream, bypassing every cache: the
// truth that survived.
func (h *Env) Stored(id string) *envelope.Envelope {
	h.T.Helper()
	recs, err := h.Store().Load(context.Background(), id)
	if err != nil {
		h.T.Fatalf("load %s: %v", id, err)
	}
	e, err := envelope.Fold(id, recs)
	if err != nil {
		h.T.Fatalf("fold %s: %v", id, err)
	}
	return e
}

// Store opens the event store on its own connection.
func (h *Env) Store() *eventstore.Store {
	h.T.Helper()
	st, err := eventstore.Open(context.Background(), h.Srv.JetStream(h.T), eventstore.Config{})
	if err != nil {
		h.T.Fatal(err)
	}
	return st
}

// CheckInvariants checks I1–I3 on a stored envelope.
func CheckInvariants(t testing.TB, e *envelope.Envelope) {
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

// Eq fails the test unless got == want.
func Eq[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// MicroStats asks svc for its $SRV.STATS, as `nats micro stats` does (as
// the operator WithAuth), and returns its endpoints' stats by name.
func (h *Env) MicroStats(svc *service.Service) map[string]*micro.EndpointStats {
	h.T.Helper()
	name := h.Cfg.Name
	if name == "" {
		name = "hongbao"
	}
	subject, err := micro.ControlSubject(micro.StatsVerb, name, svc.ID())
	if err != nil {
		h.T.Fatal(err)
	}
	nc := h.NC
	if d := h.Srv.Auth(); d != nil {
		nc = h.Srv.ConnAs(h.T, d.OperatorCreds) // micro discovery is the operator's
	}
	m, err := nc.Request(subject, nil, RequestTimeout)
	if err != nil {
		h.T.Fatalf("%s: %v", subject, err)
	}
	var st micro.Stats
	if err := json.Unmarshal(m.Data, &st); err != nil {
		h.T.Fatalf("stats %s: %v", m.Data, err)
	}
	out := map[string]*micro.EndpointStats{}
	for _, ep := range st.Endpoints {
		out[ep.Name] = ep
	}
	return out
}
