package outbox

import (
	"encoding"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
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

// senders remembers who wrapped an envelope, for its refund.
// The keys are projector.Key("o/s/", id), projector.Key("o/t/", id) and
// projector.Key("o/q/", seq), built without boxing their parts.

func senderKey(id string) []byte { return prefixed("o/s/", id) }

func transferKey(id string) []byte { return prefixed("o/t/", id) }

func queueKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, 4+8), "o/q/"...), seq)
}

func prefixed(prefix, id string) []byte {
	return append(append(make([]byte, 0, len(prefix)+len(id)), prefix...), id...)
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
			return Transfer{}, false
		}
		t.ID, t.Kind, t.Amount = "refund:"+id, ledger.KindRefund, d.Refund
		t.Debit, t.Credit, t.User = ledger.EscrowAccount(id), ledger.WalletAccount(sender), sender
	default:
		return Transfer{}, false
	}
	return t, true
}

// Apply projects one event.
func (Projection) Apply(tx *projector.Tx, rec events.Record) error {
	id := rec.Event.EnvelopeID
	if w, ok := rec.Event.Data.(events.Wrapped); ok {
		return tx.SetRaw(senderKey(id), []byte(w.Sender))
	}
	var sender string
	if _, ok := rec.Event.Data.(events.Expired); ok {
		v, found, err := tx.GetRaw(senderKey(id))
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("outbox: %s for unknown envelope %s: %w", rec.Event.Type, id, pebble.ErrNotFound)
		}
		sender = string(v)
	}
	t, ok := transferOf(rec, sender)
	if !ok {
		return nil
	}
	if err := projector.Set(tx, transferKey(t.ID), t); err != nil {
		return err
	}
	return tx.SetRaw(queueKey(rec.Seq), []byte(t.ID))
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

// AppendJSON encodes t as json.Marshal does (projector.JSONAppender). It
// writes ledger.Transfer's fields as they are today; should that type
// change, it falls back to json.Marshal (and TestRowsJSON fails until it is
// brought up to date).
func (t Transfer) AppendJSON(b []byte) ([]byte, error) {
	if !transferFieldsKnown {
		j, err := json.Marshal(t)
		return append(b, j...), err
	}
	b = append(b, `{"id":`...)
	b = projector.AppendJSONString(b, t.ID)
	b = append(b, `,"kind":`...)
	b = projector.AppendJSONString(b, t.Kind)
	b = append(b, `,"envelope_id":`...)
	b = projector.AppendJSONString(b, t.EnvelopeID)
	b = append(b, `,"debit":`...)
	b = projector.AppendJSONString(b, t.Debit)
	b = append(b, `,"credit":`...)
	b = projector.AppendJSONString(b, t.Credit)
	b = append(b, `,"amount":`...)
	b = strconv.AppendInt(b, t.Amount, 10)
	b = append(b, `,"at":`...)
	b, err := projector.AppendJSONTime(b, t.At)
	if err != nil {
		return b, err
	}
	if t.User != "" {
		b = append(b, `,"user":`...)
		b = projector.AppendJSONString(b, t.User)
	}
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, t.Seq, 10)
	return append(b, '}'), nil
}

// transferFieldsKnown: ledger.Transfer is what Transfer.AppendJSON writes.
var transferFieldsKnown = func() bool {
	typ := reflect.TypeFor[ledger.Transfer]()
	want := []struct {
		name, tag string
		typ       reflect.Type
	}{
		{"ID", `json:"id"`, reflect.TypeFor[string]()},
		{"Kind", `json:"kind"`, reflect.TypeFor[string]()},
		{"EnvelopeID", `json:"envelope_id"`, reflect.TypeFor[string]()},
		{"Debit", `json:"debit"`, reflect.TypeFor[string]()},
		{"Credit", `json:"credit"`, reflect.TypeFor[string]()},
		{"Amount", `json:"amount"`, reflect.TypeFor[int64]()},
		{"At", `json:"at"`, reflect.TypeFor[time.Time]()},
	}
	if typ.NumField() != len(want) || reflect.PointerTo(typ).Implements(reflect.TypeFor[json.Marshaler]()) ||
		reflect.PointerTo(typ).Implements(reflect.TypeFor[encoding.TextMarshaler]()) {
		return false
	}
	for i, w := range want {
		if f := typ.Field(i); f.Name != w.name || string(f.Tag) != w.tag || f.Type != w.typ {
			return false
		}
	}
	return true
}()
