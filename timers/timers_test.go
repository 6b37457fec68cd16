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

// manualClock is a Clock that moves only when the test advances it, so
// timers due in an hour fire without a real second passing.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	c  chan time.Time
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 2, 10, 20, 0, 0, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) At(at time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !at.After(c.now) {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: at, c: ch})
	return ch
}

// Advance moves the clock by d and wakes every wait that is due.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.c <- c.now
	}
	c.waiters = kept
}

func start(t *testing.T, srv *natstest.Server, clock Clock, f *fired) *Timers {
	t.Helper()
	tm, err := Open(context.Background(), srv.JetStream(t), Config{Clock: clock}, f.fire)
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

// pendingIs waits until tm holds n timers in memory.
func pendingIs(t *testing.T, tm *Timers, n int) {
	t.Helper()
	natstest.Eventually(t, 5*time.Second, func() error {
		if got := tm.Pending(); got != n {
			return fmt.Errorf("%d timers pending, want %d", got, n)
		}
		return nil
	})
}

// firedAre waits until f holds exactly want, in order.
func firedAre(t *testing.T, f *fired, want string) {
	t.Helper()
	natstest.Eventually(t, 5*time.Second, func() error {
		if got := fmt.Sprint(f.list()); got != want {
			return fmt.Errorf("fired %s, want %s", got, want)
		}
		return nil
	})
}

// TestFireInOrder: timers fire in the order of their due times as the
// clock reaches them, whether set by another instance before this one
// started or by this one while it runs, and a deleted timer never fires.
// The clock is moved by hand: hours pass without a real second.
func TestFireInOrder(t *testing.T) {
	srv := natstest.Start(t)
	clock := newManualClock()
	ctx := context.Background()
	now := clock.Now()
	// Written by an instance that is not running, so the running one learns
	// of them only through its watch, which ends with "deleted" purged: a
	// running instance could see the put of "deleted" before its purge, and
	// firing it then would be allowed (at least once), but not this test's
	// point.
	writer, err := Open(ctx, srv.JetStream(t), Config{Clock: clock}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range []time.Duration{3 * time.Hour, time.Hour, 2 * time.Hour} {
		if err := writer.Set(ctx, fmt.Sprintf("t%d", i), now.Add(d)); err != nil {
			t.Fatal(err)
		}
	}
	if err := writer.Set(ctx, "deleted", now.Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := writer.Delete(ctx, "deleted"); err != nil {
		t.Fatal(err)
	}
	var f fired
	tm := start(t, srv, clock, &f)
	pendingIs(t, tm, 3)
	if err := tm.Set(ctx, "own", now.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := f.list(); len(got) != 0 {
		t.Fatalf("fired %v before any was due", got)
	}
	clock.Advance(time.Hour)
	firedAre(t, &f, "[own t1]")
	clock.Advance(time.Hour)
	firedAre(t, &f, "[own t1 t2]")
	clock.Advance(time.Hour)
	firedAre(t, &f, "[own t1 t2 t0]")
}

// TestSurviveRestart: timers stored before a restart fire afterwards, in a
// new Timers on a restarted server; deleted ones do not.
func TestSurviveRestart(t *testing.T) {
	srv := natstest.Start(t)
	clock := newManualClock()
	ctx := context.Background()
	var first fired
	tm, err := Open(ctx, srv.JetStream(t), Config{Clock: clock}, first.fire)
	if err != nil {
		t.Fatal(err)
	}
	past := clock.Now().Add(-time.Minute)
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
	start(t, srv, clock, &second)
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
	clock := newManualClock()
	ctx := context.Background()
	var a, b fired
	ta := start(t, srv, clock, &a)
	tb := start(t, srv, clock, &b)
	if err := ta.Set(ctx, "soon", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := ta.Set(ctx, "later", clock.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	pendingIs(t, tb, 2)
	clock.Advance(time.Hour)
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
	pendingIs(t, tb, 1)
}

// TestWallClock: without a Clock, the timers wait on the wall clock of
// Config.Now; a timer due now fires without any clock moving.
func TestWallClock(t *testing.T) {
	srv := natstest.Start(t)
	var f fired
	tm, err := Open(context.Background(), srv.JetStream(t), Config{}, f.fire)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tm.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	if err := tm.Set(ctx, "now", time.Now().Add(10*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	// Firing is at-least-once (doc.go, 2): the watch may deliver Set's
	// own put after the timer fired, which schedules it again. What this
	// test proves is that it fires on the wall clock at all, and nothing
	// else does.
	natstest.Eventually(t, 5*time.Second, func() error {
		got := f.list()
		if len(got) == 0 {
			return fmt.Errorf("nothing fired yet")
		}
		for _, id := range got {
			if id != "now" {
				return fmt.Errorf("fired %v, want only now", got)
			}
		}
		return nil
	})
}
