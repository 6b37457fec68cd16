package campaign

import (
	"fmt"
	"time"

	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/internal/invariants"
)

// Slice is the state of one slice of a campaign: the tickets [Lo, Hi), the
// fold of the events on the slice's subject (reservations, opens, the
// close), plus the owner's memory of the shakes (which is not in any
// event: see Shake).
//
// Memory (doc.go, "Memory"): counters and one reserved watermark; one bit
// per reserved ticket for "opened"; a count per distinct opener; and, on
// the owner, a count per distinct winner since it loaded the slice.
type Slice struct {
	CampaignID string
	K          int // the slice's number, 0 ≤ K < slices
	Lo, Hi     int // its tickets

	split   Split
	slices  int
	perUser int

	ReservedTo  int // tickets [Lo, ReservedTo) are reserved (C4)
	OpenedCount int
	OpenedTotal int64
	Closed      bool

	opened    []uint64          // bit i−Lo: ticket i is opened; len covers the reserved tickets
	userOpens map[string]uint16 // opens per user (C5)

	// The owner's memory, never stored: the next ticket a shake hands out
	// and the tickets won per user since this state was loaded.
	next int
	wins map[string]uint16

	Version int
	LastSeq uint64
}

// NewSlice is slice k of a campaign with no slice events yet.
func NewSlice(c *Campaign, k int) (*Slice, error) {
	if c.Status == StatusNone {
		return nil, fmt.Errorf("%w: slice of a campaign that does not exist", ErrNotLive)
	}
	if k < 0 || k >= c.Slices {
		return nil, fmt.Errorf("campaign: slice %d of %d", k, c.Slices)
	}
	lo, hi := SliceRange(c.Count, c.Slices, k)
	return &Slice{CampaignID: c.ID, K: k, Lo: lo, Hi: hi, split: c.Split(), slices: c.Slices, perUser: c.PerUser,
		ReservedTo: lo, next: lo, userOpens: map[string]uint16{}, wins: map[string]uint16{}}, nil
}

// FoldSlice builds slice k from the events of its subject, in stream order.
// The tickets it reserved before are all taken as handed out (next is the
// reserved watermark): after a restart or a hand-over the new owner cannot
// know which of them the old one gave away, so it gives none of them again
// (C4); those never given are refunded at the end.
func FoldSlice(c *Campaign, k int, recs []events.CampaignRecord) (*Slice, error) {
	s, err := NewSlice(c, k)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if err := s.Apply(r.Seq, r.Event); err != nil {
			return nil, err
		}
	}
	s.next = s.ReservedTo
	return s, nil
}

// Apply folds one event of the slice's subject. It refuses, with
// ErrCorrupt, an event the aggregate would never have decided from this
// state, and leaves the state unchanged then.
func (s *Slice) Apply(seq uint64, ev events.CampaignEvent) error {
	if err := s.check(seq, ev); err != nil {
		return fmt.Errorf("%w: campaign %s slice %d event %d (%s, seq %d): %v", ErrCorrupt, s.CampaignID, s.K, s.Version+1, ev.Type, seq, err)
	}
	switch d := ev.Data.(type) {
	case events.TicketsReserved:
		s.ReservedTo = d.To
		if words := (d.To - s.Lo + 63) / 64; words > len(s.opened) {
			s.opened = append(s.opened, make([]uint64, words-len(s.opened))...)
		}
	case events.TicketOpened:
		b := d.Index - s.Lo
		s.opened[b/64] |= 1 << (b % 64)
		s.userOpens[d.User]++
		s.OpenedCount++
		s.OpenedTotal += d.Amount
	case events.SliceClosed:
		s.Closed = true
	}
	s.Version++
	if seq != 0 {
		s.LastSeq = seq
	}
	return invariants.Check(s.OpenedCount <= s.ReservedTo-s.Lo && s.OpenedTotal <= s.split.Total,
		"campaign %s slice %d: %d opens (%d fen) of %d reserved", s.CampaignID, s.K, s.OpenedCount, s.OpenedTotal, s.ReservedTo-s.Lo)
}

func (s *Slice) check(seq uint64, ev events.CampaignEvent) error {
	if seq != 0 && seq <= s.LastSeq {
		return fmt.Errorf("sequence %d after %d", seq, s.LastSeq)
	}
	if ev.CampaignID != s.CampaignID {
		return fmt.Errorf("event of campaign %s", ev.CampaignID)
	}
	if k, ok := ev.Slice(); !ok || k != s.K {
		return fmt.Errorf("not an event of slice %d", s.K)
	}
	if s.Closed {
		return fmt.Errorf("%s after the slice closed (C6)", ev.Type)
	}
	switch d := ev.Data.(type) {
	case events.TicketsReserved:
		if d.From != s.ReservedTo || d.To > s.Hi {
			return fmt.Errorf("reserved [%d, %d) where [%d, ≤%d) is next (C4)", d.From, d.To, s.ReservedTo, s.Hi)
		}
	case events.TicketOpened:
		if d.Index < s.Lo || d.Index >= s.ReservedTo {
			return fmt.Errorf("ticket %d is not reserved on the slice [%d, %d) (C3)", d.Index, s.Lo, s.ReservedTo)
		}
		if s.isOpened(d.Index) {
			return fmt.Errorf("ticket %d opened twice (C3)", d.Index)
		}
		if HomeSlice(d.User, s.slices) != s.K {
			return fmt.Errorf("user %s opened on slice %d, not the home slice (C5)", d.User, s.K)
		}
		if int(s.userOpens[d.User]) >= s.perUser {
			return fmt.Errorf("user %s opened more than %d tickets (C5)", d.User, s.perUser)
		}
		if want := s.split.Amount(d.Index); d.Amount != want {
			return fmt.Errorf("ticket %d of %d fen where the seed gives %d (C2)", d.Index, d.Amount, want)
		}
	case events.SliceClosed:
		if want := s.summary(); d != want {
			return fmt.Errorf("closed with %+v where the slice holds %+v", d, want)
		}
	}
	return nil
}

func (s *Slice) isOpened(i int) bool {
	b := i - s.Lo
	return b >= 0 && b/64 < len(s.opened) && s.opened[b/64]&(1<<(b%64)) != 0
}

func (s *Slice) summary() events.SliceClosed {
	return events.SliceClosed{Slice: s.K, Reserved: s.ReservedTo - s.Lo, OpenedCount: s.OpenedCount, OpenedTotal: s.OpenedTotal}
}

// Summary is the slice's totals as its close states them.
func (s *Slice) Summary() events.SliceClosed { return s.summary() }

// Available is how many reserved tickets the owner can still hand out
// without a reservation: the owner reserves ahead when it runs low.
func (s *Slice) Available() int { return s.ReservedTo - s.next }

// Unreserved is how many tickets of the slice are not reserved yet.
func (s *Slice) Unreserved() int { return s.Hi - s.ReservedTo }

// Reserve decides the reservation of the next batch tickets of the slice
// (fewer at its end): append it, apply it, then hand them out. Nil when
// every ticket is reserved, the slice is closed, or the campaign is not
// live or its time is over. Reserving before starts_at is allowed: the
// owner may fill its memory ahead.
func (s *Slice) Reserve(c *Campaign, batch int, now time.Time) *events.CampaignEvent {
	if batch < 1 || s.Closed || s.ReservedTo >= s.Hi || c.Status != StatusLive || !now.Before(c.EndsAt) {
		return nil
	}
	ev := events.NewCampaign(s.CampaignID, now, events.TicketsReserved{Slice: s.K, From: s.ReservedTo, To: min(s.ReservedTo+batch, s.Hi)})
	return &ev
}

// Shake hands the user the next ticket of the slice, from memory: no event.
// The caller signs a ticket for the returned index (package tickets). It
// answers, in this order: ErrEnded, ErrNotLive, ErrNotStarted, ErrPaused
// (Campaign.Shakeable); ErrWrongSlice when the slice is not the user's
// home slice (a routing fault); ErrLimit when the user won or opened
// per_user tickets; ErrSoldOut when the slice has no ticket left; and
// ErrNeedReservation when its reserved tickets are used up but some are
// not reserved yet: Reserve, append, Apply, and shake again.
func (s *Slice) Shake(c *Campaign, user string, now time.Time) (int, error) {
	if err := c.Shakeable(now); err != nil {
		return 0, err
	}
	if s.Closed {
		return 0, ErrEnded
	}
	if HomeSlice(user, s.slices) != s.K {
		return 0, fmt.Errorf("%w: %s belongs to slice %d, not %d", ErrWrongSlice, user, HomeSlice(user, s.slices), s.K)
	}
	if int(max(s.wins[user], s.userOpens[user])) >= s.perUser {
		return 0, ErrLimit
	}
	if s.next >= s.ReservedTo {
		if s.ReservedTo >= s.Hi {
			return 0, ErrSoldOut
		}
		return 0, ErrNeedReservation
	}
	i := s.next
	s.next++
	s.wins[user]++
	return i, nil
}

// Won is how many tickets the owner handed user since it loaded the slice.
func (s *Slice) Won(user string) int { return int(s.wins[user]) }

// Ticket is a ticket presented to open: its index, the user it was issued
// to (both checked by the ticket's signature before Open), and the token
// with its key id, kept in the event for audits.
type Ticket struct {
	Index int
	User  string
	KeyID string
	Token string
}

// Open decides the open of a ticket whose signature the caller has
// verified for this campaign and user: the TicketOpened event with the
// ticket's amount (one per ticket, C3). It answers ErrNotLive for a
// campaign never paid or cancelled; ErrInvalidTicket for a ticket that is
// not reserved on this slice or whose user's home slice is another (a
// valid signature on such a ticket means a leaked key: refuse it);
// ErrAlreadyOpened with the amount for a ticket opened before, even after
// the end; ErrEnded at or after ends_at; ErrLimit when the user already
// opened per_user tickets. Opens go on while shakes are paused.
func (s *Slice) Open(c *Campaign, t Ticket, now time.Time) (int64, *events.CampaignEvent, error) {
	if c.Status != StatusLive && c.Status != StatusEnded {
		return 0, nil, ErrNotLive
	}
	if t.Index < s.Lo || t.Index >= s.ReservedTo || HomeSlice(t.User, s.slices) != s.K {
		return 0, nil, fmt.Errorf("%w: ticket %d of %s is not one of slice %d's", ErrInvalidTicket, t.Index, t.User, s.K)
	}
	amount := s.split.Amount(t.Index)
	if s.isOpened(t.Index) {
		return amount, nil, ErrAlreadyOpened
	}
	if s.Closed || c.Status == StatusEnded || !now.Before(c.EndsAt) {
		return 0, nil, ErrEnded
	}
	if int(s.userOpens[t.User]) >= s.perUser {
		return 0, nil, ErrLimit
	}
	ev := events.NewCampaign(s.CampaignID, now, events.TicketOpened{
		Slice: s.K, Index: t.Index, User: t.User, Amount: amount, KeyID: t.KeyID, Ticket: t.Token})
	return amount, &ev, nil
}

// Close decides the slice's close once the campaign's time is over: the
// SliceClosed event with its totals, after which no open lands on the
// slice (C6). Nil when not due or already closed.
func (s *Slice) Close(c *Campaign, now time.Time) *events.CampaignEvent {
	if s.Closed || c.Status != StatusLive || now.Before(c.EndsAt) {
		return nil
	}
	ev := events.NewCampaign(s.CampaignID, now, s.summary())
	return &ev
}
