package bench

import (
	"slices"
	"sync/atomic"
	"time"
)

// histogram records latencies into a slice sized up front, so that
// recording costs one atomic add and one store and never allocates; the
// percentiles are exact, computed by sorting once the phase is over.
// Record is safe for concurrent use; summary must not run concurrently with
// Record.
type histogram struct {
	vals    []time.Duration
	n       atomic.Int64 // slots claimed (may exceed len(vals))
	dropped atomic.Int64 // records that found no slot
}

// newHistogram makes a histogram for up to capacity records.
func newHistogram(capacity int) *histogram {
	return &histogram{vals: make([]time.Duration, max(capacity, 0))}
}

// record adds one latency. Records beyond the capacity are counted as
// dropped, never grown into: the hot path does not allocate.
func (h *histogram) record(d time.Duration) {
	i := h.n.Add(1) - 1
	if i >= int64(len(h.vals)) {
		h.dropped.Add(1)
		return
	}
	h.vals[i] = d
}

// Latency summarizes recorded latencies, in milliseconds.
type Latency struct {
	Count int64   `json:"count"` // records summarized
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

// summary sorts the records and returns their percentiles (nearest rank:
// the smallest record with at least p of all records at or below it). An
// empty histogram summarizes to zeros.
func (h *histogram) summary() Latency {
	n := min(h.n.Load(), int64(len(h.vals)))
	v := h.vals[:n]
	slices.Sort(v)
	if n == 0 {
		return Latency{}
	}
	var sum time.Duration
	for _, d := range v {
		sum += d
	}
	return Latency{
		Count: n,
		Mean:  ms(sum / time.Duration(n)),
		P50:   ms(percentile(v, 0.50)),
		P99:   ms(percentile(v, 0.99)),
		P999:  ms(percentile(v, 0.999)),
		Max:   ms(v[n-1]),
	}
}

// percentile returns the nearest-rank p-quantile of the sorted, non-empty v.
func percentile(v []time.Duration, p float64) time.Duration {
	// rank = ceil(p*n), computed in integers to avoid 0.999*1000 = 998.999…
	n := int64(len(v))
	permille := int64(p*1000 + 0.5)
	rank := (permille*n + 999) / 1000
	rank = max(1, min(rank, n))
	return v[rank-1]
}

// ms converts d to milliseconds with microsecond resolution.
func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
