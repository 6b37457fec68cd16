package projector

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
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

// CheckpointKey holds the stream sequence of the last applied event. Every
// projection's own keys must sort after it (they start with a letter).
var CheckpointKey = []byte("\x00checkpoint")

// FormatKey holds the format version of a database's rows (decimal). A
// database without it and with a checkpoint was written before formats were
// recorded, in format 1.
var FormatKey = []byte("\x00format")

// Versioned is a projection whose rows have a format version: a new version
// means its rows must be rebuilt from the stream. A projection that does
// not implement it is at format 1.
type Versioned interface{ Format() int }

// FormatOf is the format version of proj's rows.
func FormatOf(proj RawProjection) int {
	var p any = proj
	if ep, ok := proj.(eventsProjection); ok {
		p = ep.Projection
	}
	if v, ok := p.(Versioned); ok {
		return v.Format()
	}
	return 1
}

// StoredFormat is the format version a database's rows are in: 0 for an
// empty database, 1 for one written before formats were recorded.
func StoredFormat(r pebble.Reader) (int, error) {
	f, _, err := storedFormat(r)
	return f, err
}

// storedFormat is StoredFormat, and whether the database records it.
func storedFormat(r pebble.Reader) (format int, marked bool, err error) {
	v, closer, err := r.Get(FormatKey)
	if errors.Is(err, pebble.ErrNotFound) {
		cp, err := Checkpoint(r)
		if err != nil || cp == 0 {
			return 0, false, err
		}
		return 1, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("projector: format: %w", err)
	}
	defer closer.Close()
	f, err := strconv.Atoi(string(v))
	if err != nil || f < 1 {
		return 0, false, fmt.Errorf("projector: format %q", v)
	}
	return f, true, nil
}

// stamp checks that db holds proj's format and records it: an empty
// database takes proj's format, an unmarked one of format 1 is marked.
// ErrFormat: the rows are in another format, and need a rebuild.
func stamp(db *pebble.DB, proj RawProjection, bulk bool) error {
	have, marked, err := storedFormat(db)
	if err != nil {
		return err
	}
	want := FormatOf(proj)
	switch {
	case have != 0 && have != want:
		return fmt.Errorf("%w: %s is in format %d, this build writes %d", ErrFormat, proj.Name(), have, want)
	case marked:
		return nil
	}
	opt := pebble.Sync
	if bulk {
		opt = pebble.NoSync // no WAL: Seal makes it durable with the rest
	}
	if err := db.Set(FormatKey, strconv.AppendInt(nil, int64(want), 10), opt); err != nil {
		return fmt.Errorf("projector: recording the format: %w", err)
	}
	return nil
}

// Config of a projector.
type Config struct {
	Stream    string // default "ENVELOPES"
	Filter    string // default "envelope.>"
	BatchSize int    // events per Pebble batch at most; default 1000
	Logger    *slog.Logger
	// Bulk: the database was opened by OpenBulk. Batches are applied
	// without a WAL and Applied means visible, not durable, until Seal.
	Bulk bool
	// SyncInterval is the shortest time between two syncs of the WAL:
	// batches applied meanwhile are made durable by one fsync. Default
	// DefaultSyncInterval; negative: sync as soon as a batch is applied.
	SyncInterval time.Duration
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
	mu      sync.Mutex
	changed chan struct{} // closed and replaced after every commit
}

// Open opens (creating) a Pebble database at dir on fs (nil: the OS).
func Open(dir string, fs vfs.FS, log *slog.Logger) (*pebble.DB, error) {
	return open(dir, fs, log, false)
}

// bulkMemTable is the memtable size of a bulk load: large enough that a
// rebuild flushes rarely (memtables grow to it from 256 KiB; 16 MiB measured
// best against 4, 8 and 64 in BenchmarkRebuild).
const bulkMemTable = 16 << 20

// viewCacheSize is a view's block cache. With pebble's default of 8 MiB the
// rows a projection reads back (an envelope's, a sender's totals) missed the
// cache once the view outgrew it, and reading and decoding blocks took a
// fifth of the whole instance's CPU: spread at JetStream's default sync
// interval, 100,000 opens, ran at 7,800-9,100 opens/s with it and at
// 10,300-13,800 with 64 MiB (bloom filters added nothing).
const viewCacheSize = 64 << 20

// OpenBulk opens (creating) a Pebble database at dir for a bulk load, a
// rebuild into a fresh generation: no write-ahead log and a large
// memtable. A projector over it needs Config.Bulk. Nothing it applies is
// durable until Seal; a crash before leaves a database to throw away, which
// is what a rebuild does with a generation it did not swap in.
func OpenBulk(dir string, fs vfs.FS, log *slog.Logger) (*pebble.DB, error) {
	return open(dir, fs, log, true)
}

func open(dir string, fs vfs.FS, log *slog.Logger, bulk bool) (*pebble.DB, error) {
	opts := &pebble.Options{Logger: pebbleLogger{log}, FormatMajorVersion: pebble.FormatNewest}
	opts.CacheSize = viewCacheSize
	if bulk {
		opts.DisableWAL, opts.MemTableSize = true, bulkMemTable
	}
	if fs != nil {
		opts.FS = fs
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("projector: open %s: %w", dir, err)
	}
	return db, nil
}

// Seal makes everything applied to a database opened by OpenBulk durable
// (its memtables are flushed to synced tables) and closes it. Reopen it with
// Open to go on.
func Seal(db *pebble.DB) error {
	if err := db.Flush(); err != nil {
		_ = db.Close()
		return fmt.Errorf("projector: seal: %w", err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("projector: seal: %w", err)
	}
	return nil
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
		case errors.Is(err, errSync):
			p.cfg.Logger.Error("projection stopped: a batch did not become durable", "projection", p.Name(), "applied", p.Applied(), "err", err)
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

var (
	errApply = errors.New("projector: apply")
	// errSync: a batch applied to the database did not become durable.
	// Its rows are visible already, so resuming after the checkpoint
	// would apply its events twice: the projector stops.
	errSync = errors.New("projector: sync")
)

// The pipeline of consume, four goroutines:
//
//   - the reader takes messages from the consumer, checks their order and
//     decodes them (events projections), and hands them over in order, in
//     chunks, to the applier; at most pipelineChunks chunks of chunkItems
//     messages are in flight, so reading runs at most that far ahead;
//   - the applier (consume's own goroutine) applies them to a Tx and, at
//     the end of each batch, hands the batch's rows over to the committer
//     and goes on with the next batch, which reads the rows handed over
//     until they are in the database (Tx);
//   - the committer encodes the rows and the checkpoint into one Pebble
//     batch and applies it to the WAL and the memtable without a sync (it
//     is visible at once), then tells the applier; the applier hands over
//     the next batch only after that, so batches enter the database one at
//     a time, in order;
//   - the syncer syncs the WAL at most once per Config.SyncInterval; one
//     sync makes every batch applied before it durable, and only then does
//     it publish the last one's checkpoint as applied (invariant 4).
//
// consume returns once the reader is stopped and every batch handed over
// is durable and published, or has failed.
const (
	chunkItems     = 256
	pipelineChunks = 4
	maxSyncing     = 4
)

// item is one message read, decoded if the projection takes events.
type item struct {
	seq     uint64
	pending uint64 // messages left in the stream after it when delivered
	data    []byte // raw projections
	rec     events.Record
	err     error // the message does not decode: the projector stops
}

// chunk is messages in stream order, then perhaps the error that ended
// reading.
type chunk struct {
	items []item
	err   error
}

// consume reads from one ordered consumer until ctx ends, target is
// reached (nil), or an error.
func (p *Projector) consume(ctx context.Context, target uint64) (err error) {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{p.cfg.Filter}, DeliverPolicy: jetstream.DeliverAllPolicy}
	after := p.Applied()
	if after > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, after+1
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

	full := make(chan *chunk, pipelineChunks)
	free := make(chan *chunk, pipelineChunks+1)
	for range pipelineChunks + 1 {
		free <- &chunk{items: make([]item, 0, chunkItems)}
	}
	rctx, cancel := context.WithCancel(ctx)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		p.read(rctx, msgs, after, target, full, free)
	}()
	// The reader is gone before msgs stops (deferred earlier).
	defer func() {
		cancel()
		<-readerDone
	}()

	cm := p.startCommitter()
	defer func() {
		// A failed sync wins: batches are visible that are not durable.
		if cerr := cm.stop(); cerr != nil && (err == nil || errors.Is(cerr, errSync)) {
			err = cerr
		}
	}()

	tx := newTx(p.db)
	var last uint64
	n := 0
	for {
		var c *chunk
		select {
		case c = <-full:
		case <-ctx.Done():
			return ctx.Err()
		}
		for i := range c.items {
			it := &c.items[i]
			if it.err == nil {
				if p.events != nil {
					it.err = p.events.Apply(tx, it.rec)
				} else {
					it.err = p.proj.ApplyMsg(tx, it.seq, it.data)
				}
			}
			if it.err != nil {
				return fmt.Errorf("%w: %s: seq %d: %w", errApply, p.Name(), it.seq, it.err)
			}
			last = it.seq
			n++
			if n >= p.cfg.BatchSize || it.pending == 0 || (target > 0 && it.seq >= target) {
				if err := cm.commit(tx, last); err != nil {
					return err
				}
				n = 0
				if target > 0 && last >= target {
					return nil // once durable: cm.stop waits
				}
			}
		}
		if c.err != nil {
			return c.err
		}
		clear(c.items)
		c.items = c.items[:0]
		free <- c // never blocks: there are as many places as chunks
	}
}

// read is consume's reading goroutine: it sends the messages after the
// sequence after to full, in order, in chunks taken from free, until rctx
// ends, target is reached, or reading fails: then the last chunk sent ends
// with the error (or with the item that does not decode).
func (p *Projector) read(rctx context.Context, msgs jetstream.MessagesContext, after, target uint64, full chan<- *chunk, free <-chan *chunk) {
	var c *chunk
	send := func() bool {
		select {
		case full <- c:
			c = nil
			return true
		case <-rctx.Done():
			return false
		}
	}
	last := after
	opts := []jetstream.NextOpt{jetstream.NextContext(rctx)} // made once: Next is called per message
	for {
		if c == nil {
			select {
			case c = <-free:
			case <-rctx.Done():
				return
			}
		}
		it, err := p.next(msgs, opts, last)
		if err != nil {
			c.err = err
			send()
			return
		}
		last = it.seq
		c.items = append(c.items, it)
		switch {
		case it.err != nil:
			send() // nothing after it may be applied
			return
		case len(c.items) == cap(c.items) || it.pending == 0 || (target > 0 && it.seq >= target):
			// Hand over at once whatever must be committed now.
			if !send() {
				return
			}
		}
	}
}

// next reads the message after the sequence last and decodes it.
func (p *Projector) next(msgs jetstream.MessagesContext, opts []jetstream.NextOpt, last uint64) (item, error) {
	msg, err := msgs.Next(opts...)
	if err != nil {
		return item{}, err
	}
	meta, err := msg.Metadata()
	if err != nil {
		return item{}, err
	}
	it := item{seq: meta.Sequence.Stream, pending: meta.NumPending}
	if it.seq <= last {
		return item{}, fmt.Errorf("%w: %s got %d after %d", ErrOutOfOrder, p.Name(), it.seq, last)
	}
	if p.events == nil {
		it.data = msg.Data()
		return it, nil
	}
	ev, err := events.Decode(msg.Data())
	it.rec, it.err = events.Record{Seq: it.seq, Event: ev}, err
	return it, nil
}

// committer is the committing and syncing goroutines of one consume.
type committer struct {
	p       *Projector
	queue   chan handoff
	visible chan error            // one answer per batch handed over: in the database, or not
	syncq   chan uint64           // checkpoints of batches applied, awaiting a sync
	done    chan struct{}         // both goroutines are gone
	synced  atomic.Pointer[error] // the first sync that failed
	pending bool                  // a batch handed over awaits its answer (the applier's)
}

// handoff is the rows of a batch, to be committed with its checkpoint.
type handoff struct {
	rows *rowSet
	seq  uint64
}

func (p *Projector) startCommitter() *committer {
	cm := &committer{p: p, queue: make(chan handoff, 1), visible: make(chan error, 1),
		syncq: make(chan uint64, maxSyncing-1), done: make(chan struct{})}
	synced := make(chan struct{})
	go func() {
		defer close(synced)
		cm.syncLoop()
	}()
	go func() {
		defer close(cm.done)
		defer func() { <-synced }()
		defer close(cm.syncq)
		enc := newEncoder()
		var failed error
		for h := range cm.queue {
			applied := false
			if failed == nil {
				failed = cm.apply(enc, h)
				applied = failed == nil
			}
			cm.visible <- failed
			switch {
			case !applied:
			case p.cfg.Bulk:
				p.publish(h.seq) // visible is all a bulk load promises
			default:
				cm.syncq <- h.seq
			}
		}
	}()
	return cm
}

// apply writes the rows handed over and their checkpoint into one batch
// and applies it to the WAL and the memtable, without a sync: the syncer
// makes it durable.
func (cm *committer) apply(enc *encoder, h handoff) error {
	b := cm.p.db.NewBatchWithSize(enc.size) // about the size of the batch before
	defer b.Close()
	err := enc.write(h.rows, b)
	if err == nil {
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], h.seq)
		err = b.Set(CheckpointKey, v[:], nil)
		enc.size = b.Len()
	}
	if err == nil {
		// Visible to readers at once, durable at the syncer's next sync
		// (bulk: no WAL, Seal makes it durable).
		err = cm.p.db.Apply(b, pebble.NoSync)
	}
	if err != nil {
		return fmt.Errorf("projector: commit %s at %d: %w", cm.p.Name(), h.seq, err)
	}
	return nil
}

// syncLoop is the syncer: it takes the checkpoints of the batches applied,
// in order, and makes them durable, at most one WAL sync per
// SyncInterval. The WAL is written and synced in order, so one sync makes
// every batch applied before it durable; only then is the last one's
// checkpoint published (invariant 4). The batches applied while it waits
// out the interval join the next sync; once the committer is done (the
// queue closed) it syncs what is left at once.
func (cm *committer) syncLoop() {
	p := cm.p
	var next time.Time // no sync before then
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for seq := range cm.syncq {
		open := true
		if wait := time.Until(next); wait > 0 {
			timer.Reset(wait)
		gather:
			for {
				select {
				case s, ok := <-cm.syncq:
					if !ok {
						open = false
						break gather
					}
					seq = s
				case <-timer.C:
					break gather
				}
			}
			timer.Stop()
		}
	queued:
		for open {
			select {
			case s, ok := <-cm.syncq:
				if !ok {
					open = false
				} else {
					seq = s
				}
			default:
				break queued
			}
		}
		if cm.synced.Load() == nil {
			if err := p.db.LogData(nil, pebble.Sync); err != nil {
				err = fmt.Errorf("%w: %s at %d: %w", errSync, p.Name(), seq, err)
				cm.synced.Store(&err)
			} else {
				p.publish(seq)
			}
		}
		next = time.Now().Add(p.cfg.SyncInterval)
		if !open {
			return
		}
	}
}

// commit hands the batch tx holds over, with the checkpoint seq, once the
// batch before is in the database. (Applier only.)
func (cm *committer) commit(tx *Tx, seq uint64) error {
	if err := cm.wait(tx); err != nil {
		return err
	}
	cm.queue <- handoff{tx.handOff(), seq}
	cm.pending = true
	return nil
}

// wait waits until the batch handed over last is in the database.
func (cm *committer) wait(tx *Tx) error {
	if cm.pending {
		cm.pending = false
		if err := <-cm.visible; err != nil {
			return err
		}
		tx.visible()
	}
	if err := cm.synced.Load(); err != nil {
		return *err
	}
	return nil
}

// stop waits until every batch handed over is durable and published, and
// returns the first error (a failed sync first).
func (cm *committer) stop() error {
	var err error
	if cm.pending {
		cm.pending = false
		err = <-cm.visible
	}
	close(cm.queue)
	<-cm.done
	if serr := cm.synced.Load(); serr != nil {
		return *serr
	}
	return err
}

// publish makes seq the applied sequence and wakes WaitFor.
func (p *Projector) publish(seq uint64) {
	p.applied.Store(seq)
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
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
