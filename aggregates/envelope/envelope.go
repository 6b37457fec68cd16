package envelope

import (
	"errors"
	"fmt"
	"time"

	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/internal/invariants"
)

// ErrCorrupt marks an event that cannot follow the state it is applied to:
// the stream holds something this aggregate would never have decided.
var ErrCorrupt = errors.New("envelope: corrupt event stream")

// Status is where an envelope is in its life.
type Status uint8

// The statuses. The zero value is an envelope with no events.
const (
	StatusNone Status = iota
	StatusWrapped
	StatusLive
	StatusFinished
	StatusExpired
	StatusCancelled
)

// statusNames are the names of the statuses: the states of the contract
// (api.md, Lifecycle; api.State*) and of the read models' rows.
var statusNames = [...]string{"none", "wrapped", "live", "finished", "expired", "cancelled"}

// String is the status's name: "wrapped", "live", "finished", "expired",
// "cancelled" (and "none"), as replies and read models write it.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", s)
}

// ParseStatus returns the status named name (Status.String).
func ParseStatus(name string) (Status, error) {
	for i, n := range statusNames {
		if n == name {
			return Status(i), nil
		}
	}
	return StatusNone, fmt.Errorf("envelope: unknown status %q", name)
}

// Terminal reports whether no command can change the envelope any more.
func (s Status) Terminal() bool {
	return s == StatusFinished || s == StatusExpired || s == StatusCancelled
}

// Share is one open: who, how much, when, and the stream sequence of its
// Opened event. Its index is its position in Envelope.Opens plus one.
type Share struct {
	User   string
	Amount int64
	At     time.Time
	Seq    uint64
}

// Envelope is the state of one envelope: the fold of its events.
type Envelope struct {
	ID        string
	RequestID string
	Sender    string
	Kind      events.Kind
	Total     int64
	Count     int
	Greeting  string
	Seed      events.Seed
	MinShare  int64
	MaxShare  int64
	CreatedAt time.Time
	PayBy     time.Time
	Expiry    time.Duration

	Status    Status
	PaymentID string
	PaidAt    time.Time
	ExpiresAt time.Time
	EndedAt   time.Time // finished, expired or cancelled

	Opens       []Share
	OpenedTotal int64
	Refund      int64

	// Version counts the events applied; LastSeq is the stream sequence of
	// the last one (the expected sequence of the next append).
	Version int
	LastSeq uint64
}

// Remaining is what is left to open: fen and shares.
func (e *Envelope) Remaining() (amount int64, count int) {
	return e.Total - e.OpenedTotal - e.Refund, e.Count - len(e.Opens)
}

// Opened returns the user's open and its 1-based index, if any. Envelopes
// hold at most a few hundred opens, so a scan beats a map on memory and is
// as fast at this size.
func (e *Envelope) Opened(user string) (Share, int, bool) {
	for i := range e.Opens {
		if e.Opens[i].User == user {
			return e.Opens[i], i + 1, true
		}
	}
	return Share{}, 0, false
}

// Luckier reports whether a share of amount takes best luck (手气最佳) from
// the best share opened before it, of best fen (0 before any open): the
// largest share has best luck, and of equal shares the earliest. Read
// models that track best luck open by open use it, as BestLuck does.
func Luckier(amount, best int64) bool { return amount > best }

// BestLuck returns the 1-based index of the open with best luck. Best luck
// is decided once the envelope has finished (every share opened); before
// that, and on an envelope that expired, there is none.
func (e *Envelope) BestLuck() (int, bool) {
	if e.Status != StatusFinished {
		return 0, false
	}
	best, amount := 0, int64(0)
	for i, o := range e.Opens {
		if Luckier(o.Amount, amount) {
			best, amount = i+1, o.Amount
		}
	}
	return best, best > 0
}

// Fold builds an envelope from its events in stream order.
func Fold(id string, evs []events.Record) (*Envelope, error) {
	e := &Envelope{ID: id}
	for _, r := range evs {
		if err := e.Apply(r.Seq, r.Event); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Apply folds one event into the state. It refuses, with ErrCorrupt, an
// event that the aggregate would never have decided from this state, and
// leaves the state unchanged in that case.
func (e *Envelope) Apply(seq uint64, ev events.Event) error {
	if err := e.check(seq, ev); err != nil {
		return fmt.Errorf("%w: envelope %s event %d (%s, seq %d): %v", ErrCorrupt, e.ID, e.Version+1, ev.Type, seq, err)
	}
	switch d := ev.Data.(type) {
	case events.Wrapped:
		e.RequestID, e.Sender, e.Kind, e.Total, e.Count = d.RequestID, d.Sender, d.Kind, d.Total, d.Count
		e.Greeting, e.Seed, e.MinShare, e.MaxShare = d.Greeting, d.Seed, d.MinShare, d.MaxShare
		e.CreatedAt, e.PayBy, e.Expiry = ev.At, d.PayBy, d.Expiry
		e.Status = StatusWrapped
	case events.Paid:
		e.PaymentID, e.PaidAt, e.ExpiresAt = d.PaymentID, ev.At, d.ExpiresAt
		e.Status = StatusLive
	case events.Cancelled:
		e.Status, e.EndedAt = StatusCancelled, ev.At
	case events.Opened:
		e.Opens = append(e.Opens, Share{User: d.User, Amount: d.Amount, At: ev.At, Seq: seq})
		e.OpenedTotal += d.Amount
		if d.RemainingCount == 0 {
			e.Status, e.EndedAt = StatusFinished, ev.At
		}
	case events.Expired:
		e.Refund = d.Refund
		e.Status, e.EndedAt = StatusExpired, ev.At
	}
	e.Version++
	if seq != 0 {
		e.LastSeq = seq
	}
	return e.checkInvariants()
}

func (e *Envelope) check(seq uint64, ev events.Event) error {
	if seq != 0 && seq <= e.LastSeq {
		return fmt.Errorf("sequence %d after %d", seq, e.LastSeq)
	}
	if ev.EnvelopeID != e.ID {
		return fmt.Errorf("event of envelope %s", ev.EnvelopeID)
	}
	if (ev.Type == events.TypeWrapped) != (e.Status == StatusNone) {
		return fmt.Errorf("%s while %s", ev.Type, e.Status)
	}
	switch d := ev.Data.(type) {
	case events.Wrapped:
		return nil // validated by the events package
	case events.Paid:
		if e.Status != StatusWrapped {
			return fmt.Errorf("paid while %s", e.Status)
		}
		if d.Amount != e.Total {
			return fmt.Errorf("paid %d for a total of %d", d.Amount, e.Total)
		}
	case events.Cancelled:
		if e.Status != StatusWrapped {
			return fmt.Errorf("cancelled while %s", e.Status)
		}
	case events.Opened:
		if e.Status != StatusLive {
			return fmt.Errorf("opened while %s", e.Status)
		}
		if _, _, dup := e.Opened(d.User); dup {
			return fmt.Errorf("user %s opened twice (I3)", d.User)
		}
		if d.Index != len(e.Opens)+1 {
			return fmt.Errorf("index %d after %d opens (I3)", d.Index, len(e.Opens))
		}
		if want := e.Share(); d.Amount != want {
			return fmt.Errorf("share %d where the seed gives %d (I2)", d.Amount, want)
		}
		remAmount, remCount := e.Remaining()
		if d.RemainingAmount != remAmount-d.Amount || d.RemainingCount != remCount-1 {
			return fmt.Errorf("remaining %d/%d where %d/%d is left", d.RemainingAmount, d.RemainingCount, remAmount-d.Amount, remCount-1)
		}
	case events.Expired:
		if e.Status != StatusLive {
			return fmt.Errorf("expired while %s", e.Status)
		}
		if remAmount, _ := e.Remaining(); d.Refund != remAmount || d.OpenedCount != len(e.Opens) {
			return fmt.Errorf("refund %d after %d opens where %d after %d is left", d.Refund, d.OpenedCount, remAmount, len(e.Opens))
		}
	default:
		return fmt.Errorf("unknown payload %T", ev.Data)
	}
	return nil
}

// checkInvariants asserts I1–I3 on the folded state.
func (e *Envelope) checkInvariants() error {
	if e.Status == StatusNone || e.Status == StatusWrapped || e.Status == StatusCancelled {
		return invariants.Check(len(e.Opens) == 0 && e.Refund == 0, "envelope %s: money moved while %s", e.ID, e.Status)
	}
	out := e.OpenedTotal + e.Refund
	if err := invariants.Check(out <= e.Total, "envelope %s: I1: %d paid out of %d", e.ID, out, e.Total); err != nil {
		return err
	}
	if err := invariants.Check(len(e.Opens) <= e.Count, "envelope %s: I3: %d opens of %d", e.ID, len(e.Opens), e.Count); err != nil {
		return err
	}
	if e.Status == StatusFinished || e.Status == StatusExpired {
		return invariants.Check(out == e.Total, "envelope %s: I1: %s with %d of %d paid out", e.ID, e.Status, out, e.Total)
	}
	return nil
}
