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
	switch d := rec.Event.Data.(type) {
	case events.Paid:
		return newTransfer(ledger.KindFund, rec.Event.EnvelopeID, 0, "", d.Amount, rec.Event.At, rec.Seq), true
	case events.Opened:
		return newTransfer(ledger.KindOpen, rec.Event.EnvelopeID, d.Index, d.User, d.Amount, rec.Event.At, rec.Seq), true
	case events.Expired:
		if d.Refund == 0 {
			return Transfer{}, false
		}
		return newTransfer(ledger.KindRefund, rec.Event.EnvelopeID, 0, sender, d.Refund, rec.Event.At, rec.Seq), true
	}
	return Transfer{}, false
}

// newTransfer derives a transfer's id and accounts from what its event
// says: the kind, the envelope, the open's index and whose wallet it
// credits. A stored row holds only these, so a transfer read back is the
// one the event implied.
func newTransfer(kind, envelope string, index int, user string, amount int64, at time.Time, seq uint64) Transfer {
	t := Transfer{Seq: seq, User: user, Transfer: ledger.Transfer{Kind: kind, EnvelopeID: envelope, Amount: amount, At: at}}
	switch kind {
	case ledger.KindFund:
		t.ID, t.Debit, t.Credit = "fund:"+envelope, ledger.AccountExternal, ledger.EscrowAccount(envelope)
	case ledger.KindOpen:
		t.ID = "open:" + envelope + ":" + strconv.Itoa(index)
		t.Debit, t.Credit = ledger.EscrowAccount(envelope), ledger.WalletAccount(user)
	case ledger.KindRefund:
		t.ID, t.Debit, t.Credit = "refund:"+envelope, ledger.EscrowAccount(envelope), ledger.WalletAccount(user)
	}
	return t
}

// Apply projects one event.
func (Projection) Apply(tx *projector.Tx, rec events.Record) error {
	id := rec.Event.EnvelopeID
	var row []byte
	switch d := rec.Event.Data.(type) {
	case events.Wrapped:
		return tx.SetRaw(senderKey(id), []byte(d.Sender))
	case events.Paid:
		row = appendRow(tagFund, id, 0, "", d.Amount, rec.Event.At)
	case events.Opened:
		row = appendRow(tagOpen, id, d.Index, d.User, d.Amount, rec.Event.At)
	case events.Expired:
		if d.Refund == 0 {
			return nil
		}
		sender, found, err := tx.GetRaw(senderKey(id))
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("outbox: %s for unknown envelope %s: %w", rec.Event.Type, id, pebble.ErrNotFound)
		}
		row = appendRow(tagRefund, id, 0, string(sender), d.Refund, rec.Event.At)
	default:
		return nil
	}
	return tx.SetRaw(queueKey(rec.Seq), row)
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
// transfer (id, accounts) is derived again by newTransfer.
const (
	tagFund   = 'f'
	tagOpen   = 'o'
	tagRefund = 'r'
)

func appendRow(tag byte, envelope string, index int, user string, amount int64, at time.Time) []byte {
	b := make([]byte, 0, 1+1+len(envelope)+10+10+5+3+1+len(user))
	b = projector.AppendString(append(b, tag), envelope)
	b = projector.AppendTime(binary.AppendVarint(b, amount), at)
	if tag == tagOpen {
		b = binary.AppendUvarint(b, uint64(index))
	}
	if tag != tagFund {
		b = projector.AppendString(b, user)
	}
	return b
}

// decodeRow reads a transfer row back (seq is its key's).
func decodeRow(b []byte, seq uint64) (Transfer, error) {
	r := projector.NewRowReader(b)
	tag, envelope, amount, at := r.Byte(), r.String(), r.Varint(), r.Time()
	var index uint64
	var user, kind string
	switch tag {
	case tagFund:
		kind = ledger.KindFund
	case tagOpen:
		kind, index, user = ledger.KindOpen, r.Uvarint(), r.String()
	case tagRefund:
		kind, user = ledger.KindRefund, r.String()
	default:
		r.Fail()
	}
	if index > 1<<31 {
		r.Fail()
	}
	if err := r.Done(); err != nil {
		return Transfer{}, fmt.Errorf("outbox: the transfer at sequence %d: %w", seq, err)
	}
	return newTransfer(kind, envelope, int(index), user, amount, at, seq), nil
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
