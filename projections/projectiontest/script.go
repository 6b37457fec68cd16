package projectiontest

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/hongbao/hongbao/events"
)

// Start is when a script's first event happens unless it says otherwise.
var Start = time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC)

// ID is the envelope id of a short name: the name padded into a ULID.
func ID(name string) string { return "01JQ" + strings.Repeat("0", 22-len(name)) + name }

// Envelope is what a script knows of one of its envelopes.
type Envelope struct {
	Name, ID, Sender string
	Kind             events.Kind
	Total            int64
	Count            int
	Opened           int
	OpenedTotal      int64
	LastSeq          uint64 // stream sequence of its last event; 0 before the first
}

// Script parses events in the text form (see the package doc), keeping
// the envelopes' state from which the omitted fields are derived.
type Script struct {
	now     time.Time // of the last event; Start before the first
	started bool
	envs    map[string]*Envelope // by id
}

// NewScript starts a script at Start with no envelopes.
func NewScript() *Script { return &Script{now: Start, envs: map[string]*Envelope{}} }

// Envelope returns the script's envelope of id (nil when unknown).
func (s *Script) Envelope(id string) *Envelope { return s.envs[id] }

// Name is the short name of an envelope id (the id itself when the script
// did not name it).
func (s *Script) Name(id string) string {
	if e := s.envs[id]; e != nil {
		return e.Name
	}
	return id
}

// Parse reads the events of input, one a line (blank lines and lines
// starting with # are skipped), deriving what they omit, and advances the
// script's state as if they had been stored.
func (s *Script) Parse(input string) ([]events.Event, error) {
	var out []events.Event
	for i, line := range strings.Split(input, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ev, err := s.parse(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", i+1, line, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

func (s *Script) parse(line string) (events.Event, error) {
	typ, args, err := datadriven.ParseLine(line)
	if err != nil {
		return events.Event{}, err
	}
	vals := map[string][]string{}
	for _, a := range args {
		vals[a.Key] = a.Vals
	}
	var errs []string
	str := func(k, def string) string {
		v, ok := vals[k]
		if !ok {
			return def
		}
		delete(vals, k)
		if len(v) != 1 {
			errs = append(errs, k+": want one value")
			return def
		}
		return v[0]
	}
	num := func(k string, def int64) int64 {
		v := str(k, "")
		if v == "" {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", k, err))
		}
		return n
	}
	instant := func(k string, def, base time.Time) time.Time {
		v := str(k, "")
		if v == "" {
			return def
		}
		t, err := parseTime(v, base)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", k, err))
		}
		return t
	}

	name := str("env", "")
	if name == "" || len(name) > 22 || strings.Trim(name, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") != "" {
		return events.Event{}, fmt.Errorf("env=%q: want 1 to 22 characters of Crockford base32, upper case", name)
	}
	id := ID(name)
	next := s.now.Add(time.Second)
	if !s.started {
		next = s.now
	}
	at := instant("at", next, s.now)
	e := s.envs[id]
	if typ != string(events.TypeWrapped) && e == nil {
		return events.Event{}, fmt.Errorf("envelope %s was never wrapped", name)
	}

	var p events.Payload
	switch events.Type(typ) {
	case events.TypeWrapped:
		w := events.Wrapped{RequestID: "r-" + name, Sender: str("sender", "alice"), Kind: events.Kind(str("kind", "lucky")),
			Total: num("total", 0), Count: int(num("count", 0)), Greeting: str("greeting", ""),
			MinShare: 1, MaxShare: 20000, PayBy: at.Add(15 * time.Minute), Expiry: 24 * time.Hour}
		p = w
		e = &Envelope{Name: name, ID: id, Sender: w.Sender, Kind: w.Kind, Total: w.Total, Count: w.Count}
	case events.TypePaid:
		p = events.Paid{PaymentID: "p-" + name, Amount: num("amount", e.Total), ExpiresAt: instant("expires-at", at.Add(24*time.Hour), at)}
	case events.TypeOpened:
		var def int64
		if e.Kind == events.KindEqual {
			def = e.Total / int64(e.Count)
		}
		o := events.Opened{User: str("user", ""), Amount: num("amount", def), Index: e.Opened + 1}
		o.RemainingAmount, o.RemainingCount = e.Total-e.OpenedTotal-o.Amount, e.Count-o.Index
		p = o
	case events.TypeExpired:
		p = events.Expired{Refund: num("refund", e.Total-e.OpenedTotal), OpenedCount: e.Opened}
	case events.TypeCancelled:
		p = events.Cancelled{Reason: str("reason", "pay timeout")}
	default:
		return events.Event{}, fmt.Errorf("unknown event type %q", typ)
	}
	for k := range vals {
		errs = append(errs, "unknown field "+k)
	}
	if len(errs) > 0 {
		return events.Event{}, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	ev := events.New(id, at, p)
	if _, err := events.Encode(ev); err != nil {
		return events.Event{}, err
	}
	// The event is good: the script's state moves on.
	s.now, s.started = at, true
	if o, ok := p.(events.Opened); ok {
		e.Opened, e.OpenedTotal = o.Index, e.OpenedTotal+o.Amount
	}
	s.envs[id] = e
	return ev, nil
}

// parseTime reads an RFC 3339 instant or +duration after base.
func parseTime(v string, base time.Time) (time.Time, error) {
	if d, ok := strings.CutPrefix(v, "+"); ok {
		dur, err := time.ParseDuration(d)
		return base.Add(dur), err
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	return t.UTC(), err
}

// Time prints an instant as scripts write it: RFC 3339 in UTC.
func Time(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Format prints an event in the text form, every field spelled out.
func (s *Script) Format(ev events.Event) string {
	head := fmt.Sprintf("%s env=%s at=%s", ev.Type, s.Name(ev.EnvelopeID), Time(ev.At))
	switch d := ev.Data.(type) {
	case events.Wrapped:
		g := ""
		if d.Greeting != "" {
			g = " greeting=(" + d.Greeting + ")"
		}
		return fmt.Sprintf("%s sender=%s kind=%s total=%d count=%d%s", head, d.Sender, d.Kind, d.Total, d.Count, g)
	case events.Paid:
		return fmt.Sprintf("%s amount=%d expires-at=%s", head, d.Amount, Time(d.ExpiresAt))
	case events.Opened:
		return fmt.Sprintf("%s user=%s amount=%d index=%d remaining=(%d, %d)", head, d.User, d.Amount, d.Index, d.RemainingAmount, d.RemainingCount)
	case events.Expired:
		return fmt.Sprintf("%s refund=%d opened-count=%d", head, d.Refund, d.OpenedCount)
	case events.Cancelled:
		return fmt.Sprintf("%s reason=(%s)", head, d.Reason)
	default:
		panic(fmt.Sprintf("projectiontest: unknown payload %T", ev.Data))
	}
}
