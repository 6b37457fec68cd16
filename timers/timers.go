package timers

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/topology"
)

// ErrUnavailable: the timer could not be stored or removed durably.
var ErrUnavailable = errors.New("timers: unavailable")

// Config of the timers.
type Config struct {
	Bucket    string        // default topology.Topology.TimersBucket
	Replicas  int           // default 1
	MarkerTTL time.Duration // how long purge markers stay; default 1 h
	Now       func() time.Time
	Logger    *slog.Logger

	// Clock is what the timers read the time from and wait on; by default
	// Now (time.Now unless set) and the wall clock. When set, Now is not
	// used.
	Clock Clock
}

// Clock is the time of the timers: what time it is, and how to wait until
// a time. Both come from the same source, so a test that moves its clock by
// hand fires timers without waiting real seconds.
type Clock interface {
	Now() time.Time
	// At returns a channel that receives once the clock reads t or later
	// (at once when it already does). An abandoned channel must cost
	// nothing once it has fired.
	At(t time.Time) <-chan time.Time
}

// wallClock is the default Clock: Config.Now, and time.After for the wait
// (a timer nobody references is collected since Go 1.23, fired or not).
type wallClock struct{ now func() time.Time }

func (c wallClock) Now() time.Time { return c.now() }

func (c wallClock) At(t time.Time) <-chan time.Time {
	return time.After(max(t.Sub(c.now()), time.Millisecond))
}

// Fire is called, from the timers goroutine, when a timer is due. It must not
// block; the timer stays stored until the owner calls Set or Delete.
type Fire func(id string)

// Timers holds the pending timers of all envelopes.
type Timers struct {
	cfg  Config
	kv   jetstream.KeyValue
	fire Fire

	mu    sync.Mutex
	items timerHeap
	byID  map[string]*item
	wake  chan struct{}
}

type item struct {
	id    string
	due   time.Time
	index int // in the heap; -1 once fired
}

// Open creates or binds the bucket. fire is called when a timer is due.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config, fire Fire) (*Timers, error) {
	if cfg.Bucket == "" {
		cfg.Bucket = topology.Default().TimersBucket()
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.MarkerTTL == 0 {
		cfg.MarkerTTL = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Clock == nil {
		cfg.Clock = wallClock{now: cfg.Now}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         cfg.Bucket,
		Description:    "hongbao: when to look at an envelope next (pay deadline, expiry)",
		History:        1,
		Storage:        jetstream.FileStorage,
		Replicas:       cfg.Replicas,
		LimitMarkerTTL: cfg.MarkerTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: bucket %s: %w", ErrUnavailable, cfg.Bucket, err)
	}
	return &Timers{cfg: cfg, kv: kv, fire: fire, byID: map[string]*item{}, wake: make(chan struct{}, 1)}, nil
}

// Set stores the timer of id durably, replacing any earlier one, and
// schedules it.
func (t *Timers) Set(ctx context.Context, id string, due time.Time) error {
	if _, err := t.kv.Put(ctx, id, []byte(due.UTC().Format(time.RFC3339Nano))); err != nil {
		return fmt.Errorf("%w: set %s: %w", ErrUnavailable, id, err)
	}
	t.schedule(id, due)
	return nil
}

// Delete removes the timer of id durably.
func (t *Timers) Delete(ctx context.Context, id string) error {
	if err := t.kv.Purge(ctx, id, jetstream.PurgeTTL(t.cfg.MarkerTTL)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("%w: delete %s: %w", ErrUnavailable, id, err)
	}
	t.unschedule(id)
	return nil
}

// Retry schedules id again after d without touching the stored timer; for
// an owner that could not act on a fired timer.
func (t *Timers) Retry(id string, d time.Duration) { t.schedule(id, t.cfg.Clock.Now().Add(d)) }

// Pending is the number of timers scheduled in memory.
func (t *Timers) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

func (t *Timers) schedule(id string, due time.Time) {
	t.mu.Lock()
	if it, ok := t.byID[id]; ok && it.index >= 0 {
		it.due = due
		heap.Fix(&t.items, it.index)
	} else {
		it := &item{id: id, due: due}
		t.byID[id] = it
		heap.Push(&t.items, it)
	}
	t.mu.Unlock()
	t.poke()
}

func (t *Timers) unschedule(id string) {
	t.mu.Lock()
	if it, ok := t.byID[id]; ok {
		if it.index >= 0 {
			heap.Remove(&t.items, it.index)
		}
		delete(t.byID, id)
	}
	t.mu.Unlock()
}

func (t *Timers) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Run loads every stored timer, follows changes made by other instances,
// and fires timers when due, until ctx is done. Start it once.
func (t *Timers) Run(ctx context.Context) error {
	w, err := t.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("%w: watch: %w", ErrUnavailable, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		// The wait is on an absolute time, so a clock that moves between
		// fireDue and At is not missed: At fires at once for a past time.
		next := t.cfg.Clock.At(t.fireDue())
		select {
		case <-ctx.Done():
			return nil
		case <-t.wake:
		case <-next:
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("%w: watch closed", ErrUnavailable)
			}
			if e == nil { // initial values delivered
				continue
			}
			t.apply(e)
		}
	}
}

func (t *Timers) apply(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		t.unschedule(e.Key())
		return
	}
	due, err := time.Parse(time.RFC3339Nano, string(e.Value()))
	if err != nil {
		t.cfg.Logger.Error("timers: unreadable timer, firing it now", "id", e.Key(), "value", string(e.Value()), "err", err)
		due = time.Time{}
	}
	t.mu.Lock()
	it, ok := t.byID[e.Key()]
	same := ok && it.due.Equal(due)
	t.mu.Unlock()
	if !same {
		t.schedule(e.Key(), due)
	}
}

// fireDue fires every due timer and returns when to look again: the due
// time of the next timer, or an hour from now when there is none (a new
// timer wakes the loop earlier).
func (t *Timers) fireDue() time.Time {
	now := t.cfg.Clock.Now()
	var due []string
	t.mu.Lock()
	for len(t.items) > 0 && !t.items[0].due.After(now) {
		it := heap.Pop(&t.items).(*item)
		due = append(due, it.id)
	}
	next := now.Add(time.Hour)
	if len(t.items) > 0 {
		next = t.items[0].due
	}
	t.mu.Unlock()
	for _, id := range due {
		t.fire(id)
	}
	return next
}

type timerHeap []*item

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	it := x.(*item)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *timerHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	it.index = -1
	*h = old[:len(old)-1]
	return it
}
