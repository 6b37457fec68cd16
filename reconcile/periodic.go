package reconcile

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Periodic runs Run on a timer, for the service: it logs each outcome and
// keeps the last one for status endpoints and metrics.
type Periodic struct {
	js     jetstream.JetStream
	every  time.Duration
	logger *slog.Logger

	// Options of every run. NewPeriodic sets Grace to DefaultGrace, since
	// the outbox delivers transfers while the service runs. Change before
	// Run, not during.
	Options Options

	mu   sync.Mutex
	last Report
	at   time.Time
	err  error
}

// NewPeriodic returns a runner reconciling every `every` (10 minutes when
// not positive); logger may be nil.
func NewPeriodic(js jetstream.JetStream, every time.Duration, logger *slog.Logger) *Periodic {
	if every <= 0 {
		every = 10 * time.Minute
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Periodic{js: js, every: every, logger: logger, Options: Options{Grace: DefaultGrace}}
}

// Run reconciles at once, then every period after the end of the previous
// run, until ctx ends.
func (p *Periodic) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		p.once(ctx)
		timer.Reset(p.every)
	}
}

func (p *Periodic) once(ctx context.Context) {
	rep, err := Run(ctx, p.js, p.Options)
	if ctx.Err() != nil {
		return // stopping: not a failed run
	}
	p.mu.Lock()
	if err == nil {
		p.last, p.at = rep, time.Now()
	}
	p.err = err
	p.mu.Unlock()
	switch {
	case err != nil:
		p.logger.Warn("reconcile: run failed", "err", err)
	case rep.OK():
		p.logger.Info("reconcile: the money adds up", "envelopes", rep.Envelopes, "events", rep.Events,
			"transfers", rep.Transfers, "in_flight", rep.InFlight, "in_escrow", rep.Money.InEscrow, "elapsed", rep.Elapsed)
	default:
		args := []any{"discrepancies", len(rep.Discrepancies), "balanced", rep.Balanced, "envelopes", rep.Envelopes}
		for kind, n := range rep.CountByKind() {
			args = append(args, kind, n)
		}
		p.logger.Error("reconcile: INVARIANTS BROKEN", args...)
		for i, d := range rep.Discrepancies {
			if i == 20 {
				p.logger.Error("reconcile: more discrepancies not logged; run hongbao reconcile", "more", len(rep.Discrepancies)-i)
				break
			}
			p.logger.Error("reconcile: discrepancy", "kind", d.Kind, "envelope", d.EnvelopeID, "transfer", d.TransferID,
				"user", d.User, "seq", d.Seq, "ledger_seq", d.LedgerSeq, "want", d.Want, "got", d.Got, "detail", d.Detail)
		}
	}
}

// Last returns the last report that completed and when (zero before the
// first), and the error of the latest run: nil when it completed; when it
// failed, the report is the one of an earlier run.
func (p *Periodic) Last() (Report, time.Time, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last, p.at, p.err
}
