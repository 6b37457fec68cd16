package streamlog

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/seal"
)

// BenchmarkAppend: appends from 64 goroutines at once, each to subjects of
// its own (as spread's opens of different envelopes), through the Log as
// it publishes (asynchronously, awaiting the ack) and, as the baseline in
// the same run, through jetstream's PublishMsg (a request per append). The
// server syncs at JetStream's default interval, so this measures the
// publishing, not the disk.
//
//	go test -run XXX -bench Append -benchmem ./internal/streamlog
func BenchmarkAppend(b *testing.B) {
	srv := natstest.Start(b, natstest.WithSyncInterval(2*time.Minute)) // JetStream's default
	js := srv.JetStream(b)
	st, err := EnsureStream(context.Background(), js, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"},
		Storage: jetstream.FileStorage, MaxMsgsPerSubject: -1})
	if err != nil {
		b.Fatal(err)
	}
	var run atomic.Int64
	for _, c := range []struct {
		name    string
		publish Publish // nil: the log's own
		sealed  bool    // every append sealed (signed and linked)
	}{
		{"async", nil, false},
		{"async-sealed", nil, true},
		{"request", js.PublishMsg, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			log := NewLog(js, st, 0, nil)
			if c.publish != nil {
				log.publish = c.publish
			}
			if c.sealed {
				signer, _, err := seal.Generate()
				if err != nil {
					b.Fatal(err)
				}
				log.SetSigner(signer)
			}
			prefix := "bench.run" + strconv.FormatInt(run.Add(1), 10) + "."
			data := make([]byte, 250)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			for g := range 64 {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						subject := prefix + strconv.Itoa(g) + "." + strconv.FormatInt(i, 10)
						if _, err := log.Append(context.Background(), subject, 0, data); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}
