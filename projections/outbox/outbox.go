package outbox

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/ledger"
	"github.com/hongbao/hongbao/projections/projector"
)

// Transfer is one money movement the ledger must make, with the stream
// sequence of the event behind it and whose wallet it credits.
type Transfer struct {
	ledger.Transfer
	User string `json:"user,omitempty"` // whose wallet is credited (open, refund)
	Seq  uint64 `json:"seq"`            // stream sequence of the event
}

// Projection is the outbox; it implements projector.Projection.
type Projection struct{}

var _ projector.Projection = Projection{}

// Name is "outbox".
func (Projection) Name() string { return "outbox" }

// Format is the version of the rows: 2 since a transfer is one compact row
// under its sequence (format 1 kept it as JSON under its id, indexed by
// sequence). A database in another format is rebuilt, not read.
func (Projection) Format() int { return 2 }

func senderKey(id string) []byte {
	return append(append(make([]byte, 0, 4+len(id)), "o/s/"...), id...)
}

func queueKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, 4+8), "o/q/"...), seq)
}

// TransfersOf returns the transfers an event implies (sender is the
// envelope's sender, needed for refunds).
func TransfersOf(rec events.Record, sender string) []Transfer {
	if t, ok := transferOf(rec, sender); ok {
		return []Transfer{t}
	}
	return nil
}

// transferOf is the transfer an event implies, if any (at most one).
func transferOf(rec events.Record, sender string) (Transfer, bool) {
	f, ok := factsOf(rec.Event)
	if !ok {
		return Transfer{}, false
	}
	if f.kind == ledger.KindRefund {
		f.user = sender
	}
	return f.transfer(rec.Seq), true
}

// facts are what a transfer is derived from, and all its row stores.
type facts struct {
	kind, envelope, user string // user: whose wallet is credited (open, refund)
	index                int    // an open's
	amount               int64
	at                   time.Time
}

// factsOf reads the facts of the transfer an event implies, if any. A
// refund's user is the envelope's sender, which the event does not carry:
// the caller fills it in.
func factsOf(ev events.Event) (facts, bool) {
	f := facts{envelope: ev.EnvelopeID, at: ev.At}
	switch d := ev.Data.(type) {
	case events.Paid:
		f.kind, f.amount = ledger.KindFund, d.Amount
	case events.Opened:
		f.kind, f.index, f.user, f.amount = ledger.KindOpen, d.Index, d.User, d.Amount
	case events.Expired:
		if d.Refund == 0 {
			return f, false
		}
		f.kind, f.amount = ledger.KindRefund, d.Refund
	case events.Wrapped, events.Cancelled: // no money moves
		return f, false
	default:
		return f, false
	}
	return f, true
}

// transfer derives the transfer's id and accounts from the facts, so a
// transfer read back from its row is the one its event implied.
func (f facts) transfer(seq uint64) Transfer {
	t := Transfer{Seq: seq, User: f.user, Transfer: ledger.Transfer{Kind: f.kind, EnvelopeID: f.envelope, Amount: f.amount, At: f.at}}
	escrow := ledger.EscrowAccount(f.envelope)
	switch f.kind {
	case ledger.KindFund:
		t.ID, t.Debit, t.Credit = "fund:"+f.envelope, ledger.AccountExternal, escrow
	case ledger.KindOpen:
		t.ID, t.Debit, t.Credit = "open:"+f.envelope+":"+strconv.Itoa(f.index), escrow, ledger.WalletAccount(f.user)
	case ledger.KindRefund:
		t.ID, t.Debit, t.Credit = "refund:"+f.envelope, escrow, ledger.WalletAccount(f.user)
	}
	return t
}

// Apply projects one event.
func (Projection) Apply(tx *projector.Tx, rec events.Record) error {
	id := rec.Event.EnvelopeID
	if w, ok := rec.Event.Data.(events.Wrapped); ok {
		return tx.SetRaw(senderKey(id), []byte(w.Sender))
	}
	f, ok := factsOf(rec.Event)
	if !ok {
		return nil
	}
	if f.kind == ledger.KindRefund {
		sender, found, err := tx.GetRaw(senderKey(id))
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("outbox: %s for unknown envelope %s: %w", rec.Event.Type, id, pebble.ErrNotFound)
		}
		f.user = string(sender)
	}
	return tx.SetRaw(queueKey(rec.Seq), f.appendRow())
}

// A transfer row (under o/q/<seq>) is
//
//	tag       1 byte: 'f' fund, 'o' open, 'r' refund
//	envelope  uvarint length, bytes
//	amount    varint
//	at        varint Unix seconds, uvarint nanoseconds
//	index     uvarint (open only)
//	user      uvarint length, bytes (open and refund)
//
// about 50 bytes where the JSON of format 1 took 230. The rest of the
// transfer (id, accounts) is derived again by facts.transfer.
var tags = map[string]byte{ledger.KindFund: 'f', ledger.KindOpen: 'o', ledger.KindRefund: 'r'}

func (f facts) appendRow() []byte {
	b := make([]byte, 0, 1+1+len(f.envelope)+10+10+5+3+1+len(f.user))
	b = projector.AppendString(append(b, tags[f.kind]), f.envelope)
	b = projector.AppendTime(binary.AppendVarint(b, f.amount), f.at)
	if f.kind == ledger.KindOpen {
		b = binary.AppendUvarint(b, uint64(f.index))
	}
	if f.kind != ledger.KindFund {
		b = projector.AppendString(b, f.user)
	}
	return b
}

// decodeRow reads a transfer row back (seq is its key's).
func decodeRow(b []byte, seq uint64) (Transfer, error) {
	r := projector.NewRowReader(b)
	tag := r.Byte()
	f := facts{envelope: r.String(), amount: r.Varint(), at: r.Time()}
	switch tag {
	case tags[ledger.KindFund]:
		f.kind = ledger.KindFund
	case tags[ledger.KindOpen]:
		f.kind = ledger.KindOpen
		if index := r.Uvarint(); index <= 1<<31 {
			f.index = int(index)
		} else {
			r.Fail()
		}
		f.user = r.String()
	case tags[ledger.KindRefund]:
		f.kind, f.user = ledger.KindRefund, r.String()
	default:
		r.Fail()
	}
	if err := r.Done(); err != nil {
		return Transfer{}, fmt.Errorf("outbox: the transfer at sequence %d: %w", seq, err)
	}
	return f.transfer(seq), nil
}

// List returns up to limit transfers in stream order after the stream
// sequence after.
func List(r pebble.Reader, after uint64, limit int) ([]Transfer, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: queueKey(after + 1), UpperBound: projector.PrefixEnd([]byte("o/q/"))})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Transfer
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		k := it.Key()
		if len(k) != 4+8 {
			return nil, fmt.Errorf("outbox: %w: key %q", projector.ErrCorruptRow, k)
		}
		t, err := decodeRow(it.Value(), binary.BigEndian.Uint64(k[4:]))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, it.Error()
}
