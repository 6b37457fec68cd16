package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	hb "github.com/hongbao/hongbao/client"
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

// transportErr records a request that got no reply; subject is empty when
// err names it already (the client's errors do).
func (t *tally) transportErr(subject string, err error) {
	kind := "other"
	switch {
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		kind = "timeout"
	case errors.Is(err, nats.ErrNoResponders):
		kind = "no_responders"
	}
	t.transport[kind]++
	if subject == "" {
		t.noteErr("%v", err)
	} else {
		t.noteErr("%s: %v", subject, err)
	}
}

// failed records a call of the client that failed: a contract error (by
// its machine code), a reply the client could not decode, or a transport
// failure. answered reports that a reply came (its latency counts).
func (t *tally) failed(err error) (answered bool) {
	var e *hb.Error
	switch {
	case errors.As(err, &e):
		t.codes[e.Code]++
	case errors.Is(err, hb.ErrInvalidReply):
		t.codes["unexpected_reply"]++
	default:
		t.transportErr("", err)
		return false
	}
	t.noteErr("%v", err)
	return true
}

// newClient is the service's client (package client) as every request of
// the benchmark uses it, on the clients' connection: prefix is the
// service's, or a ceiling responder's; each call is bounded by
// RequestTimeout and sent once (a retry would hide the answers counted).
func (r *runner) newClient(prefix string) *hb.Client {
	return hb.New(r.nc, hb.WithPrefix(prefix), hb.WithTimeout(r.cfg.RequestTimeout), hb.WithRetry(hb.NoRetry))
}

// client is one concurrent client and its own tally. Calls pass
// context.Background(): the client's timeout bounds each, and drive checks
// the run's context between them, so no context is made per request.
type client struct {
	tally
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
			c := &client{tally: newTally()}
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

// burst publishes n opens at once (all sent before any reply is awaited)
// with replies to one wildcard inbox, and waits for every reply or until
// RequestTimeout after the last send. The client builds the requests
// (OpenRequest, before the clock starts) and decodes the replies
// (ParseOpenReply): a synchronous call cannot publish them all first.
func (r *runner) burst(ctx context.Context, name, unit string, n int, cl *hb.Client, id string, user func(i int) string,
	onReply func(t *tally, o hb.OpenResult)) (*Result, error) {
	inbox := r.nc.NewInbox()
	msgs := make([]*nats.Msg, n)
	for i := range msgs {
		msgs[i] = cl.OpenRequest(id, user(i))
		msgs[i].Reply = inbox + "." + itoa(i)
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
		if o, err := hb.ParseOpenReply(m); err != nil {
			t.failed(fmt.Errorf("%s: %w", msgs[i].Subject, err))
		} else {
			onReply(&t, o)
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
		if err := r.nc.PublishMsg(msgs[i]); err != nil {
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
