package bench

import (
	"context"
	"fmt"

	"github.com/hongbao/hongbao/api"
	hb "github.com/hongbao/hongbao/client"
)

// sender of every envelope the benchmark wraps.
const sender = "bench"

// setupEnvelopes wraps and pays n envelopes of count shares (100 fen a
// share on average for hot, cfg.Total otherwise) from the clients, and
// returns their ids and the seconds it took. It is not measured; any
// failure fails the run, since the scenario would measure something else.
func (r *runner) setupEnvelopes(ctx context.Context, name, tag string, n, count int) ([]string, float64, error) {
	total := r.cfg.Total
	if tag == "h" {
		total = 100 * count
	}
	ids := make([]string, n)
	res, err := r.drive(ctx, name, "envelopes", n, func(c *client, i int) bool {
		id, answered := r.wrapPay(c, tag, i, count, total)
		ids[i] = id
		return answered
	})
	if err != nil {
		return nil, 0, err
	}
	if res.Errors > 0 {
		return nil, 0, fmt.Errorf("bench: %s: %d of %d envelopes not wrapped and paid (%s)", name, res.Errors, n, res.FirstError)
	}
	return ids, res.Seconds, nil
}

// wrapPay wraps one lucky envelope and pays it; ok is false when either
// step failed (recorded in c). answered reports that replies came.
func (r *runner) wrapPay(c *client, tag string, i, count, total int) (id string, answered bool) {
	ctx := context.Background() // see client
	w, err := r.hb.Wrap(ctx, hb.WrapRequest{RequestID: "b" + r.runID + "-" + tag + itoa(i), Sender: sender,
		Kind: hb.Lucky, Total: int64(total), Count: count})
	if err != nil {
		return "", c.failed(err)
	}
	if w.State != hb.StateWrapped {
		c.unexpected("wrap", w)
		return "", true
	}
	p, err := r.hb.Pay(ctx, w.EnvelopeID, "p-"+w.EnvelopeID, int64(total))
	if err != nil {
		return "", c.failed(err)
	}
	if p.State != hb.StateLive {
		c.unexpected("pay "+w.EnvelopeID, p)
		return "", true
	}
	c.outcomes[string(p.State)]++
	return w.EnvelopeID, true
}

// unexpected records a successful reply of the wrong shape as an error.
func (t *tally) unexpected(what string, reply any) {
	t.codes["unexpected_reply"]++
	t.noteErr("%s: unexpected reply %+v", what, reply)
}

// countOpen records the status of an open and sums opened amounts.
func (t *tally) countOpen(o hb.OpenResult) {
	t.outcomes[string(o.Status)]++ // the client's constants: no allocation
	if o.Status == hb.StatusOpened {
		t.amount += o.Amount
	}
}

// userOps drives n single-user requests, opens or grabs (verb), through
// cl round-robin over ids: op i goes to ids[i%len] as user <tag><i>, so
// consecutive requests hit different envelopes and no user repeats.
func (r *runner) userOps(ctx context.Context, name, unit, tag string, n int, cl *hb.Client, verb string, ids []string) (*Result, *tally, error) {
	var merged *tally
	grab := verb == "grab"
	res, err := r.drive(ctx, name, unit, n, func(c *client, i int) bool {
		id, user := ids[i%len(ids)], tag+itoa(i)
		if grab {
			g, err := cl.Grab(context.Background(), id, user)
			if err != nil {
				return c.failed(err)
			}
			c.outcomes[string(g.Status)]++
			return true
		}
		o, err := cl.Open(context.Background(), id, user)
		if err != nil {
			return c.failed(err)
		}
		c.countOpen(o)
		return true
	})
	if res != nil {
		merged = res.tally
	}
	return res, merged, err
}

// spread: opens spread over the set-up envelopes by distinct users.
func (r *runner) spread(ctx context.Context) (*Result, error) {
	c := &r.cfg
	res, t, err := r.userOps(ctx, ScenarioSpread, "opens", "u", c.Opens, r.hb, "open", r.spreadIDs)
	if res == nil {
		return nil, err
	}
	// Envelope e gets the opens i with i%E == e: the first Count of them
	// open, the rest find it exhausted.
	e := len(r.spreadIDs)
	var opened int64
	full := true
	for env := range e {
		got := c.Opens / e
		if env < c.Opens%e {
			got++
		}
		opened += int64(min(got, c.Count))
		full = full && got >= c.Count
	}
	want := fmt.Sprintf("%d opened, %d exhausted, 0 errors", opened, int64(c.Opens)-opened)
	ok := res.Errors == 0 && t.outcomes[api.StatusOpened] == opened && t.outcomes[api.StatusExhausted] == int64(c.Opens)-opened
	if full {
		want += fmt.Sprintf(", %d fen opened in all", int64(e)*int64(c.Total))
		ok = ok && t.amount == int64(e)*int64(c.Total)
	}
	res.check(want, ok)
	return res, err
}

// grab: read-only grabs on live envelopes by users who never opened.
func (r *runner) grab(ctx context.Context) (*Result, error) {
	res, t, err := r.userOps(ctx, ScenarioGrab, "grabs", "g", r.cfg.Grabs, r.hb, "grab", r.grabIDs)
	if res == nil {
		return nil, err
	}
	n := int64(r.cfg.Grabs)
	res.check(fmt.Sprintf("%d can_open, 0 errors", n), res.Errors == 0 && t.outcomes[api.StatusCanOpen] == n)
	return res, err
}

// wrap: wrap + pay pairs, each measured as one operation.
func (r *runner) wrap(ctx context.Context) (*Result, error) {
	n := r.cfg.Wraps
	res, err := r.drive(ctx, ScenarioWrap, "pairs", n, func(c *client, i int) bool {
		_, answered := r.wrapPay(c, "w", i, r.cfg.Count, r.cfg.Total)
		return answered
	})
	if res == nil {
		return nil, err
	}
	res.check(fmt.Sprintf("%d live, 0 errors", n), res.Errors == 0 && res.tally.outcomes[api.StateLive] == int64(n))
	return res, err
}

// hot: every opener of one envelope at once. Exactly HotCount open (and
// share the whole total), the rest find it exhausted.
func (r *runner) hot(ctx context.Context) (*Result, error) {
	c := &r.cfg
	res, err := r.burst(ctx, ScenarioHot, "opens", c.HotOpeners, r.hb, r.hotID,
		func(i int) string { return "h" + itoa(i) }, (*tally).countOpen)
	if res == nil {
		return nil, err
	}
	opened := int64(min(c.HotCount, c.HotOpeners))
	exhausted := int64(c.HotOpeners) - opened
	t := res.tally
	want := fmt.Sprintf("%d opened, %d exhausted, 0 errors", opened, exhausted)
	ok := res.Errors == 0 && t.outcomes[api.StatusOpened] == opened && t.outcomes[api.StatusExhausted] == exhausted
	if opened == int64(c.HotCount) {
		want += fmt.Sprintf(", %d fen opened in all", 100*c.HotCount)
		ok = ok && t.amount == int64(100*c.HotCount)
	}
	res.check(want, ok)
	return res, err
}
