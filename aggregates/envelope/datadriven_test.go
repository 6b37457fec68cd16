package envelope

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/hongbao/hongbao/events"
)

// TestDataDriven runs the scripts under testdata/: the rules of wrap, pay,
// grab, open, expire and cancel (design/api.md) and the split, as `given`
// events, a command, and the events it decides or the error. Refresh the
// expected output with
//
//	go test ./aggregates/envelope -run TestDataDriven -rewrite
//
// Commands (times are offsets from 2026-02-10T20:00:00Z; `at=` moves the
// script's clock, which otherwise stays where it was):
//
//	limits [min-share=1] [max-share=20000] [max-count=100] [pay-timeout=15m] [expiry=24h]
//	given              a new envelope folded from the events of the input, one per
//	                   line, each encoded and decoded as the store would
//	wrap kind=lucky|equal total=N count=N [seed=N] [sender=alice] [request=r-1] [greeting=(…)] [at=D]
//	pay payment=ID amount=N [at=D]
//	grab user=U [at=D]
//	open user=U [at=D]
//	expire [at=D]
//	cancel [at=D]
//	state              the folded state
//	bounds remaining=N n=N [min-share=1] [max-share=20000]
//	split kind=lucky|equal total=N count=N seed=N [max-share=N]
//	                   wrap, pay and open every share: each share and its bounds
//
// A decided event is applied to the state, so a script goes on from it. An
// event is written as its type and its fields:
//
//	wrapped at=0s request=r-1 sender=alice kind=lucky total=10000 count=3 seed=1 min-share=1 max-share=20000 pay-by=15m0s expiry=24h0m0s
//	paid at=1s payment=p-1 amount=10000 expires-at=24h0m1s
//	opened at=1m0s user=bob amount=5576 index=1 remaining=(4424, 2)
//	expired at=24h0m1s refund=4424 opened-count=1
//	cancelled at=15m0s reason=(pay timeout)
//
// Seeds are written as a number N (the seed whose first 8 bytes are N,
// big-endian, and the rest zero) or as 64 hex digits.
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		s := &script{limits: DefaultLimits(), now: t0, e: &Envelope{ID: id}}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return s.run(t, td)
		})
	})
}

type script struct {
	limits Limits
	now    time.Time
	e      *Envelope
}

func (s *script) run(t *testing.T, td *datadriven.TestData) string {
	if td.HasArg("at") {
		s.now = t0.Add(durationArg(t, td, "at"))
	}
	switch td.Cmd {
	case "limits":
		l := DefaultLimits()
		td.MaybeScanArgs(t, "min-share", &l.MinShare)
		td.MaybeScanArgs(t, "max-share", &l.MaxShare)
		td.MaybeScanArgs(t, "max-count", &l.MaxCount)
		if td.HasArg("pay-timeout") {
			l.PayTimeout = durationArg(t, td, "pay-timeout")
		}
		if td.HasArg("expiry") {
			l.Expiry = durationArg(t, td, "expiry")
		}
		if err := l.Validate(); err != nil {
			return "error: " + err.Error()
		}
		s.limits = l
		return fmt.Sprintf("min-share=%d max-share=%d max-count=%d pay-timeout=%s expiry=%s",
			l.MinShare, l.MaxShare, l.MaxCount, l.PayTimeout, l.Expiry)

	case "given":
		s.e = &Envelope{ID: id}
		for i, line := range strings.Split(strings.TrimSpace(td.Input), "\n") {
			if line == "" {
				continue
			}
			ev, err := parseEvent(line)
			if err != nil {
				td.Fatalf(t, "event %d: %v", i+1, err)
			}
			// As the store hands it over: encoded, then decoded strictly.
			b, err := events.Encode(ev)
			if err == nil {
				ev, err = events.Decode(b)
			}
			if err != nil {
				return fmt.Sprintf("error: event %d: %v", i+1, err)
			}
			if err := s.e.Apply(uint64(i+1), ev); err != nil {
				return "error: " + err.Error()
			}
			s.now = ev.At
		}
		return s.state()

	case "wrap":
		c := WrapCommand{RequestID: "r-1", Sender: "alice"}
		var kind string
		td.ScanArgs(t, "kind", &kind)
		c.Kind = events.Kind(kind)
		td.ScanArgs(t, "total", &c.Total)
		td.ScanArgs(t, "count", &c.Count)
		td.MaybeScanArgs(t, "sender", &c.Sender)
		td.MaybeScanArgs(t, "request", &c.RequestID)
		td.MaybeScanArgs(t, "greeting", &c.Greeting)
		seed := seedOf(1)
		if td.HasArg("seed") {
			seed = seedArg(t, td)
		}
		ev, err := Wrap(id, c, seed, s.now, s.limits)
		if err != nil {
			return "error: " + err.Error()
		}
		s.e = &Envelope{ID: id}
		return s.apply(t, &ev)

	case "pay":
		var payment string
		var amount int64
		td.ScanArgs(t, "payment", &payment)
		td.ScanArgs(t, "amount", &amount)
		ev, err := s.e.Pay(payment, amount, s.now)
		if err != nil {
			return "error: " + err.Error()
		}
		return s.apply(t, ev)

	case "grab":
		var user string
		td.ScanArgs(t, "user", &user)
		r, err := s.e.Grab(user, s.now)
		if err != nil {
			return "error: " + err.Error()
		}
		return formatResult(r)

	case "open":
		var user string
		td.ScanArgs(t, "user", &user)
		r, ev, err := s.e.Open(user, s.now)
		if err != nil {
			return "error: " + err.Error()
		}
		return formatResult(r) + "\n" + s.apply(t, ev)

	case "expire":
		return s.apply(t, s.e.Expire(s.now))

	case "cancel":
		return s.apply(t, s.e.Cancel(s.now))

	case "state":
		return s.state()

	case "bounds":
		var remaining int64
		var n int
		min, max := int64(1), int64(20000)
		td.ScanArgs(t, "remaining", &remaining)
		td.ScanArgs(t, "n", &n)
		td.MaybeScanArgs(t, "min-share", &min)
		td.MaybeScanArgs(t, "max-share", &max)
		lower, upper := Bounds(remaining, n, min, max)
		return fmt.Sprintf("[%d, %d]", lower, upper)

	case "split":
		return s.split(t, td)
	}
	td.Fatalf(t, "unknown command %q", td.Cmd)
	return ""
}

// apply applies a decided event (nil: none) to the state and writes it.
func (s *script) apply(t *testing.T, ev *events.Event) string {
	t.Helper()
	if ev == nil {
		return "no event"
	}
	// Every decided event must survive the store's encoding unchanged.
	b, err := events.Encode(*ev)
	if err != nil {
		t.Fatalf("encode %v: %v", ev, err)
	}
	back, err := events.Decode(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if err := s.e.Apply(s.e.LastSeq+1, back); err != nil {
		t.Fatalf("the aggregate refuses its own decision %s: %v", formatEvent(*ev), err)
	}
	return formatEvent(back)
}

func (s *script) state() string {
	e := s.e
	amount, count := e.Remaining()
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d events; opened %d of %d shares, %d of %d fen; left %d fen in %d shares",
		e.Status, e.Version, len(e.Opens), e.Count, e.OpenedTotal, e.Total, amount, count)
	if e.Status == StatusExpired {
		fmt.Fprintf(&b, "; refunded %d", e.Refund)
	}
	if due, ok := e.Due(); ok {
		fmt.Fprintf(&b, "\ndue at %s", due.Sub(t0))
	}
	for i, o := range e.Opens {
		fmt.Fprintf(&b, "\n%d. %s %d", i+1, o.User, o.Amount)
	}
	return b.String()
}

// split wraps, pays and opens a whole envelope, writing every share with
// the bounds it was drawn in.
func (s *script) split(t *testing.T, td *datadriven.TestData) string {
	var kind string
	var total int64
	var count int
	td.ScanArgs(t, "kind", &kind)
	td.ScanArgs(t, "total", &total)
	td.ScanArgs(t, "count", &count)
	l := DefaultLimits()
	td.MaybeScanArgs(t, "max-share", &l.MaxShare)
	ev, err := Wrap(id, WrapCommand{RequestID: "r-1", Sender: "alice", Kind: events.Kind(kind), Total: total, Count: count}, seedArg(t, td), t0, l)
	if err != nil {
		return "error: " + err.Error()
	}
	e := &Envelope{ID: id}
	must(t, e.Apply(1, ev))
	p, err := e.Pay("p-1", total, t0)
	must(t, err)
	must(t, e.Apply(2, *p))
	var b strings.Builder
	var sum int64
	for i := 1; e.Status == StatusLive; i++ {
		remaining, n := e.Remaining()
		lower, upper := Bounds(remaining, n, e.MinShare, e.MaxShare)
		r, ev, err := e.Open(fmt.Sprintf("u%d", i), t0)
		must(t, err)
		must(t, e.Apply(e.LastSeq+1, *ev))
		sum += r.Amount
		if kind == string(events.KindEqual) {
			fmt.Fprintf(&b, "%d: %d\n", i, r.Amount)
		} else {
			fmt.Fprintf(&b, "%d: %d in [%d, %d] of %d/%d\n", i, r.Amount, lower, upper, remaining, n)
		}
	}
	fmt.Fprintf(&b, "sum %d", sum)
	return b.String()
}

func formatResult(r Result) string {
	switch r.Outcome {
	case OutcomeOpened:
		return fmt.Sprintf("%s amount=%d index=%d remaining-count=%d", r.Outcome, r.Amount, r.Index, r.RemainingCount)
	case OutcomeAlreadyOpened:
		return fmt.Sprintf("%s amount=%d index=%d", r.Outcome, r.Amount, r.Index)
	}
	return r.Outcome.String()
}

func formatEvent(ev events.Event) string {
	at := "at=" + ev.At.Sub(t0).String()
	switch d := ev.Data.(type) {
	case events.Wrapped:
		g := ""
		if d.Greeting != "" {
			g = " greeting=(" + d.Greeting + ")"
		}
		return fmt.Sprintf("wrapped %s request=%s sender=%s kind=%s total=%d count=%d seed=%s min-share=%d max-share=%d pay-by=%s expiry=%s%s",
			at, d.RequestID, d.Sender, d.Kind, d.Total, d.Count, formatSeed(d.Seed), d.MinShare, d.MaxShare, d.PayBy.Sub(t0), d.Expiry, g)
	case events.Paid:
		return fmt.Sprintf("paid %s payment=%s amount=%d expires-at=%s", at, d.PaymentID, d.Amount, d.ExpiresAt.Sub(t0))
	case events.Opened:
		return fmt.Sprintf("opened %s user=%s amount=%d index=%d remaining=(%d, %d)", at, d.User, d.Amount, d.Index, d.RemainingAmount, d.RemainingCount)
	case events.Expired:
		return fmt.Sprintf("expired %s refund=%d opened-count=%d", at, d.Refund, d.OpenedCount)
	case events.Cancelled:
		return fmt.Sprintf("cancelled %s reason=(%s)", at, d.Reason)
	default:
		panic(fmt.Sprintf("unknown payload %T", ev.Data))
	}
}

// parseEvent reads an event as formatEvent writes it.
func parseEvent(line string) (events.Event, error) {
	typ, args, err := datadriven.ParseLine(line)
	if err != nil {
		return events.Event{}, err
	}
	vals := map[string][]string{}
	for _, a := range args {
		vals[a.Key] = a.Vals
	}
	var errs []string
	str := func(k string) string {
		v, ok := vals[k]
		if !ok || len(v) != 1 {
			errs = append(errs, fmt.Sprintf("%s: want one value", k))
			return ""
		}
		delete(vals, k)
		return v[0]
	}
	optional := func(k string) string {
		if _, ok := vals[k]; !ok {
			return ""
		}
		return str(k)
	}
	num := func(k string) int64 {
		n, err := strconv.ParseInt(str(k), 10, 64)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", k, err))
		}
		return n
	}
	dur := func(k string) time.Duration {
		d, err := time.ParseDuration(str(k))
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", k, err))
		}
		return d
	}
	at := t0.Add(dur("at"))
	var p events.Payload
	switch typ {
	case "wrapped":
		seed, err := parseSeed(str("seed"))
		if err != nil {
			errs = append(errs, err.Error())
		}
		p = events.Wrapped{RequestID: str("request"), Sender: str("sender"), Kind: events.Kind(str("kind")),
			Total: num("total"), Count: int(num("count")), Greeting: optional("greeting"), Seed: seed,
			MinShare: num("min-share"), MaxShare: num("max-share"), PayBy: t0.Add(dur("pay-by")), Expiry: dur("expiry")}
	case "paid":
		p = events.Paid{PaymentID: str("payment"), Amount: num("amount"), ExpiresAt: t0.Add(dur("expires-at"))}
	case "opened":
		o := events.Opened{User: str("user"), Amount: num("amount"), Index: int(num("index"))}
		if rem := vals["remaining"]; len(rem) == 2 {
			delete(vals, "remaining")
			a, err1 := strconv.ParseInt(rem[0], 10, 64)
			c, err2 := strconv.Atoi(rem[1])
			if err1 != nil || err2 != nil {
				errs = append(errs, fmt.Sprintf("remaining=%v", rem))
			}
			o.RemainingAmount, o.RemainingCount = a, c
		} else {
			errs = append(errs, "remaining: want (amount, count)")
		}
		p = o
	case "expired":
		p = events.Expired{Refund: num("refund"), OpenedCount: int(num("opened-count"))}
	case "cancelled":
		p = events.Cancelled{Reason: str("reason")}
	default:
		return events.Event{}, fmt.Errorf("unknown event type %q", typ)
	}
	for k := range vals {
		errs = append(errs, "unknown field "+k)
	}
	if len(errs) > 0 {
		return events.Event{}, fmt.Errorf("%s: %s", line, strings.Join(errs, "; "))
	}
	return events.New(id, at, p), nil
}

func durationArg(t *testing.T, td *datadriven.TestData, key string) time.Duration {
	var s string
	td.ScanArgs(t, key, &s)
	d, err := time.ParseDuration(s)
	if err != nil {
		td.Fatalf(t, "%s: %v", key, err)
	}
	return d
}

func seedArg(t *testing.T, td *datadriven.TestData) events.Seed {
	var s string
	td.ScanArgs(t, "seed", &s)
	seed, err := parseSeed(s)
	if err != nil {
		td.Fatalf(t, "%v", err)
	}
	return seed
}

// seedOf is the seed whose first 8 bytes are n, big-endian.
func seedOf(n uint64) events.Seed {
	var s events.Seed
	binary.BigEndian.PutUint64(s[:8], n)
	return s
}

func parseSeed(s string) (events.Seed, error) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return seedOf(n), nil
	}
	var seed events.Seed
	if b, err := hex.DecodeString(s); err != nil || len(b) != len(seed) {
		return seed, fmt.Errorf("seed %q: want a number or %d hex digits", s, 2*len(seed))
	}
	_ = seed.UnmarshalText([]byte(s))
	return seed, nil
}

func formatSeed(s events.Seed) string {
	if [24]byte(s[8:]) == [24]byte{} {
		return strconv.FormatUint(binary.BigEndian.Uint64(s[:8]), 10)
	}
	return hex.EncodeToString(s[:])
}
