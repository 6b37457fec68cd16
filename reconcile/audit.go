package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/internal/seal"
	"github.com/hongbao/hongbao/internal/streamlog"
	"github.com/hongbao/hongbao/topology"
)

// ErrNotFound: the envelope has neither events nor ledger entries.
var ErrNotFound = errors.New("reconcile: no such envelope")

// AuditReport explains one envelope: its history with the ledger entries
// beside each event, every share re-derived, and a verdict on I1–I5.
type AuditReport struct {
	EnvelopeID string `json:"envelope_id"`
	Sender     string `json:"sender,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Total      int64  `json:"total"`
	Count      int    `json:"count"`
	MinShare   int64  `json:"min_share"`
	MaxShare   int64  `json:"max_share"`
	State      string `json:"state"`
	Opens      int    `json:"opens"`
	Opened     int64  `json:"opened_total"`
	Refunded   int64  `json:"refunded"`
	Escrow     int64  `json:"escrow_balance"` // from the ledger

	History []AuditRow `json:"history"`
	// Other lists the ledger entries on the envelope's escrow subject that
	// no event's transfer id names.
	Other         []AuditEntry  `json:"other_transfers"`
	Invariants    []Verdict     `json:"invariants"`
	Discrepancies []Discrepancy `json:"discrepancies"`
	OK            bool          `json:"ok"`
}

// AuditRow is one event. Remaining amount and count are as recorded for an
// Opened, and as folded for the other events.
type AuditRow struct {
	Seq             uint64    `json:"seq"`
	Stored          time.Time `json:"stored"` // when the stream stored it
	At              time.Time `json:"at,omitzero"`
	Type            string    `json:"type"`
	User            string    `json:"user,omitempty"` // opener; the sender for wrapped and expired
	Amount          int64     `json:"amount,omitempty"`
	Index           int       `json:"index,omitempty"`
	Derived         *int64    `json:"derived,omitempty"` // Opened: the share the seed gives
	RemainingAmount int64     `json:"remaining_amount"`
	RemainingCount  int       `json:"remaining_count"`
	// Transfers are those the event implies, each with the entries that
	// book it.
	Transfers []AuditTransfer `json:"transfers,omitempty"`
	Problems  []string        `json:"problems,omitempty"` // kinds of the discrepancies at this event
}

// AuditTransfer is a transfer an event implies and its ledger entries.
type AuditTransfer struct {
	ID     string       `json:"id"`
	Kind   string       `json:"kind"`
	Debit  string       `json:"debit"`
	Credit string       `json:"credit"`
	Amount int64        `json:"amount"`
	Booked []AuditEntry `json:"booked"` // none: missing (or in flight)
}

// AuditEntry is a ledger entry as stored.
type AuditEntry struct {
	LedgerSeq     uint64    `json:"ledger_seq"`
	Stored        time.Time `json:"stored"`
	ID            string    `json:"id"`
	Kind          string    `json:"kind"`
	Debit         string    `json:"debit"`
	Credit        string    `json:"credit"`
	Amount        int64     `json:"amount"`
	EscrowBalance int64     `json:"escrow_balance"`
	Problem       string    `json:"problem,omitempty"` // kind of its discrepancy
	Error         string    `json:"error,omitempty"`   // it does not decode
}

// Verdict is the judgement on one invariant.
type Verdict struct {
	Invariant string   `json:"invariant"`
	Statement string   `json:"statement"`
	OK        bool     `json:"ok"`
	Kinds     []string `json:"kinds,omitempty"` // of the discrepancies that break it
}

// statements of the invariants the reconciler checks.
var statements = []struct{ Invariant, Statement string }{
	{"I1", "Σ opened + refund ≤ total; equality once finished or expired"},
	{"I2", "every share is within [min, max] and equals what the seed derives"},
	{"I3", "a user opens at most once; at most count opens"},
	{"I4", "one ledger credit per Opened and per refund, of the same amount; no credit without its event"},
	{"I5", "double entry; the escrow never below zero and at zero once ended"},
}

// Audit explains one envelope from the streams of top (the zero value:
// ENVELOPES, LEDGER): its events (the envelope's subject, envelope.<id>)
// and the entries of its escrow (ledger.escrow.<id>), judged by the same
// checks as Run. It reads with direct gets and needs no consumer.
// ErrNotFound when the envelope has neither events nor entries.
func Audit(ctx context.Context, js jetstream.JetStream, top topology.Topology, envelopeID string) (AuditReport, error) {
	rep := AuditReport{EnvelopeID: envelopeID, History: []AuditRow{}, Other: []AuditEntry{}, Discrepancies: []Discrepancy{}}
	p := top.Partition(envelopeID)
	evSubject := top.EnvelopeSubject(envelopeID)
	evs, err := loadSubject(ctx, js, top.EnvelopeStream(p), evSubject)
	if err != nil {
		return rep, err
	}
	ledSubject := top.EscrowSubject(envelopeID)
	msgs, err := loadSubject(ctx, js, top.LedgerStream(p), ledSubject)
	if err != nil {
		return rep, err
	}
	if len(evs) == 0 && len(msgs) == 0 {
		return rep, fmt.Errorf("%w: %s", ErrNotFound, envelopeID)
	}

	policy, err := seal.LoadPolicy(ctx, js, top.KeysBucket())
	if err != nil {
		return rep, fmt.Errorf("reconcile: %w", err)
	}
	decodeEv := eventDecoder(policy, top.EnvelopeStream(p))
	s := newEnvState(envelopeID)
	rowOf := map[string]int{} // expected transfer id → row
	for _, m := range evs {
		it := decodeEv(&rawMsg{subject: evSubject, seq: m.Seq, time: m.Time, data: m.Data, header: m.Header})
		st := s.apply(&it, time.Time{})
		row := AuditRow{Seq: m.Seq, Stored: m.Time.UTC(), RemainingAmount: st.remAmount, RemainingCount: st.remCount}
		switch {
		case st.forged:
			row.Type = "forged"
		case it.err != nil:
			row.Type = "undecodable"
		default:
			row.At, row.Type = it.ev.At, string(it.ev.Type)
			switch d := it.ev.Data.(type) {
			case events.Wrapped:
				row.User, row.Amount = d.Sender, d.Total
			case events.Paid:
				row.Amount = d.Amount
			case events.Opened:
				row.User, row.Amount, row.Index = d.User, d.Amount, d.Index
				row.RemainingAmount, row.RemainingCount = d.RemainingAmount, d.RemainingCount
				if st.derivable {
					row.Derived = &st.derived
				}
			case events.Expired:
				row.User, row.Amount = s.w.Sender, d.Refund
			case events.Cancelled: // no user, no amount
			}
		}
		for _, t := range st.transfers {
			if _, dup := rowOf[t.ID]; !dup {
				rowOf[t.ID] = len(rep.History)
			}
			row.Transfers = append(row.Transfers, AuditTransfer{ID: t.ID, Kind: t.Kind, Debit: t.Debit, Credit: t.Credit,
				Amount: t.Amount, Booked: []AuditEntry{}})
		}
		rep.History = append(rep.History, row)
	}
	s.finish()

	ents := make([]ledgerEntry, len(msgs))
	decodeEnt := entryDecoder(top, policy)
	for i, m := range msgs {
		ents[i] = decodeEnt(&rawMsg{subject: ledSubject, seq: m.Seq, time: m.Time, data: m.Data, header: m.Header})
	}
	var money Money
	c := checkEnvelope(s, ents, &money)
	for i, e := range ents {
		ae := AuditEntry{LedgerSeq: e.seq, Stored: msgs[i].Time.UTC(), Problem: c.note[i]}
		if e.err != nil {
			ae.Error = e.err.Error()
			rep.Other = append(rep.Other, ae)
			continue
		}
		t := e.ent.Transfer
		ae.ID, ae.Kind, ae.Debit, ae.Credit, ae.Amount, ae.EscrowBalance = t.ID, t.Kind, t.Debit, t.Credit, t.Amount, e.ent.EscrowBalance
		r, ok := rowOf[t.ID]
		if !ok {
			rep.Other = append(rep.Other, ae)
			continue
		}
		for k := range rep.History[r].Transfers {
			if rep.History[r].Transfers[k].ID == t.ID {
				rep.History[r].Transfers[k].Booked = append(rep.History[r].Transfers[k].Booked, ae)
				break
			}
		}
	}

	rep.Sender, rep.Kind, rep.Total, rep.Count = s.w.Sender, string(s.w.Kind), s.w.Total, s.w.Count
	rep.MinShare, rep.MaxShare = s.w.MinShare, s.w.MaxShare
	rep.State, rep.Opens, rep.Opened, rep.Refunded, rep.Escrow = s.status.String(), s.opens, s.opened, s.refund, c.escrow
	rep.Discrepancies = append(rep.Discrepancies, c.disc...)
	sortDiscrepancies(rep.Discrepancies)
	rowAt := map[uint64]int{}
	for i, r := range rep.History {
		rowAt[r.Seq] = i
	}
	broken := map[string][]string{}
	for _, d := range rep.Discrepancies {
		if !contains(broken[d.Invariant], d.Kind) {
			broken[d.Invariant] = append(broken[d.Invariant], d.Kind)
		}
		if i, ok := rowAt[d.Seq]; ok && d.Seq != 0 && !contains(rep.History[i].Problems, d.Kind) {
			rep.History[i].Problems = append(rep.History[i].Problems, d.Kind)
		}
	}
	for _, st := range statements {
		rep.Invariants = append(rep.Invariants, Verdict{Invariant: st.Invariant, Statement: st.Statement,
			OK: len(broken[st.Invariant]) == 0, Kinds: broken[st.Invariant]})
	}
	rep.OK = len(rep.Discrepancies) == 0
	return rep, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// loadSubject reads a subject of a stream with direct gets; a stream that
// does not exist holds nothing.
func loadSubject(ctx context.Context, js jetstream.JetStream, stream, subject string) ([]streamlog.Msg, error) {
	st, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reconcile: stream %s: %w", stream, err)
	}
	return streamlog.NewLog(js, st, 0, nil).Load(ctx, subject)
}
