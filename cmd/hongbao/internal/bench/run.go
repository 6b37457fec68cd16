package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	hb "github.com/hongbao/hongbao/client"
	"github.com/hongbao/hongbao/cmd/hongbao/internal/progress"
)

// Run runs the selected scenarios and the ceilings they are compared with,
// all against one server, and returns the report. On a failure it returns
// the error together with a report of the phases that completed.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TransportOps == 0 {
		cfg.TransportOps = cfg.Opens
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	r := &runner{cfg: cfg, runID: newRunID(), prog: progress.New(cfg.Progress, cfg.ProgressInPlace, cfg.ProgressInterval)}
	r.rep = newReport(&r.cfg, r.runID)
	env, err := startEnv(ctx, &r.cfg)
	if err != nil {
		return nil, err
	}
	r.env = env
	r.rep.Settings.fromEnv(env)
	defer func() {
		if cerr := env.close(); cerr != nil {
			cfg.logger().Warn("bench: shutdown", "err", cerr)
		}
	}()
	if r.nc, err = env.connect("hongbao-bench-clients"); err != nil {
		return nil, err
	}
	r.hb = r.newClient(r.cfg.Prefix)

	err = r.run(ctx)
	r.rep.Resources.End = r.footprint(ctx)
	r.rep.computeRatios()
	if err != nil && ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("bench: timed out after %s: %w", cfg.Timeout, err)
	}
	return r.rep, err
}

// runner holds one run's connection, set-up envelopes and report.
type runner struct {
	cfg   Config
	runID string // makes request ids, users and subjects unique to the run
	env   *env
	nc    *nats.Conn          // the clients' connection; never the service's
	js    jetstream.JetStream // on nc, made by clientJS
	prog  *progress.Printer
	rep   *Report

	spreadIDs, grabIDs []string
	hotID              string   // the envelope of the hot round running
	hotIDs             []string // one per round
	noop               *noopResponder
	hb                 *hb.Client // the service's client on nc (newClient)
}

// run runs the phases: every setup first (not measured), then the
// ceilings and the scenarios each is compared with.
func (r *runner) run(ctx context.Context) error {
	c := &r.cfg
	var err error
	if c.Preload > 0 {
		if err := r.preload(ctx); err != nil {
			return err
		}
	}
	if c.has(ScenarioSpread) {
		if r.spreadIDs, r.rep.setup[ScenarioSpread], err = r.setupEnvelopes(ctx, "spread setup", "s", c.Envelopes, c.Count); err != nil {
			return err
		}
	}
	if c.has(ScenarioGrab) {
		if r.grabIDs, r.rep.setup[ScenarioGrab], err = r.setupEnvelopes(ctx, "grab setup", "g", c.GrabEnvelopes, c.Count); err != nil {
			return err
		}
	}
	if c.has(ScenarioHot) {
		if r.hotIDs, r.rep.setup[ScenarioHot], err = r.setupEnvelopes(ctx, "hot setup", "h", c.HotRounds, c.HotCount); err != nil {
			return err
		}
	}
	r.rep.Resources.AfterSetup = r.footprint(ctx)

	needTransport := c.has(ScenarioSpread) || c.has(ScenarioGrab)
	if needTransport || c.has(ScenarioHot) {
		if r.noop, err = startNoop(r.env, r.runID); err != nil {
			return err
		}
		defer r.noop.close()
	}
	if needTransport {
		if err := r.add(ctx, r.transport, false); err != nil {
			return err
		}
	}
	if c.has(ScenarioSpread) {
		if err := r.add(ctx, r.storage, false); err != nil {
			return err
		}
		if err := r.add(ctx, r.storeReply, false); err != nil {
			return err
		}
		if err := r.add(ctx, r.spread, true); err != nil {
			return err
		}
	}
	if c.has(ScenarioGrab) {
		if err := r.add(ctx, r.grab, true); err != nil {
			return err
		}
	}
	if c.has(ScenarioWrap) {
		if err := r.add(ctx, r.wrap, true); err != nil {
			return err
		}
	}
	if c.has(ScenarioHot) {
		if err := r.hotRounds(ctx); err != nil {
			return err
		}
	}
	if c.has(ScenarioRebuild) {
		if err := r.rebuild(ctx); err != nil {
			return err
		}
	}
	return nil
}

// hotRounds runs the no-op burst and the hot burst HotRounds times,
// alternately, and files the pair of the round whose ratio is the median;
// every round's ratio goes into the report.
func (r *runner) hotRounds(ctx context.Context) error {
	type round struct {
		burst, hot *Result
		ratio      float64
	}
	var rounds []round
	for _, id := range r.hotIDs {
		r.hotID = id
		burst, err := r.transportBurst(ctx)
		if err != nil || burst == nil || !burst.Correct {
			if burst != nil {
				r.rep.Ceilings[burst.Name] = burst
			}
			return err
		}
		hot, err := r.hot(ctx)
		if hot != nil {
			hot.SetupSeconds = r.rep.setup[hot.Name]
		}
		if err != nil || hot == nil || !hot.Correct {
			// A wrong or failed round is the one to show.
			r.rep.Ceilings[burst.Name] = burst
			if hot != nil {
				r.rep.Scenarios[hot.Name] = hot
			}
			return err
		}
		rounds = append(rounds, round{burst, hot, hot.Seconds / max(burst.Seconds, 1e-9)})
	}
	slices.SortFunc(rounds, func(a, b round) int { return cmp.Compare(a.ratio, b.ratio) })
	for _, rd := range rounds {
		r.rep.HotRatios = append(r.rep.HotRatios, rd.ratio)
	}
	mid := rounds[len(rounds)/2]
	r.rep.Ceilings[mid.burst.Name] = mid.burst
	r.rep.Scenarios[mid.hot.Name] = mid.hot
	return nil
}

// add runs one measured phase and files its result.
func (r *runner) add(ctx context.Context, phase func(context.Context) (*Result, error), scenario bool) error {
	res, err := phase(ctx)
	if res != nil {
		if scenario {
			res.SetupSeconds = r.rep.setup[res.Name]
			r.rep.Scenarios[res.Name] = res
		} else {
			r.rep.Ceilings[res.Name] = res
		}
	}
	return err
}

func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
