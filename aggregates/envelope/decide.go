package envelope

import (
	"errors"
	"fmt"
	"time"

	"github.com/hongbao/hongbao/events"
)

// Errors of decisions; match with errors.Is. The service maps them to the
// contract's codes.
var (
	ErrInvalidAmount = errors.New("envelope: invalid amount")
	ErrInvalidCount  = errors.New("envelope: invalid count")
	ErrNotLive       = errors.New("envelope: not live")
	ErrCancelled     = errors.New("envelope: cancelled")
	ErrPayTimeout    = errors.New("envelope: pay deadline passed")
	ErrAlreadyPaid   = errors.New("envelope: already paid with another payment")
	ErrAmountPaid    = errors.New("envelope: paid amount differs from the total")
)

// Limits are the configurable rules for new envelopes. The ones that matter
// for replay (share limits, expiry) are copied into Wrapped.
type Limits struct {
	MinShare   int64         // fen, at least 1
	MaxShare   int64         // fen per share
	MaxCount   int           // shares per envelope
	PayTimeout time.Duration // wrapped → cancelled when not paid by then
	Expiry     time.Duration // live → expired this long after payment
}

// DefaultLimits are the contract's defaults.
func DefaultLimits() Limits {
	return Limits{MinShare: 1, MaxShare: 20000, MaxCount: 100, PayTimeout: 15 * time.Minute, Expiry: 24 * time.Hour}
}

// Validate reports whether the limits are usable.
func (l Limits) Validate() error {
	switch {
	case l.MinShare < 1 || l.MaxShare < l.MinShare || l.MaxShare > events.HardMaxShare:
		return fmt.Errorf("envelope: share limits [%d, %d]", l.MinShare, l.MaxShare)
	case l.MaxCount < 1 || l.MaxCount > events.HardMaxCount:
		return fmt.Errorf("envelope: max count %d", l.MaxCount)
	case l.PayTimeout <= 0 || l.Expiry <= 0:
		return fmt.Errorf("envelope: pay timeout %v, expiry %v", l.PayTimeout, l.Expiry)
	}
	return nil
}

// WrapCommand is a sender's request for a new envelope, already checked for
// form by the api package.
type WrapCommand struct {
	RequestID string
	Sender    string
	Kind      events.Kind
	Total     int64
	Count     int
	Greeting  string
}

// Wrap decides the Wrapped event of a new envelope, enforcing the limits:
// 1 ≤ count ≤ MaxCount, every share within [MinShare, MaxShare], and for
// equal envelopes total divisible by count.
func Wrap(id string, c WrapCommand, seed events.Seed, now time.Time, l Limits) (events.Event, error) {
	if c.Count < 1 || c.Count > l.MaxCount {
		return events.Event{}, fmt.Errorf("%w: count %d is outside 1..%d", ErrInvalidCount, c.Count, l.MaxCount)
	}
	n := int64(c.Count)
	if c.Total < n*l.MinShare {
		return events.Event{}, fmt.Errorf("%w: %d fen cannot give %d shares of at least %d", ErrInvalidAmount, c.Total, c.Count, l.MinShare)
	}
	if q, r := c.Total/n, c.Total%n; q > l.MaxShare || (q == l.MaxShare && r != 0) {
		return events.Event{}, fmt.Errorf("%w: %d fen over %d shares exceeds %d per share", ErrInvalidAmount, c.Total, c.Count, l.MaxShare)
	}
	if c.Kind == events.KindEqual && c.Total%n != 0 {
		return events.Event{}, fmt.Errorf("%w: %d fen do not divide into %d equal shares", ErrInvalidAmount, c.Total, c.Count)
	}
	if c.Kind != events.KindEqual && c.Kind != events.KindLucky {
		return events.Event{}, fmt.Errorf("%w: kind %q", events.ErrMalformed, c.Kind)
	}
	return events.New(id, now, events.Wrapped{
		RequestID: c.RequestID, Sender: c.Sender, Kind: c.Kind, Total: c.Total, Count: c.Count,
		Greeting: c.Greeting, Seed: seed, MinShare: l.MinShare, MaxShare: l.MaxShare,
		PayBy: now.Add(l.PayTimeout).UTC(), Expiry: l.Expiry,
	}), nil
}

// Pay decides the payment confirmation. A repeat of the accepted payment
// returns no event and no error: the caller answers from the state.
func (e *Envelope) Pay(paymentID string, amount int64, now time.Time) (*events.Event, error) {
	switch e.Status {
	case StatusCancelled:
		return nil, ErrCancelled
	case StatusLive, StatusFinished, StatusExpired:
		if paymentID != e.PaymentID {
			return nil, fmt.Errorf("%w: %s", ErrAlreadyPaid, e.PaymentID)
		}
		if amount != e.Total {
			return nil, fmt.Errorf("%w: %d for a total of %d", ErrAmountPaid, amount, e.Total)
		}
		return nil, nil
	case StatusWrapped:
	default:
		return nil, ErrNotLive
	}
	if !now.Before(e.PayBy) {
		return nil, ErrPayTimeout
	}
	if amount != e.Total {
		return nil, fmt.Errorf("%w: %d for a total of %d", ErrAmountPaid, amount, e.Total)
	}
	ev := events.New(e.ID, now, events.Paid{PaymentID: paymentID, Amount: amount, ExpiresAt: now.Add(e.Expiry).UTC()})
	return &ev, nil
}

// Outcome is the answer to grab or open.
type Outcome uint8

// The outcomes, named as in the contract.
const (
	OutcomeCanOpen Outcome = iota + 1
	OutcomeOpened
	OutcomeAlreadyOpened
	OutcomeExhausted
	OutcomeExpired
)

var outcomeNames = [...]string{"", "can_open", "opened", "already_opened", "exhausted", "expired"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", o)
}

// Result is the outcome of grab or open for one user.
type Result struct {
	Outcome        Outcome
	Amount         int64 // opened / already_opened
	Index          int   // opened / already_opened, 1-based
	RemainingCount int   // opened
}

// Grab answers whether user may open the envelope now. It never produces
// an event; ErrNotLive for envelopes that are not paid or were cancelled.
func (e *Envelope) Grab(user string, now time.Time) (Result, error) {
	if e.Status != StatusLive && e.Status != StatusFinished && e.Status != StatusExpired {
		return Result{}, ErrNotLive
	}
	if s, i, ok := e.Opened(user); ok {
		return Result{Outcome: OutcomeAlreadyOpened, Amount: s.Amount, Index: i}, nil
	}
	switch {
	case e.Status == StatusFinished:
		return Result{Outcome: OutcomeExhausted}, nil
	case e.Status == StatusExpired || !now.Before(e.ExpiresAt):
		return Result{Outcome: OutcomeExpired}, nil
	}
	return Result{Outcome: OutcomeCanOpen}, nil
}

// Open decides an open by user: the Opened event with the next share when
// the user may open, otherwise the earlier result or why not. An open at or
// after expires_at answers expired (the caller then expires the envelope).
func (e *Envelope) Open(user string, now time.Time) (Result, *events.Event, error) {
	r, err := e.Grab(user, now)
	if err != nil || r.Outcome != OutcomeCanOpen {
		return r, nil, err
	}
	amount := e.Share()
	remAmount, remCount := e.Remaining()
	ev := events.New(e.ID, now, events.Opened{
		User: user, Amount: amount, Index: len(e.Opens) + 1,
		RemainingAmount: remAmount - amount, RemainingCount: remCount - 1,
	})
	return Result{Outcome: OutcomeOpened, Amount: amount, Index: len(e.Opens) + 1, RemainingCount: remCount - 1}, &ev, nil
}

// Expire decides the expiry of a live envelope whose time has come: the
// Expired event refunding exactly total − Σ opened. Nil when not due or not
// live.
func (e *Envelope) Expire(now time.Time) *events.Event {
	if e.Status != StatusLive || now.Before(e.ExpiresAt) {
		return nil
	}
	remAmount, _ := e.Remaining()
	ev := events.New(e.ID, now, events.Expired{Refund: remAmount, OpenedCount: len(e.Opens)})
	return &ev
}

// Cancel decides the cancellation of an envelope not paid by its deadline.
// Nil when paid, already ended, or not yet due.
func (e *Envelope) Cancel(now time.Time) *events.Event {
	if e.Status != StatusWrapped || now.Before(e.PayBy) {
		return nil
	}
	ev := events.New(e.ID, now, events.Cancelled{Reason: "pay timeout"})
	return &ev
}

// Due is the next time a timer must act on the envelope (cancel when
// wrapped, expire when live), and false when none is pending.
func (e *Envelope) Due() (time.Time, bool) {
	switch e.Status {
	case StatusWrapped:
		return e.PayBy, true
	case StatusLive:
		return e.ExpiresAt, true
	}
	return time.Time{}, false
}
