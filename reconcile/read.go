package reconcile

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Reading tunables: messages the client buffers per ordered consumer, and
// messages per decoding job.
const (
	pullBatch = 2048
	chunkSize = 256
)

// streamSnap is a stream's state at the start of a run.
type streamSnap struct {
	name          string
	last, msgs    uint64
	deleted       uint64
	missingStream bool
}

// snapshot reads a stream's state; a stream that does not exist is empty.
func snapshot(ctx context.Context, js jetstream.JetStream, name string) (streamSnap, error) {
	st, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return streamSnap{name: name, missingStream: true}, nil
	}
	if err != nil {
		return streamSnap{}, fmt.Errorf("reconcile: stream %s: %w", name, err)
	}
	info := st.CachedInfo()
	return streamSnap{name: name, last: info.State.LastSeq, msgs: info.State.Msgs, deleted: uint64(info.State.NumDeleted)}, nil
}

// rawMsg is one message as read.
type rawMsg struct {
	subject string
	seq     uint64
	time    time.Time
	data    []byte
	header  nats.Header
}

type job[T any] struct {
	raw []rawMsg
	out chan []T
}

// scan reads the stream from its first message to the snapshot's last one
// with an ordered consumer, decodes the messages on a pool of workers, and
// hands them to apply in stream order, in batches, on the calling
// goroutine.
func scan[T any](ctx context.Context, js jetstream.JetStream, stream string, snap streamSnap, decode func(*rawMsg) T, apply func([]T)) error {
	if snap.missingStream || snap.msgs == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	workers := max(1, runtime.GOMAXPROCS(0))
	jobs := make(chan job[T], 2*workers)
	order := make(chan chan []T, 4*workers)
	readErr := make(chan error, 1)

	go func() {
		defer close(order)
		defer close(jobs)
		readErr <- read(ctx, js, stream, snap, func(raw []rawMsg) bool {
			j := job[T]{raw: raw, out: make(chan []T, 1)}
			select {
			case order <- j.out:
			case <-ctx.Done():
				return false
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return false
			}
			return true
		})
	}()
	for range workers {
		go func() {
			for j := range jobs {
				res := make([]T, len(j.raw))
				for i := range j.raw {
					res[i] = decode(&j.raw[i])
				}
				j.out <- res
			}
		}()
	}
	for out := range order {
		select {
		case res := <-out:
			apply(res)
		case <-ctx.Done():
			// Drain so the reader can finish; the error says why.
			for range order {
			}
			if err := <-readErr; err != nil {
				return err
			}
			return ctx.Err()
		}
	}
	return <-readErr
}

// read delivers the stream's messages up to the snapshot in chunks to
// emit, which returns false to stop.
func read(ctx context.Context, js jetstream.JetStream, stream string, snap streamSnap, emit func([]rawMsg) bool) error {
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return fmt.Errorf("reconcile: consumer on %s: %w", stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(pullBatch))
	if err != nil {
		return fmt.Errorf("reconcile: read %s: %w", stream, err)
	}
	defer func() {
		it.Stop()
		// Best effort: the server would drop the consumer after its
		// inactivity threshold anyway.
		if info := cons.CachedInfo(); info != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = js.DeleteConsumer(dctx, stream, info.Name)
			cancel()
		}
	}()
	chunk := make([]rawMsg, 0, chunkSize)
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("reconcile: read %s: %w", stream, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("reconcile: read %s: %w", stream, err)
		}
		seq := meta.Sequence.Stream
		if seq > snap.last {
			// Written after the snapshot (and the snapshot's tail was
			// deleted meanwhile): not part of this run.
			break
		}
		chunk = append(chunk, rawMsg{subject: m.Subject(), seq: seq, time: meta.Timestamp, data: m.Data(), header: m.Headers()})
		done := seq == snap.last || meta.NumPending == 0
		if len(chunk) == chunkSize || done {
			if !emit(chunk) {
				return ctx.Err()
			}
			chunk = make([]rawMsg, 0, chunkSize)
		}
		if done {
			return nil
		}
	}
	if len(chunk) > 0 && !emit(chunk) {
		return ctx.Err()
	}
	return nil
}
