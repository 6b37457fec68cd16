package projector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/events"
)

func (p *Projector) run(ctx context.Context, target uint64) error {
	backoff := 50 * time.Millisecond
	for {
		var af *applyFailed
		err := p.consume(ctx, target)
		switch {
		case err == nil:
			return nil // reached target
		case ctx.Err() != nil:
			if target > 0 {
				return fmt.Errorf("%w: %s at %d of %d", ErrLagging, p.Name(), p.Applied(), target)
			}
			return nil
		case errors.As(err, &af):
			// The event's rows may be half in the batch: consume again
			// from the checkpoint, parking that event this time.
			if p.toPark == nil {
				p.toPark = map[uint64]error{}
			}
			p.toPark[af.seq] = af.err
			continue
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

// applyFailed: the event at seq did not apply, and it is the event's
// fault (parkable): run parks it and consumes again.
type applyFailed struct {
	seq uint64
	err error
}

func (e *applyFailed) Error() string { return fmt.Sprintf("projector: apply seq %d: %v", e.seq, e.err) }

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
	subject string
	rec     events.Record
	err     error // the message does not decode or verify: it is parked
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
	var parked int64 // in the batch being built
	var pend []item  // the batch's items so far, to apply again after one fails
	for {
		var c *chunk
		select {
		case c = <-full:
		case <-ctx.Done():
			return ctx.Err()
		}
		for i := range c.items {
			it := &c.items[i]
			if it.err == nil && len(p.toPark) > 0 {
				if perr, ok := p.toPark[it.seq]; ok {
					it.err = perr
					delete(p.toPark, it.seq)
				}
			}
			if it.err == nil {
				it.err = p.applyItem(tx, it)
				switch {
				case it.err == nil:
				case !parkable(it.err):
					return fmt.Errorf("%w: %s: seq %d: %w", errApply, p.Name(), it.seq, it.err)
				default:
					// Its rows may be half in the batch: drop the batch's
					// rows and apply again what preceded it (it applied
					// before; the same reads give the same rows), then
					// park it below. Should that fail, consume again from
					// the checkpoint and park it then.
					tx.cur.reset()
					for i := range pend {
						if err := p.redo(tx, &pend[i]); err != nil {
							return &applyFailed{seq: it.seq, err: it.err}
						}
					}
				}
			}
			if it.err != nil {
				// Not applied (it does not decode or verify, or did not
				// apply): parked with the batch's checkpoint.
				if err := p.park(tx, it); err != nil {
					return fmt.Errorf("%w: %s: parking seq %d: %w", errApply, p.Name(), it.seq, err)
				}
				parked++
			}
			pend = append(pend, *it)
			last = it.seq
			n++
			if n >= p.cfg.BatchSize || it.pending == 0 || (target > 0 && it.seq >= target) {
				if err := cm.commit(tx, last); err != nil {
					return err
				}
				p.parked.Add(parked)
				n, parked = 0, 0
				clear(pend)
				pend = pend[:0]
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

// applyItem applies one decoded item to tx.
func (p *Projector) applyItem(tx *Tx, it *item) error {
	if p.events != nil {
		return p.events.Apply(tx, it.rec)
	}
	return p.proj.ApplyMsg(tx, it.seq, it.data)
}

// redo applies again an item of the batch being built: applied, or parked.
func (p *Projector) redo(tx *Tx, it *item) error {
	if it.err != nil {
		return p.park(tx, it)
	}
	return p.applyItem(tx, it)
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
	it := item{seq: meta.Sequence.Stream, pending: meta.NumPending, subject: msg.Subject()}
	if it.seq <= last {
		return item{}, fmt.Errorf("%w: %s got %d after %d", ErrOutOfOrder, p.Name(), it.seq, last)
	}
	if p.cfg.Verify != nil {
		if err := p.cfg.Verify(p.cfg.Stream, it.subject, it.seq, msg.Headers(), msg.Data()); err != nil {
			it.err = fmt.Errorf("%w: %w", ErrForged, err)
			return it, nil
		}
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
