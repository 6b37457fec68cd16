package outbox

import (
	"strconv"

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

// senders remembers who wrapped an envelope, for its refund.
func senderKey(id string) []byte { return projector.Key("o/s/", id) }

func transferKey(id string) []byte { return projector.Key("o/t/", id) }

func queueKey(seq uint64) []byte { return projector.Key("o/q/", seq) }

// TransfersOf returns the transfers an event implies (sender is the
// envelope's sender, needed for refunds).
func TransfersOf(rec events.Record, sender string) []Transfer {
	id := rec.Event.EnvelopeID
	t := Transfer{Seq: rec.Seq, Transfer: ledger.Transfer{EnvelopeID: id, At: rec.Event.At}}
	switch d := rec.Event.Data.(type) {
	case events.Paid:
		t.ID, t.Kind, t.Debit, t.Credit, t.Amount = "fund:"+id, ledger.KindFund, ledger.AccountExternal, ledger.EscrowAccount(id), d.Amount
	case events.Opened:
		t.ID, t.Kind, t.Amount = "open:"+id+":"+strconv.Itoa(d.Index), ledger.KindOpen, d.Amount
		t.Debit, t.Credit, t.User = ledger.EscrowAccount(id), ledger.WalletAccount(d.User), d.User
	case events.Expired:
		if d.Refund == 0 {
			return nil
		}
		t.ID, t.Kind, t.Amount = "refund:"+id, ledger.KindRefund, d.Refund
		t.Debit, t.Credit, t.User = ledger.EscrowAccount(id), ledger.WalletAccount(sender), sender
	default:
		return nil
	}
	return []Transfer{t}
}

// Apply projects one event.
func (Projection) Apply(b *pebble.Batch, rec events.Record) error {
	id := rec.Event.EnvelopeID
	if w, ok := rec.Event.Data.(events.Wrapped); ok {
		return b.Set(senderKey(id), []byte(w.Sender), nil)
	}
	var sender string
	if _, ok := rec.Event.Data.(events.Expired); ok {
		v, closer, err := b.Get(senderKey(id))
		if err != nil {
			return err
		}
		sender = string(v)
		closer.Close()
	}
	for _, t := range TransfersOf(rec, sender) {
		if err := projector.SetJSON(b, transferKey(t.ID), t); err != nil {
			return err
		}
		if err := b.Set(queueKey(rec.Seq), []byte(t.ID), nil); err != nil {
			return err
		}
	}
	return nil
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
		var t Transfer
		found, err := projector.GetJSON(r, transferKey(string(it.Value())), &t)
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, t)
		}
	}
	return out, it.Error()
}

// Get returns the transfer with the id.
func Get(r pebble.Reader, id string) (Transfer, bool, error) {
	var t Transfer
	found, err := projector.GetJSON(r, transferKey(id), &t)
	return t, found, err
}
