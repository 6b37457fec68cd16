package service

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/events"
)

// liveEnvelope builds the state of a paid envelope with opens opens, as the
// cache holds it.
func liveEnvelope(b testing.TB, opens int) *envelope.Envelope {
	id := ulid.Make().String()
	now := time.Now()
	w, err := envelope.Wrap(id, envelope.WrapCommand{RequestID: "req-" + id, Sender: "alice", Kind: events.KindLucky, Total: 100_000, Count: 100, Greeting: "恭喜发财，大吉大利"}, events.Seed{1}, now, envelope.DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	e := &envelope.Envelope{ID: id}
	seq := uint64(1)
	apply := func(ev events.Event) {
		if err := e.Apply(seq, ev); err != nil {
			b.Fatal(err)
		}
		seq++
	}
	apply(w)
	p, err := e.Pay("pay-"+id, 100_000, now)
	if err != nil {
		b.Fatal(err)
	}
	apply(*p)
	for i := 0; i < opens; i++ {
		_, ev, err := e.Open(fmt.Sprintf("user%06d", i), now)
		if err != nil {
			b.Fatal(err)
		}
		apply(*ev)
	}
	return e
}

// BenchmarkCachedEnvelopeHeap reports the heap one cached live envelope
// costs in all (its state, its mailbox entry and the cache's bookkeeping),
// for envelopes with no opens yet and with 10. Target: at most 2 KiB for a
// fresh live envelope.
func BenchmarkCachedEnvelopeHeap(b *testing.B) {
	for _, opens := range []int{0, 10} {
		b.Run(fmt.Sprintf("opens=%d", opens), func(b *testing.B) {
			const n = 20_000
			var perEnvelope float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				reg := newRegistry(2*n, 16)
				for i := 0; i < n; i++ {
					st := liveEnvelope(b, opens)
					reg.get(st.ID).setState(st)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perEnvelope = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
				runtime.KeepAlive(reg)
			}
			b.ReportMetric(perEnvelope, "B/envelope")
		})
	}
}
