package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/eventstore"
)

// The preloaded envelopes: lucky, 10 shares, 1,000 fen, from sender
// "preload", paid at once and never opened.
const (
	PreloadSender = "preload"
	preloadCount  = 10
	preloadTotal  = 1000
	// preloadPending bounds the async publishes awaiting their ack.
	preloadPending = 4096
)

// PreloadReport is what the preload wrote and how long the instance took
// to catch up with it.
type PreloadReport struct {
	Envelopes int   `json:"envelopes"`
	Events    int64 `json:"events"` // acknowledged: a Wrapped and a Paid per envelope
	// Seconds runs from the first publish to the last ack.
	Seconds         float64 `json:"seconds"`
	EventsPerSecond float64 `json:"events_per_second"`
	// StreamEvents is ENVELOPES' last sequence once the preload is in.
	StreamEvents uint64 `json:"stream_events"`
	// CatchUpSeconds is the wait after the last ack until every read
	// model had applied its stream's last event and the dispatcher had
	// delivered the outbox (the fund transfers); null without read models.
	CatchUpSeconds *float64         `json:"catch_up_seconds"`
	Errors         int64            `json:"errors"`
	ErrorsByCode   map[string]int64 `json:"errors_by_code,omitempty"`
	TransportErrs  map[string]int64 `json:"transport_errors,omitempty"`
	FirstError     string           `json:"first_error,omitempty"`
}

// preload publishes Config.Preload envelopes, a Wrapped and a Paid each
// decided by the aggregate, straight into ENVELOPES with async publishes
// (at most preloadPending awaiting an ack) on a connection of its own,
// waits for every ack, and then for the read models and the dispatcher.
// Nothing bypasses the stream's own checks, but the service and its
// timers never see these envelopes: they are never opened and never
// expire.
func (r *runner) preload(ctx context.Context) error {
	c := &r.cfg
	n := c.Preload
	rep := &PreloadReport{Envelopes: n}
	r.rep.Preload = rep
	nc, err := r.env.connect("hongbao-bench-preload")
	if err != nil {
		return err
	}
	defer nc.Close()

	ph := r.prog.Start("preload", "events", int64(2*n))
	var (
		mu     sync.Mutex // guards t
		t      = newTally()
		acked  atomic.Int64
		failed atomic.Int64
		last   atomic.Int64 // unix ns of the last ack
	)
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(preloadPending),
		jetstream.WithPublishAsyncTimeout(c.RequestTimeout),
		jetstream.WithPublishAsyncAckHandler(func(jetstream.JetStream, *nats.Msg, *jetstream.PubAck) {
			acked.Add(1)
			last.Store(time.Now().UnixNano())
			ph.Add(1)
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			mu.Lock()
			t.storeErr(m.Subject, err)
			mu.Unlock()
			failed.Add(1)
			ph.Add(1)
		}))
	if err != nil {
		ph.Finish()
		return fmt.Errorf("bench: preload: %w", err)
	}
	store, err := eventstore.Open(ctx, js, eventstore.Config{})
	if err != nil {
		ph.Finish()
		return fmt.Errorf("bench: preload: %w", err)
	}
	before, err := store.LastSeq(ctx)
	if err != nil {
		ph.Finish()
		return fmt.Errorf("bench: preload: %w", err)
	}

	limits := envelope.DefaultLimits()
	start := time.Now()
	published := int64(0)
	var perr error
	for i := 0; i < n && ctx.Err() == nil && failed.Load() == 0 && perr == nil; i++ {
		var evs [2]events.Event
		if evs, perr = preloadEnvelope(r.runID, i, time.Now(), limits); perr != nil {
			break
		}
		prev := "" // the envelope's chain: wrapped first, then paid
		for _, ev := range evs {
			data, err := events.Encode(ev)
			if err != nil {
				perr = err
				break
			}
			msg := &nats.Msg{Subject: store.Subject(ev.EnvelopeID), Data: data}
			if r.env.signer != nil {
				prev = r.env.signer.Seal(msg, prev)
			}
			if _, err := js.PublishMsgAsync(msg, jetstream.WithStallWait(c.RequestTimeout)); err != nil {
				mu.Lock()
				t.storeErr(msg.Subject, err)
				mu.Unlock()
				failed.Add(1)
				ph.Add(1)
				break
			}
			published++
		}
	}
	wait := time.NewTimer(c.RequestTimeout + time.Second) // the async timeout fails the last ones first
	defer wait.Stop()
	var cerr error
	select {
	case <-js.PublishAsyncComplete():
	case <-wait.C:
		cerr = fmt.Errorf("%d acks missing after %s", js.PublishAsyncPending(), c.RequestTimeout+time.Second)
	case <-ctx.Done():
		cerr = ctx.Err()
	}
	ph.Finish()
	end := time.Unix(0, last.Load())
	if last.Load() == 0 {
		end = time.Now()
	}
	rep.Events = acked.Load()
	rep.Seconds = end.Sub(start).Seconds()
	if rep.Seconds > 0 {
		rep.EventsPerSecond = float64(rep.Events) / rep.Seconds
	}
	mu.Lock()
	for _, v := range t.codes {
		rep.Errors += v
	}
	for _, v := range t.transport {
		rep.Errors += v
	}
	rep.ErrorsByCode, rep.TransportErrs, rep.FirstError = t.codes, t.transport, t.firstErr
	mu.Unlock()
	switch {
	case perr != nil:
		return fmt.Errorf("bench: preload: %w", perr)
	case cerr != nil:
		return fmt.Errorf("bench: preload: %d of %d events stored: %w", rep.Events, 2*n, cerr)
	case rep.Errors > 0 || rep.Events != 2*int64(n):
		return fmt.Errorf("bench: preload: %d of %d events stored, %d errors (first: %s)", rep.Events, 2*n, rep.Errors, rep.FirstError)
	}
	if rep.StreamEvents, err = store.LastSeq(ctx); err != nil {
		return fmt.Errorf("bench: preload: %w", err)
	}
	if rep.StreamEvents != before+uint64(2*n) {
		return fmt.Errorf("bench: preload: %s went from seq %d to %d, want %d more (another writer?)", store.StreamName(), before, rep.StreamEvents, 2*n)
	}

	if r.env.app == nil || r.env.app.Views == nil {
		return nil // core-only: nothing projects the stream
	}
	took, err := r.waitCaughtUp(ctx, "preload catch-up")
	secs := took.Seconds()
	rep.CatchUpSeconds = &secs
	return err
}

// preloadEnvelope decides the Wrapped and Paid events of the i-th
// preloaded envelope: a fresh ULID and seed from crypto/rand.
func preloadEnvelope(runID string, i int, now time.Time, l envelope.Limits) ([2]events.Event, error) {
	var out [2]events.Event
	var seed events.Seed
	_, _ = rand.Read(seed[:]) // never fails (crypto/rand)
	uid, err := ulid.New(ulid.Timestamp(now), rand.Reader)
	if err != nil {
		return out, err
	}
	id := uid.String()
	cmd := envelope.WrapCommand{
		RequestID: "preload-" + runID + "-" + itoa(i), Sender: PreloadSender,
		Kind: events.KindLucky, Total: preloadTotal, Count: preloadCount,
	}
	if out[0], err = envelope.Wrap(id, cmd, seed, now, l); err != nil {
		return out, err
	}
	e := &envelope.Envelope{ID: id}
	if err := e.Apply(0, out[0]); err != nil {
		return out, err
	}
	paid, err := e.Pay("preload-"+id, preloadTotal, now)
	if err != nil {
		return out, err
	}
	if paid == nil {
		return out, fmt.Errorf("envelope %s: pay decided nothing", id)
	}
	out[1] = *paid
	return out, nil
}
