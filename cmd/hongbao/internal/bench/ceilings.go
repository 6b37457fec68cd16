package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// noopReply is the no-op responder's fixed body: an open reply's shape and
// size (71 bytes), so the client parses what it parses from the service.
var noopReply = []byte(`{"status":"opened","amount":1234,"index":3,"remaining_count":7,"seq":42}`)

// noopResponder answers every request on its subjects at once with
// noopReply: request/reply with nothing behind it. It has a connection of
// its own, as the service has.
type noopResponder struct {
	nc     *nats.Conn
	sub    *nats.Subscription
	prefix string // _bench.<run id>
}

func startNoop(e *env, runID string) (*noopResponder, error) {
	nc, err := e.connect("hongbao-bench-noop")
	if err != nil {
		return nil, err
	}
	n := &noopResponder{nc: nc, prefix: "_bench." + runID}
	n.sub, err = nc.Subscribe(n.prefix+".>", func(m *nats.Msg) { _ = m.Respond(noopReply) })
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("bench: no-op responder: %w", err)
	}
	if err := nc.Flush(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("bench: no-op responder: %w", err)
	}
	return n, nil
}

func (n *noopResponder) close() {
	_ = n.sub.Unsubscribe()
	n.nc.Close()
}

// syntheticIDs makes k envelope-id-sized tokens for a transport ceiling
// run without set-up envelopes.
func syntheticIDs(k int) []string {
	out := make([]string, k)
	for i := range out {
		out[i] = fmt.Sprintf("01BENCH%019d", i)
	}
	return out
}

// transport: the spread/grab request shape (a {"user":…} body to an
// envelope subject, user u<i>) from the same number of clients, answered
// by the no-op responder.
func (r *runner) transport(ctx context.Context) (*Result, error) {
	ids := r.spreadIDs
	if len(ids) == 0 {
		ids = r.grabIDs
	}
	if len(ids) == 0 {
		ids = syntheticIDs(r.cfg.Envelopes)
	}
	n := r.cfg.TransportOps
	res, t, err := r.userOps(ctx, CeilingTransport, "requests", "u", n, r.newClient(r.noop.prefix), "open", ids)
	if res == nil {
		return nil, err
	}
	res.check(fmt.Sprintf("%d answered, 0 errors", n), res.Errors == 0 && t.outcomes["opened"] == int64(n))
	return res, err
}

// transportBurst: the hot burst (same count, same bodies, one subject)
// answered by the no-op responder.
func (r *runner) transportBurst(ctx context.Context) (*Result, error) {
	id := r.hotID
	if id == "" {
		id = syntheticIDs(1)[0]
	}
	n := r.cfg.HotOpeners
	res, err := r.burst(ctx, CeilingTransportBurst, "requests", n, r.newClient(r.noop.prefix), id,
		func(i int) string { return "h" + itoa(i) }, (*tally).countOpen)
	if res == nil {
		return nil, err
	}
	res.check(fmt.Sprintf("%d answered, 0 errors", n), res.Errors == 0 && res.tally.outcomes["opened"] == int64(n))
	return res, err
}

// StorageStream is the stream the storage ceiling creates and deletes.
const StorageStream = "BENCH_RAW"

// storage: raw JetStream async publishes of StorageSize bytes, each to a
// subject of its own (bench.<n>) with Nats-Expected-Last-Subject-Sequence
// 0 — the conditional append the service makes, minus the service — with
// at most StoragePend in flight, until every ack is in.
func (r *runner) storage(ctx context.Context) (*Result, error) {
	c := &r.cfg
	n := c.StorageMsgs
	nc, err := r.env.connect("hongbao-bench-storage")
	if err != nil {
		return nil, err
	}
	defer nc.Close()

	h := newHistogram(n)
	sent := make([]atomic.Int64, n)
	ph := r.prog.Start(CeilingStorage, "msgs", int64(n))
	defer ph.Finish()
	var (
		mu   sync.Mutex // guards t
		t    = newTally()
		left atomic.Int64
		last atomic.Int64 // unix ns of the last ack
		all  = make(chan struct{})
	)
	left.Store(int64(n))
	finish := func() {
		last.Store(time.Now().UnixNano())
		ph.Add(1)
		if left.Add(-1) == 0 {
			close(all)
		}
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(c.StoragePend),
		jetstream.WithPublishAsyncTimeout(c.RequestTimeout),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
			mu.Lock()
			if i, ok := atoi(strings.TrimPrefix(m.Subject, "bench.")); ok && i < n {
				h.record(time.Duration(time.Now().UnixNano() - sent[i].Load()))
			}
			t.outcomes["stored"]++
			mu.Unlock()
			finish()
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			mu.Lock()
			t.storeErr(m.Subject, err)
			mu.Unlock()
			finish()
		}))
	if err != nil {
		return nil, fmt.Errorf("bench: storage: %w", err)
	}

	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := js.Stream(sctx, StorageStream); err == nil {
		return nil, fmt.Errorf("bench: storage: stream %s already exists on the server; delete it first (it is the benchmark's scratch stream)", StorageStream)
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("bench: storage: %w", err)
	}
	if _, err := js.CreateStream(sctx, jetstream.StreamConfig{
		Name: StorageStream, Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage, Replicas: 1,
	}); err != nil {
		return nil, fmt.Errorf("bench: storage: create stream %s: %w", StorageStream, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := js.DeleteStream(dctx, StorageStream); err != nil {
			c.logger().Warn("bench: storage: stream not deleted", "stream", StorageStream, "err", err)
		}
	}()

	payload := make([]byte, c.StorageSize)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	start := time.Now()
	published := 0
	for i := 0; i < n && ctx.Err() == nil; i++ {
		sent[i].Store(time.Now().UnixNano())
		_, err := js.PublishMsgAsync(&nats.Msg{Subject: "bench." + itoa(i), Data: payload},
			jetstream.WithExpectLastSequencePerSubject(0), jetstream.WithStallWait(c.RequestTimeout))
		if err != nil {
			mu.Lock()
			t.storeErr("bench."+itoa(i), err)
			mu.Unlock()
			finish()
		}
		published++
	}
	wait := time.NewTimer(c.RequestTimeout + time.Second) // the async timeout fails the last ones first
	defer wait.Stop()
	var cerr error
	select {
	case <-all:
	case <-wait.C:
	case <-ctx.Done():
		cerr = ctx.Err()
	}
	done := int64(n) - left.Load()
	elapsed := time.Duration(last.Load() - start.UnixNano())
	if done == 0 {
		elapsed = time.Since(start)
	}
	mu.Lock()
	defer mu.Unlock()
	if missing := int64(published) - done; missing > 0 {
		t.transport["timeout"] += missing
		t.noteErr("storage: %d acks missing", missing)
	}
	res := newResult(CeilingStorage, "msgs", c.StoragePend, int64(published), elapsed, &t, h)
	res.check(fmt.Sprintf("%d stored, 0 errors", n), res.Errors == 0 && t.outcomes["stored"] == int64(n))
	if cerr != nil {
		return res, fmt.Errorf("bench: storage: %d of %d msgs stored: %w", done, n, cerr)
	}
	return res, nil
}

// storeErr records a failed JetStream publish by its error code.
func (t *tally) storeErr(subject string, err error) {
	var apiErr *jetstream.APIError
	switch {
	case errors.As(err, &apiErr):
		t.codes[fmt.Sprintf("jetstream_%d", apiErr.ErrorCode)]++
	case errors.Is(err, jetstream.ErrAsyncPublishTimeout), errors.Is(err, jetstream.ErrTooManyStalledMsgs):
		t.transport["timeout"]++
	case errors.Is(err, jetstream.ErrNoStreamResponse):
		t.transport["no_responders"]++
	default:
		t.transport["other"]++
	}
	t.noteErr("%s: %v", subject, err)
}

// StoreReplyStream is the stream the store_reply ceiling creates and
// deletes.
const StoreReplyStream = "BENCH_SR"

// storeReply: the spread request shape from the same clients, answered by
// a responder that does only an open's I/O: for each request one
// asynchronous JetStream publish with an expected subject sequence and a
// Msg-Id to a subject of its own, then noopReply once acknowledged (one
// goroutine awaits the acks in order and replies). It is the floor under
// any service that stores each open before answering; spread ÷
// store_reply is what the service's own work costs. (A first version
// published synchronously from a goroutine per request; it ran at 0.38-0.42
// of transport where this one runs at 0.51-0.54, so it was no floor.)
func (r *runner) storeReply(ctx context.Context) (*Result, error) {
	nc, err := r.env.connect("hongbao-bench-store-reply")
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("bench: store_reply: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := js.Stream(sctx, StoreReplyStream); err == nil {
		return nil, fmt.Errorf("bench: store_reply: stream %s already exists on the server; delete it first (it is the benchmark's scratch stream)", StoreReplyStream)
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("bench: store_reply: %w", err)
	}
	if _, err := js.CreateStream(sctx, jetstream.StreamConfig{
		Name: StoreReplyStream, Subjects: []string{"benchsr.>"}, Storage: jetstream.FileStorage, Replicas: 1,
	}); err != nil {
		return nil, fmt.Errorf("bench: store_reply: create stream %s: %w", StoreReplyStream, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := js.DeleteStream(dctx, StoreReplyStream); err != nil {
			r.cfg.logger().Warn("bench: store_reply: stream not deleted", "stream", StoreReplyStream, "err", err)
		}
	}()

	payload := make([]byte, r.cfg.StorageSize)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	// Not under the no-op responder's _bench.<run id>.>, which would
	// answer first.
	prefix := "_benchsr." + r.runID
	var next atomic.Int64
	type pending struct {
		ack jetstream.PubAckFuture
		req *nats.Msg
	}
	// Buffered beyond the clients' requests in flight, so the handler
	// never waits on it.
	acks := make(chan pending, 1<<14)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			var p pending
			select {
			case p = <-acks:
			case <-stop:
				return
			}
			select {
			case <-p.ack.Ok():
				_ = p.req.Respond(noopReply)
			case <-p.ack.Err(): // no reply: the client counts a timeout
			case <-stop:
				return
			}
		}
	}()
	sub, err := nc.Subscribe(prefix+".>", func(m *nats.Msg) {
		subj := "benchsr." + itoa(int(next.Add(1)))
		f, err := js.PublishMsgAsync(&nats.Msg{Subject: subj, Data: payload},
			jetstream.WithExpectLastSequencePerSubject(0), jetstream.WithMsgID(subj))
		if err != nil {
			return // no reply: the client counts a timeout
		}
		acks <- pending{f, m}
	})
	if err != nil {
		return nil, fmt.Errorf("bench: store_reply: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		return nil, fmt.Errorf("bench: store_reply: %w", err)
	}

	ids := r.spreadIDs
	if len(ids) == 0 {
		ids = syntheticIDs(r.cfg.Envelopes)
	}
	n := r.cfg.Opens
	res, t, err := r.userOps(ctx, CeilingStoreReply, "requests", "u", n, r.newClient(prefix), "open", ids)
	if res == nil {
		return nil, err
	}
	ok := res.Errors == 0 && t.outcomes["opened"] == int64(n)
	if st, err := js.Stream(ctx, StoreReplyStream); err != nil {
		ok = false
	} else if info, err := st.Info(ctx); err != nil || info.State.Msgs != uint64(n) {
		ok = false // every answer must stand for a stored message
	}
	res.check(fmt.Sprintf("%d stored and answered, 0 errors", n), ok)
	return res, err
}
