package risk

import (
	"fmt"
	"testing"
	"time"
)

func TestRiskParseLimit(t *testing.T) {
	for in, want := range map[string]Limit{
		"20/1s": {20, time.Second}, "100/1m": {100, time.Minute}, "off": NoLimit, "0": NoLimit,
	} {
		got, err := ParseLimit(in)
		if err != nil || got != want {
			t.Errorf("ParseLimit(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "20", "x/1s", "20/x", "-1/1s", "20/-1s", "20/0s"} {
		if _, err := ParseLimit(in); err == nil {
			t.Errorf("ParseLimit(%q): no error", in)
		}
	}
	if s := (Limit{20, time.Second}).String(); s != "20/1s" {
		t.Errorf("String %q", s)
	}
	if !NoLimit.Off() || newLimiter(NoLimit, 10) != nil {
		t.Error("NoLimit is not off")
	}
}

// TestRiskLimiterGCRA: a burst, then one request per interval.
func TestRiskLimiterGCRA(t *testing.T) {
	l := newLimiter(Limit{Burst: 4, Per: time.Second}, 100) // one per 250 ms
	now := time.Unix(1000, 0).UnixNano()
	for i := 0; i < 4; i++ {
		if _, ok := l.allow("bob", now); !ok {
			t.Fatalf("burst request %d refused", i)
		}
	}
	wait, ok := l.allow("bob", now)
	if ok || wait != 250*time.Millisecond {
		t.Fatalf("fifth: %v %v, want refused for 250ms", wait, ok)
	}
	if _, ok := l.allow("carol", now); !ok {
		t.Fatal("another name is limited")
	}
	if _, ok := l.allow("bob", now+int64(250*time.Millisecond)); !ok {
		t.Fatal("refused after the wait")
	}
	if _, ok := l.allow("bob", now+int64(250*time.Millisecond)); ok {
		t.Fatal("admitted twice in one interval")
	}
	// Idle for a whole window: a full burst again.
	later := now + int64(2*time.Second)
	for i := 0; i < 4; i++ {
		if _, ok := l.allow("bob", later); !ok {
			t.Fatalf("after idling, request %d refused", i)
		}
	}
}

// TestRiskLimiterBounded: a million names never make it remember more than
// its bound.
func TestRiskLimiterBounded(t *testing.T) {
	const max = 6400
	l := newLimiter(Limit{Burst: 2, Per: time.Hour}, max)
	now := time.Unix(1000, 0).UnixNano()
	for i := 0; i < 200_000; i++ {
		l.allow(fmt.Sprintf("u%d", i), now+int64(i))
	}
	if n := l.len(); n > max {
		t.Fatalf("%d names tracked, bound %d", n, max)
	}
	// A name recently limited is in the current generation: still limited.
	last := fmt.Sprintf("u%d", 200_000-1)
	l.allow(last, now+200_000)
	if _, ok := l.allow(last, now+200_000); ok {
		t.Fatal("a recent name was forgotten")
	}
}
