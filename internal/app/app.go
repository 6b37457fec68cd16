package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/dispatch"
	"github.com/hongbao/hongbao/eventstore"
	"github.com/hongbao/hongbao/internal/seal"
	"github.com/hongbao/hongbao/ledger"
	"github.com/hongbao/hongbao/ops"
	"github.com/hongbao/hongbao/projections"
	"github.com/hongbao/hongbao/reconcile"
	"github.com/hongbao/hongbao/risk"
	"github.com/hongbao/hongbao/service"
)

// Config of an instance.
type Config struct {
	Service  service.Config // Store, Timers, Projections and Extension are filled in
	DataDir  string         // read models under <DataDir>/projections; "" runs the service alone
	Replicas int            // stream and bucket replicas; default 1
	// ReconcileEvery runs the reconciler periodically (0: never); its last
	// result shows in the status.
	ReconcileEvery time.Duration
	// Risk, when set, turns the risk controls on (package risk): the
	// blocklist watched from the topology's risk bucket, and the rate
	// limits of *Risk (zero fields: the defaults). Its Bucket, Replicas
	// and Logger are filled in. Nil: no blocklist and no rate limits.
	Risk   *risk.Config
	Logger *slog.Logger
	// Signer signs every event and ledger entry this instance appends
	// (internal/seal). nil: the key under <DataDir>/instance.nk, created
	// on first start; without DataDir, a key for this run only.
	Signer *seal.Signer
}

// App is a running instance.
type App struct {
	Service    *service.Service
	Ops        *ops.Ops         // the admin endpoints of Service
	Views      *projections.Set // nil without DataDir
	Ledger     *ledger.Ledger
	Dispatcher *dispatch.Dispatcher

	Reconciler *reconcile.Periodic
	Risk       *risk.Guard // nil without Config.Risk
	// InstanceKey is the public nkey that signs this instance's appends.
	InstanceKey string

	bgCtx          context.Context
	stopBackground context.CancelFunc
	background     sync.WaitGroup
}

// Start opens everything and starts serving.
func Start(ctx context.Context, nc *nats.Conn, cfg Config) (_ *App, err error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &App{}
	defer func() {
		if err != nil {
			err = errors.Join(err, a.Stop(context.WithoutCancel(ctx)))
		}
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	svcCfg := cfg.Service
	svcCfg.Logger = cfg.Logger
	svcCfg.Store.Replicas, svcCfg.Timers.Replicas = cfg.Replicas, cfg.Replicas
	// The read models need the streams to exist before their consumers start.
	if _, err := eventstore.Open(ctx, js, svcCfg.Store); err != nil {
		return nil, err
	}
	if _, err = ledger.Open(ctx, js, ledger.Config{Replicas: cfg.Replicas, Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	// Tamper evidence: register the instance's key (and, on a stream's
	// first signed start, where signing begins) before the first append.
	signer, policy, err := setUpSeal(ctx, js, cfg, svcCfg)
	if err != nil {
		return nil, err
	}
	a.InstanceKey = signer.PublicKey()
	svcCfg.Store.Signer, svcCfg.Store.Policy = signer, policy
	if a.Ledger, err = ledger.Open(ctx, js, ledger.Config{Replicas: cfg.Replicas, Logger: cfg.Logger, Signer: signer, Policy: policy}); err != nil {
		return nil, err
	}
	if cfg.DataDir != "" {
		if a.Views, err = projections.Open(js, projections.Config{Dir: filepath.Join(cfg.DataDir, "projections"), Logger: cfg.Logger, Policy: policy}); err != nil {
			return nil, err
		}
		a.Views.Start()
		if a.Dispatcher, err = dispatch.New(ctx, js, a.Views, a.Ledger, dispatch.Config{Replicas: cfg.Replicas, Logger: cfg.Logger}); err != nil {
			return nil, err
		}
		a.goBackground(ctx, func(ctx context.Context) { _ = a.Dispatcher.Run(ctx) })
		svcCfg.Projections = a.Views
	}
	if cfg.ReconcileEvery > 0 {
		a.Reconciler = reconcile.NewPeriodic(js, cfg.ReconcileEvery, cfg.Logger)
		a.goBackground(ctx, a.Reconciler.Run)
	}
	if cfg.Risk != nil {
		rc := *cfg.Risk
		rc.Bucket, rc.Replicas, rc.Logger = svcCfg.Store.Topology.RiskBucket(), cfg.Replicas, cfg.Logger
		if a.Risk, err = risk.Open(ctx, js, rc); err != nil {
			return nil, err
		}
		svcCfg.Risk = a.Risk
	}
	a.Ops = ops.New(a.opsConfig(svcCfg))
	svcCfg.Extension = a.Ops
	svc, err := service.New(ctx, nc, svcCfg)
	if err != nil {
		return nil, err
	}
	if err := svc.Start(ctx); err != nil {
		return nil, err
	}
	a.Service = svc
	return a, nil
}

// opsConfig wires the parts that run into the operations; nil interfaces
// stay nil.
func (a *App) opsConfig(svc service.Config) ops.Config {
	cfg := ops.Config{Logger: svc.Logger, RequestTimeout: svc.RequestTimeout, InstanceKey: a.InstanceKey}
	if a.Views != nil {
		cfg.Views = a.Views
	}
	if a.Dispatcher != nil {
		cfg.Dispatch = a.Dispatcher
	}
	if a.Reconciler != nil {
		cfg.Reconciler = a.Reconciler
	}
	return cfg
}

// setUpSeal loads or makes the instance's signer, registers its key and
// the streams' signed-from markers, and loads the trust policy.
func setUpSeal(ctx context.Context, js jetstream.JetStream, cfg Config, svcCfg service.Config) (*seal.Signer, *seal.Policy, error) {
	signer := cfg.Signer
	var err error
	switch {
	case signer != nil:
	case cfg.DataDir != "":
		signer, err = seal.LoadOrCreate(cfg.DataDir)
	default:
		signer, _, err = seal.Generate()
	}
	if err != nil {
		return nil, nil, err
	}
	top := svcCfg.Store.Topology.WithDefaults()
	streams := []string{top.EnvelopeStream(0), top.LedgerStream(0)}
	if err := seal.Register(ctx, js, top.KeysBucket(), cfg.Replicas, signer, "", streams); err != nil {
		return nil, nil, err
	}
	policy, err := seal.LoadPolicy(ctx, js, top.KeysBucket())
	return signer, policy, err
}

// goBackground runs f until Stop.
func (a *App) goBackground(ctx context.Context, f func(context.Context)) {
	if a.stopBackground == nil {
		var bctx context.Context
		bctx, a.stopBackground = context.WithCancel(context.WithoutCancel(ctx))
		a.bgCtx = bctx
	}
	a.background.Add(1)
	go func() {
		defer a.background.Done()
		f(a.bgCtx)
	}()
}

// Stop stops taking requests, finishes those in flight, stops the admin
// jobs and the dispatcher, and closes the read models (before the connection goes: the
// projectors and the dispatcher read on it).
func (a *App) Stop(ctx context.Context) error {
	var errs []error
	if a.Service != nil {
		errs = append(errs, a.Service.Stop(ctx))
		a.Service = nil
	}
	if a.Ops != nil {
		errs = append(errs, a.Ops.Stop(ctx)) // its jobs write the read models
		a.Ops = nil
	}
	if a.Risk != nil {
		a.Risk.Stop()
		a.Risk = nil
	}
	if a.stopBackground != nil {
		a.stopBackground() // the dispatcher and the reconciler
		a.background.Wait()
		a.stopBackground = nil
	}
	if a.Views != nil {
		if err := a.Views.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing projections: %w", err))
		}
		a.Views = nil
	}
	return errors.Join(errs...)
}
