package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/dispatch"
	"github.com/hongbao/hongbao/projections"
	"github.com/hongbao/hongbao/reconcile"
	"github.com/hongbao/hongbao/service"
)

// Views are the read models as ops operates them (*projections.Set).
type Views interface {
	Status(ctx context.Context) ([]projections.Lag, error)
	Applied() map[string]uint64
	Rebuild(ctx context.Context, name string, progress func(projections.Progress)) error
	Verify(ctx context.Context, name string, progress func(projections.Progress)) (projections.VerifyResult, error)
}

// Dispatch is the outbox dispatcher as ops reports it (*dispatch.Dispatcher).
type Dispatch interface{ Stats() dispatch.Stats }

// Reconciler is the periodic reconciler as ops reports it (*reconcile.Periodic).
type Reconciler interface {
	Last() (reconcile.Report, time.Time, error)
}

var (
	_ Views      = (*projections.Set)(nil)
	_ Dispatch   = (*dispatch.Dispatcher)(nil)
	_ Reconciler = (*reconcile.Periodic)(nil)

	_ service.Extension = (*Ops)(nil)
)

// Config of the operations of one instance. Each part is optional: without
// Views the status lists no projections and rebuild/verify answer
// unavailable; without Dispatch or Reconciler the status omits them.
type Config struct {
	Views      Views
	Dispatch   Dispatch
	Reconciler Reconciler
	Logger     *slog.Logger
	// RequestTimeout bounds the status's reading of the views; default 5 s.
	RequestTimeout time.Duration
	// InstanceKey is the public nkey that signs this instance's appends
	// (internal/seal), shown in the status; seal.Trusted lists them all.
	InstanceKey string
}

// Ops operates one service instance. Pass it as service.Config.Extension;
// Stop it after the service.
type Ops struct {
	cfg Config
	log *slog.Logger

	// Set by Register.
	svc    *service.Service
	prefix string
	id     string

	jobsMu  sync.Mutex
	jobs    []*Job
	stopped bool // no job or request starts after Stop

	ctx     context.Context // ends at Stop: the jobs' context
	cancel  context.CancelFunc
	running sync.WaitGroup
}

// New returns the operations of an instance, idle until the service
// registers them.
func New(cfg Config) *Ops {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Ops{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel}
}

// Register adds the admin endpoints of svc to g (the group of its subject
// prefix): admin-status, admin-rebuild and admin-verify on
// <prefix>.admin.<instance id>.<verb>, outside the queue group (each
// instance has read models of its own). The service calls it from Start.
func (o *Ops) Register(g micro.Group, svc *service.Service) error {
	if o.svc != nil {
		return errors.New("ops: registered twice")
	}
	o.svc, o.prefix, o.id = svc, svc.Prefix(), svc.ID()
	for _, ep := range []struct {
		verb string
		h    micro.HandlerFunc
	}{
		{"status", o.handleStatus},
		{"rebuild", o.handleJob("rebuild")},
		{"verify", o.handleJob("verify")},
	} {
		if err := g.AddEndpoint(endpointPrefix+ep.verb, ep.h, micro.WithEndpointSubject("admin."+o.id+"."+ep.verb),
			micro.WithEndpointQueueGroupDisabled()); err != nil {
			return fmt.Errorf("ops: endpoint admin %s: %w", ep.verb, err)
		}
	}
	return nil
}

// endpointPrefix starts the names of the admin endpoints.
const endpointPrefix = "admin-"

// Subject is the subject of an admin verb (status, rebuild, verify) of the
// registered instance.
func (o *Ops) Subject(verb string) string {
	return o.prefix + ".admin." + o.id + "." + verb
}

// Stop cancels the running jobs and waits for them and for the admin
// requests being answered, or until ctx is done.
func (o *Ops) Stop(ctx context.Context) error {
	o.jobsMu.Lock()
	o.stopped = true
	o.jobsMu.Unlock()
	o.cancel()
	done := make(chan struct{})
	go func() {
		o.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ops: stop: jobs still running: %w", ctx.Err())
	}
}

// enter counts a request in o.running unless Stop was called; the caller
// calls o.running.Done when it reports true.
func (o *Ops) enter() bool {
	o.jobsMu.Lock()
	defer o.jobsMu.Unlock()
	if o.stopped {
		return false
	}
	o.running.Add(1)
	return true
}

func errStopping() *api.Error {
	return api.Errorf(api.CodeUnavailable, "the instance is stopping")
}

// fail answers req with the contract's error (micro counts it).
func fail(req micro.Request, e *api.Error) {
	_ = req.Error(strconv.Itoa(e.Status), e.Message, e.Body())
}

// respond answers req with v as JSON (micro counts a failure to send).
func (o *Ops) respond(req micro.Request, v any) {
	if err := req.RespondJSON(v); err != nil {
		o.log.Warn("admin reply not sent", "subject", req.Subject(), "err", err)
	}
}
