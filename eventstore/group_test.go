package eventstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/internal/natstest"
)

// groupStore opens a store with group commit on a server that fsyncs
// every message, as in production.
func groupStore(t *testing.T) *Store {
	t.Helper()
	s, _ := groupStoreOn(t)
	return s
}

// groupStoreOn is groupStore, with its server's JetStream.
func groupStoreOn(t *testing.T) (*Store, jetstream.JetStream) {
	t.Helper()
	js := natstest.Start(t).JetStream(t) // sync_interval: always
	s, err := Open(context.Background(), js, Config{GroupCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	return s, js
}

func envelopeID(i int) string { return fmt.Sprintf("01JQ%022d", i) }

func wrappedOf(i int) events.Event {
	ev := wrapped()
	ev.EnvelopeID = envelopeID(i)
	return ev
}

// appendAll appends the Wrapped of envelopes 0..n-1 concurrently, each at
// expected(i), and returns each one's sequence and error.
func appendAll(s *Store, n int, expected func(int) uint64) ([]uint64, []error) {
	seqs, errs := make([]uint64, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { seqs[i], errs[i] = s.Append(context.Background(), expected(i), wrappedOf(i)) })
	}
	wg.Wait()
	return seqs, errs
}

// checkStored fails unless envelope i's only event is at seqs[i].
func checkStored(t *testing.T, s *Store, i int, seq uint64) {
	t.Helper()
	recs, err := s.Load(context.Background(), envelopeID(i))
	if err != nil {
		t.Fatalf("envelope %d: %v", i, err)
	}
	if len(recs) != 1 || recs[0].Seq != seq {
		t.Fatalf("envelope %d: %d events, first at %d; the append reported %d", i, len(recs), recs[0].Seq, seq)
	}
}

// TestGroupCommit: appends to many envelopes at once are committed in
// atomic batches, each reported at the sequence it has in the stream; a
// member whose expected sequence is stale fails alone (ErrConflict) and
// the others of its batch are written.
func TestGroupCommit(t *testing.T) {
	s := groupStore(t)
	const n = 300
	seqs, errs := appendAll(s, n, func(int) uint64 { return 0 })
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("envelope %d: %v", i, errs[i])
		}
		checkStored(t, s, i, seqs[i])
	}
	batches, grouped := s.GroupCommits()
	t.Logf("%d appends: %d in %d batches", n, grouped, batches)
	if batches == 0 || grouped < 2*batches {
		t.Fatalf("%d batches of %d appends: no group commit", batches, grouped)
	}

	// Every third append is stale: it conflicts; the rest are written.
	seqs2, errs2 := appendAll(s, n, func(i int) uint64 {
		if i%3 == 0 {
			return seqs[i] - 1
		}
		return seqs[i]
	})
	for i := range n {
		recs, err := s.Load(context.Background(), envelopeID(i))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case i%3 == 0 && !errors.Is(errs2[i], ErrConflict):
			t.Fatalf("stale append %d: %v", i, errs2[i])
		case i%3 == 0 && len(recs) != 1:
			t.Fatalf("stale append %d wrote", i)
		case i%3 != 0 && (errs2[i] != nil || len(recs) != 2 || recs[1].Seq != seqs2[i]):
			t.Fatalf("append %d: %v, %d events, reported seq %d", i, errs2[i], len(recs), seqs2[i])
		}
	}
}

// TestGroupCommitLostAck: a batch is stored but its acknowledgement lost;
// the retry is recognised member by member and nothing is written twice.
// The first three batch acks are lost, so a retry's ack may be lost too.
func TestGroupCommitLostAck(t *testing.T) {
	s := groupStore(t)
	var lost atomic.Int32
	loseAcks(s, 3, func(m *nats.Msg, _ *jetstream.PubAck) error {
		if m.Header.Get("Nats-Batch-Commit") == "" { // not a batch's commit: a single append keeps its ack
			return nil
		}
		lost.Add(1)
		return nats.ErrTimeout
	})
	const n = 200
	seqs, errs := appendAll(s, n, func(int) uint64 { return 0 })
	if lost.Load() == 0 {
		t.Fatal("no batch ack lost: the test did not exercise the retry")
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("envelope %d: %v", i, errs[i])
		}
		checkStored(t, s, i, seqs[i])
	}
}

// TestGroupCommitWithoutAtomic: on a stream without allow_atomic the group
// committer falls back to single appends, once and for all.
func TestGroupCommitWithoutAtomic(t *testing.T) {
	s, js := groupStoreOn(t)
	info, err := s.Stream().Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	cfg.AllowAtomicPublish = false
	if _, err := js.UpdateStream(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	const n = 100
	seqs, errs := appendAll(s, n, func(int) uint64 { return 0 })
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("envelope %d: %v", i, errs[i])
		}
		checkStored(t, s, i, seqs[i])
	}
	if b, _ := s.GroupCommits(); b != 0 {
		t.Fatalf("%d batches on a stream without allow_atomic", b)
	}
	if !s.group.Disabled() {
		t.Fatal("the group committer did not notice the stream refuses batches")
	}
}
