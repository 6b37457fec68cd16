package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hongbao/hongbao/client"
)

// An app back end connects with the URL and the client credentials it was
// given, wraps an envelope, and the payment notifier confirms the payment.
func ExampleConnect() {
	c, err := client.Connect(natsURL, credsFile)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	w, err := c.Wrap(ctx, client.WrapRequest{Sender: "alice", Kind: client.Equal, Total: 1000, Count: 5, Greeting: "恭喜发财"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("wrap:", w.State, w.Total, w.Count, w.Kind)
	p, err := c.Pay(ctx, w.EnvelopeID, "pay-"+w.EnvelopeID, 1000)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pay:", p.State, p.ExpiresAt.After(time.Now()))
	// Output:
	// wrap: wrapped 1000 5 equal
	// pay: live true
}

var runs atomic.Int64

// user names a user of this run of the examples only, so that they print
// the same when run again against the same instance (go test -count).
func user(name string) string { return name + "-" + strconv.FormatInt(runs.Add(1), 10) }

// newEnvelope wraps and pays an equal envelope of alice's.
func newEnvelope(ctx context.Context, c *client.Client, total int64, count int) string {
	w, err := c.Wrap(ctx, client.WrapRequest{Sender: "alice", Kind: client.Equal, Total: total, Count: count})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Pay(ctx, w.EnvelopeID, "pay-"+w.EnvelopeID, total); err != nil {
		log.Fatal(err)
	}
	return w.EnvelopeID
}

// Grab is the cheap question before the animation; Open takes the share.
// Business outcomes are statuses, not errors.
func ExampleClient_Open() {
	c, err := client.Connect(natsURL, credsFile)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background() // the client's timeout (5 s) bounds each call
	id := newEnvelope(ctx, c, 300, 2)

	g, _ := c.Grab(ctx, id, "bob")
	fmt.Println("grab:", g.Status)
	o, err := c.Open(ctx, id, "bob")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("open:", o.Status, o.Amount, "index", o.Index, "left", o.RemainingCount)
	again, _ := c.Open(ctx, id, "bob")
	fmt.Println("again:", again.Status, again.Amount)
	last, _ := c.Open(ctx, id, "carol")
	fmt.Println("carol:", last.Status, last.Amount, "left", last.RemainingCount)
	late, _ := c.Open(ctx, id, "dave")
	fmt.Println("dave:", late.Status)
	// Output:
	// grab: can_open
	// open: opened 150 index 1 left 1
	// again: already_opened 150
	// carol: opened 150 left 0
	// dave: exhausted
}

// Read-your-writes: the Seq of an open, passed to Get (GetAfter) or the
// user lists (AfterSeq), makes the reply reflect that open.
func ExampleClient_GetAfter() {
	c, err := client.Connect(natsURL, credsFile)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	id := newEnvelope(ctx, c, 200, 2)
	erin := user("erin") // a user of this run only: the examples may run again
	o1, _ := c.Open(ctx, id, erin)
	o2, _ := c.Open(ctx, id, user("frank"))

	g, err := c.GetAfter(ctx, id, o2.Seq)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(g.Envelope.State, g.Envelope.OpenedCount, g.Envelope.OpenedTotal)
	for _, op := range g.Opens {
		fmt.Println(op.Index, op.User == erin, op.Amount, op.BestLuck)
	}
	r, err := c.UserReceived(ctx, erin, client.AfterSeq(o1.Seq))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("erin received", r.Totals.Count, r.Items[0].Amount, r.Items[0].EnvelopeID == id)
	// Output:
	// finished 2 200
	// 1 true 100 true
	// 2 false 100 false
	// erin received 1 100 true
}

// Errors are *client.Error values with the contract's machine code;
// errors.Is matches them against the sentinels.
func ExampleError() {
	c, err := client.Connect(natsURL, credsFile)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	_, err = c.Get(ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV")
	fmt.Println(errors.Is(err, client.ErrNotFound))
	_, err = c.Wrap(ctx, client.WrapRequest{Sender: "alice", Kind: client.Lucky, Total: 100, Count: 0})
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Code)
	}
	// Output:
	// true
	// 400 invalid_count
}

// A wallet is credited asynchronously after an open (outbox, then
// ledger): poll it.
func ExampleClient_Wallet() {
	c, err := client.Connect(natsURL, credsFile)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := newEnvelope(ctx, c, 500, 1)
	grace := user("grace")
	if _, err := c.Open(ctx, id, grace); err != nil {
		log.Fatal(err)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		w, err := c.Wallet(ctx, grace)
		if err != nil {
			log.Fatal(err)
		}
		if w.Balance > 0 {
			fmt.Println(w.Balance, w.Entries[0].Kind, w.Entries[0].EnvelopeID == id)
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			log.Fatal(ctx.Err())
		}
	}
	// Output:
	// 500 open true
}

// A sender's sent list shows what became of each envelope.
func ExampleClient_UserSent() {
	c, err := client.Connect(natsURL, credsFile)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	heidi := user("heidi")
	w, err := c.Wrap(ctx, client.WrapRequest{Sender: heidi, Kind: client.Lucky, Total: 1000, Count: 3})
	if err != nil {
		log.Fatal(err)
	}
	o, err := func() (client.OpenResult, error) {
		if _, err := c.Pay(ctx, w.EnvelopeID, "p-"+w.EnvelopeID, 1000); err != nil {
			return client.OpenResult{}, err
		}
		return c.Open(ctx, w.EnvelopeID, "ivan")
	}()
	if err != nil {
		log.Fatal(err)
	}
	s, err := c.UserSent(ctx, heidi, client.AfterSeq(o.Seq), client.Limit(10))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(s.Items), s.Items[0].State, s.Items[0].Total, s.Items[0].OpenedCount, s.Totals.Count)
	// Output:
	// 1 live 1000 1 1
}
