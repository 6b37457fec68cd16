package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/eventstore"
	"github.com/hongbao/hongbao/ledger"
	"github.com/hongbao/hongbao/projections"
)

// rebuildPrefix names the result of one projection's rebuild:
// rebuild_<projection>.
const rebuildPrefix = ScenarioRebuild + "_"

// readPull is how many messages the read ceilings pull at once: the
// projector's default batch size, so that the ceiling reads the way a
// rebuild reads.
const readPull = 1000

// catchUpPoll is how often the wait for the read models looks.
const catchUpPoll = 20 * time.Millisecond

// source is a stream a read model is projected from.
type source struct {
	stream, filter string
	ceiling        string // the plain read of it
}

// envelopesSource and ledgerSource are the streams as the instance creates
// them (default names).
func envelopesSource() source {
	sc := eventstore.StreamConfig(eventstore.Config{})
	return source{sc.Name, sc.Subjects[0], CeilingRead}
}

func ledgerSource() source {
	sc := ledger.StreamConfig(ledger.Config{})
	return source{sc.Name, sc.Subjects[0], CeilingReadLedger}
}

// sourceOf is the stream the named projection reads: LEDGER for wallets,
// ENVELOPES for the others.
func sourceOf(projection string) source {
	if projection == "wallets" {
		return ledgerSource()
	}
	return envelopesSource()
}

// RebuildReport describes what the rebuild scenario rebuilt.
type RebuildReport struct {
	// Events and LedgerEvents are the last sequences of ENVELOPES and
	// LEDGER when the rebuilds ran: what each replayed.
	Events       uint64 `json:"events"`
	LedgerEvents uint64 `json:"ledger_events"`
	// SetupEnvelopes were wrapped, paid and opened (every share) through
	// the service first, because the stream held fewer than
	// RebuildEvents events; 0 when it held enough. SetupSeconds is that
	// setup's time.
	SetupEnvelopes int     `json:"setup_envelopes"`
	SetupSeconds   float64 `json:"setup_seconds"`
	// CatchUpSeconds is the wait, before the first measurement, until
	// every read model had applied its stream's last event and the
	// dispatcher had delivered the whole outbox.
	CatchUpSeconds float64 `json:"catch_up_seconds"`
}

// rebuild: top the stream up to RebuildEvents through the service, wait
// for the read models, read each stream plainly (the ceilings), then
// rebuild every projection from scratch and swap it in.
func (r *runner) rebuild(ctx context.Context) error {
	c := &r.cfg
	views := r.env.app.Views
	info := &RebuildReport{}
	r.rep.Rebuild = info
	env := envelopesSource()

	last, err := r.streamLast(ctx, env.stream)
	if err != nil {
		return err
	}
	if need := int64(c.RebuildEvents) - int64(last); need > 0 {
		per := int64(2 + c.Count) // wrapped, paid, count opens
		n := int((need + per - 1) / per)
		if err := r.rebuildSetup(ctx, n, info); err != nil {
			return err
		}
	}
	wait, err := r.waitCaughtUp(ctx, "rebuild catch-up")
	if err != nil {
		return err
	}
	info.CatchUpSeconds = wait.Seconds()

	read := map[string]bool{}
	for _, name := range projections.Names {
		src := sourceOf(name)
		if !read[src.ceiling] {
			read[src.ceiling] = true
			if err := r.add(ctx, func(ctx context.Context) (*Result, error) { return r.readStream(ctx, src) }, false); err != nil {
				return err
			}
			n := uint64(r.rep.Ceilings[src.ceiling].Count)
			if src.stream == env.stream {
				info.Events = n
			} else {
				info.LedgerEvents = n
			}
		}
		if err := r.add(ctx, func(ctx context.Context) (*Result, error) { return r.rebuildOne(ctx, views, name) }, true); err != nil {
			return err
		}
	}
	return nil
}

// rebuildSetup wraps and pays n envelopes through the service and opens
// every share of each, from the clients, unmeasured.
func (r *runner) rebuildSetup(ctx context.Context, n int, info *RebuildReport) error {
	c := &r.cfg
	ids, secs, err := r.setupEnvelopes(ctx, "rebuild setup", "r", n, c.Count)
	if err != nil {
		return err
	}
	opens := n * c.Count
	// Round-robin: envelope e gets the opens i with i%n == e, Count each.
	res, t, err := r.userOps(ctx, "rebuild setup opens", "opens", "r", opens, r.hb, "open", ids)
	if err != nil {
		return err
	}
	if res.Errors > 0 || t.outcomes[api.StatusOpened] != int64(opens) {
		return fmt.Errorf("bench: rebuild setup: want %d opened, got %v and %d errors (%s)", opens, t.outcomes, res.Errors, res.FirstError)
	}
	info.SetupEnvelopes = n
	info.SetupSeconds = secs + res.Seconds
	r.rep.setup[ScenarioRebuild] = info.SetupSeconds
	return nil
}

// readStream is a read ceiling: the whole stream through an ordered
// consumer (the projector's filter and pull size) on a connection of its
// own, decoding nothing.
func (r *runner) readStream(ctx context.Context, src source) (*Result, error) {
	nc, err := r.env.connect("hongbao-bench-read")
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", src.ceiling, err)
	}
	st, err := js.Stream(ctx, src.stream)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: stream %s: %w", src.ceiling, src.stream, err)
	}
	si, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: stream %s: %w", src.ceiling, src.stream, err)
	}
	n, last := si.State.Msgs, si.State.LastSeq

	t := newTally()
	ph := r.prog.Start(src.ceiling, "events", int64(n))
	start := time.Now()
	var got uint64
	err = func() error {
		if n == 0 {
			return nil
		}
		cons, err := js.OrderedConsumer(ctx, src.stream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{src.filter}, DeliverPolicy: jetstream.DeliverAllPolicy})
		if err != nil {
			return err
		}
		msgs, err := cons.Messages(jetstream.PullMaxMessages(readPull))
		if err != nil {
			return err
		}
		defer msgs.Stop()
		var m jetstream.Msg
		for got < n {
			if m, err = msgs.Next(jetstream.NextContext(ctx)); err != nil {
				return err
			}
			got++
			ph.Add(1)
		}
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		if md.Sequence.Stream != last {
			return fmt.Errorf("message %d of %d has sequence %d, want %d", got, n, md.Sequence.Stream, last)
		}
		return nil
	}()
	elapsed := time.Since(start)
	ph.Finish()
	if err != nil {
		t.transportErr(src.stream, err)
	}
	res := newResult(src.ceiling, "events", 1, int64(got), elapsed, &t, newHistogram(0))
	res.check(fmt.Sprintf("%d events of %s read, the last at seq %d, 0 errors", n, src.stream, last), err == nil && got == n)
	if err != nil {
		return res, fmt.Errorf("bench: %s: %d of %d events read: %w", src.ceiling, got, n, err)
	}
	return res, nil
}

// rebuildOne rebuilds one projection from its whole stream into a new
// generation and swaps it in (Set.Rebuild), timed from the call to its
// return: events/s is the stream's last sequence over that time.
func (r *runner) rebuildOne(ctx context.Context, views *projections.Set, name string) (*Result, error) {
	src := sourceOf(name)
	before, err := lagOf(ctx, views, name)
	if err != nil {
		return nil, fmt.Errorf("bench: rebuild %s: %w", name, err)
	}
	total := before.StreamLast
	t := newTally()
	ph := r.prog.Start(rebuildPrefix+name, "events", int64(total))
	start := time.Now()
	err = views.Rebuild(ctx, name, func(p projections.Progress) {
		if p.Phase == "rebuild" {
			ph.Set(int64(p.Position))
		}
	})
	elapsed := time.Since(start)
	if err == nil {
		ph.Set(int64(total))
	}
	ph.Finish()
	if err != nil {
		t.codes["rebuild_failed"]++
		t.noteErr("rebuild %s: %v", name, err)
	}
	res := newResult(rebuildPrefix+name, "events", 1, int64(total), elapsed, &t, newHistogram(0))
	ok := err == nil
	if ok {
		after, aerr := lagOf(ctx, views, name)
		if aerr != nil {
			return res, fmt.Errorf("bench: rebuild %s: %w", name, aerr)
		}
		ok = after.Generation == before.Generation+1 && after.Applied >= total
		if !ok {
			t.noteErr("rebuild %s: generation %d at seq %d after, want generation %d at seq >= %d",
				name, after.Generation, after.Applied, before.Generation+1, total)
			res.FirstError = t.firstErr
		}
	}
	res.check(fmt.Sprintf("generation %d rebuilt from %s to seq %d and swapped in, 0 errors", before.Generation+1, src.stream, total), ok)
	if err != nil {
		return res, fmt.Errorf("bench: rebuild %s: %w", name, err)
	}
	return res, nil
}

// lagOf is one projection's line of Set.Status.
func lagOf(ctx context.Context, views *projections.Set, name string) (projections.Lag, error) {
	st, err := views.Status(ctx)
	if err != nil {
		return projections.Lag{}, err
	}
	for _, l := range st {
		if l.Name == name {
			return l, nil
		}
	}
	return projections.Lag{}, fmt.Errorf("%w: %q", projections.ErrUnknown, name)
}

// waitCaughtUp waits until every read model has applied its stream's last
// event (Status lag 0) and the dispatcher has nothing left to deliver (so
// the ledger, and the wallets after it, will not grow). Progress counts the
// ENVELOPES events that every read model and the dispatcher are past.
// Without read models there is nothing to wait for.
func (r *runner) waitCaughtUp(ctx context.Context, name string) (time.Duration, error) {
	a := r.env.app
	if a == nil || a.Views == nil {
		return 0, nil
	}
	start := time.Now()
	env := envelopesSource()
	last, err := r.streamLast(ctx, env.stream)
	if err != nil {
		return 0, err
	}
	behind := func() uint64 { // the least ENVELOPES sequence everything is past
		low := last
		for n, applied := range a.Views.Applied() {
			if sourceOf(n).stream == env.stream {
				low = min(low, applied)
			}
		}
		if a.Dispatcher != nil {
			low = min(low, a.Dispatcher.Stats().Cursor)
		}
		return low
	}
	from := behind()
	ph := r.prog.Start(name, "events", int64(last-from))
	defer ph.Finish()
	tick := time.NewTicker(catchUpPoll)
	defer tick.Stop()
	for {
		b := behind()
		ph.Set(int64(b - min(from, b)))
		done, err := r.caughtUp(ctx)
		if err != nil {
			return time.Since(start), fmt.Errorf("bench: %s: %w", name, err)
		}
		if done {
			ph.Set(int64(last - from))
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("bench: %s: %w", name, ctx.Err())
		case <-tick.C:
		}
	}
}

// caughtUp: every lag 0, nothing after the dispatcher's cursor in the
// outbox, and still every lag 0 with ENVELOPES where it was (the wallets
// then hold every transfer delivered).
func (r *runner) caughtUp(ctx context.Context) (bool, error) {
	a := r.env.app
	first, err := a.Views.Status(ctx)
	if err != nil || !allCaughtUp(first) {
		return false, err
	}
	if a.Dispatcher != nil {
		pending, err := a.Views.Outbox(ctx, a.Dispatcher.Stats().Cursor, 1)
		if err != nil || len(pending) > 0 {
			return false, err
		}
	}
	again, err := a.Views.Status(ctx)
	if err != nil || !allCaughtUp(again) {
		return false, err
	}
	env := envelopesSource()
	for i := range first {
		if sourceOf(first[i].Name).stream == env.stream && again[i].StreamLast != first[i].StreamLast {
			return false, nil
		}
	}
	return true, nil
}

func allCaughtUp(st []projections.Lag) bool {
	for _, l := range st {
		if l.Lag > 0 {
			return false
		}
	}
	return true
}

// streamLast is a stream's last sequence, 0 when it does not exist.
func (r *runner) streamLast(ctx context.Context, stream string) (uint64, error) {
	js, err := r.clientJS()
	if err != nil {
		return 0, err
	}
	st, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("bench: stream %s: %w", stream, err)
	}
	si, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("bench: stream %s: %w", stream, err)
	}
	return si.State.LastSeq, nil
}

// clientJS is JetStream on the clients' connection.
func (r *runner) clientJS() (jetstream.JetStream, error) {
	if r.js == nil {
		js, err := jetstream.New(r.nc)
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		r.js = js
	}
	return r.js, nil
}
