package projector

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/events"
)

// Sentinel errors; match with errors.Is.
var (
	ErrOutOfOrder = errors.New("projector: event out of order")
	ErrLagging    = errors.New("projector: not caught up in time")
	ErrStopped    = errors.New("projector: stopped")
)

// Projection turns events into rows. Apply writes the rows for one event
// into b, an indexed batch: reads through b see the batch's earlier writes.
type Projection interface {
	Name() string
	Apply(b *pebble.Batch, rec events.Record) error
}

// RawProjection is a projection of any stream: it decodes each message
// itself.
type RawProjection interface {
	Name() string
	ApplyMsg(b *pebble.Batch, seq uint64, data []byte) error
}

// Events adapts a Projection of envelope events to a RawProjection.
func Events(p Projection) RawProjection { return eventsProjection{p} }

type eventsProjection struct{ Projection }

func (p eventsProjection) ApplyMsg(b *pebble.Batch, seq uint64, data []byte) error {
	ev, err := events.Decode(data)
	if err != nil {
		return err
	}
	return p.Apply(b, events.Record{Seq: seq, Event: ev})
}

// CheckpointKey holds the stream sequence of the last applied event. Every
// projection's own keys must sort after it (they start with a letter).
var CheckpointKey = []byte("\x00checkpoint")

// Config of a projector.
type Config struct {
	Stream    string // default "ENVELOPES"
	Filter    string // default "envelope.>"
	BatchSize int    // events per Pebble batch at most; default 1000
	Logger    *slog.Logger
}

// Projector feeds one Projection's database from the stream.
type Projector struct {
	cfg  Config
	proj RawProjection
	db   *pebble.DB
	js   jetstream.JetStream

	applied atomic.Uint64
	mu      sync.Mutex
	changed chan struct{} // closed and replaced after every commit
}

// Open opens (creating) a Pebble database at dir on fs (nil: the OS).
func Open(dir string, fs vfs.FS, log *slog.Logger) (*pebble.DB, error) {
	opts := &pebble.Options{Logger: pebbleLogger{log}, FormatMajorVersion: pebble.FormatNewest}
	if fs != nil {
		opts.FS = fs
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("projector: open %s: %w", dir, err)
	}
	return db, nil
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
		cfg.Stream = "ENVELOPES"
	}
	if cfg.Filter == "" {
		cfg.Filter = "envelope.>"
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Projector{cfg: cfg, proj: proj, db: db, js: js, changed: make(chan struct{})}
	cp, err := Checkpoint(db)
	if err != nil {
		return nil, err
	}
	p.applied.Store(cp)
	return p, nil
}

// Checkpoint reads a database's checkpoint (0 when empty).
func Checkpoint(r pebble.Reader) (uint64, error) {
	v, closer, err := r.Get(CheckpointKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("projector: checkpoint: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("projector: checkpoint of %d bytes", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
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
// going on unsafe (an event that does not decode or apply).
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

func (p *Projector) run(ctx context.Context, target uint64) error {
	backoff := 50 * time.Millisecond
	for {
		err := p.consume(ctx, target)
		switch {
		case err == nil:
			return nil // reached target
		case ctx.Err() != nil:
			if target > 0 {
				return fmt.Errorf("%w: %s at %d of %d", ErrLagging, p.Name(), p.Applied(), target)
			}
			return nil
		case errors.Is(err, ErrOutOfOrder), errors.Is(err, errApply):
			p.cfg.Logger.Error("projection stopped: an event cannot be applied", "projection", p.Name(), "applied", p.Applied(), "err", err)
			return err
		}
		p.cfg.Logger.Warn("projection consumer failed, restarting", "projection", p.Name(), "applied", p.Applied(), "err", err)
		select {
		case <-ctx.Done():
			continue
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

var errApply = errors.New("projector: apply")

// consume reads from one ordered consumer until ctx ends, target is
// reached (nil), or an error.
func (p *Projector) consume(ctx context.Context, target uint64) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{p.cfg.Filter}, DeliverPolicy: jetstream.DeliverAllPolicy}
	if start := p.Applied() + 1; start > 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
	}
	cons, err := p.js.OrderedConsumer(ctx, p.cfg.Stream, cfg)
	if err != nil {
		return err
	}
	msgs, err := cons.Messages(jetstream.PullMaxMessages(p.cfg.BatchSize))
	if err != nil {
		return err
	}
	defer msgs.Stop()

	b := p.db.NewIndexedBatch()
	defer func() { _ = b.Close() }()
	var last uint64
	n := 0
	for {
		msg, err := msgs.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		meta, err := msg.Metadata()
		if err != nil {
			return err
		}
		seq := meta.Sequence.Stream
		if seq <= p.Applied() || (last != 0 && seq <= last) {
			return fmt.Errorf("%w: %s got %d after %d", ErrOutOfOrder, p.Name(), seq, max(last, p.Applied()))
		}
		if err := p.proj.ApplyMsg(b, seq, msg.Data()); err != nil {
			return fmt.Errorf("%w: %s: seq %d: %w", errApply, p.Name(), seq, err)
		}
		last = seq
		n++
		if n >= p.cfg.BatchSize || meta.NumPending == 0 || (target > 0 && seq >= target) {
			if err := p.commit(b, last); err != nil {
				return err
			}
			b = p.db.NewIndexedBatch()
			n = 0
			if target > 0 && last >= target {
				return nil
			}
		}
	}
}

// commit writes the batch with its checkpoint, durably, then publishes the
// new applied sequence.
func (p *Projector) commit(b *pebble.Batch, seq uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], seq)
	if err := b.Set(CheckpointKey, v[:], nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("projector: commit %s at %d: %w", p.Name(), seq, err)
	}
	_ = b.Close()
	p.applied.Store(seq)
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	return nil
}

type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	if l.log != nil {
		l.log.Debug(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	if l.log != nil {
		l.log.Error(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if l.log != nil {
		l.log.Error(msg, "component", "pebble")
	}
	panic("pebble: fatal: " + msg) // pebble requires Fatalf not to return
}
