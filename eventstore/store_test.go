package eventstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/streamlog"
)

const id = "01JQ0000000000000000000000"

var at = time.Date(2026, 2, 10, 20, 0, 0, 0, time.UTC)

func wrapped() events.Event {
	return events.New(id, at, events.Wrapped{RequestID: "r", Sender: "alice", Kind: events.KindEqual, Total: 200, Count: 2,
		MinShare: 1, MaxShare: 20000, PayBy: at.Add(time.Minute), Expiry: time.Hour})
}

func opened(user string, index int) events.Event {
	return events.New(id, at, events.Opened{User: user, Amount: 100, Index: index, RemainingAmount: 200 - 100*int64(index), RemainingCount: 2 - index})
}

func open(t *testing.T) (*Store, *natstest.Server) {
	t.Helper()
	srv := natstest.Start(t)
	s, err := Open(context.Background(), srv.JetStream(t), Config{})
	if err != nil {
		t.Fatal(err)
	}
	return s, srv
}

// loseAcks makes the store's acknowledged publishes lose their ack: the
// first lose of them for which lost (called with the ack; nil: always)
// returns the error to report instead. It returns the count of publishes.
func loseAcks(s *Store, lose int32, lost func(*nats.Msg, *jetstream.PubAck) error) *atomic.Int32 {
	var calls, dropped atomic.Int32
	s.log.WrapPublish(func(real streamlog.Publish) streamlog.Publish {
		return func(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
			calls.Add(1)
			ack, err := real(ctx, m, opts...)
			// Counted before lost runs, so that publishes lost makes itself
			// (another writer) go through.
			if err == nil && dropped.Add(1) <= lose {
				if e := lost(m, ack); e != nil {
					return nil, e // stored, but the ack never arrived
				}
				dropped.Add(-1)
			}
			return ack, err
		}
	})
	return &calls
}

func TestAppendLoad(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	if _, err := s.Load(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("load of a new envelope: %v", err)
	}
	seq1, err := s.Append(ctx, 0, wrapped())
	if err != nil {
		t.Fatal(err)
	}
	// Interleave another envelope so sequences are not contiguous.
	other := wrapped()
	other.EnvelopeID = "01JQ0000000000000000000001"
	if _, err := s.Append(ctx, 0, other); err != nil {
		t.Fatal(err)
	}
	seq2, err := s.Append(ctx, seq1, opened("bob", 1))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Seq != seq1 || recs[1].Seq != seq2 || recs[1].Event.Data.(events.Opened).User != "bob" {
		t.Fatalf("loaded %+v", recs)
	}
	// A stale expected sequence is a conflict and writes nothing.
	if _, err := s.Append(ctx, seq1, opened("carol", 2)); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale append: %v", err)
	}
	if _, err := s.Append(ctx, 0, wrapped()); !errors.Is(err, ErrConflict) {
		t.Fatalf("second wrap: %v", err)
	}
	if recs, _ := s.Load(ctx, id); len(recs) != 2 {
		t.Fatalf("conflicting appends wrote: %d events", len(recs))
	}
}

// TestTwoWritersOneEnvelope: many writers race to append at the same
// expected sequence; exactly one wins each round.
func TestTwoWritersOneEnvelope(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	seq, err := s.Append(ctx, 0, wrapped())
	if err != nil {
		t.Fatal(err)
	}
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Append(ctx, seq, opened("bob", 1))
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("append: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 7 {
		t.Fatalf("%d wins, %d conflicts", wins.Load(), conflicts.Load())
	}
}

// TestLostAck: the first attempt is stored but its acknowledgement is lost;
// the retry meets the expected-sequence check (10071), finds its own Msg-Id
// after the expected sequence, and reports success without a second copy.
func TestLostAck(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	seq, err := s.Append(ctx, 0, wrapped())
	if err != nil {
		t.Fatal(err)
	}
	calls := loseAcks(s, 1, func(*nats.Msg, *jetstream.PubAck) error { return nats.ErrTimeout })
	got, err := s.Append(ctx, seq, opened("bob", 1))
	if err != nil {
		t.Fatalf("append after a lost ack: %v", err)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d publish attempts, want 2", calls.Load())
	}
	recs, err := s.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[1].Seq != got {
		t.Fatalf("after lost ack: %d events, last seq %d, reported %d", len(recs), recs[len(recs)-1].Seq, got)
	}
}

// TestLostAckThenOtherWriter: the lost write landed, then another writer
// appended; the retry still recognises its own message.
func TestLostAckThenOtherWriter(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	seq, err := s.Append(ctx, 0, wrapped())
	if err != nil {
		t.Fatal(err)
	}
	loseAcks(s, 1, func(_ *nats.Msg, ack *jetstream.PubAck) error {
		if _, err := s.Append(ctx, ack.Sequence, opened("carol", 2)); err != nil {
			t.Errorf("other writer: %v", err)
		}
		return context.DeadlineExceeded
	})
	got, err := s.Append(ctx, seq, opened("bob", 1))
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	recs, _ := s.Load(ctx, id)
	if len(recs) != 3 || recs[1].Seq != got || recs[1].Event.Data.(events.Opened).User != "bob" {
		t.Fatalf("history %+v, reported seq %d", recs, got)
	}
}

// TestUnavailable: with the server down, an append fails as unavailable
// within its context, never as success or conflict; after the restart the
// stream is intact.
func TestUnavailable(t *testing.T) {
	s, srv := open(t)
	ctx := context.Background()
	seq, err := s.Append(ctx, 0, wrapped())
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := s.Append(short, seq, opened("bob", 1)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append with the server down: %v", err)
	}
	srv.Restart(t)
	natstest.Eventually(t, 10*time.Second, func() error {
		_, err := s.Load(ctx, id)
		return err
	})
}

func TestStreamConfig(t *testing.T) {
	s, _ := open(t)
	info, err := s.Stream().Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := info.Config
	if c.Storage != jetstream.FileStorage || !c.DenyDelete || !c.DenyPurge || c.MaxMsgsPerSubject != -1 || c.Subjects[0] != "envelope.>" {
		t.Fatalf("stream config %+v", c)
	}
}
