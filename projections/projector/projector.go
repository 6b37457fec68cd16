package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/topology"
)

// Sentinel errors; match with errors.Is.
var (
	ErrOutOfOrder = errors.New("projector: event out of order")
	ErrLagging    = errors.New("projector: not caught up in time")
	ErrStopped    = errors.New("projector: stopped")
	ErrFormat     = errors.New("projector: database written in another format")
)

// Projection turns events into rows. Apply writes the rows for one event
// through tx, which holds the batch being built: reads through tx see the
// batch's earlier writes.
type Projection interface {
	Name() string
	Apply(tx *Tx, rec events.Record) error
}

// RawProjection is a projection of any stream: it decodes each message
// itself.
type RawProjection interface {
	Name() string
	ApplyMsg(tx *Tx, seq uint64, data []byte) error
}

// Events adapts a Projection of envelope events to a RawProjection. A
// projector given one decodes the events ahead of applying them, on its
// reading goroutine.
func Events(p Projection) RawProjection { return eventsProjection{p} }

type eventsProjection struct{ Projection }

func (p eventsProjection) ApplyMsg(tx *Tx, seq uint64, data []byte) error {
	ev, err := events.Decode(data)
	if err != nil {
		return err
	}
	return p.Apply(tx, events.Record{Seq: seq, Event: ev})
}

// Config of a projector.
type Config struct {
	Stream    string // default the envelope stream of topology.Default
	Filter    string // default the envelope filter of topology.Default
	BatchSize int    // events per Pebble batch at most; default 1000
	Logger    *slog.Logger
	// Bulk: the database was opened by OpenBulk. Batches are applied
	// without a WAL and Applied means visible, not durable, until Seal.
	Bulk bool
	// SyncInterval is the shortest time between two syncs of the WAL:
	// batches applied meanwhile are made durable by one fsync. Default
	// DefaultSyncInterval; negative: sync as soon as a batch is applied.
	SyncInterval time.Duration
	// Verify, when set, checks each message (its stream, subject, stream
	// sequence, headers and data) before it is decoded: a message it
	// refuses is parked as KindForged (seal.Policy.Verify).
	Verify func(stream, subject string, seq uint64, h nats.Header, data []byte) error
}

// DefaultSyncInterval paces a projector's WAL syncs. A view that kept up
// with a busy stream synced after every batch, back to back; in the whole
// instance at JetStream's default sync interval spread opened 3,300-4,600
// envelopes/s that way (hongbao bench --sync default), and 10,000-13,700
// with the syncs paced (50 ms, 200 ms and 1 s measured alike). Paced,
// a view makes at most 1/DefaultSyncInterval syncs a second, and
// read-your-writes (WaitFor) waits up to that much longer.
const DefaultSyncInterval = 50 * time.Millisecond

// Projector feeds one Projection's database from the stream.
type Projector struct {
	cfg    Config
	proj   RawProjection
	events Projection // proj's events, decoded on the reading goroutine (nil: raw)
	db     *pebble.DB
	js     jetstream.JetStream

	applied atomic.Uint64
	parked  atomic.Int64
	// toPark: events that failed to apply on the last attempt (by stream
	// sequence), parked on the next; run's and consume's goroutine only.
	toPark  map[uint64]error
	mu      sync.Mutex
	changed chan struct{} // closed and replaced after every commit
}

// New makes a projector of envelope events for proj over db, resuming at
// db's checkpoint.
func New(db *pebble.DB, proj Projection, js jetstream.JetStream, cfg Config) (*Projector, error) {
	return NewRaw(db, eventsProjection{proj}, js, cfg)
}

// NewRaw makes a projector for a projection of any stream (cfg.Stream and
// cfg.Filter name it).
func NewRaw(db *pebble.DB, proj RawProjection, js jetstream.JetStream, cfg Config) (*Projector, error) {
	if cfg.Stream == "" {
		cfg.Stream = topology.Default().EnvelopeStream(0)
	}
	if cfg.Filter == "" {
		cfg.Filter = topology.Default().EnvelopeFilter()
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	p := &Projector{cfg: cfg, proj: proj, db: db, js: js, changed: make(chan struct{})}
	if ep, ok := proj.(eventsProjection); ok {
		p.events = ep.Projection
	}
	if err := stamp(db, proj, cfg.Bulk); err != nil {
		return nil, err
	}
	cp, err := Checkpoint(db)
	if err != nil {
		return nil, err
	}
	p.applied.Store(cp)
	np, err := countParked(db)
	if err != nil {
		return nil, err
	}
	p.parked.Store(np)
	return p, nil
}

// Name is the projection's name.
func (p *Projector) Name() string { return p.proj.Name() }

// DB is the projection's database, for queries.
func (p *Projector) DB() *pebble.DB { return p.db }

// Applied is the stream sequence of the last durably applied event.
func (p *Projector) Applied() uint64 { return p.applied.Load() }

// WaitFor returns once events up to seq are applied, or ErrLagging when ctx
// ends first.
func (p *Projector) WaitFor(ctx context.Context, seq uint64) error {
	for {
		p.mu.Lock()
		ch := p.changed
		p.mu.Unlock()
		if p.applied.Load() >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: %s at %d, asked for %d", ErrLagging, p.Name(), p.applied.Load(), seq)
		}
	}
}

// Run applies events until ctx ends, recreating the consumer after
// transient errors. It returns nil when ctx ends, or the error that makes
// going on unsafe (a failed WAL sync, a database it cannot read); events
// that do not decode or apply are parked (see the package doc).
func (p *Projector) Run(ctx context.Context) error {
	return p.run(ctx, 0)
}

// CatchUp applies events until the projection has reached target (a stream
// sequence), then returns.
func (p *Projector) CatchUp(ctx context.Context, target uint64) error {
	if p.Applied() >= target {
		return nil
	}
	return p.run(ctx, target)
}
