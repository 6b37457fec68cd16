package eventstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/internal/natstest"
)

// openedN is opens 1..n of a 100-share envelope of 1 fen each.
func openedN(from, n int) []events.Event {
	evs := make([]events.Event, n)
	for i := range evs {
		idx := from + i
		evs[i] = events.New(id, at, events.Opened{User: "u" + string(rune('a'+idx%26)) + string(rune('a'+idx/26)),
			Amount: 1, Index: idx, RemainingAmount: int64(100 - idx), RemainingCount: 100 - idx})
	}
	return evs
}

// TestAppendBatch: a batch lands contiguously after the expected sequence,
// with nothing of other writers in between, and the reported sequence is
// its last; a stale expected sequence writes nothing (ErrConflict).
func TestAppendBatch(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	seq, err := s.Append(ctx, 0, wrapped())
	if err != nil {
		t.Fatal(err)
	}
	// Other envelopes written concurrently must not interleave.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			other := wrapped()
			other.EnvelopeID = "01JQ1" + string(rune('A'+i%26)) + "000000000000000000" + string(rune('A'+i/26%26)) + "00000"
			if _, err := s.Append(ctx, 0, other); err != nil && !errors.Is(err, ErrConflict) {
				t.Errorf("other writer: %v", err)
				return
			}
		}
	})
	from := 1
	for _, n := range []int{2, 7, 30, 1} {
		last, err := s.AppendBatch(ctx, seq, openedN(from, n))
		if err != nil {
			t.Fatalf("batch of %d: %v", n, err)
		}
		recs, err := s.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		tail := recs[len(recs)-n:]
		for i, r := range tail {
			if r.Seq != last-uint64(n-1-i) || r.Event.Data.(events.Opened).Index != from+i {
				t.Fatalf("batch of %d: event %d at seq %d (index %d), want seq %d", n, i, r.Seq, r.Event.Data.(events.Opened).Index, last-uint64(n-1-i))
			}
		}
		seq, from = last, from+n
	}
	close(stop)
	wg.Wait()

	if _, err := s.AppendBatch(ctx, seq-1, openedN(from, 3)); !errors.Is(err, ErrConflict) {
		t.Fatalf("batch after a stale sequence: %v", err)
	}
	recs, _ := s.Load(ctx, id)
	if got := recs[len(recs)-1].Seq; got != seq {
		t.Fatalf("a refused batch wrote: last seq %d, want %d", got, seq)
	}
	other := wrapped()
	other.EnvelopeID = "01JQ0000000000000000000001"
	if _, err := s.AppendBatch(ctx, seq, append(openedN(from, 1), other)); err == nil {
		t.Fatal("a batch mixing envelopes was accepted")
	}
}

// TestAppendBatchLostAck: the batch is stored but its acknowledgement is
// lost; the retry (same Msg-Ids, a new batch id) is recognised, whether
// JetStream answers it as duplicates or, with a duplicate window that has
// passed, as a wrong last sequence, and nothing is written twice.
func TestAppendBatchLostAck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		forget bool // clear the duplicate window before the retry
	}{{"duplicates", false}, {"window-passed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			const window = 200 * time.Millisecond
			srv := natstest.Start(t)
			s, err := Open(context.Background(), srv.JetStream(t), Config{Duplicates: window})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			seq, err := s.Append(ctx, 0, wrapped())
			if err != nil {
				t.Fatal(err)
			}
			calls := loseAcks(s, 1, func(*nats.Msg, *jetstream.PubAck) error {
				if tc.forget {
					sent := time.Now()
					natstest.Eventually(t, 10*time.Second, func() error {
						if time.Since(sent) < 3*window {
							return errors.New("the duplicate window has not passed")
						}
						return nil
					})
				}
				return nats.ErrTimeout
			})
			last, err := s.AppendBatch(ctx, seq, openedN(1, 5))
			if err != nil {
				t.Fatalf("batch after a lost ack: %v", err)
			}
			if calls.Load() != 2 {
				t.Fatalf("%d commit attempts, want 2", calls.Load())
			}
			recs, err := s.Load(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 6 || recs[5].Seq != last {
				t.Fatalf("after a lost ack: %d events, last seq %d, reported %d", len(recs), recs[len(recs)-1].Seq, last)
			}
		})
	}
}

// TestAppendBatchUnsupported: on a stream created without allow_atomic a
// batch writes nothing and says so.
func TestAppendBatchUnsupported(t *testing.T) {
	s, srv := open(t)
	ctx := context.Background()
	info, err := s.Stream().Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Config.AllowAtomicPublish {
		t.Fatal("ENVELOPES is created without allow_atomic")
	}
	cfg := info.Config
	cfg.AllowAtomicPublish = false
	if _, err := srv.JetStream(t).UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	seq, err := s.Append(ctx, 0, wrapped())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendBatch(ctx, seq, openedN(1, 3)); !errors.Is(err, ErrBatchUnsupported) {
		t.Fatalf("batch without allow_atomic: %v", err)
	}
	if recs, _ := s.Load(ctx, id); len(recs) != 1 {
		t.Fatalf("a refused batch wrote %d events", len(recs)-1)
	}
}
