package projections_test

import (
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/projections/detail"
	"github.com/hongbao/hongbao/projections/outbox"
	"github.com/hongbao/hongbao/projections/projector"
	"github.com/hongbao/hongbao/projections/users"
)

// The rebuild workload: 3,000 envelopes with 6 opens each, every 5th
// expired, about 24,600 events.
const (
	benchEnvelopes = 3000
	benchOpens     = 6
	// benchPull is what the projector pulls at once with its default
	// batch size, so that the baseline reads the way a rebuild reads.
	benchPull = 1000
)

// BenchmarkRebuild measures how fast each projection is rebuilt from the
// stream, against the baseline of just reading the stream.
//
//	read             the baseline: the whole stream through an ordered
//	                 consumer (the projector's filter and pull size),
//	                 nothing decoded
//	rebuild/<name>   the projection from scratch into a fresh Pebble
//	                 database on disk, as Set.Rebuild loads a new
//	                 generation: opened for a bulk load (no WAL), caught up
//	                 to the last event (default batch of 1,000), sealed
//	                 (flushed and synced)
//
// Metrics: events/s, and x-read, the rate over the baseline's. Each
// rebuild iteration re-measures the baseline right before (timer stopped),
// so the ratio compares runs made under the same conditions; read-events/s
// is that baseline. x-read-median is the median of the iterations' own
// ratios, which one disturbed iteration does not move. The target is
// x-read ≥ 0.5. ns/op counts the rebuild alone (opening, catching up and
// sealing the database).
//
// The stream is written once, outside the timers, with the workload of
// testenv.PublishWorkload. JetStream fsyncs in the background
// (WithSyncInterval): only reads are measured.
//
//	go test -run XXX -bench Rebuild -benchtime 3x ./projections
func BenchmarkRebuild(b *testing.B) {
	srv := natstest.Start(b, natstest.WithSyncInterval(2*time.Minute))
	js := srv.JetStream(b)
	last := testenv.PublishWorkload(b, js, benchEnvelopes, benchOpens, 1)

	b.Run("read", func(b *testing.B) {
		var elapsed time.Duration
		for range b.N {
			elapsed += benchRead(b, js, last)
		}
		rate := float64(b.N) * float64(last) / elapsed.Seconds()
		b.ReportMetric(rate, "events/s")
		b.ReportMetric(1, "x-read")
	})

	b.Run("rebuild", func(b *testing.B) {
		for _, proj := range []projector.Projection{detail.Projection{}, users.Projection{}, outbox.Projection{}} {
			b.Run(proj.Name(), func(b *testing.B) {
				var rebuilt, read time.Duration
				ratios := make([]float64, 0, b.N)
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					r := benchRead(b, js, last)
					dir := b.TempDir()
					b.StartTimer()

					// What Set.Rebuild does before its catch-up phase.
					start := time.Now()
					db, err := projector.OpenBulk(dir, nil, nil)
					if err != nil {
						b.Fatal(err)
					}
					p, err := projector.New(db, proj, js, projector.Config{Bulk: true})
					if err != nil {
						b.Fatal(err)
					}
					if err := p.CatchUp(b.Context(), last); err != nil {
						b.Fatal(err)
					}
					if err := projector.Seal(db); err != nil {
						b.Fatal(err)
					}
					el := time.Since(start)
					rebuilt, read = rebuilt+el, read+r
					ratios = append(ratios, r.Seconds()/el.Seconds())
				}
				events := float64(b.N) * float64(last)
				rate, base := events/rebuilt.Seconds(), events/read.Seconds()
				slices.Sort(ratios)
				b.ReportMetric(rate, "events/s")
				b.ReportMetric(rate/base, "x-read")
				b.ReportMetric(ratios[len(ratios)/2], "x-read-median")
				b.ReportMetric(base, "read-events/s")
			})
		}
	})
}

// benchRead reads the stream's events 1..last through an ordered consumer,
// decoding nothing, and returns how long that took.
func benchRead(b *testing.B, js jetstream.JetStream, last uint64) time.Duration {
	b.Helper()
	ctx := b.Context()
	start := time.Now()
	cons, err := js.OrderedConsumer(ctx, "ENVELOPES", jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"envelope.>"}, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		b.Fatal(err)
	}
	msgs, err := cons.Messages(jetstream.PullMaxMessages(benchPull))
	if err != nil {
		b.Fatal(err)
	}
	defer msgs.Stop()
	for range last {
		if _, err := msgs.Next(jetstream.NextContext(ctx)); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}
