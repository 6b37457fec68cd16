package bench

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestHistogramEmpty(t *testing.T) {
	h := newHistogram(10)
	if l := h.summary(); l != (Latency{}) {
		t.Fatalf("empty summary %+v", l)
	}
	if l := newHistogram(0).summary(); l != (Latency{}) {
		t.Fatalf("zero-capacity summary %+v", l)
	}
}

func TestHistogramPercentiles(t *testing.T) {
	h := newHistogram(1000)
	// 1..1000 ms, shuffled: nearest rank gives p50 = 500, p99 = 990,
	// p99.9 = 999, max = 1000.
	for _, i := range rand.Perm(1000) {
		h.record(time.Duration(i+1) * time.Millisecond)
	}
	l := h.summary()
	want := Latency{Count: 1000, Mean: 500.5, P50: 500, P99: 990, P999: 999, Max: 1000}
	if l != want {
		t.Fatalf("summary %+v, want %+v", l, want)
	}
}

func TestHistogramOne(t *testing.T) {
	h := newHistogram(5)
	h.record(1500 * time.Microsecond)
	l := h.summary()
	if l.Count != 1 || l.P50 != 1.5 || l.P99 != 1.5 || l.P999 != 1.5 || l.Max != 1.5 || l.Mean != 1.5 {
		t.Fatalf("summary %+v", l)
	}
}

func TestHistogramSmallCounts(t *testing.T) {
	// With 10 records p99 and p99.9 are the largest; p50 is the 5th.
	h := newHistogram(10)
	for i := 10; i >= 1; i-- {
		h.record(time.Duration(i) * time.Millisecond)
	}
	l := h.summary()
	if l.P50 != 5 || l.P99 != 10 || l.P999 != 10 || l.Max != 10 {
		t.Fatalf("summary %+v", l)
	}
}

func TestHistogramFull(t *testing.T) {
	h := newHistogram(3)
	for i := range 5 {
		h.record(time.Duration(i+1) * time.Millisecond)
	}
	if l := h.summary(); l.Count != 3 || l.Max != 3 {
		t.Fatalf("summary %+v", l)
	}
	if d := h.dropped.Load(); d != 2 {
		t.Fatalf("dropped %d, want 2", d)
	}
}

func TestHistogramConcurrent(t *testing.T) {
	const workers, each = 8, 500
	h := newHistogram(workers * each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				h.record(time.Duration(w*each+i+1) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	l := h.summary()
	if l.Count != workers*each || l.Max != float64(workers*each)/1000 || !(l.P50 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Fatalf("summary %+v", l)
	}
}

func TestHistogramRecordDoesNotAllocate(t *testing.T) {
	h := newHistogram(1000)
	if n := testing.AllocsPerRun(500, func() { h.record(time.Millisecond) }); n != 0 {
		t.Fatalf("record allocates %v times", n)
	}
}
