package reconcile

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hongbao/hongbao/internal/seal"
	"github.com/hongbao/hongbao/ledger"
	"github.com/hongbao/hongbao/topology"
)

// ledgerEntry is one LEDGER message, decoded.
type ledgerEntry struct {
	key     string // the envelope of its escrow subject; "" when the subject is not one
	subject string // set only when key is ""
	escrows string // what precedes the envelope id on escrow subjects; set only when key is ""
	seq     uint64
	ent     ledger.Entry
	err     error // it does not decode
	seal    sealCheck
}

// entryDecoder decodes the entries of a ledger of top.
func entryDecoder(top topology.Topology, policy *seal.Policy) func(m *rawMsg) ledgerEntry {
	escrows, stream := top.EscrowSubject(""), top.LedgerStream(0)
	return func(m *rawMsg) ledgerEntry {
		e := decodeEntry(m, escrows)
		e.seal = checkSeal(policy, stream, m)
		return e
	}
}

// decodeEntry decodes m, a ledger message; escrows is what precedes the
// envelope id on escrow subjects.
func decodeEntry(m *rawMsg, escrows string) ledgerEntry {
	e := ledgerEntry{seq: m.seq}
	if id, ok := strings.CutPrefix(m.subject, escrows); ok && id != "" && !strings.Contains(id, ".") {
		e.key = id
	} else {
		e.subject, e.escrows = m.subject, escrows
	}
	// Not ledger.DecodeEntry: it drops the entry when its version is wrong
	// and stops at the first problem; the reconciler wants to see it all.
	e.err = json.Unmarshal(m.data, &e.ent)
	return e
}

// problems lists what makes an entry something other than a valid
// double-entry transfer of this ledger.
func (e *ledgerEntry) problems() []string {
	var why []string
	t := e.ent.Transfer
	if e.key == "" {
		why = append(why, fmt.Sprintf("stored on subject %s, not %s<envelope>", e.subject, e.escrows))
	}
	if e.ent.V != 1 {
		why = append(why, fmt.Sprintf("entry version %d", e.ent.V))
	}
	if err := t.Validate(); err != nil {
		why = append(why, err.Error())
	}
	if e.key != "" && t.EnvelopeID != e.key {
		why = append(why, fmt.Sprintf("a transfer of envelope %s on the escrow subject of %s", t.EnvelopeID, e.key))
	}
	escrow := ledger.EscrowAccount(t.EnvelopeID)
	switch t.Kind {
	case ledger.KindFund:
		if t.Debit != ledger.AccountExternal || t.Credit != escrow {
			why = append(why, fmt.Sprintf("a fund moving %s → %s, not %s → %s", t.Debit, t.Credit, ledger.AccountExternal, escrow))
		}
	case ledger.KindOpen, ledger.KindRefund:
		if t.Debit != escrow || !strings.HasPrefix(t.Credit, "wallet:") {
			why = append(why, fmt.Sprintf("a %s moving %s → %s, not %s → a wallet", t.Kind, t.Debit, t.Credit, escrow))
		}
	default:
		why = append(why, fmt.Sprintf("kind %q is not fund, open or refund", t.Kind))
	}
	return why
}

// envCheck is what comparing an envelope with its escrow found.
type envCheck struct {
	disc     []Discrepancy      // the fold's and the ledger's, in that order
	expected []expectedTransfer // the transfers the events imply, one per id
	inFlight int
	escrow   int64
	// Per ledger entry: the index in expected of the transfer it books
	// (-1: none) and the kind of the discrepancy it shows ("" if none).
	match []int
	note  []string
}

func transferString(t ledger.Transfer) string {
	return fmt.Sprintf("%s %s → %s %d", t.Kind, t.Debit, t.Credit, t.Amount)
}

// checkEnvelope compares the fold of an envelope with the entries on its
// escrow subject, in stream order, and adds the entries to money.
func checkEnvelope(s *envState, ents []ledgerEntry, money *Money) envCheck {
	c := envCheck{match: make([]int, len(ents)), note: make([]string, len(ents))}
	var disc []Discrepancy
	add := func(i int, d Discrepancy) {
		d.EnvelopeID = s.id
		disc = append(disc, d)
		if i >= 0 {
			c.note[i] = d.Kind
		}
	}

	byID := make(map[string]int, len(s.expected))
	for _, x := range s.expected {
		if _, dup := byID[x.ID]; !dup {
			byID[x.ID] = len(c.expected)
			c.expected = append(c.expected, x)
		}
	}
	booked := make([]bool, len(c.expected))
	seen := make(map[string]uint64, len(ents))
	escrow := ledger.EscrowAccount(s.id)
	var bal int64
	var unexpected []int
	negative, recorded := false, false
	lastHash := ""
	for i := range ents {
		e := &ents[i]
		c.match[i] = -1
		if e.seal.checked {
			err := e.seal.link("escrow "+s.id, e.seq, lastHash)
			lastHash = e.seal.hash
			if err != nil {
				add(i, Discrepancy{Kind: KindForgedEvent, Invariant: "I5", LedgerSeq: e.seq, Detail: err.Error()})
				continue
			}
		}
		if e.err != nil {
			add(i, Discrepancy{Kind: KindMalformedEvent, Invariant: "I5", LedgerSeq: e.seq, Detail: "entry does not decode: " + e.err.Error()})
			continue
		}
		t := e.ent.Transfer
		if why := e.problems(); len(why) > 0 {
			add(i, Discrepancy{Kind: KindUnbalanced, Invariant: "I5", TransferID: t.ID, LedgerSeq: e.seq, Got: t.Amount,
				Detail: "not a valid transfer: " + strings.Join(why, "; ")})
		}
		switch {
		case t.Credit == escrow && t.Debit != escrow:
			bal += t.Amount
		case t.Debit == escrow && t.Credit != escrow:
			bal -= t.Amount
		}
		if bal < 0 && !negative {
			negative = true
			add(i, Discrepancy{Kind: KindUnbalanced, Invariant: "I5", TransferID: t.ID, LedgerSeq: e.seq, Want: 0, Got: bal,
				Detail: fmt.Sprintf("the escrow goes below zero, to %d, at this entry", bal)})
		}
		if e.ent.EscrowBalance != bal && !recorded {
			recorded = true
			add(i, Discrepancy{Kind: KindUnbalanced, Invariant: "I5", TransferID: t.ID, LedgerSeq: e.seq, Want: bal, Got: e.ent.EscrowBalance,
				Detail: fmt.Sprintf("records an escrow balance of %d where the entries up to it give %d: entries before it are missing or altered", e.ent.EscrowBalance, bal)})
		}
		addMoney(money, t)

		if first, dup := seen[t.ID]; dup {
			add(i, Discrepancy{Kind: KindDuplicateCredit, Invariant: "I4", TransferID: t.ID, LedgerSeq: e.seq, Got: t.Amount,
				Detail: fmt.Sprintf("id booked again (first at ledger seq %d): %s", first, transferString(t))})
			continue
		}
		seen[t.ID] = e.seq
		j, ok := byID[t.ID]
		if !ok {
			unexpected = append(unexpected, i)
			continue
		}
		booked[j], c.match[i] = true, j
		x := c.expected[j]
		if x.Amount != t.Amount || x.Debit != t.Debit || x.Credit != t.Credit || x.Kind != t.Kind || x.EnvelopeID != t.EnvelopeID {
			add(i, Discrepancy{Kind: KindAmountMismatch, Invariant: "I4", TransferID: t.ID, User: x.User, Seq: x.Seq, LedgerSeq: e.seq,
				Want: x.Amount, Got: t.Amount,
				Detail: fmt.Sprintf("booked %s where the event implies %s", transferString(t), transferString(x.Transfer.Transfer))})
		}
	}
	c.escrow = bal
	money.InEscrow += bal

	lookalike := make([]string, len(c.expected))
	for _, i := range unexpected {
		t := ents[i].ent.Transfer
		j := -1
		for k, x := range c.expected {
			if x.Kind == t.Kind && x.Credit == t.Credit && x.Amount == t.Amount && x.EnvelopeID == t.EnvelopeID {
				j = k
				if booked[k] {
					break
				}
			}
		}
		switch {
		case j >= 0 && booked[j]:
			add(i, Discrepancy{Kind: KindDuplicateCredit, Invariant: "I4", TransferID: t.ID, User: c.expected[j].User, Seq: c.expected[j].Seq,
				LedgerSeq: ents[i].seq, Got: t.Amount,
				Detail: fmt.Sprintf("repeats %s (same kind, credit account and amount) under another id", c.expected[j].ID)})
		case j >= 0:
			lookalike[j] = t.ID
			add(i, Discrepancy{Kind: KindOrphanTransfer, Invariant: "I4", TransferID: t.ID, LedgerSeq: ents[i].seq, Got: t.Amount,
				Detail: fmt.Sprintf("no event implies it (%s); it looks like %s, which is not booked under its own id", transferString(t), c.expected[j].ID)})
		default:
			add(i, Discrepancy{Kind: KindOrphanTransfer, Invariant: "I4", TransferID: t.ID, LedgerSeq: ents[i].seq, Got: t.Amount,
				Detail: fmt.Sprintf("no event of this envelope implies it: %s", transferString(t))})
		}
	}

	missing := 0
	for j, x := range c.expected {
		switch {
		case booked[j]:
			continue
		case x.inFlight:
			c.inFlight++
			continue
		}
		missing++
		t := x.Transfer.Transfer
		d := Discrepancy{Kind: KindMissingCredit, Invariant: "I4", TransferID: x.ID, User: x.User, Seq: x.Seq, Want: x.Amount, Got: 0,
			Detail: "no ledger entry for " + transferString(t), Transfer: &t}
		if lookalike[j] != "" {
			d.Detail += fmt.Sprintf("; %s books the same fields under another id", lookalike[j])
		}
		d.Repairable = lookalike[j] == "" // and nothing else blocks it: below
		add(-1, d)
	}

	switch {
	case s.status.Terminal():
		if c.inFlight == 0 && bal != 0 {
			add(-1, Discrepancy{Kind: KindEscrowNotZero, Invariant: "I5", Want: 0, Got: bal,
				Detail: fmt.Sprintf("%s with %d fen left in escrow", s.status, bal)})
		}
	case missing == 0 && c.inFlight == 0:
		var want int64
		for _, x := range c.expected {
			if x.Credit == escrow {
				want += x.Amount
			} else if x.Debit == escrow {
				want -= x.Amount
			}
		}
		if bal != want {
			add(-1, Discrepancy{Kind: KindEscrowNotZero, Invariant: "I5", Want: want, Got: bal,
				Detail: fmt.Sprintf("%s with %d fen in escrow where its transfers leave %d", s.status, bal, want)})
		}
	}

	// A missing credit is repaired automatically only on an envelope that
	// shows no sign of forgery or tampering: issuing the credit of a forged
	// event, or next to a look-alike, would pay twice or pay for nothing.
	blocked := len(s.disc) > 0
	for _, d := range disc {
		switch d.Kind {
		case KindAmountMismatch, KindDuplicateCredit, KindOrphanTransfer:
			blocked = true
		}
	}
	c.disc = make([]Discrepancy, 0, len(s.disc)+len(disc))
	c.disc = append(c.disc, s.disc...)
	for _, d := range disc {
		d.Repairable = d.Repairable && !blocked
		c.disc = append(c.disc, d)
	}
	return c
}

// addMoney books a transfer in the totals.
func addMoney(m *Money, t ledger.Transfer) {
	switch t.Kind {
	case ledger.KindFund:
		m.PaidIn += t.Amount
	case ledger.KindOpen:
		m.PaidOutOpens += t.Amount
	case ledger.KindRefund:
		m.Refunded += t.Amount
	}
	for _, side := range [2]struct {
		account string
		sign    int64
	}{{t.Debit, -1}, {t.Credit, 1}} {
		switch {
		case side.account == ledger.AccountExternal:
			m.External += side.sign * t.Amount
		case strings.HasPrefix(side.account, "wallet:"):
			m.Wallets += side.sign * t.Amount
		}
	}
}
