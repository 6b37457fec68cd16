package projector_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/projections/detail"
	"github.com/hongbao/hongbao/projections/projector"
)

// TestBadEventsAreParked: an event that does not decode and one that the
// projection's fold refuses (an Opened of an envelope it never saw) are
// parked (invariant 3), whether they arrive while catching up (inside a
// batch) or live: each is recorded once, by kind, with the checkpoint that
// passes it, and every event after them is applied.
func TestBadEventsAreParked(t *testing.T) {
	srv := natstest.Start(t, natstest.WithSyncInterval(2*time.Minute))
	js := srv.JetStream(t)
	good := testenv.PublishWorkload(t, js, 20, 3, 3)
	ack, err := js.Publish(t.Context(), "envelope.bad", []byte(`{"type":"opened","v":1,"bonus":1}`))
	if err != nil {
		t.Fatal(err)
	}
	malformed := ack.Sequence
	orphan, err := events.Encode(events.New("orphan", time.Now(), events.Opened{User: "u", Amount: 1, Index: 1, RemainingAmount: 1, RemainingCount: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if ack, err = js.Publish(t.Context(), "envelope.orphan", orphan); err != nil {
		t.Fatal(err)
	}
	rejected := ack.Sequence
	last := testenv.PublishWorkload(t, js, 5, 3, 4)

	for _, c := range []struct {
		name  string
		batch int
		run   func(context.Context, *projector.Projector) error
	}{
		{"catching-up", 7, func(ctx context.Context, p *projector.Projector) error { return p.CatchUp(ctx, last) }},
		{"live", 1000, func(ctx context.Context, p *projector.Projector) error {
			if err := p.CatchUp(ctx, good); err != nil {
				return fmt.Errorf("up to the bad events: %w", err)
			}
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- p.Run(rctx) }()
			werr := p.WaitFor(ctx, last)
			cancel()
			if err := <-done; err != nil {
				return err
			}
			return werr
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, err := projector.Open("db", vfs.NewMem(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			p, err := projector.New(db, detail.Projection{}, js, projector.Config{BatchSize: c.batch})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			if err := c.run(ctx, p); err != nil {
				t.Fatalf("stopped with %v, want every event applied or parked", err)
			}
			if cp, err := projector.Checkpoint(db); err != nil || cp != last || p.Applied() != last {
				t.Fatalf("checkpoint %d (%v), applied %d: want %d", cp, err, p.Applied(), last)
			}
			parked, err := projector.Parked(db)
			if err != nil {
				t.Fatal(err)
			}
			if len(parked) != 2 || p.ParkedCount() != 2 ||
				parked[0].Seq != malformed || parked[0].Kind != projector.KindMalformed || parked[0].Subject != "envelope.bad" ||
				parked[1].Seq != rejected || parked[1].Kind != projector.KindRejected || parked[1].Subject != "envelope.orphan" {
				t.Fatalf("parked %+v (count %d), want the malformed %d and the rejected %d", parked, p.ParkedCount(), malformed, rejected)
			}
			// Reopened, the count comes from the database.
			p2, err := projector.New(db, detail.Projection{}, js, projector.Config{})
			if err != nil || p2.ParkedCount() != 2 {
				t.Fatalf("reopened: %d parked (%v)", p2.ParkedCount(), err)
			}
		})
	}
}

// TestConsumeLeavesNoGoroutines: CatchUp and Run return only once their
// reading, committing and syncing goroutines are gone.
func TestConsumeLeavesNoGoroutines(t *testing.T) {
	srv := natstest.Start(t, natstest.WithSyncInterval(2*time.Minute))
	js := srv.JetStream(t)
	last := testenv.PublishWorkload(t, js, 30, 3, 5)
	db, err := projector.Open("db", vfs.NewMem(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := projector.New(db, detail.Projection{}, js, projector.Config{BatchSize: 13})
	if err != nil {
		t.Fatal(err)
	}
	// Projectors of the tests before may still be on their way out:
	// count only from a clean slate.
	natstest.Eventually(t, 10*time.Second, func() error {
		if n := projectorGoroutines(); n != 0 {
			return fmt.Errorf("%d projector goroutines of earlier tests", n)
		}
		return nil
	})
	if err := p.CatchUp(t.Context(), last/2); err != nil {
		t.Fatal(err)
	}
	if s := projectorStacks(); len(s) != 0 {
		t.Fatalf("%d projector goroutines left after CatchUp:\n%s", len(s), strings.Join(s, "\n\n"))
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	if err := p.WaitFor(t.Context(), last); err != nil {
		t.Fatal(err)
	}
	if n := projectorGoroutines(); n == 0 {
		t.Fatal("no projector goroutines while running: the count is broken")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := projectorGoroutines(); n != 0 {
		t.Fatalf("%d projector goroutines left after Run", n)
	}
}

// projectorGoroutines counts the goroutines running the projector's code,
// apart from the caller's.
func projectorGoroutines() int { return len(projectorStacks()) }

// projectorStacks are the stacks of the goroutines counted.
func projectorStacks() []string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "projections/projector.(*Projector).") && !strings.Contains(g, "projectorGoroutines") &&
			!strings.Contains(g, "projectorStacks") && !strings.Contains(g, "TestConsumeLeavesNoGoroutines.func") {
			out = append(out, g)
		}
	}
	return out
}
