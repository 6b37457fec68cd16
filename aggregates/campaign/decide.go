package campaign

import (
	"errors"
	"fmt"
	"time"

	"github.com/hongbao/hongbao/events"
)

// Errors of decisions; match with errors.Is. The service maps them to the
// contract's codes and statuses (api.md, "Shake campaigns"):
//
//	ErrInvalidAmount, ErrInvalidCount     400 invalid_amount, invalid_count
//	ErrInvalidTime, ErrInvalidPerUser     400 bad_request
//	ErrInvalidTicket                      400 invalid_ticket
//	ErrNotLive, ErrCancelled, ErrPaused   409 not_live
//	ErrPayTimeout, ErrAlreadyPaid,
//	ErrAmountPaid                         409 conflict
//	ErrNotStarted                         shake {"status":"not_started"}
//	ErrEnded                              shake, open {"status":"ended"}
//	ErrSoldOut                            shake {"status":"none"}
//	ErrLimit                              shake {"status":"limit"}; open: see doc.go (C5)
//	ErrAlreadyOpened                      open {"status":"already_opened","amount"}
//	ErrNeedReservation, ErrWrongSlice     internal: never reach a client
var (
	ErrInvalidAmount   = errors.New("campaign: invalid amount")
	ErrInvalidCount    = errors.New("campaign: invalid count")
	ErrInvalidTime     = errors.New("campaign: invalid starts_at or ends_at")
	ErrInvalidPerUser  = errors.New("campaign: invalid per_user")
	ErrInvalidTicket   = errors.New("campaign: invalid ticket")
	ErrNotLive         = errors.New("campaign: not live")
	ErrCancelled       = errors.New("campaign: cancelled")
	ErrPaused          = errors.New("campaign: paused by an operator")
	ErrPayTimeout      = errors.New("campaign: pay deadline passed")
	ErrAlreadyPaid     = errors.New("campaign: already paid with another payment")
	ErrAmountPaid      = errors.New("campaign: paid amount differs from the total")
	ErrNotStarted      = errors.New("campaign: not started")
	ErrEnded           = errors.New("campaign: ended")
	ErrSoldOut         = errors.New("campaign: no ticket left")
	ErrLimit           = errors.New("campaign: per-user limit reached")
	ErrAlreadyOpened   = errors.New("campaign: ticket already opened")
	ErrNeedReservation = errors.New("campaign: slice needs a reservation first")
	ErrWrongSlice      = errors.New("campaign: user's home slice is another")
	ErrSlicesOpen      = errors.New("campaign: not every slice is closed")
)

// Limits are the configurable rules for new campaigns. What matters for
// replay is copied into CampaignCreated.
type Limits struct {
	MinShare    int64         // fen, at least 1
	MaxShare    int64         // default max_share when the request gives none
	MaxShareCap int64         // the largest max_share a sponsor may ask for
	MaxCount    int           // tickets per campaign
	Slices      int           // slices per campaign (fewer when count is smaller)
	PayTimeout  time.Duration // created → cancelled when not paid by then (or by ends_at)
	MaxDuration time.Duration // ends_at − starts_at at most
}

// DefaultLimits are the contract's defaults.
func DefaultLimits() Limits {
	return Limits{MinShare: 1, MaxShare: 20000, MaxShareCap: 20000, MaxCount: events.HardMaxCampaignCount,
		Slices: 16, PayTimeout: 15 * time.Minute, MaxDuration: 31 * 24 * time.Hour}
}

// Validate reports whether the limits are usable.
func (l Limits) Validate() error {
	switch {
	case l.MinShare < 1 || l.MaxShare < l.MinShare || l.MaxShareCap < l.MaxShare || l.MaxShareCap > events.HardMaxCampaignShare:
		return fmt.Errorf("campaign: share limits [%d, %d], cap %d", l.MinShare, l.MaxShare, l.MaxShareCap)
	case l.MaxCount < 1 || l.MaxCount > events.HardMaxCampaignCount:
		return fmt.Errorf("campaign: max count %d", l.MaxCount)
	case l.Slices < 1 || l.Slices > events.HardMaxCampaignSlices:
		return fmt.Errorf("campaign: %d slices", l.Slices)
	case l.PayTimeout <= 0 || l.MaxDuration <= 0:
		return fmt.Errorf("campaign: pay timeout %v, max duration %v", l.PayTimeout, l.MaxDuration)
	}
	return nil
}

// CreateCommand is a sponsor's request for a new campaign, already checked
// for form by the api package. Zero StartsAt, PerUser and MaxShare mean
// "not given": now, 1 and the default.
type CreateCommand struct {
	RequestID string
	Sponsor   string
	Total     int64
	Count     int
	StartsAt  time.Time
	EndsAt    time.Time
	PerUser   int
	MaxShare  int64
}

func (c CreateCommand) withDefaults(now time.Time, l Limits) CreateCommand {
	if c.StartsAt.IsZero() {
		c.StartsAt = now
	}
	if c.PerUser == 0 {
		c.PerUser = 1
	}
	if c.MaxShare == 0 {
		c.MaxShare = l.MaxShare
	}
	c.StartsAt, c.EndsAt = c.StartsAt.UTC(), c.EndsAt.UTC()
	return c
}

// Create decides the CampaignCreated event of a new campaign: 1 ≤ count ≤
// MaxCount; MinShare ≤ max_share ≤ MaxShareCap; count·MinShare ≤ total ≤
// count·max_share; 1 ≤ per_user ≤ events.HardMaxPerUser; starts_at <
// ends_at, now < ends_at, ends_at − starts_at ≤ MaxDuration. The campaign
// must be paid by min(now + PayTimeout, ends_at).
func Create(id string, c CreateCommand, seed events.Seed, now time.Time, l Limits) (events.CampaignEvent, error) {
	c = c.withDefaults(now, l)
	none := events.CampaignEvent{}
	if c.Count < 1 || c.Count > l.MaxCount {
		return none, fmt.Errorf("%w: count %d is outside 1..%d", ErrInvalidCount, c.Count, l.MaxCount)
	}
	if c.MaxShare < l.MinShare || c.MaxShare > l.MaxShareCap {
		return none, fmt.Errorf("%w: max_share %d is outside %d..%d", ErrInvalidAmount, c.MaxShare, l.MinShare, l.MaxShareCap)
	}
	n := int64(c.Count)
	if c.Total < n*l.MinShare || c.Total > n*c.MaxShare {
		return none, fmt.Errorf("%w: %d fen for %d tickets of %d..%d fen", ErrInvalidAmount, c.Total, c.Count, l.MinShare, c.MaxShare)
	}
	if c.PerUser < 1 || c.PerUser > events.HardMaxPerUser {
		return none, fmt.Errorf("%w: %d is outside 1..%d", ErrInvalidPerUser, c.PerUser, events.HardMaxPerUser)
	}
	switch {
	case c.EndsAt.IsZero():
		return none, fmt.Errorf("%w: ends_at is required", ErrInvalidTime)
	case !c.EndsAt.After(c.StartsAt) || !c.EndsAt.After(now):
		return none, fmt.Errorf("%w: ends_at %v is not after starts_at %v and now", ErrInvalidTime, c.EndsAt, c.StartsAt)
	case c.EndsAt.Sub(c.StartsAt) > l.MaxDuration:
		return none, fmt.Errorf("%w: %v is longer than %v", ErrInvalidTime, c.EndsAt.Sub(c.StartsAt), l.MaxDuration)
	}
	payBy := now.Add(l.PayTimeout).UTC()
	if c.EndsAt.Before(payBy) {
		payBy = c.EndsAt
	}
	return events.NewCampaign(id, now, events.CampaignCreated{
		RequestID: c.RequestID, Sponsor: c.Sponsor, Total: c.Total, Count: c.Count, Slices: min(l.Slices, c.Count),
		PerUser: c.PerUser, MinShare: l.MinShare, MaxShare: c.MaxShare, StartsAt: c.StartsAt, EndsAt: c.EndsAt,
		PayBy: payBy, Seed: seed,
	}), nil
}

// Matches reports whether a repeated create request (same sponsor and
// request_id) asks for this campaign: false means 409 conflict. A request
// without starts_at matches any start (it meant "now" when first made).
func (c *Campaign) Matches(cmd CreateCommand, l Limits) bool {
	cmd = cmd.withDefaults(c.StartsAt, l)
	return cmd.Sponsor == c.Sponsor && cmd.RequestID == c.RequestID && cmd.Total == c.Total && cmd.Count == c.Count &&
		cmd.StartsAt.Equal(c.StartsAt) && cmd.EndsAt.Equal(c.EndsAt) && cmd.PerUser == c.PerUser && cmd.MaxShare == c.MaxShare
}

// Pay decides the sponsor's payment, with pay's rules: the amount must be
// the total; a repeat of the accepted payment returns no event and no
// error (the caller answers from the state); another payment of a paid
// campaign is ErrAlreadyPaid; past the deadline ErrPayTimeout, and once
// cancelled ErrCancelled.
func (c *Campaign) Pay(paymentID string, amount int64, now time.Time) (*events.CampaignEvent, error) {
	switch c.Status {
	case StatusCancelled:
		return nil, ErrCancelled
	case StatusLive, StatusEnded:
		if paymentID != c.PaymentID {
			return nil, fmt.Errorf("%w: %s", ErrAlreadyPaid, c.PaymentID)
		}
		if amount != c.Total {
			return nil, fmt.Errorf("%w: %d for a total of %d", ErrAmountPaid, amount, c.Total)
		}
		return nil, nil
	case StatusCreated:
	default:
		return nil, ErrNotLive
	}
	if !now.Before(c.PayBy) {
		return nil, ErrPayTimeout
	}
	if amount != c.Total {
		return nil, fmt.Errorf("%w: %d for a total of %d", ErrAmountPaid, amount, c.Total)
	}
	ev := events.NewCampaign(c.ID, now, events.CampaignPaid{PaymentID: paymentID, Amount: amount})
	return &ev, nil
}

// Cancel decides the cancellation of a campaign not paid by its deadline.
// Nil when paid, already cancelled, or not yet due.
func (c *Campaign) Cancel(now time.Time) *events.CampaignEvent {
	if c.Status != StatusCreated || now.Before(c.PayBy) {
		return nil
	}
	ev := events.NewCampaign(c.ID, now, events.CampaignCancelled{Reason: "pay timeout"})
	return &ev
}

// Pause decides an operator's pause of the shakes. Pausing a paused
// campaign is no event and no error; a campaign that is not live (or whose
// time is over) is ErrNotLive.
func (c *Campaign) Pause(operator, reason string, now time.Time) (*events.CampaignEvent, error) {
	if c.Status != StatusLive || !now.Before(c.EndsAt) {
		return nil, ErrNotLive
	}
	if c.Paused {
		return nil, nil
	}
	ev := events.NewCampaign(c.ID, now, events.CampaignPaused{Operator: operator, Reason: reason})
	return &ev, nil
}

// Resume decides an operator's resumption of the shakes; like Pause.
func (c *Campaign) Resume(operator string, now time.Time) (*events.CampaignEvent, error) {
	if c.Status != StatusLive || !now.Before(c.EndsAt) {
		return nil, ErrNotLive
	}
	if !c.Paused {
		return nil, nil
	}
	ev := events.NewCampaign(c.ID, now, events.CampaignResumed{Operator: operator})
	return &ev, nil
}

// End decides the end of a live campaign whose ends_at has come, from the
// SliceClosed facts of all its slices (one each): the CampaignEnded event
// refunding exactly total − Σ opened, the amounts of every ticket not
// opened, issued or not (C1). Nil, nil when not live or not yet due;
// ErrSlicesOpen when a slice's close is missing (close them first: after
// its close, no open can land on a slice, so the sum is final).
func (c *Campaign) End(now time.Time, closes []events.SliceClosed) (*events.CampaignEvent, error) {
	if c.Status != StatusLive || now.Before(c.EndsAt) {
		return nil, nil
	}
	seen := make([]bool, c.Slices)
	var d events.CampaignEnded
	for _, cl := range closes {
		if cl.Slice < 0 || cl.Slice >= c.Slices || seen[cl.Slice] {
			return nil, fmt.Errorf("%w: close of slice %d of %d given twice or out of range", ErrCorrupt, cl.Slice, c.Slices)
		}
		seen[cl.Slice] = true
		d.OpenedCount += cl.OpenedCount
		d.OpenedTotal += cl.OpenedTotal
		d.Reserved += cl.Reserved
	}
	for k, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("%w: slice %d", ErrSlicesOpen, k)
		}
	}
	if d.OpenedTotal > c.Total || d.Reserved > c.Count {
		return nil, fmt.Errorf("%w: slices opened %d of %d, reserved %d of %d", ErrCorrupt, d.OpenedTotal, c.Total, d.Reserved, c.Count)
	}
	d.Refund = c.Total - d.OpenedTotal
	ev := events.NewCampaign(c.ID, now, d)
	return &ev, nil
}
