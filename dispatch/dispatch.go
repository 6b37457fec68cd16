package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/ledger"
	"github.com/hongbao/hongbao/projections"
	"github.com/hongbao/hongbao/projections/outbox"
	"github.com/hongbao/hongbao/topology"
)

// Config of the dispatcher.
type Config struct {
	Bucket    string // default topology.Topology.DispatchBucket
	Replicas  int    // default 1
	BatchSize int    // transfers per cursor move; default 256
	// Escrows is how many escrows' transfers are delivered at once, each
	// escrow's in stream order. Default 1: concurrent delivery caught up
	// faster at sync_interval: always (16: 5,000 funds in 1.7-2.0 s
	// instead of 2.3-3.3), but with JetStream's default interval it took
	// CPU from the opens (whole instance spread 2.0-3.0k opens/s instead of
	// 3.8-5.9k).
	Escrows    int
	MaxBackoff time.Duration // longest wait between retries; default 5 s
	// AttemptTimeout bounds one delivery attempt of a transfer; default 5 s.
	AttemptTimeout time.Duration
	Logger         *slog.Logger
}

// Stats of a dispatcher since it started.
type Stats struct {
	Cursor     uint64 `json:"cursor"`
	Delivered  int64  `json:"delivered"`
	Duplicates int64  `json:"duplicates"` // already in the ledger (re-sent after a restart, or by another instance)
	Parked     int64  `json:"parked"`
	Retries    int64  `json:"retries"`
	LastError  string `json:"last_error,omitempty"`
}

// Dispatcher delivers the outbox to the ledger.
type Dispatcher struct {
	cfg    Config
	views  *projections.Set
	ledger *ledger.Ledger
	kv     jetstream.KeyValue

	cursor                                 atomic.Uint64
	delivered, duplicates, parked, retries atomic.Int64
	lastErr                                atomic.Value // string
}

const cursorKey = "cursor"

// New binds the dispatcher's bucket (creating it).
func New(ctx context.Context, js jetstream.JetStream, views *projections.Set, led *ledger.Ledger, cfg Config) (*Dispatcher, error) {
	if cfg.Bucket == "" {
		cfg.Bucket = topology.Default().DispatchBucket()
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 256
	}
	if cfg.Escrows <= 0 {
		cfg.Escrows = 1
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.AttemptTimeout == 0 {
		cfg.AttemptTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: cfg.Bucket, Description: "hongbao: outbox delivery cursor and parked transfers",
		Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("dispatch: bucket %s: %w", cfg.Bucket, err)
	}
	return &Dispatcher{cfg: cfg, views: views, ledger: led, kv: kv}, nil
}

// Stats reports what the dispatcher did.
func (d *Dispatcher) Stats() Stats {
	s := Stats{Cursor: d.cursor.Load(), Delivered: d.delivered.Load(), Duplicates: d.duplicates.Load(),
		Parked: d.parked.Load(), Retries: d.retries.Load()}
	s.LastError, _ = d.lastErr.Load().(string)
	return s
}

// loadCursor reads the cursor and its revision (0, 0 when none yet).
func (d *Dispatcher) loadCursor(ctx context.Context) (uint64, uint64, error) {
	e, err := d.kv.Get(ctx, cursorKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	c, err := strconv.ParseUint(string(e.Value()), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("dispatch: cursor %q: %w", e.Value(), err)
	}
	return c, e.Revision(), nil
}

// Run delivers until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		if err := d.step(ctx); err != nil && ctx.Err() == nil {
			d.fail(err)
			d.wait(ctx, backoff)
			backoff = min(2*backoff, d.cfg.MaxBackoff)
			continue
		}
		backoff = 50 * time.Millisecond
	}
	return nil
}

func (d *Dispatcher) fail(err error) {
	d.retries.Add(1)
	d.lastErr.Store(err.Error())
	d.cfg.Logger.Warn("dispatch: will retry", "err", err)
}

func (d *Dispatcher) wait(ctx context.Context, dur time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(dur):
	}
}

// step delivers one batch and moves the cursor past it, or waits for the
// outbox to grow.
func (d *Dispatcher) step(ctx context.Context) error {
	cur, rev, err := d.loadCursor(ctx)
	if err != nil {
		return err
	}
	d.cursor.Store(cur)
	seen := d.views.Applied()["outbox"]
	batch, err := d.views.Outbox(ctx, cur, d.cfg.BatchSize)
	if err != nil {
		return err
	}
	if len(batch) == 0 {
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_ = d.views.WaitFor(wctx, "outbox", seen+1)
		return nil
	}
	if err := d.deliverBatch(ctx, batch); err != nil {
		return err
	}
	next := batch[len(batch)-1].Seq
	val := []byte(strconv.FormatUint(next, 10))
	if rev == 0 {
		_, err = d.kv.Create(ctx, cursorKey, val)
	} else {
		_, err = d.kv.Update(ctx, cursorKey, val, rev)
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("dispatch: moving the cursor to %d: %w", next, err)
	}
	// ErrKeyExists: another instance moved it meanwhile; reload next step.
	d.cursor.Store(next)
	return nil
}

// deliverBatch books a batch: each escrow's transfers in stream order, up
// to Escrows escrows at once. Only each escrow's order matters (its fund
// before its opens and refund: the ledger refuses to take an escrow below
// zero); every transfer touches exactly one escrow, and the ledger
// serializes each escrow's subject. It returns once every transfer is
// booked or parked, or with the first error, after the others stopped.
func (d *Dispatcher) deliverBatch(ctx context.Context, batch []outbox.Transfer) error {
	var escrows [][]outbox.Transfer
	at := make(map[string]int, len(batch))
	for _, t := range batch {
		i, ok := at[t.EnvelopeID]
		if !ok {
			i = len(escrows)
			at[t.EnvelopeID] = i
			escrows = append(escrows, nil)
		}
		escrows[i] = append(escrows[i], t)
	}
	if len(escrows) == 1 || d.cfg.Escrows == 1 {
		for _, t := range batch {
			if err := d.deliver(ctx, t); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan []outbox.Transfer)
	errs := make(chan error, d.cfg.Escrows)
	var wg sync.WaitGroup
	for range min(d.cfg.Escrows, len(escrows)) {
		wg.Go(func() {
			for ts := range next {
				for _, t := range ts {
					if err := d.deliver(ctx, t); err != nil {
						errs <- err
						cancel()
						return
					}
				}
			}
		})
	}
feed:
	for _, ts := range escrows {
		select {
		case next <- ts:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return ctx.Err() // the caller's, if it ended
	}
}

// deliver books one transfer, retrying while the ledger is unavailable.
func (d *Dispatcher) deliver(ctx context.Context, t outbox.Transfer) error {
	backoff := 50 * time.Millisecond
	for {
		// Bounded, so that an outage shows as retries and an error in the
		// stats instead of one call retrying inside for as long as it lasts.
		tctx, cancel := context.WithTimeout(ctx, d.cfg.AttemptTimeout)
		res, err := d.ledger.Transfer(tctx, t.Transfer)
		cancel()
		switch {
		case err == nil && res.Duplicate:
			d.duplicates.Add(1)
			return nil
		case err == nil:
			d.delivered.Add(1)
			return nil
		case errors.Is(err, ledger.ErrInsufficient), errors.Is(err, ledger.ErrMismatch), errors.Is(err, ledger.ErrInvalid),
			errors.Is(err, ledger.ErrCorrupt):
			// ErrCorrupt: the escrow's subject holds an entry that does
			// not decode or verify; retrying would hold up every other
			// escrow's transfers behind it for ever.
			return d.park(ctx, t, err)
		case ctx.Err() != nil:
			return ctx.Err()
		}
		d.fail(fmt.Errorf("transfer %s: %w", t.ID, err))
		d.wait(ctx, backoff)
		backoff = min(2*backoff, d.cfg.MaxBackoff)
	}
}

// Parked is a transfer the ledger refused for good.
type Parked struct {
	Transfer outbox.Transfer `json:"transfer"`
	Error    string          `json:"error"`
	At       time.Time       `json:"at"`
}

func parkedKey(id string) string { return "parked." + strings.NewReplacer(":", "_").Replace(id) }

func (d *Dispatcher) park(ctx context.Context, t outbox.Transfer, cause error) error {
	d.cfg.Logger.Error("dispatch: ledger refused a transfer; parked for the reconciler", "transfer", t.ID, "err", cause)
	b, err := json.Marshal(Parked{Transfer: t, Error: cause.Error(), At: time.Now().UTC()})
	if err != nil {
		return err
	}
	if _, err := d.kv.Put(ctx, parkedKey(t.ID), b); err != nil {
		return fmt.Errorf("dispatch: parking %s: %w", t.ID, err)
	}
	d.parked.Add(1)
	return nil
}

// ListParked returns the parked transfers.
func (d *Dispatcher) ListParked(ctx context.Context) ([]Parked, error) {
	keys, err := d.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []Parked
	for k := range keys.Keys() {
		if !strings.HasPrefix(k, "parked.") {
			continue
		}
		e, err := d.kv.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		var p Parked
		if err := json.Unmarshal(e.Value(), &p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
