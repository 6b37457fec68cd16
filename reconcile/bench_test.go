package reconcile_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/reconcile"
)

// BenchmarkReconcile reconciles ~3,000 envelopes × 6 opens with every
// transfer booked (about 24,600 events and 21,600 ledger entries), and
// compares with the machine's ceiling measured in the same run right
// before each reconcile: reading both streams plainly with ordered
// consumers, the same way (both at once, same pull size), without decoding
// anything.
//
//	go test -run XXX -bench Reconcile -benchtime 3x ./reconcile
//
// x-read is the reconcile rate over the plain-read rate (1 would mean the
// decoding and the checks cost nothing).
func BenchmarkReconcile(b *testing.B) {
	w := newWorld(b, workload{envelopes: 3000, opensPer: 6, seed: 7})
	w.bookAll(b)
	ctx := context.Background()
	evMsgs, ledMsgs := streamMsgs(b, w.js, "ENVELOPES"), streamMsgs(b, w.js, "LEDGER")
	msgs := float64(evMsgs + ledMsgs)

	// Baseline and reconcile alternate, each baseline right before its
	// reconcile, so that whatever else the machine does weighs on both.
	var baseline time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for _, s := range []string{"ENVELOPES", "LEDGER"} {
			wg.Go(func() { readPlain(b, w.js, s) })
		}
		wg.Wait()
		baseline += time.Since(start)
		b.StartTimer()

		rep, err := reconcile.Run(ctx, w.js, reconcile.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK() || rep.Events != int(evMsgs) || rep.Transfers != int(ledMsgs) {
			b.Fatalf("not clean: %d events, %d transfers, %d discrepancies", rep.Events, rep.Transfers, len(rep.Discrepancies))
		}
	}
	elapsed := b.Elapsed()
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(n*float64(evMsgs)/elapsed.Seconds(), "events/s")
	b.ReportMetric(n*msgs/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(n*msgs/baseline.Seconds(), "read-msgs/s")
	b.ReportMetric(baseline.Seconds()/elapsed.Seconds(), "x-read")
}

func streamMsgs(b *testing.B, js jetstream.JetStream, name string) uint64 {
	st, err := js.Stream(context.Background(), name)
	if err != nil {
		b.Fatal(err)
	}
	return st.CachedInfo().State.Msgs
}

// readPlain reads a stream whole with an ordered consumer.
func readPlain(b *testing.B, js jetstream.JetStream, name string) {
	ctx := context.Background()
	cons, err := js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		b.Error(err)
		return
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(2048))
	if err != nil {
		b.Error(err)
		return
	}
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			b.Error(err)
			return
		}
		meta, err := m.Metadata()
		if err != nil {
			b.Error(err)
			return
		}
		_ = m.Data()
		if meta.NumPending == 0 {
			return
		}
	}
}
