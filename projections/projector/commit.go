package projector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// CheckpointKey holds the stream sequence of the last applied event. Every
// projection's own keys must sort after it (they start with a letter).
var CheckpointKey = []byte("\x00checkpoint")

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
