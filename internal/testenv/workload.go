package testenv

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/eventstore"
	"github.com/hongbao/hongbao/topology"
)

// Shape of the workload PublishWorkload writes.
const (
	// WorkloadCount is the number of shares of every workload envelope.
	WorkloadCount = 10
	// WorkloadUsers is the size of the pool that senders and openers are
	// drawn from, small so that every user receives from many envelopes.
	WorkloadUsers = 32
	// workloadWindow is how many envelopes are in progress at once; their
	// events are interleaved round-robin.
	workloadWindow = 64
	// workloadMaxPending bounds the asynchronous publishes awaiting an ack.
	workloadMaxPending = 1024
	// workloadAckTimeout bounds the wait for one chunk of acks.
	workloadAckTimeout = time.Minute
)

// WorkloadUser is the i-th user of the workload's pool.
func WorkloadUser(i int) string { return fmt.Sprintf("user%02d", i) }

// PublishWorkload writes a deterministic workload of valid envelope
// histories straight into the ENVELOPES stream (created with
// eventstore.Open and the default config if needed), bypassing the service,
// and returns the stream sequence of its last event.
//
// Every event is decided by the aggregate (envelope.Wrap with
// DefaultLimits, Pay, Open, Expire) and folded into the envelope's state
// before the next decision, so every history is one the service could have
// written. Per envelope, in order:
//
//   - Wrapped: a ULID id, a sender from the pool, kind lucky and equal
//     alternately, WorkloadCount shares, a total of 1000..20000 fen (a
//     multiple of the count for equal envelopes);
//   - Paid;
//   - min(opensPer, WorkloadCount) Opened by distinct users of the pool
//     other than the sender (so an envelope finishes when opensPer ≥
//     WorkloadCount);
//   - every 5th envelope stops one share short of its count at most and is
//     then Expired (at its expires_at), refunding what is left.
//
// Up to 64 envelopes are in progress at once and their events are
// interleaved round-robin, so the events of an envelope are not contiguous
// in the stream. Event times advance by a fixed step in stream order
// (expiries excepted, which happen at expires_at) over at most about two
// hours around midnight, 1 January 2027 in China, so the users projection
// sees two years. The same arguments give the same events.
//
// Events are published asynchronously (at most 1024 awaiting their ack)
// without expected-sequence headers; every ack is checked to follow the
// previous one directly, which proves that the stream holds the events in
// the order they were decided. Nothing else may write to the stream
// meanwhile. Any failure fails the test.
func PublishWorkload(t testing.TB, js jetstream.JetStream, envelopes, opensPer int, seed uint64) (lastSeq uint64) {
	t.Helper()
	return PublishWorkloadIn(t, js, topology.Topology{}, envelopes, opensPer, seed)
}

// PublishWorkloadIn is PublishWorkload on the envelope stream and subjects
// of top.
func PublishWorkloadIn(t testing.TB, js jetstream.JetStream, top topology.Topology, envelopes, opensPer int, seed uint64) (lastSeq uint64) {
	t.Helper()
	ctx := t.Context()
	evs, err := workload(envelopes, opensPer, seed)
	if err != nil {
		t.Fatalf("testenv: workload: %v", err)
	}
	store, err := eventstore.Open(ctx, js, eventstore.Config{Topology: top})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	lastSeq, err = store.LastSeq(ctx)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}

	futures := make([]jetstream.PubAckFuture, 0, workloadMaxPending)
	wait := func() {
		t.Helper()
		timeout := time.NewTimer(workloadAckTimeout)
		defer timeout.Stop()
		for _, f := range futures {
			select {
			case ack := <-f.Ok():
				if ack.Stream != store.StreamName() || ack.Sequence != lastSeq+1 {
					t.Fatalf("testenv: %s stored at %s seq %d, want %s seq %d (another writer?)",
						f.Msg().Subject, ack.Stream, ack.Sequence, store.StreamName(), lastSeq+1)
				}
				lastSeq = ack.Sequence
			case err := <-f.Err():
				t.Fatalf("testenv: publish %s: %v", f.Msg().Subject, err)
			case <-timeout.C:
				t.Fatalf("testenv: no ack for %s within %s", f.Msg().Subject, workloadAckTimeout)
			}
		}
		futures = futures[:0]
	}
	for _, ev := range evs {
		data, err := events.Encode(ev)
		if err != nil {
			t.Fatalf("testenv: encode: %v", err)
		}
		f, err := js.PublishMsgAsync(&nats.Msg{Subject: store.Subject(ev.EnvelopeID), Data: data})
		if err != nil {
			t.Fatalf("testenv: publish: %v", err)
		}
		if futures = append(futures, f); len(futures) == workloadMaxPending {
			wait()
		}
	}
	wait()
	return lastSeq
}

// workloadPlan is one envelope of the workload: its state and what is left
// to decide.
type workloadPlan struct {
	env     *envelope.Envelope
	index   int
	cmd     envelope.WrapCommand
	seed    events.Seed
	openers []string
	expire  bool
	step    int // 0 wrap, 1 pay, 2.. opens, then expire
}

// workload decides the events PublishWorkload writes, in stream order.
func workload(envelopes, opensPer int, seed uint64) ([]events.Event, error) {
	if envelopes < 0 || opensPer < 0 {
		return nil, fmt.Errorf("%d envelopes with %d opens each", envelopes, opensPer)
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	src := rand.NewChaCha8(key) // also the io.Reader for ids and seeds
	rng := rand.New(src)
	limits := envelope.DefaultLimits()

	opens := min(opensPer, WorkloadCount)
	estimate := envelopes*(2+opens) + envelopes/5
	step := time.Second
	if estimate > 0 {
		step = min(time.Second, max(time.Millisecond, 2*time.Hour/time.Duration(estimate)))
	}
	chinaNewYear := time.Date(2027, 1, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
	now := chinaNewYear.Add(-time.Duration(estimate) * step / 2).UTC()

	newPlan := func(i int) *workloadPlan {
		p := &workloadPlan{index: i, expire: i%5 == 4}
		sender := rng.IntN(WorkloadUsers)
		kind, total := events.KindLucky, 1000+rng.Int64N(19001)
		if i%2 == 1 {
			kind, total = events.KindEqual, total-total%WorkloadCount
		}
		p.cmd = envelope.WrapCommand{
			RequestID: fmt.Sprintf("workload-%d-%d", seed, i), Sender: WorkloadUser(sender),
			Kind: kind, Total: total, Count: WorkloadCount, Greeting: "恭喜发财",
		}
		_, _ = src.Read(p.seed[:])
		n := opens
		if p.expire {
			n = min(n, WorkloadCount-1)
		}
		for _, u := range rng.Perm(WorkloadUsers) {
			if len(p.openers) == n {
				break
			}
			if u != sender {
				p.openers = append(p.openers, WorkloadUser(u))
			}
		}
		return p
	}

	// next decides the plan's next event at now and folds it in; done when
	// the plan has no more.
	next := func(p *workloadPlan, now time.Time) (ev events.Event, done bool, err error) {
		switch s := p.step; {
		case s == 0:
			id, err := ulid.New(ulid.Timestamp(now), src)
			if err != nil {
				return ev, false, err
			}
			p.env = &envelope.Envelope{ID: id.String()}
			if ev, err = envelope.Wrap(p.env.ID, p.cmd, p.seed, now, limits); err != nil {
				return ev, false, err
			}
		case s == 1:
			e, err := p.env.Pay("workload-pay-"+p.env.ID, p.env.Total, now)
			if err != nil {
				return ev, false, err
			}
			if e == nil {
				return ev, false, fmt.Errorf("envelope %s: pay decided nothing", p.env.ID)
			}
			ev = *e
		case s-2 < len(p.openers):
			r, e, err := p.env.Open(p.openers[s-2], now)
			if err != nil {
				return ev, false, err
			}
			if r.Outcome != envelope.OutcomeOpened || e == nil {
				return ev, false, fmt.Errorf("envelope %s: open by %s: %s", p.env.ID, p.openers[s-2], r.Outcome)
			}
			ev = *e
		default:
			e := p.env.Expire(p.env.ExpiresAt.Add(time.Duration(p.index%60) * time.Second))
			if e == nil {
				return ev, false, fmt.Errorf("envelope %s: expire decided nothing while %s", p.env.ID, p.env.Status)
			}
			ev = *e
		}
		// Sequence 0: not stored yet. Apply skips the sequence check then,
		// and nothing a decision depends on is a sequence.
		if err := p.env.Apply(0, ev); err != nil {
			return ev, false, err
		}
		p.step++
		last := 2 + len(p.openers)
		if p.expire {
			last++
		}
		return ev, p.step == last, nil
	}

	out := make([]events.Event, 0, estimate)
	created := 0
	var active []*workloadPlan
	for ; created < envelopes && len(active) < workloadWindow; created++ {
		active = append(active, newPlan(created))
	}
	for len(active) > 0 {
		for i := 0; i < len(active); {
			p := active[i]
			ev, done, err := next(p, now)
			if err != nil {
				return nil, fmt.Errorf("envelope #%d: %w", p.index, err)
			}
			out = append(out, ev)
			if ev.Type != events.TypeExpired {
				now = now.Add(step)
			}
			switch {
			case !done:
				i++
			case created < envelopes:
				active[i] = newPlan(created)
				created++
				i++
			default:
				active = slices.Delete(active, i, i+1)
			}
		}
	}
	return out, nil
}
