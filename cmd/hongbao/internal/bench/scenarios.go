package bench

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/api"
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
	b := append(c.buf[:0], `{"request_id":"b`...)
	b = append(b, r.runID...)
	b = append(b, '-')
	b = append(b, tag...)
	b = appendInt(b, int64(i))
	b = append(b, `","sender":"`+sender+`","kind":"lucky","total":`...)
	b = appendInt(b, int64(total))
	b = append(b, `,"count":`...)
	b = appendInt(b, int64(count))
	b = append(b, '}')
	c.buf = b
	subject := r.cfg.Prefix + ".wrap"
	m := c.request(subject, b)
	if m == nil {
		return "", false
	}
	if _, ok := c.reply(subject, m); !ok {
		return "", true
	}
	var w api.WrapReply
	if err := json.Unmarshal(m.Data, &w); err != nil || w.State != api.StateWrapped || !api.ValidEnvelopeID(w.EnvelopeID) {
		c.unexpected(subject, m)
		return "", true
	}

	subject = r.cfg.Prefix + ".pay." + w.EnvelopeID
	b = append(c.buf[:0], `{"payment_id":"p-`...)
	b = append(b, w.EnvelopeID...)
	b = append(b, `","amount":`...)
	b = appendInt(b, int64(total))
	b = append(b, '}')
	c.buf = b
	if m = c.request(subject, b); m == nil {
		return "", true
	}
	if _, ok := c.reply(subject, m); !ok {
		return "", true
	}
	var p api.PayReply
	if err := json.Unmarshal(m.Data, &p); err != nil || p.State != api.StateLive {
		c.unexpected(subject, m)
		return "", true
	}
	c.outcomes[p.State]++
	return w.EnvelopeID, true
}

// unexpected records a successful reply of the wrong shape as an error.
func (t *tally) unexpected(subject string, m *nats.Msg) {
	t.codes["unexpected_reply"]++
	t.noteErr("%s: unexpected reply %s", subject, m.Data)
}

// countOpen records the status of an open (or grab) reply and sums opened
// amounts.
func (t *tally) countOpen(status []byte, m *nats.Msg) {
	t.outcomes[intern(status)]++
	if string(status) == api.StatusOpened {
		if a, ok := jsonInt(m.Data, "amount"); ok {
			t.amount += a
		}
	}
}

// subjects returns prefix.verb.<id> for every id.
func (r *runner) subjects(verb string, ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = r.cfg.Prefix + "." + verb + "." + id
	}
	return out
}

// userOps drives n single-user requests (opens or grabs) round-robin over
// subjects: op i goes to subjects[i%len] as user <tag><i>, so consecutive
// requests hit different envelopes and no user repeats.
func (r *runner) userOps(ctx context.Context, name, unit, tag string, n int, subjects []string) (*Result, *tally, error) {
	var merged *tally
	res, err := r.drive(ctx, name, unit, n, func(c *client, i int) bool {
		c.buf = appendUserBody(c.buf[:0], tag, i)
		s := subjects[i%len(subjects)]
		m := c.request(s, c.buf)
		if m == nil {
			return false
		}
		if status, ok := c.reply(s, m); ok {
			c.countOpen(status, m)
		}
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
	res, t, err := r.userOps(ctx, ScenarioSpread, "opens", "u", c.Opens, r.subjects("open", r.spreadIDs))
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
	res, t, err := r.userOps(ctx, ScenarioGrab, "grabs", "g", r.cfg.Grabs, r.subjects("grab", r.grabIDs))
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
	subject := r.cfg.Prefix + ".open." + r.hotID
	res, err := r.burst(ctx, ScenarioHot, "opens", c.HotOpeners,
		func(int) string { return subject },
		func(i int) []byte { return appendUserBody(nil, "h", i) },
		func(t *tally, status []byte, m *nats.Msg) { t.countOpen(status, m) })
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

// intern returns the contract's constant for a known status, so that
// counting one does not allocate a string.
func intern(status []byte) string {
	switch string(status) {
	case api.StatusOpened:
		return api.StatusOpened
	case api.StatusAlreadyOpened:
		return api.StatusAlreadyOpened
	case api.StatusExhausted:
		return api.StatusExhausted
	case api.StatusExpired:
		return api.StatusExpired
	case api.StatusCanOpen:
		return api.StatusCanOpen
	case api.StatusNotLive:
		return api.StatusNotLive
	}
	return string(status)
}
