package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/eventstore"
	"github.com/hongbao/hongbao/projections"
	"github.com/hongbao/hongbao/risk"
	"github.com/hongbao/hongbao/timers"
)

// Version of the service, shown by `nats micro info hongbao`.
const Version = "0.1.0"

// ErrStopped is returned by Start on a stopped service.
var ErrStopped = errors.New("service: stopped")

// Config of the service. The zero value of each field means its default.
type Config struct {
	Name           string          // micro service name; default "hongbao"
	Prefix         string          // subject prefix; default "hongbao"
	Limits         envelope.Limits // default envelope.DefaultLimits()
	CacheSize      int             // cached envelopes; default 100,000
	MaxQueue       int             // queued commands per envelope before busy; default 20,000
	RequestTimeout time.Duration   // store work per request; default 5 s
	// MaxOpenBatch is the most opens of one envelope, queued behind one
	// another, that are decided in a row and appended as one atomic batch;
	// default 128, at most eventstore.MaxBatch; 1 appends every open alone.
	MaxOpenBatch int
	// MinOpenBatch is the fewest opens worth a batch: a JetStream atomic
	// batch has a fixed cost (the server stages it in a store of its own,
	// several milliseconds) that single appends beat below it. Default 32.
	MinOpenBatch int
	WrapTTL      time.Duration // how long wrap request ids are remembered; default 7 days
	// MaxInFlight is the instance's global admission limit: requests taken
	// and not yet answered beyond which new ones are answered 503
	// overloaded at once instead of queueing. Default 20,000; -1: no limit.
	MaxInFlight int
	// OpenAdmission answers an open 429 busy at once, without queueing it,
	// when the opens already pending in its envelope's mailbox are at
	// least the shares left (see doc.go). Off: every open queues and
	// surplus ones answer exhausted once the envelope has finished.
	OpenAdmission bool
	// Risk, when set, blocks users and senders and rate-limits wrap (per
	// sender) and open (per user), and adds its admin endpoints
	// <prefix>.admin.risk.{block,unblock,list} at Start. The caller opens
	// and stops it.
	Risk  *risk.Guard
	Store eventstore.Config
	// Projections serve get, user.received, user.sent and wallet. Nil: get
	// reads the aggregate, the others answer unavailable.
	Projections *projections.Set
	// Extension, when set, adds endpoints of its own to the micro service
	// at Start: package ops adds the admin endpoints.
	Extension Extension
	Timers    timers.Config
	Now       func() time.Time // default time.Now
	Logger    *slog.Logger
}

func (c *Config) defaults() error {
	if c.Name == "" {
		c.Name = "hongbao"
	}
	if c.Prefix == "" {
		c.Prefix = "hongbao"
	}
	if c.Limits == (envelope.Limits{}) {
		c.Limits = envelope.DefaultLimits()
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	if c.CacheSize == 0 {
		c.CacheSize = 100_000
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = 20_000
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 5 * time.Second
	}
	switch {
	case c.MaxOpenBatch == 0:
		c.MaxOpenBatch = 128
	case c.MaxOpenBatch < 0 || c.MaxOpenBatch > eventstore.MaxBatch:
		return fmt.Errorf("service: MaxOpenBatch %d, want 1 to %d", c.MaxOpenBatch, eventstore.MaxBatch)
	}
	switch {
	case c.MinOpenBatch == 0:
		c.MinOpenBatch = 32
	case c.MinOpenBatch < 2:
		return fmt.Errorf("service: MinOpenBatch %d, want at least 2", c.MinOpenBatch)
	}
	switch {
	case c.MaxInFlight == 0:
		c.MaxInFlight = 20_000
	case c.MaxInFlight < -1:
		return fmt.Errorf("service: MaxInFlight %d, want a positive number or -1", c.MaxInFlight)
	}
	if c.WrapTTL == 0 {
		c.WrapTTL = 7 * 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Store.Logger = c.Logger
	c.Timers.Logger = c.Logger
	c.Timers.Now = c.Now
	return nil
}

// Service is one running instance of hongbao.
type Service struct {
	cfg    Config
	nc     *nats.Conn
	js     jetstream.JetStream
	store  *eventstore.Store
	timers *timers.Timers
	wraps  jetstream.KeyValue
	reg    *registry
	log    *slog.Logger

	errMu  sync.Mutex
	errors map[string]int64 // error replies by machine code
	late   endpointErrors   // error replies after the micro handler returned

	micro   micro.Service
	runCtx  context.Context // ends at Stop
	cancel  context.CancelFunc
	running sync.WaitGroup // background loops
	// inflight counts requests taken and not yet answered; lastTaken is
	// when the last one was taken (unix ns). Stop waits for both to settle.
	inflight  atomic.Int64
	lastTaken atomic.Int64
	// noBatch: the stream refused an atomic batch (created without
	// allow_atomic); opens are appended one by one from then on.
	noBatch atomic.Bool
	// batches counts opens appended as atomic batches, and their events.
	batches, batchedOpens atomic.Int64
	// shed counts requests answered overloaded; surplus opens answered
	// busy by the per-envelope admission.
	shed, surplus atomic.Int64

	// deadlines: the request context now handed out (requestContext).
	deadlines struct {
		sync.Mutex
		ctx    context.Context
		cancel context.CancelFunc
		until  time.Time // handed out until then
	}
}

// Extension adds endpoints of its own to the service's micro service
// (package ops adds the admin endpoints). They share its name, instance id
// and lifetime: Stop stops them too.
type Extension interface {
	// Register adds the extension's endpoints to g, the group of the
	// subject prefix of s. Start calls it once, after the service's own
	// endpoints and before it waits for the subscriptions.
	Register(g micro.Group, s *Service) error
	// EndpointStats is the data of ep in $SRV.STATS (`nats micro stats`),
	// and ok when ep is one of the extension's endpoints.
	EndpointStats(ep *micro.Endpoint) (data any, ok bool)
}

// OpenBatches reports how many atomic batches of opens were appended and
// how many opens they held (also in Stats).
func (s *Service) OpenBatches() (batches, opens int64) {
	return s.batches.Load(), s.batchedOpens.Load()
}

// Stats are the instance-wide numbers of the service.
type Stats struct {
	CachedEnvelopes int              `json:"cached_envelopes"`
	PendingTimers   int              `json:"pending_timers"`
	ErrorsByCode    map[string]int64 `json:"errors_by_code"` // error replies by machine code
	OpenBatches     OpenBatchStats   `json:"open_batches"`
	InFlight        int64            `json:"in_flight"`     // requests taken and not yet answered
	Shed            int64            `json:"shed"`          // answered 503 overloaded
	SurplusOpens    int64            `json:"surplus_opens"` // answered 429 busy by per-envelope admission
}

// OpenBatchStats: atomic batches of opens appended, and the opens in them.
type OpenBatchStats struct {
	Batches int64 `json:"batches"`
	Opens   int64 `json:"opens"`
}

// Stats reports the service's instance-wide numbers now.
func (s *Service) Stats() Stats {
	b, o := s.OpenBatches()
	return Stats{CachedEnvelopes: s.reg.len(), PendingTimers: s.timers.Pending(), ErrorsByCode: s.errorCounts(),
		OpenBatches: OpenBatchStats{Batches: b, Opens: o},
		InFlight:    s.inflight.Load(), Shed: s.shed.Load(), SurplusOpens: s.surplus.Load()}
}

// ID is the instance id of the running micro service ("" before Start).
func (s *Service) ID() string {
	if s.micro == nil {
		return ""
	}
	return s.micro.Info().ID
}

// Prefix is the subject prefix of the service's endpoints.
func (s *Service) Prefix() string { return s.cfg.Prefix }

// New connects the service to its streams and buckets (creating them when
// missing). It does not serve until Start.
func New(ctx context.Context, nc *nats.Conn, cfg Config) (*Service, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("service: jetstream: %w", err)
	}
	s := &Service{cfg: cfg, nc: nc, js: js, log: cfg.Logger, reg: newRegistry(cfg.CacheSize, cfg.MaxQueue)}
	s.reg.group, s.reg.maxGroup = s.openGroup, cfg.MaxOpenBatch
	if s.store, err = eventstore.Open(ctx, js, cfg.Store); err != nil {
		return nil, err
	}
	if s.timers, err = timers.Open(ctx, js, cfg.Timers, s.onTimer); err != nil {
		return nil, err
	}
	if s.wraps, err = openWraps(ctx, js, cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// Store is the event store the service appends to.
func (s *Service) Store() *eventstore.Store { return s.store }

// Start registers the micro service endpoints and starts the timers.
func (s *Service) Start(ctx context.Context) error {
	if s.micro != nil {
		return fmt.Errorf("service: already started")
	}
	svc, err := micro.AddService(s.nc, micro.Config{
		Name:         s.cfg.Name,
		Version:      Version,
		Description:  "hongbao red envelopes: wrap, pay, grab, open, get, user lists, wallets",
		QueueGroup:   s.cfg.Name,
		StatsHandler: s.endpointStats,
	})
	if err != nil {
		return fmt.Errorf("service: micro: %w", err)
	}
	s.micro = svc
	g := svc.AddGroup(s.cfg.Prefix)
	for _, ep := range []struct {
		name, subject string
		h             micro.HandlerFunc
	}{
		{"wrap", "wrap", s.handleWrap},
		{"pay", "pay.>", s.handlePay},
		{"grab", "grab.>", s.handleGrab},
		{"open", "open.>", s.handleOpen},
		{"get", "get.>", s.handleGet},
		{"user-received", "user.received", s.handleList(false)},
		{"user-sent", "user.sent", s.handleList(true)},
		{"wallet", "wallet.>", s.handleWallet},
	} {
		if err := g.AddEndpoint(ep.name, ep.h, micro.WithEndpointSubject(ep.subject)); err != nil {
			_ = svc.Stop()
			return fmt.Errorf("service: endpoint %s: %w", ep.name, err)
		}
	}
	if s.cfg.Risk != nil {
		if err := s.cfg.Risk.Register(g, s.cfg.RequestTimeout); err != nil {
			_ = svc.Stop()
			return fmt.Errorf("service: %w", err)
		}
	}
	if s.cfg.Extension != nil {
		if err := s.cfg.Extension.Register(g, s); err != nil {
			_ = svc.Stop()
			return fmt.Errorf("service: extension: %w", err)
		}
	}
	// The endpoints serve once the server has the subscriptions.
	if err := s.nc.FlushTimeout(10 * time.Second); err != nil {
		_ = svc.Stop()
		return fmt.Errorf("service: flush subscriptions: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.runCtx, s.cancel = runCtx, cancel
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		for runCtx.Err() == nil {
			if err := s.timers.Run(runCtx); err != nil {
				s.log.Error("timers stopped, restarting", "err", err)
				select {
				case <-runCtx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}()
	s.log.Info("hongbao serving", "name", s.cfg.Name, "prefix", s.cfg.Prefix, "stream", s.store.StreamName())
	return nil
}

// Stop stops taking requests, finishes the ones already taken, and stops
// the timers. It waits until ctx is done at most.
func (s *Service) Stop(ctx context.Context) error {
	var err error
	if s.micro != nil {
		err = s.micro.Stop()
	}
	// micro drains the endpoint subscriptions in the background: requests
	// already delivered may still be taken for a moment. Wait until none is
	// in flight and none was taken for a quiet period.
	const quiet = 100 * time.Millisecond
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.inflight.Load() > 0 || time.Since(time.Unix(0, s.lastTaken.Load())) < quiet {
		select {
		case <-tick.C:
			continue
		case <-ctx.Done():
			err = errors.Join(err, fmt.Errorf("service: stop: %d requests still running: %w", s.inflight.Load(), ctx.Err()))
		}
		break
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.running.Wait()
	return err
}

func (s *Service) countError(code string) {
	s.errMu.Lock()
	if s.errors == nil {
		s.errors = map[string]int64{}
	}
	s.errors[code]++
	s.errMu.Unlock()
}

func (s *Service) errorCounts() map[string]int64 {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	out := make(map[string]int64, len(s.errors))
	for k, v := range s.errors {
		out[k] = v
	}
	return out
}

// overloaded reports whether the instance is at its in-flight limit; it
// then answers r 503 overloaded. The check is one atomic load and soft:
// requests admitted at the same moment may pass the limit by a few.
func (s *Service) overloaded(r replier) bool {
	if s.cfg.MaxInFlight < 0 || s.inflight.Load() < int64(s.cfg.MaxInFlight) {
		return false
	}
	s.shed.Add(1)
	r.fail(api.Errorf(api.CodeOverloaded, "the instance is overloaded; retry later"))
	return true
}

// take counts a request in flight until the returned func is called.
func (s *Service) take() (done func()) {
	s.inflight.Add(1)
	s.lastTaken.Store(time.Now().UnixNano())
	return func() { s.inflight.Add(-1) }
}

// submit queues a job in id's mailbox, counting it for Stop.
func (s *Service) submit(id string, j job) bool {
	done := s.take()
	ok := s.reg.submit(id, func(e *entry) {
		defer done()
		j(e)
	})
	if !ok {
		done()
	}
	return ok
}

// load returns e's state, reading it from the store on a miss. Only the
// mailbox calls it.
func (s *Service) load(ctx context.Context, e *entry) (*envelope.Envelope, error) {
	if e.state != nil {
		return e.state, nil
	}
	if e.corrupt != nil {
		return nil, e.corrupt
	}
	recs, err := s.store.Load(ctx, e.id)
	if err == nil {
		var st *envelope.Envelope
		if st, err = envelope.Fold(e.id, recs); err == nil {
			e.setState(st)
			return st, nil
		}
	}
	if errors.Is(err, eventstore.ErrCorrupt) || errors.Is(err, envelope.ErrCorrupt) {
		// A stream does not heal (no purge, no delete): answer "corrupt"
		// from memory while the entry is cached, and log it once.
		e.corrupt = err
		s.log.Error("envelope does not load or fold: refusing to serve it (reconcile reports the event)", "envelope", e.id, "err", err)
	}
	return nil, err
}

// decideAndAppend runs decide against e's state and appends the event it
// returns, retrying on conflicts after a reload. It returns the state the
// event was applied to (or the current state when there was nothing to
// append) and the event's sequence (0 when none).
func (s *Service) decideAndAppend(ctx context.Context, e *entry, decide func(*envelope.Envelope) (*eventDecision, error)) (*envelope.Envelope, uint64, error) {
	for attempt := 1; ; attempt++ {
		fresh := e.state == nil
		st, err := s.load(ctx, e)
		if err != nil {
			return nil, 0, err
		}
		d, err := decide(st)
		if errors.Is(err, envelope.ErrNotLive) && !fresh {
			// Of all refusals only "not paid yet" can be stale: another
			// instance may have taken the payment. Ask the store.
			e.setState(nil)
			continue
		}
		if err != nil || d == nil {
			return st, 0, err
		}
		if d.timer != nil {
			if err := s.timers.Set(ctx, e.id, *d.timer); err != nil {
				return nil, 0, err
			}
		}
		seq, err := s.store.Append(ctx, st.LastSeq, d.event)
		switch {
		case err == nil:
			e.mu.Lock()
			err = st.Apply(seq, d.event)
			e.mu.Unlock()
			if err != nil {
				e.setState(nil)
				return nil, 0, err
			}
			return st, seq, nil
		case errors.Is(err, eventstore.ErrConflict) && attempt < eventstore.MaxAttempts:
			e.setState(nil) // another instance wrote: reload and decide again
		default:
			e.setState(nil) // the outcome may be unknown: the next command reloads
			return nil, 0, err
		}
	}
}

// eventDecision is an event to append and, if it needs one, the timer to
// store before it.
type eventDecision struct {
	event events.Event
	timer *time.Time
}
