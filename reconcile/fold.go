package reconcile

import (
	"fmt"
	"strings"
	"time"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/internal/seal"
	"github.com/hongbao/hongbao/projections/outbox"
)

// eventItem is one ENVELOPES message, decoded.
type eventItem struct {
	envelope string // from the subject
	seq      uint64
	stored   time.Time // when the stream stored it
	ev       events.Event
	err      error
	seal     sealCheck
}

// sealCheck is what verifying a message found (internal/seal).
type sealCheck struct {
	checked bool   // a policy was given
	forged  error  // the signature does not verify, or an unsigned message where one is required
	signed  bool   // it carries a link (Hongbao-Prev) to check
	prev    string // its link
	hash    string // its own hash, the next message's link
}

func checkSeal(policy *seal.Policy, stream string, m *rawMsg) sealCheck {
	if policy == nil {
		return sealCheck{}
	}
	c := sealCheck{checked: true, forged: policy.Verify(stream, m.subject, m.seq, m.header, m.data),
		signed: m.header.Get(seal.HdrSig) != "", prev: m.header.Get(seal.HdrPrev), hash: seal.Hash(m.header, m.data)}
	return c
}

// link checks c against the hash of the message before it on its subject
// and returns the error that makes it forged (nil: none).
func (c *sealCheck) link(subject string, seq uint64, last string) error {
	if c.forged != nil || !c.signed || c.prev == last {
		return c.forged
	}
	return fmt.Errorf("%w: %s seq %d links to %.12s…, the message before it is %.12s…", seal.ErrForged, subject, seq, c.prev, last)
}

func decodeEvent(m *rawMsg) eventItem {
	it := eventItem{envelope: envelopeOf(m.subject), seq: m.seq, stored: m.time}
	it.ev, it.err = events.Decode(m.data)
	return it
}

// eventDecoder decodes events and verifies them against policy (nil:
// nothing verified).
func eventDecoder(policy *seal.Policy, stream string) func(*rawMsg) eventItem {
	return func(m *rawMsg) eventItem {
		it := decodeEvent(m)
		it.seal = checkSeal(policy, stream, m)
		return it
	}
}

// expectedTransfer is a transfer an event implies.
type expectedTransfer struct {
	outbox.Transfer
	inFlight bool // the event is younger than the grace: not missing yet
}

type opener struct {
	user  string
	index int
	seq   uint64
}

// envState is the lenient fold of one envelope: it accepts every event
// that decodes, keeps the money it moves, and records what is wrong.
type envState struct {
	id        string
	events    int
	wrapped   bool
	w         events.Wrapped
	wrappedAt time.Time
	status    envelope.Status

	paid, opened, refund int64
	opens                int
	openers              []opener
	openerIdx            map[string]int // user → index into openers, once there are many

	expected []expectedTransfer
	disc     []Discrepancy
	lastHash string // the seal.Hash of the last message on the subject
}

func newEnvState(id string) *envState { return &envState{id: id} }

// step is what folding one event found, for audits.
type step struct {
	skipped   bool  // not folded: undecodable, forged, or of another envelope
	forged    bool  // not folded: it does not verify
	derived   int64 // Opened: the share the seed gives
	derivable bool  // derived is meaningful
	remAmount int64 // what is left after the event
	remCount  int
	transfers []outbox.Transfer
}

func (s *envState) add(d Discrepancy) {
	d.EnvelopeID = s.id
	s.disc = append(s.disc, d)
}

func (s *envState) has(kind string) bool {
	for _, d := range s.disc {
		if d.Kind == kind {
			return true
		}
	}
	return false
}

func (s *envState) remaining() (int64, int) {
	return s.w.Total - s.opened - s.refund, s.w.Count - s.opens
}

// apply folds one event. cutoff (zero: none) is the stream time after
// which the transfers of an event are still in flight.
func (s *envState) apply(it *eventItem, cutoff time.Time) (st step) {
	s.events++
	if it.seal.checked {
		err := it.seal.link("envelope "+s.id, it.seq, s.lastHash)
		s.lastHash = it.seal.hash
		if err != nil {
			// Written around the service: never folded, never credited.
			s.add(Discrepancy{Kind: KindForgedEvent, Invariant: "I1", Seq: it.seq, Detail: err.Error()})
			st.skipped, st.forged = true, true
			st.remAmount, st.remCount = s.remaining()
			return st
		}
	}
	if it.err != nil {
		s.add(Discrepancy{Kind: KindMalformedEvent, Invariant: "I1", Seq: it.seq, Detail: "event does not decode: " + it.err.Error()})
		st.skipped = true
		st.remAmount, st.remCount = s.remaining()
		return st
	}
	ev := it.ev
	if ev.EnvelopeID != s.id {
		s.add(Discrepancy{Kind: KindInvalidHistory, Invariant: "I1", Seq: it.seq,
			Detail: fmt.Sprintf("%s event of envelope %s stored on this envelope's subject", ev.Type, ev.EnvelopeID)})
		st.skipped = true
		st.remAmount, st.remCount = s.remaining()
		return st
	}
	if !s.wrapped && ev.Type != events.TypeWrapped {
		s.add(Discrepancy{Kind: KindInvalidHistory, Invariant: "I1", Seq: it.seq,
			Detail: fmt.Sprintf("%s before the envelope was wrapped", ev.Type)})
	}
	switch d := ev.Data.(type) {
	case events.Wrapped:
		s.onWrapped(it.seq, ev.At, d)
	case events.Paid:
		s.onPaid(it.seq, d)
	case events.Cancelled:
		if !s.wrapped {
			break
		}
		if s.status != envelope.StatusWrapped {
			s.add(Discrepancy{Kind: KindInvalidHistory, Invariant: "I1", Seq: it.seq, Detail: fmt.Sprintf("cancelled while %s", s.status)})
		}
		if !s.status.Terminal() {
			s.status = envelope.StatusCancelled
		}
	case events.Opened:
		st.derived, st.derivable = s.onOpened(it.seq, d)
	case events.Expired:
		s.onExpired(it.seq, d)
	}
	for _, t := range outbox.TransfersOf(events.Record{Seq: it.seq, Event: ev}, s.w.Sender) {
		s.expected = append(s.expected, expectedTransfer{Transfer: t, inFlight: !cutoff.IsZero() && it.stored.After(cutoff)})
		st.transfers = append(st.transfers, t)
	}
	st.remAmount, st.remCount = s.remaining()
	return st
}

func (s *envState) onWrapped(seq uint64, at time.Time, d events.Wrapped) {
	if s.wrapped {
		s.add(Discrepancy{Kind: KindInvalidHistory, Invariant: "I1", Seq: seq, Detail: "wrapped again; this event is ignored"})
		return
	}
	s.wrapped, s.w, s.wrappedAt = true, d, at
	s.status = envelope.StatusWrapped
}

func (s *envState) onPaid(seq uint64, d events.Paid) {
	if !s.wrapped {
		s.paid += d.Amount
		return
	}
	if s.status != envelope.StatusWrapped {
		s.add(Discrepancy{Kind: KindInvalidHistory, Invariant: "I1", Seq: seq, Detail: fmt.Sprintf("paid while %s", s.status)})
	}
	if d.Amount != s.w.Total {
		s.add(Discrepancy{Kind: KindInvalidHistory, Invariant: "I1", Seq: seq,
			Detail: fmt.Sprintf("paid %d for a total of %d", d.Amount, s.w.Total), Want: s.w.Total, Got: d.Amount})
	}
	s.paid += d.Amount
	if s.status == envelope.StatusWrapped {
		s.status = envelope.StatusLive
	}
}

// openedBefore returns the earlier open of user, if any.
func (s *envState) openedBefore(user string) (opener, bool) {
	if s.openerIdx != nil {
		i, ok := s.openerIdx[user]
		if !ok {
			return opener{}, false
		}
		return s.openers[i], true
	}
	for _, o := range s.openers {
		if o.user == user {
			return o, true
		}
	}
	return opener{}, false
}

func (s *envState) addOpener(o opener) {
	if _, dup := s.openedBefore(o.user); dup {
		return
	}
	s.openers = append(s.openers, o)
	switch {
	case s.openerIdx != nil:
		s.openerIdx[o.user] = len(s.openers) - 1
	case len(s.openers) > 32:
		s.openerIdx = make(map[string]int, len(s.openers))
		for i, o := range s.openers {
			s.openerIdx[o.user] = i
		}
	}
}

// derive returns the share the split gives the open at position pos
// (1-based) when remaining fen are left for n shares, and false when no
// share can be derived (nothing left, or a remainder that no n shares
// within the limits can make up: the history went wrong before).
func derive(w events.Wrapped, pos int, remaining int64, n int) (int64, bool) {
	if n < 1 || remaining < 1 {
		return 0, false
	}
	if w.Kind == events.KindEqual {
		return w.Total / int64(w.Count), true
	}
	if remaining < int64(n)*w.MinShare || overCap(remaining, int64(n), w.MaxShare) {
		return 0, false
	}
	return envelope.LuckyShare(w.Seed, pos, remaining, n, w.MinShare, w.MaxShare), true
}

// overCap reports whether total > count·max, without overflowing.
func overCap(total, count, max int64) bool {
	q, r := total/count, total%count
	return q > max || (q == max && r != 0)
}

func (s *envState) onOpened(seq uint64, d events.Opened) (derived int64, derivable bool) {
	if !s.wrapped {
		s.opens++
		s.opened += d.Amount
		s.addOpener(opener{user: d.User, index: d.Index, seq: seq})
		return 0, false
	}
	pos := s.opens + 1
	remBefore, nBefore := s.remaining()

	if prev, dup := s.openedBefore(d.User); dup {
		s.add(Discrepancy{Kind: KindDuplicateOpen, Invariant: "I3", User: d.User, Seq: seq, Want: 1, Got: 2,
			Detail: fmt.Sprintf("%s opened again (index %d) after opening at index %d (seq %d)", d.User, d.Index, prev.index, prev.seq)})
	}

	// Every reason goes into one over_issue; Want/Got show the most
	// telling one (later assignments win: sums, then count, then index).
	var over []string
	inv := "I3"
	var want, got int64
	switch s.status {
	case envelope.StatusWrapped, envelope.StatusCancelled:
		over = append(over, fmt.Sprintf("opened while %s: no payment funds it", s.status))
		inv, want, got = "I1", s.paid, d.Amount
	case envelope.StatusExpired:
		over = append(over, "opened after the envelope expired and was refunded")
		inv, want, got = "I1", 0, d.Amount
	}
	if nBefore >= 1 {
		derived, derivable = derive(s.w, pos, remBefore, nBefore)
		switch {
		case !derivable:
			s.add(Discrepancy{Kind: KindShareNotDerivable, Invariant: "I2", User: d.User, Seq: seq, Got: d.Amount,
				Detail: fmt.Sprintf("share %d: %d fen left for %d shares of [%d, %d] cannot be split", d.Amount, remBefore, nBefore, s.w.MinShare, s.w.MaxShare)})
		case d.Amount != derived:
			s.add(Discrepancy{Kind: KindShareNotDerivable, Invariant: "I2", User: d.User, Seq: seq, Want: derived, Got: d.Amount,
				Detail: fmt.Sprintf("share %d at index %d where the seed gives %d (%d fen left for %d shares)", d.Amount, pos, derived, remBefore, nBefore)})
		case d.Amount < s.w.MinShare || d.Amount > s.w.MaxShare:
			s.add(Discrepancy{Kind: KindShareNotDerivable, Invariant: "I2", User: d.User, Seq: seq, Want: derived, Got: d.Amount,
				Detail: fmt.Sprintf("share %d outside [%d, %d]", d.Amount, s.w.MinShare, s.w.MaxShare)})
		}
	}

	s.opens++
	s.opened += d.Amount
	s.addOpener(opener{user: d.User, index: d.Index, seq: seq})
	remAfter, nAfter := s.remaining()
	if d.RemainingAmount != remAfter || d.RemainingCount != nAfter {
		over = append(over, fmt.Sprintf("records %d fen / %d shares remaining where %d / %d are left", d.RemainingAmount, d.RemainingCount, remAfter, nAfter))
		if want == 0 && got == 0 {
			want, got = remAfter, d.RemainingAmount
		}
	}
	if d.Index != pos {
		over = append(over, fmt.Sprintf("index %d after %d opens", d.Index, s.opens-1))
		want, got = int64(pos), int64(d.Index)
	}
	if pos > s.w.Count {
		over = append(over, fmt.Sprintf("open %d of an envelope of %d shares", pos, s.w.Count))
		want, got = int64(s.w.Count), int64(pos)
	}
	if out := s.opened + s.refund; out > s.w.Total {
		over = append(over, fmt.Sprintf("Σ opened %d + refund %d = %d exceeds the total %d", s.opened, s.refund, out, s.w.Total))
		inv, want, got = "I1", s.w.Total, out
	}
	if len(over) > 0 {
		s.add(Discrepancy{Kind: KindOverIssue, Invariant: inv, User: d.User, Seq: seq, Want: want, Got: got,
			Detail: strings.Join(over, "; ")})
	}
	if s.status == envelope.StatusLive && s.opens >= s.w.Count {
		s.status = envelope.StatusFinished
	}
	return derived, derivable
}

func (s *envState) onExpired(seq uint64, d events.Expired) {
	if !s.wrapped {
		s.refund += d.Refund
		return
	}
	if s.status != envelope.StatusLive {
		s.add(Discrepancy{Kind: KindInvalidHistory, Invariant: "I1", Seq: seq, Detail: fmt.Sprintf("expired while %s", s.status)})
	}
	want, _ := s.remaining()
	var why []string
	if d.Refund != want {
		why = append(why, fmt.Sprintf("refund %d where total %d − Σ opened %d − refunded %d = %d", d.Refund, s.w.Total, s.opened, s.refund, want))
	}
	if d.OpenedCount != s.opens {
		why = append(why, fmt.Sprintf("records %d opens where there were %d", d.OpenedCount, s.opens))
	}
	if len(why) > 0 {
		s.add(Discrepancy{Kind: KindRefundMismatch, Invariant: "I1", Seq: seq, Want: want, Got: d.Refund, Detail: strings.Join(why, "; ")})
	}
	s.refund += d.Refund
	if s.status == envelope.StatusLive {
		s.status = envelope.StatusExpired
	}
}

// finish makes the end-of-history checks (I1).
func (s *envState) finish() {
	if !s.wrapped {
		return
	}
	out := s.opened + s.refund
	switch {
	case out > s.w.Total:
		if !s.has(KindOverIssue) {
			s.add(Discrepancy{Kind: KindOverIssue, Invariant: "I1", Want: s.w.Total, Got: out,
				Detail: fmt.Sprintf("Σ opened %d + refund %d = %d exceeds the total %d", s.opened, s.refund, out, s.w.Total)})
		}
	case out != s.w.Total && (s.status == envelope.StatusFinished || s.status == envelope.StatusExpired):
		if !s.has(KindRefundMismatch) {
			s.add(Discrepancy{Kind: KindRefundMismatch, Invariant: "I1", Want: s.w.Total, Got: out,
				Detail: fmt.Sprintf("%s with Σ opened %d + refund %d = %d of a total of %d", s.status, s.opened, s.refund, out, s.w.Total)})
		}
	}
}
