package streamlog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/hongbao/hongbao/internal/seal"
)

// Group appends the appends of many subjects that wait at the
// same time as one JetStream atomic batch: with sync_interval: always,
// nats-server syncs a non-replicated batch once, so the disk's fsync rate
// bounds batches, not messages. Every message keeps its own expected
// subject sequence and Msg-Id, so each append means what Log.Append means.
//
// A batch that JetStream refuses wrote nothing; its members are then
// appended one by one, so one member's conflict fails only that member.
// After a lost acknowledgement the batch is sent again under a new batch id
// with the same Msg-Ids, and each member is resolved by its Msg-Id as
// Log.Append resolves one.
type Group struct {
	log      *Log
	reqs     chan *groupReq
	slots    chan struct{} // batches in flight
	timeout  time.Duration // one batch's commit, retries included
	disabled chan struct{} // closed once the stream refused atomic batches
	once     sync.Once
	// batches and grouped count the batches committed and their appends.
	batches, grouped atomic.Int64
}

type groupReq struct {
	subject  string
	expected uint64
	data     []byte
	seq      uint64
	err      error
	done     chan struct{}
}

// groupInFlight is how many batches may be committing at once; the appends
// that arrive meanwhile form the next batch.
const groupInFlight = 2

// NewGroup makes a group committer appending through log; timeout bounds
// one batch's commit, retries included. It lives as long as the process.
func NewGroup(log *Log, timeout time.Duration) *Group {
	g := &Group{log: log, reqs: make(chan *groupReq, MaxBatch), slots: make(chan struct{}, groupInFlight),
		timeout: timeout, disabled: make(chan struct{})}
	go g.loop() // lives as long as the store: appends may come at any time
	return g
}

// Append is Log.Append through the group, with its error contract.
func (g *Group) Append(ctx context.Context, subject string, expected uint64, data []byte) (uint64, error) {
	select {
	case <-g.disabled:
		return g.log.Append(ctx, subject, expected, data)
	default:
	}
	r := &groupReq{subject: subject, expected: expected, data: data, done: make(chan struct{})}
	select {
	case g.reqs <- r:
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: append %s: %w", ErrUnavailable, subject, ctx.Err()) // nothing sent
	}
	select {
	case <-r.done:
		return r.seq, r.err
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: append %s: outcome unknown: %w", ErrUnavailable, subject, ctx.Err())
	}
}

// loop forms batches: it takes one append, waits for a free slot, then
// takes every append waiting (one per subject; a second of the same
// subject waits for the next batch) and commits them in the background.
func (g *Group) loop() {
	var carry []*groupReq
	for {
		var first *groupReq
		if len(carry) > 0 {
			first, carry = carry[0], carry[1:]
		} else {
			first = <-g.reqs
		}
		g.slots <- struct{}{}
		batch := []*groupReq{first}
		subjects := map[string]bool{first.subject: true}
		var later []*groupReq
		take := func(r *groupReq) {
			if subjects[r.subject] {
				later = append(later, r)
				return
			}
			subjects[r.subject] = true
			batch = append(batch, r)
		}
		for len(carry) > 0 && len(batch) < MaxBatch {
			take(carry[0])
			carry = carry[1:]
		}
	more:
		for len(batch) < MaxBatch {
			select {
			case r := <-g.reqs:
				take(r)
			default:
				break more
			}
		}
		carry = append(later, carry...)
		go func() {
			defer func() { <-g.slots }()
			g.commit(batch)
		}()
	}
}

// single appends one member alone.
func (g *Group) single(r *groupReq) {
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	r.seq, r.err = g.log.Append(ctx, r.subject, r.expected, r.data)
	close(r.done)
}

// singles appends the members one by one, concurrently (their subjects
// differ).
func (g *Group) singles(rs []*groupReq) {
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() { g.single(r) })
	}
	wg.Wait()
}

// commit appends a batch and answers its members.
func (g *Group) commit(batch []*groupReq) {
	if len(batch) == 1 {
		g.single(batch[0])
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	base := nuid.Next() + "."
	msgs := make([]*nats.Msg, len(batch))
	var hashes []string
	if g.log.signer != nil {
		hashes = make([]string, len(batch))
	}
	for i, r := range batch {
		msgs[i] = batchMsg(r.subject, r.data, r.subject+"."+base+strconv.Itoa(i+1), i+1)
		msgs[i].Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(r.expected, 10))
		if hashes != nil {
			h, err := g.log.sealMsgs(ctx, r.subject, r.expected, msgs[i:i+1])
			if err != nil {
				g.fail(batch, err)
				return
			}
			hashes[i] = h[0]
		}
	}
	ack, outcome, err := g.log.sendBatch(ctx, msgs)
	switch outcome {
	case batchStored:
		g.batches.Add(1)
		g.grouped.Add(int64(len(batch)))
		first := ack.Sequence - uint64(len(batch)) + 1
		for i, r := range batch {
			r.seq = first + uint64(i)
			if hashes != nil {
				g.log.links.put(r.subject, r.seq, hashes[i])
			}
			close(r.done)
		}
	case batchUnsupported:
		g.once.Do(func() {
			g.log.logger.Warn("streamlog: the stream does not allow atomic batches; appending one by one", "err", err)
			close(g.disabled)
		})
		g.singles(batch)
	case batchRefused:
		g.singles(batch) // nothing written: each on its own, conflicts included
	case batchMaybeEarlier:
		g.resolve(ctx, batch, msgs)
	default:
		g.fail(batch, err)
	}
}

// resolve answers each member of a batch that may have landed by its
// Msg-Id: found after its expected sequence, it is written; otherwise the
// batch did not land and the member is appended on its own.
func (g *Group) resolve(ctx context.Context, batch []*groupReq, msgs []*nats.Msg) {
	var rest []*groupReq
	for i, r := range batch {
		seq, err := g.log.resolve(ctx, r.subject, r.expected, msgs[i].Header.Get(jetstream.MsgIDHeader))
		switch {
		case err == nil:
			r.seq = seq
			if g.log.signer != nil {
				g.log.links.put(r.subject, seq, seal.Hash(msgs[i].Header, msgs[i].Data))
			}
			close(r.done)
		case errors.Is(err, ErrConflict):
			rest = append(rest, r)
		default:
			r.err = err
			close(r.done)
		}
	}
	g.singles(rest)
}

func (g *Group) fail(batch []*groupReq, err error) {
	for _, r := range batch {
		r.err = err
		close(r.done)
	}
}

// Stats reports how many atomic batches the group wrote and how many
// appends they held.
func (g *Group) Stats() (batches, appends int64) { return g.batches.Load(), g.grouped.Load() }

// Disabled reports whether the group gave up batching because the stream
// refuses atomic batches (it then appends one by one).
func (g *Group) Disabled() bool {
	select {
	case <-g.disabled:
		return true
	default:
		return false
	}
}
