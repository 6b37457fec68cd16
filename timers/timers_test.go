package timers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hongbao/hongbao/internal/natstest"
)

type fired struct {
	mu  sync.Mutex
	ids []string
}

func (f *fired) fire(id string) {
	f.mu.Lock()
	f.ids = append(f.ids, id)
	f.mu.Unlock()
}

func (f *fired) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ids...)
}

func start(t *testing.T, srv *natstest.Server, f *fired) *Timers {
	t.Helper()
	tm, err := Open(context.Background(), srv.JetStream(t), Config{}, f.fire)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tm.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return tm
}

func TestFireInOrder(t *testing.T) {
	srv := natstest.Start(t)
	var f fired
	tm := start(t, srv, &f)
	ctx := context.Background()
	now := time.Now()
	// Far enough apart that a loaded machine keeps the order, and the
	// deleted timer is due after the delete has certainly landed (it
	// fired once in CI when due 50 ms after being set).
	for i, d := range []time.Duration{900, 300, 600} {
		if err := tm.Set(ctx, fmt.Sprintf("t%d", i), now.Add(d*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tm.Set(ctx, "deleted", now.Add(450*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := tm.Delete(ctx, "deleted"); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 5*time.Second, func() error {
		if got := fmt.Sprint(f.list()); got != "[t1 t2 t0]" {
			return fmt.Errorf("fired %s", got)
		}
		return nil
	})
}

// TestSurviveRestart: timers stored before a restart fire afterwards, in a
// new Timers on a restarted server; deleted ones do not.
func TestSurviveRestart(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	var first fired
	tm, err := Open(ctx, srv.JetStream(t), Config{}, first.fire)
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	for _, id := range []string{"a", "b", "c"} {
		if err := tm.Set(ctx, id, past); err != nil {
			t.Fatal(err)
		}
	}
	if err := tm.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	var second fired
	start(t, srv, &second)
	natstest.Eventually(t, 5*time.Second, func() error {
		if got := fmt.Sprint(second.list()); got != "[a c]" && got != "[c a]" {
			return fmt.Errorf("fired %s", got)
		}
		return nil
	})
	if len(first.list()) != 0 {
		t.Fatalf("a timers instance that never ran fired %v", first.list())
	}
}

// TestOtherInstance: a timer set by one instance is fired by another that
// watches the bucket, and a delete by one unschedules it in the other.
func TestOtherInstance(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	var a, b fired
	ta := start(t, srv, &a)
	tb := start(t, srv, &b)
	if err := ta.Set(ctx, "soon", time.Now().Add(200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := ta.Set(ctx, "later", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 5*time.Second, func() error {
		if fmt.Sprint(b.list()) != "[soon]" || fmt.Sprint(a.list()) != "[soon]" {
			return fmt.Errorf("a fired %v, b fired %v", a.list(), b.list())
		}
		if tb.Pending() != 2 { // "soon" stays until its owner settles it
			return errors.New("b has not seen both timers")
		}
		return nil
	})
	if err := ta.Delete(ctx, "later"); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 5*time.Second, func() error {
		if n := tb.Pending(); n != 1 {
			return fmt.Errorf("b still has %d timers", n)
		}
		return nil
	})
}
