package projector_test

import (
	"context"
	"errors"
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

// TestUndecodableEventStops: an event that does not decode stops the
// projector with the error (invariant 3), whether it arrives while
// catching up (inside a batch: the batch is not committed) or live, and
// nothing after it is applied.
func TestUndecodableEventStops(t *testing.T) {
	srv := natstest.Start(t, natstest.WithSyncInterval(2*time.Minute))
	js := srv.JetStream(t)
	good := testenv.PublishWorkload(t, js, 20, 3, 3)
	ack, err := js.Publish(t.Context(), "envelope.bad", []byte(`{"type":"opened","v":1,"bonus":1}`))
	if err != nil {
		t.Fatal(err)
	}
	bad := ack.Sequence
	last := testenv.PublishWorkload(t, js, 5, 3, 4)

	for _, c := range []struct {
		name  string
		batch int
		run   func(context.Context, *projector.Projector) error
	}{
		{"catching-up", 7, func(ctx context.Context, p *projector.Projector) error { return p.CatchUp(ctx, last) }},
		{"live", 1000, func(ctx context.Context, p *projector.Projector) error {
			if err := p.CatchUp(ctx, good); err != nil {
				return fmt.Errorf("up to the bad event: %w", err)
			}
			return p.Run(ctx)
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
			err = c.run(ctx, p)
			if !errors.Is(err, events.ErrMalformed) || ctx.Err() != nil {
				t.Fatalf("stopped with %v (context: %v), want the decoding error", err, ctx.Err())
			}
			cp, cerr := projector.Checkpoint(db)
			if cerr != nil {
				t.Fatal(cerr)
			}
			if a := p.Applied(); a >= bad || a != cp {
				t.Fatalf("applied %d, checkpoint %d: want the same, before the bad event %d", a, cp, bad)
			}
			t.Logf("stopped at %d: %v", p.Applied(), err)
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
