package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// tally counts one client's outcomes and failures; merged after a phase.
type tally struct {
	outcomes  map[string]int64 // reply statuses (or states)
	codes     map[string]int64 // contract error codes
	transport map[string]int64 // transport failures: timeout, no_responders, other
	amount    int64            // sum of opened amounts
	firstErr  string
}

func newTally() tally {
	return tally{outcomes: map[string]int64{}, codes: map[string]int64{}, transport: map[string]int64{}}
}

func (t *tally) merge(o *tally) {
	for k, v := range o.outcomes {
		t.outcomes[k] += v
	}
	for k, v := range o.codes {
		t.codes[k] += v
	}
	for k, v := range o.transport {
		t.transport[k] += v
	}
	t.amount += o.amount
	if t.firstErr == "" {
		t.firstErr = o.firstErr
	}
}

func (t *tally) noteErr(format string, args ...any) {
	if t.firstErr == "" {
		t.firstErr = fmt.Sprintf(format, args...)
	}
}

// transportErr records a request that got no reply.
func (t *tally) transportErr(subject string, err error) {
	kind := "other"
	switch {
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		kind = "timeout"
	case errors.Is(err, nats.ErrNoResponders):
		kind = "no_responders"
	}
	t.transport[kind]++
	t.noteErr("%s: %v", subject, err)
}

// reply classifies a reply: a contract error (recorded, ok false) or a
// success whose status it returns (empty when the body has none).
func (t *tally) reply(subject string, m *nats.Msg) (status []byte, ok bool) {
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" { // no responders, as nats.go detects it
		t.transportErr(subject, nats.ErrNoResponders)
		return nil, false
	}
	if code := m.Header.Get(micro.ErrorCodeHeader); code != "" {
		c := string(jsonString(m.Data, "code"))
		if c == "" {
			c = "status_" + code
		}
		t.codes[c]++
		t.noteErr("%s: %s %s", subject, code, m.Data)
		return nil, false
	}
	return jsonString(m.Data, "status"), true
}

// client is one concurrent client: a request message and a body buffer
// reused for every request, and its own tally.
type client struct {
	nc      *nats.Conn
	timeout time.Duration
	msg     nats.Msg
	buf     []byte
	tally
}

// request sends one request and waits for its reply; a transport failure
// is recorded and returns nil.
func (c *client) request(subject string, body []byte) *nats.Msg {
	c.msg.Subject, c.msg.Data = subject, body
	m, err := c.nc.RequestMsg(&c.msg, c.timeout)
	if err != nil {
		c.transportErr(subject, err)
		return nil
	}
	return m
}

// drive runs ops 0..n-1 from cfg.Clients concurrent clients on the clients'
// connection; op reports whether it was answered (its latency counts).
// It returns when every op is done or ctx is.
func (r *runner) drive(ctx context.Context, name, unit string, n int, op func(c *client, i int) bool) (*Result, error) {
	ph := r.prog.Start(name, unit, int64(n))
	h := newHistogram(n)
	clients := min(r.cfg.Clients, n)
	tallies := make([]tally, clients)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range clients {
		wg.Go(func() {
			c := &client{nc: r.nc, timeout: r.cfg.RequestTimeout, buf: make([]byte, 0, 256), tally: newTally()}
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					break
				}
				t0 := time.Now()
				if op(c, i) {
					h.record(time.Since(t0))
				}
				ph.Add(1)
			}
			tallies[w] = c.tally
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	ph.Finish()
	t := newTally()
	for i := range tallies {
		t.merge(&tallies[i])
	}
	res := newResult(name, unit, clients, ph.Count(), elapsed, &t, h)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("bench: %s: %d of %d %s done: %w", name, ph.Count(), n, unit, err)
	}
	return res, nil
}

// burst publishes n requests at once (all sent before any reply is
// awaited) with replies to one wildcard inbox, and waits for every reply or
// until RequestTimeout after the last send. Messages are built before the
// clock starts.
func (r *runner) burst(ctx context.Context, name, unit string, n int, subject func(i int) string, body func(i int) []byte,
	onReply func(t *tally, status []byte, m *nats.Msg)) (*Result, error) {
	inbox := r.nc.NewInbox()
	msgs := make([]nats.Msg, n)
	for i := range msgs {
		msgs[i] = nats.Msg{Subject: subject(i), Reply: inbox + "." + itoa(i), Data: body(i)}
	}
	sent := make([]atomic.Int64, n)
	got := make([]atomic.Bool, n)
	h := newHistogram(n)
	ph := r.prog.Start(name, unit, int64(n))

	var mu sync.Mutex // guards t, h and last: Unsubscribe does not wait for a running handler
	t := newTally()
	var last time.Time
	all := make(chan struct{})
	var left atomic.Int64
	left.Store(int64(n))
	sub, err := r.nc.Subscribe(inbox+".*", func(m *nats.Msg) {
		now := time.Now()
		i, ok := atoi(m.Subject[len(inbox)+1:])
		if !ok || i >= n || got[i].Swap(true) {
			return // not ours, or a duplicate
		}
		mu.Lock()
		h.record(now.Sub(time.Unix(0, sent[i].Load())))
		if status, ok := t.reply(msgs[i].Subject, m); ok {
			onReply(&t, status, m)
		}
		last = now
		mu.Unlock()
		ph.Add(1)
		if left.Add(-1) == 0 {
			close(all)
		}
	})
	if err != nil {
		ph.Finish()
		return nil, fmt.Errorf("bench: %s: subscribe: %w", name, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// Replies of a burst arrive faster than the handler may take them.
	_ = sub.SetPendingLimits(-1, -1)
	if err := r.nc.Flush(); err != nil {
		ph.Finish()
		return nil, fmt.Errorf("bench: %s: flush: %w", name, err)
	}

	start := time.Now()
	for i := range msgs {
		sent[i].Store(time.Now().UnixNano())
		if err := r.nc.PublishMsg(&msgs[i]); err != nil {
			mu.Lock()
			t.transportErr(msgs[i].Subject, err)
			mu.Unlock()
			got[i].Store(true)
			ph.Add(1)
			if left.Add(-1) == 0 {
				close(all)
			}
		}
	}
	_ = r.nc.Flush()
	wait := time.NewTimer(r.cfg.RequestTimeout)
	defer wait.Stop()
	var cerr error
	select {
	case <-all:
	case <-wait.C:
	case <-ctx.Done():
		cerr = ctx.Err()
	}
	_ = sub.Unsubscribe()
	ph.Finish()

	mu.Lock()
	defer mu.Unlock()
	if missing := left.Load(); missing > 0 {
		t.transport["timeout"] += missing
		t.noteErr("%s: %d requests of the burst unanswered after %s", name, missing, r.cfg.RequestTimeout)
	}
	elapsed := last.Sub(start)
	if last.IsZero() {
		elapsed = time.Since(start)
	}
	res := newResult(name, unit, n, int64(n), elapsed, &t, h)
	if cerr != nil {
		return res, fmt.Errorf("bench: %s: %w", name, cerr)
	}
	return res, nil
}
