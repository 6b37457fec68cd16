package campaign

import (
	"errors"
	"fmt"
	"time"

	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/internal/invariants"
)

// ErrCorrupt marks an event that cannot follow the state it is applied to:
// the stream holds something this aggregate would never have decided.
var ErrCorrupt = errors.New("campaign: corrupt event stream")

// Status is where a campaign is in its life.
type Status uint8

// The statuses. The zero value is a campaign with no events. Paused is not
// a status but a flag of a live campaign (Campaign.Paused).
const (
	StatusNone Status = iota
	StatusCreated
	StatusLive
	StatusEnded
	StatusCancelled
)

var statusNames = [...]string{"none", "created", "live", "ended", "cancelled"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", s)
}

// Campaign is the state of a campaign's own subject: the fold of its
// campaign-level events (created, paid, paused, resumed, cancelled,
// ended). Its size does not depend on count.
type Campaign struct {
	ID        string
	RequestID string
	Sponsor   string
	Total     int64
	Count     int
	Slices    int
	PerUser   int
	MinShare  int64
	MaxShare  int64
	StartsAt  time.Time
	EndsAt    time.Time
	PayBy     time.Time
	Seed      events.Seed
	CreatedAt time.Time

	Status    Status
	Paused    bool
	PausedBy  string
	PaymentID string
	PaidAt    time.Time

	// Set by the end.
	EndedAt     time.Time
	Refund      int64
	OpenedCount int
	OpenedTotal int64
	Reserved    int

	// Version counts the events applied; LastSeq is the stream sequence of
	// the last one (the expected sequence of the next append).
	Version int
	LastSeq uint64
}

// Split is the campaign's share derivation.
func (c *Campaign) Split() Split {
	return Split{Seed: c.Seed, Total: c.Total, Count: c.Count, MinShare: c.MinShare, MaxShare: c.MaxShare}
}

// Fold builds a campaign from the events of its own subject, in stream
// order.
func Fold(id string, recs []events.CampaignRecord) (*Campaign, error) {
	c := &Campaign{ID: id}
	for _, r := range recs {
		if err := c.Apply(r.Seq, r.Event); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Apply folds one campaign-level event into the state. It refuses, with
// ErrCorrupt, an event the aggregate would never have decided from this
// state (a slice event among them), and leaves the state unchanged then.
func (c *Campaign) Apply(seq uint64, ev events.CampaignEvent) error {
	if err := c.check(seq, ev); err != nil {
		return fmt.Errorf("%w: campaign %s event %d (%s, seq %d): %v", ErrCorrupt, c.ID, c.Version+1, ev.Type, seq, err)
	}
	switch d := ev.Data.(type) {
	case events.CampaignCreated:
		c.RequestID, c.Sponsor, c.Total, c.Count, c.Slices, c.PerUser = d.RequestID, d.Sponsor, d.Total, d.Count, d.Slices, d.PerUser
		c.MinShare, c.MaxShare, c.StartsAt, c.EndsAt, c.PayBy, c.Seed = d.MinShare, d.MaxShare, d.StartsAt, d.EndsAt, d.PayBy, d.Seed
		c.CreatedAt, c.Status = ev.At, StatusCreated
	case events.CampaignPaid:
		c.PaymentID, c.PaidAt, c.Status = d.PaymentID, ev.At, StatusLive
	case events.CampaignCancelled:
		c.Status, c.EndedAt = StatusCancelled, ev.At
	case events.CampaignPaused:
		c.Paused, c.PausedBy = true, d.Operator
	case events.CampaignResumed:
		c.Paused, c.PausedBy = false, ""
	case events.CampaignEnded:
		c.Refund, c.OpenedCount, c.OpenedTotal, c.Reserved = d.Refund, d.OpenedCount, d.OpenedTotal, d.Reserved
		c.Status, c.EndedAt, c.Paused = StatusEnded, ev.At, false
	}
	c.Version++
	if seq != 0 {
		c.LastSeq = seq
	}
	return c.checkInvariants()
}

func (c *Campaign) check(seq uint64, ev events.CampaignEvent) error {
	if seq != 0 && seq <= c.LastSeq {
		return fmt.Errorf("sequence %d after %d", seq, c.LastSeq)
	}
	if ev.CampaignID != c.ID {
		return fmt.Errorf("event of campaign %s", ev.CampaignID)
	}
	if (ev.Type == events.TypeCampaignCreated) != (c.Status == StatusNone) {
		return fmt.Errorf("%s while %s", ev.Type, c.Status)
	}
	switch d := ev.Data.(type) {
	case events.CampaignCreated:
		return SplitOf(d).Validate()
	case events.CampaignPaid:
		if c.Status != StatusCreated {
			return fmt.Errorf("paid while %s", c.Status)
		}
		if d.Amount != c.Total {
			return fmt.Errorf("paid %d for a total of %d", d.Amount, c.Total)
		}
	case events.CampaignCancelled:
		if c.Status != StatusCreated {
			return fmt.Errorf("cancelled while %s", c.Status)
		}
	case events.CampaignPaused:
		if c.Status != StatusLive || c.Paused {
			return fmt.Errorf("paused while %s (paused %v)", c.Status, c.Paused)
		}
	case events.CampaignResumed:
		if c.Status != StatusLive || !c.Paused {
			return fmt.Errorf("resumed while %s (paused %v)", c.Status, c.Paused)
		}
	case events.CampaignEnded:
		if c.Status != StatusLive {
			return fmt.Errorf("ended while %s", c.Status)
		}
		if d.OpenedTotal+d.Refund != c.Total || d.OpenedCount > c.Count || d.Reserved > c.Count {
			return fmt.Errorf("refund %d and %d opened (%d tickets of %d reserved) for a total of %d over %d tickets (C1)",
				d.Refund, d.OpenedTotal, d.OpenedCount, d.Reserved, c.Total, c.Count)
		}
	default:
		return fmt.Errorf("%T is not an event of the campaign's own subject", ev.Data)
	}
	return nil
}

// checkInvariants asserts C1 on the folded state.
func (c *Campaign) checkInvariants() error {
	if c.Status != StatusEnded {
		return invariants.Check(c.Refund == 0 && c.OpenedTotal == 0, "campaign %s: money out while %s", c.ID, c.Status)
	}
	return invariants.Check(c.OpenedTotal+c.Refund == c.Total && c.OpenedTotal >= 0 && c.Refund >= 0,
		"campaign %s: C1: ended with %d opened and %d refunded of %d", c.ID, c.OpenedTotal, c.Refund, c.Total)
}

// Due is the next time a timer must act on the campaign (cancel when
// created and unpaid, end when live), and false when none is pending.
func (c *Campaign) Due() (time.Time, bool) {
	switch c.Status {
	case StatusCreated:
		return c.PayBy, true
	case StatusLive:
		return c.EndsAt, true
	}
	return time.Time{}, false
}

// Shakeable reports whether a shake may hand out a ticket now: nil, or
// ErrNotLive (not paid, cancelled), ErrNotStarted, ErrEnded, ErrPaused.
func (c *Campaign) Shakeable(now time.Time) error {
	switch {
	case c.Status == StatusEnded || (c.Status == StatusLive && !now.Before(c.EndsAt)):
		return ErrEnded
	case c.Status != StatusLive:
		return ErrNotLive
	case now.Before(c.StartsAt):
		return ErrNotStarted
	case c.Paused:
		return ErrPaused
	}
	return nil
}

// CheckEnded cross-checks an ended campaign against the folds of all its
// slices, as an auditor or the reconciler does: the campaign_ended totals
// are the sums of the slices' (C1), every slice is closed (C6), and the
// refund is what the slices left unopened.
func CheckEnded(c *Campaign, slices []*Slice) error {
	if c.Status != StatusEnded {
		return fmt.Errorf("campaign %s is %s, not ended", c.ID, c.Status)
	}
	if len(slices) != c.Slices {
		return fmt.Errorf("campaign %s: %d slices folded of %d", c.ID, len(slices), c.Slices)
	}
	var count, reserved int
	var total int64
	for k, s := range slices {
		if s.K != k || !s.Closed {
			return fmt.Errorf("campaign %s: slice %d (folded as %d) is not closed (C6)", c.ID, k, s.K)
		}
		count, total, reserved = count+s.OpenedCount, total+s.OpenedTotal, reserved+s.ReservedTo-s.Lo
	}
	if count != c.OpenedCount || total != c.OpenedTotal || reserved != c.Reserved || c.Refund != c.Total-total {
		return fmt.Errorf("campaign %s: ended with %d opens (%d fen), %d reserved, refund %d; the slices hold %d opens (%d fen), %d reserved (C1)",
			c.ID, c.OpenedCount, c.OpenedTotal, c.Reserved, c.Refund, count, total, reserved)
	}
	return nil
}
