package envelope

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hongbao/hongbao/events"
)

var t0 = time.Date(2026, 2, 10, 20, 0, 0, 0, time.UTC)

const id = "01JQ0000000000000000000000"

// live wraps and pays an envelope and returns its state.
func live(t testing.TB, kind events.Kind, total int64, count int, seed events.Seed) *Envelope {
	t.Helper()
	l := DefaultLimits()
	l.MaxCount = 1000
	w, err := Wrap(id, WrapCommand{RequestID: "r", Sender: "alice", Kind: kind, Total: total, Count: count}, seed, t0, l)
	if err != nil {
		t.Fatalf("wrap %d/%d: %v", total, count, err)
	}
	e := &Envelope{ID: id}
	must(t, e.Apply(1, w))
	p, err := e.Pay("p-1", total, t0.Add(time.Second))
	if err != nil || p == nil {
		t.Fatalf("pay: %v %v", p, err)
	}
	must(t, e.Apply(2, *p))
	return e
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func eq[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// openAll opens every share with distinct users, applying each event, and
// returns the events.
func openAll(t testing.TB, e *Envelope) []events.Event {
	t.Helper()
	var out []events.Event
	for i := 0; e.Status == StatusLive; i++ {
		r, ev, err := e.Open(fmt.Sprintf("u%d", i), t0.Add(time.Minute))
		if err != nil || ev == nil || r.Outcome != OutcomeOpened {
			t.Fatalf("open %d: %v %v %v", i, r, ev, err)
		}
		must(t, e.Apply(e.LastSeq+1, *ev))
		out = append(out, *ev)
	}
	return out
}

// TestSplitProperties checks the split over thousands of random envelopes:
// every share within [1, 20000], Σ = total, exactly count shares, each share
// at most twice the remaining mean at its turn, and a replay from the seed
// gives the same shares.
func TestSplitProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	l := DefaultLimits()
	for n := 0; n < 5000; n++ {
		count := 1 + rng.IntN(100)
		total := int64(count) + rng.Int64N(int64(count)*l.MaxShare-int64(count)+1)
		if n%10 == 0 { // the edges: minimum and maximum totals
			total = []int64{int64(count), int64(count) * l.MaxShare}[n/10%2]
		}
		var seed events.Seed
		for i := range seed {
			seed[i] = byte(rng.Uint32())
		}
		e := live(t, events.KindLucky, total, count, seed)
		var sum int64
		remaining, left := total, count
		for i, ev := range openAll(t, e) {
			o := ev.Data.(events.Opened)
			if o.Amount < l.MinShare || o.Amount > l.MaxShare {
				t.Fatalf("envelope %d/%d: share %d = %d outside [%d, %d]", total, count, i+1, o.Amount, l.MinShare, l.MaxShare)
			}
			if o.Amount*int64(left) > 2*remaining && left > 1 {
				t.Fatalf("envelope %d/%d: share %d = %d above twice the mean of %d/%d", total, count, i+1, o.Amount, remaining, left)
			}
			if want := LuckyShare(seed, i+1, remaining, left, l.MinShare, l.MaxShare); o.Amount != want {
				t.Fatalf("share %d = %d, re-derived %d", i+1, o.Amount, want)
			}
			sum += o.Amount
			remaining -= o.Amount
			left--
		}
		eq(t, "opens", len(e.Opens), count)
		eq(t, "sum of shares", sum, total)
		eq(t, "status", e.Status, StatusFinished)
	}
}

func TestEqualShares(t *testing.T) {
	e := live(t, events.KindEqual, 1000, 10, events.Seed{})
	for _, ev := range openAll(t, e) {
		eq(t, "equal share", ev.Data.(events.Opened).Amount, int64(100))
	}
}

func TestWrapLimits(t *testing.T) {
	l := DefaultLimits()
	cases := []struct {
		kind  events.Kind
		total int64
		count int
		want  error
	}{
		{events.KindLucky, 100, 0, ErrInvalidCount},
		{events.KindLucky, 100, 101, ErrInvalidCount},
		{events.KindLucky, 9, 10, ErrInvalidAmount},
		{events.KindLucky, 200001, 10, ErrInvalidAmount},
		{events.KindLucky, 200000, 10, nil},
		{events.KindLucky, 10, 10, nil},
		{events.KindEqual, 1001, 10, ErrInvalidAmount},
		{events.KindEqual, 1000, 10, nil},
		{events.KindLucky, 1 << 62, 100, ErrInvalidAmount},
	}
	for _, c := range cases {
		_, err := Wrap(id, WrapCommand{Sender: "a", Kind: c.kind, Total: c.total, Count: c.count}, events.Seed{}, t0, l)
		if !errors.Is(err, c.want) && !(c.want == nil && err == nil) {
			t.Errorf("Wrap(%s %d/%d) = %v, want %v", c.kind, c.total, c.count, err, c.want)
		}
	}
}

func TestLifecycle(t *testing.T) {
	e := live(t, events.KindLucky, 10000, 3, events.Seed{7})
	now := t0.Add(time.Minute)

	r, err := e.Grab("bob", now)
	must(t, err)
	eq(t, "grab", r.Outcome, OutcomeCanOpen)

	r, ev, err := e.Open("bob", now)
	must(t, err)
	eq(t, "open", r.Outcome, OutcomeOpened)
	must(t, e.Apply(3, *ev))
	bobs := r.Amount

	again, ev2, err := e.Open("bob", now)
	must(t, err)
	if ev2 != nil {
		t.Fatal("second open by the same user decided an event")
	}
	eq(t, "second open", again, Result{Outcome: OutcomeAlreadyOpened, Amount: bobs, Index: 1})

	// The same payment again is idempotent; another payment is refused.
	p, err := e.Pay("p-1", 10000, now)
	if p != nil || err != nil {
		t.Fatalf("repeated payment: %v %v", p, err)
	}
	if _, err := e.Pay("p-2", 10000, now); !errors.Is(err, ErrAlreadyPaid) {
		t.Fatalf("second payment: %v", err)
	}

	// At expires_at: grab and open say expired; Expire refunds the rest.
	late := e.ExpiresAt
	r, err = e.Grab("carol", late)
	must(t, err)
	eq(t, "grab at expiry", r.Outcome, OutcomeExpired)
	if e.Expire(late.Add(-time.Nanosecond)) != nil {
		t.Fatal("expired before its time")
	}
	x := e.Expire(late)
	if x == nil {
		t.Fatal("not expired at its time")
	}
	eq(t, "refund", x.Data.(events.Expired).Refund, 10000-bobs)
	must(t, e.Apply(4, *x))
	eq(t, "status", e.Status, StatusExpired)
	eq(t, "I1", e.OpenedTotal+e.Refund, e.Total)
	if e.Expire(late.Add(time.Hour)) != nil {
		t.Fatal("expired twice")
	}
	r, _ = e.Grab("bob", late)
	eq(t, "opener after expiry", r.Outcome, OutcomeAlreadyOpened)
}

func TestPayAndCancel(t *testing.T) {
	l := DefaultLimits()
	w, err := Wrap(id, WrapCommand{Sender: "alice", Kind: events.KindEqual, Total: 100, Count: 1}, events.Seed{}, t0, l)
	must(t, err)
	e := &Envelope{ID: id}
	must(t, e.Apply(1, w))
	if _, err := e.Grab("bob", t0); !errors.Is(err, ErrNotLive) {
		t.Fatalf("grab before pay: %v", err)
	}
	if _, _, err := e.Open("bob", t0); !errors.Is(err, ErrNotLive) {
		t.Fatalf("open before pay: %v", err)
	}
	if _, err := e.Pay("p", 99, t0); !errors.Is(err, ErrAmountPaid) {
		t.Fatalf("short payment: %v", err)
	}
	if e.Cancel(e.PayBy.Add(-time.Nanosecond)) != nil {
		t.Fatal("cancelled early")
	}
	if _, err := e.Pay("p", 100, e.PayBy); !errors.Is(err, ErrPayTimeout) {
		t.Fatalf("late payment: %v", err)
	}
	c := e.Cancel(e.PayBy)
	if c == nil {
		t.Fatal("not cancelled at the deadline")
	}
	must(t, e.Apply(2, *c))
	if _, err := e.Pay("p", 100, t0); !errors.Is(err, ErrCancelled) {
		t.Fatalf("pay after cancel: %v", err)
	}
	if _, ok := e.Due(); ok {
		t.Fatal("a cancelled envelope has a timer")
	}
}

// TestApplyRejectsForgery feeds events the aggregate would never decide.
func TestApplyRejectsForgery(t *testing.T) {
	base := func() *Envelope { return live(t, events.KindLucky, 10000, 2, events.Seed{9}) }
	e := base()
	_, good, err := e.Open("bob", t0)
	must(t, err)
	o := good.Data.(events.Opened)

	forge := func(mut func(*events.Opened)) events.Event {
		c := o
		mut(&c)
		return events.New(id, t0, c)
	}
	cases := map[string]events.Event{
		"wrong share":     forge(func(o *events.Opened) { o.Amount++; o.RemainingAmount-- }),
		"wrong index":     forge(func(o *events.Opened) { o.Index = 2 }),
		"wrong remaining": forge(func(o *events.Opened) { o.RemainingAmount++ }),
		"other envelope":  events.New("01JQ0000000000000000000001", t0, o),
		"second wrap":     events.New(id, t0, events.Wrapped{}),
		"refund too big":  events.New(id, t0, events.Expired{Refund: 10001}),
	}
	for name, ev := range cases {
		t.Run(name, func(t *testing.T) {
			e := base()
			before := *e
			if err := e.Apply(3, ev); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("forged event applied: %v", err)
			}
			eq(t, "version after refusal", e.Version, before.Version)
		})
	}
	t.Run("same user twice", func(t *testing.T) {
		e := base()
		must(t, e.Apply(3, *good))
		twice := forge(func(o *events.Opened) {})
		if err := e.Apply(4, twice); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("double open applied: %v", err)
		}
	})
	t.Run("beyond count", func(t *testing.T) {
		e := base()
		openAll(t, e)
		extra := events.New(id, t0, events.Opened{User: "mallory", Amount: 1, Index: 3})
		if err := e.Apply(9, extra); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("open beyond count applied: %v", err)
		}
	})
	t.Run("sequence going back", func(t *testing.T) {
		e := base()
		if err := e.Apply(1, *good); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("old sequence applied: %v", err)
		}
	})
}

// FuzzSplit: any remaining/count within limits gives a share that leaves a
// splittable rest.
func FuzzSplit(f *testing.F) {
	f.Add(uint64(0), int64(10000), 10)
	f.Add(uint64(1), int64(2000000), 100)
	f.Add(uint64(2), int64(100), 100)
	f.Fuzz(func(t *testing.T, s uint64, remaining int64, n int) {
		if n < 1 || n > 100 || remaining < int64(n) || remaining > int64(n)*20000 {
			return
		}
		var seed events.Seed
		seed[0], seed[1] = byte(s), byte(s>>8)
		share := LuckyShare(seed, 1+int(s%100), remaining, n, 1, 20000)
		rest := remaining - share
		if share < 1 || share > 20000 || rest < int64(n-1) || rest > int64(n-1)*20000 {
			t.Fatalf("share %d of %d/%d leaves %d", share, remaining, n, rest)
		}
	})
}

func BenchmarkLuckyShare(b *testing.B) {
	seed := events.Seed{1}
	for i := 0; b.Loop(); i++ {
		LuckyShare(seed, 1+i%100, 10000, 50, 1, 20000)
	}
}

func BenchmarkOpenDecide(b *testing.B) {
	e := live(b, events.KindLucky, 2000000, 100, events.Seed{3})
	for i := 0; i < 60; i++ {
		_, ev, _ := e.Open(fmt.Sprintf("u%d", i), t0)
		_ = e.Apply(e.LastSeq+1, *ev)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := e.Open("newcomer", t0); err != nil {
			b.Fatal(err)
		}
	}
}
