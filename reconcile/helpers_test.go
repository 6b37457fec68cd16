package reconcile_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/ledger"
	"github.com/hongbao/hongbao/projections/outbox"
	"github.com/hongbao/hongbao/topology"
)

// world is a server with workload histories in ENVELOPES and, unless told
// otherwise, every transfer they imply booked in LEDGER.
type world struct {
	top  topology.Topology
	srv  *natstest.Server
	js   jetstream.JetStream
	led  *ledger.Ledger // with deletes allowed, for fault injection
	ids  []string       // envelopes in order of their Wrapped
	recs map[string][]events.Record
}

// workload is one PublishWorkload call.
type workload struct {
	envelopes, opensPer int
	seed                uint64
}

func newWorld(t testing.TB, loads ...workload) *world {
	t.Helper()
	return newWorldIn(t, topology.Topology{}, loads...)
}

// newWorldIn is newWorld on the streams and subjects of top.
func newWorldIn(t testing.TB, top topology.Topology, loads ...workload) *world {
	t.Helper()
	w := &world{top: top, srv: natstest.Start(t, natstest.WithSyncInterval(2*time.Minute))}
	w.js = w.srv.JetStream(t)
	for _, l := range loads {
		testenv.PublishWorkloadIn(t, w.js, top, l.envelopes, l.opensPer, l.seed)
	}
	led, err := ledger.Open(context.Background(), w.js, ledger.Config{Topology: top, AllowDeletes: true})
	if err != nil {
		t.Fatal(err)
	}
	w.led = led
	w.readEvents(t)
	return w
}

// readEvents reads ENVELOPES whole into w.recs.
func (w *world) readEvents(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	w.ids, w.recs = nil, map[string][]events.Record{}
	cons, err := w.js.OrderedConsumer(ctx, w.top.EnvelopeStream(0), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		batch, err := cons.FetchNoWait(1000)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			ev, err := events.Decode(m.Data())
			if err != nil {
				t.Fatalf("seq %d: %v", meta.Sequence.Stream, err)
			}
			if ev.Type == events.TypeWrapped {
				w.ids = append(w.ids, ev.EnvelopeID)
			}
			w.recs[ev.EnvelopeID] = append(w.recs[ev.EnvelopeID], events.Record{Seq: meta.Sequence.Stream, Event: ev})
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// transfers returns what an envelope's events imply.
func (w *world) transfers(id string) []outbox.Transfer {
	var sender string
	var out []outbox.Transfer
	for _, r := range w.recs[id] {
		if wr, ok := r.Event.Data.(events.Wrapped); ok {
			sender = wr.Sender
		}
		out = append(out, outbox.TransfersOf(r, sender)...)
	}
	return out
}

// bookAll books every transfer except those named in skip, envelopes in
// parallel, each envelope's in event order.
func (w *world) bookAll(t testing.TB, skip ...string) {
	t.Helper()
	skipped := map[string]bool{}
	for _, id := range skip {
		skipped[id] = true
	}
	ids := make(chan string)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for id := range ids {
				for _, tr := range w.transfers(id) {
					if skipped[tr.ID] {
						continue
					}
					if _, err := w.led.Transfer(context.Background(), tr.Transfer); err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				}
			}
		})
	}
	for _, id := range w.ids {
		ids <- id
	}
	close(ids)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("booking: %v", err)
	default:
	}
}

// wrapped returns an envelope's Wrapped event.
func (w *world) wrapped(id string) events.Wrapped {
	return w.recs[id][0].Event.Data.(events.Wrapped)
}

// status is what an envelope's last event makes it.
func (w *world) status(id string) string {
	recs := w.recs[id]
	switch d := recs[len(recs)-1].Event.Data.(type) {
	case events.Expired:
		return "expired"
	case events.Opened:
		if d.RemainingCount == 0 {
			return "finished"
		}
	}
	return "live"
}

// opens returns an envelope's Opened events.
func (w *world) opens(id string) []events.Opened {
	var out []events.Opened
	for _, r := range w.recs[id] {
		if o, ok := r.Event.Data.(events.Opened); ok {
			out = append(out, o)
		}
	}
	return out
}

// pick returns the first envelope (not in used) in the given status.
func (w *world) pick(t testing.TB, status string, used map[string]bool) string {
	t.Helper()
	for _, id := range w.ids {
		if !used[id] && w.status(id) == status {
			used[id] = true
			return id
		}
	}
	t.Fatalf("no %s envelope left", status)
	return ""
}

// escrow returns an envelope's escrow: balance and entries with their
// ledger sequences.
func (w *world) escrow(t testing.TB, id string) (int64, []ledger.Entry, []uint64) {
	t.Helper()
	bal, ents, seqs, err := w.led.Escrow(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return bal, ents, seqs
}

// deleteTransfer deletes the entry with the transfer id from LEDGER and
// returns its sequence.
func (w *world) deleteTransfer(t testing.TB, envelopeID, transferID string) uint64 {
	t.Helper()
	_, ents, seqs := w.escrow(t, envelopeID)
	for i, e := range ents {
		if e.ID == transferID {
			if err := w.led.Stream().DeleteMsg(context.Background(), seqs[i]); err != nil {
				t.Fatal(err)
			}
			return seqs[i]
		}
	}
	t.Fatalf("no entry %s", transferID)
	return 0
}

// publishEntry writes a raw ledger entry, bypassing the ledger, with the
// escrow balance the entries before it give; it returns its sequence.
func (w *world) publishEntry(t testing.TB, tr ledger.Transfer) uint64 {
	t.Helper()
	bal, _, _ := w.escrow(t, tr.EnvelopeID)
	if tr.Credit == ledger.EscrowAccount(tr.EnvelopeID) {
		bal += tr.Amount
	} else {
		bal -= tr.Amount
	}
	data, err := json.Marshal(ledger.Entry{V: 1, Transfer: tr, EscrowBalance: bal})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := w.js.Publish(context.Background(), w.top.EscrowSubject(tr.EnvelopeID), data)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// publishEvent writes a raw event on an envelope's subject, bypassing the
// aggregate, and returns its sequence.
func (w *world) publishEvent(t testing.TB, id string, p events.Payload) uint64 {
	t.Helper()
	recs := w.recs[id]
	ev := events.New(id, recs[len(recs)-1].Event.At.Add(time.Second), p)
	data, err := events.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := w.js.Publish(context.Background(), w.top.EnvelopeSubject(id), data)
	if err != nil {
		t.Fatal(err)
	}
	w.recs[id] = append(recs, events.Record{Seq: ack.Sequence, Event: ev})
	return ack.Sequence
}
