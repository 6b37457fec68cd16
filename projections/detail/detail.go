package detail

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/projections/projector"
)

// ErrNotFound: the projection has no such envelope (yet).
var ErrNotFound = errors.New("detail: not found")

// Projection is the detail read model; it implements projector.Projection.
type Projection struct{}

var _ projector.Projection = Projection{}

// Name is "detail".
func (Projection) Name() string { return "detail" }

// Format is the version of the rows: 2, binary (1 was JSON).
func (Projection) Format() int { return 2 }

type summary struct {
	Sender      string    `json:"sender"`
	Kind        string    `json:"kind"`
	Total       int64     `json:"total"`
	Count       int       `json:"count"`
	Greeting    string    `json:"greeting,omitempty"`
	State       string    `json:"state"`
	OpenedCount int       `json:"opened_count"`
	OpenedTotal int64     `json:"opened_total"`
	Refunded    int64     `json:"refunded"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	BestIndex   int       `json:"best_index"`
	BestAmount  int64     `json:"best_amount"`
	LastSeq     uint64    `json:"last_seq"`
}

type openRow struct {
	User   string    `json:"user"`
	Amount int64     `json:"amount"`
	At     time.Time `json:"at"`
	Seq    uint64    `json:"seq"`
}

// The keys are projector.Key("d/e/", id) and projector.Key("d/o/", id,
// uint32(index)), built without boxing their parts.

func summaryKey(id string) []byte {
	return append(append(make([]byte, 0, 4+len(id)), "d/e/"...), id...)
}

func openKey(id string, index int) []byte {
	k := append(append(make([]byte, 0, 4+len(id)+4), "d/o/"...), id...)
	return binary.BigEndian.AppendUint32(k, uint32(index))
}

// Apply projects one event.
func (Projection) Apply(tx *projector.Tx, rec events.Record) error {
	id := rec.Event.EnvelopeID
	s, err := projector.EnvelopeRow[summary](tx, summaryKey(id), rec.Event, "detail")
	if err != nil {
		return err
	}
	switch d := rec.Event.Data.(type) {
	case events.Wrapped:
		s = summary{Sender: d.Sender, Kind: string(d.Kind), Total: d.Total, Count: d.Count, Greeting: d.Greeting,
			State: api.StateWrapped, CreatedAt: rec.Event.At}
	case events.Paid:
		s.State, s.ExpiresAt = api.StateLive, d.ExpiresAt
	case events.Cancelled:
		s.State = api.StateCancelled
	case events.Opened:
		if d.Index != s.OpenedCount+1 {
			return fmt.Errorf("detail: %s open #%d after %d opens", id, d.Index, s.OpenedCount)
		}
		if err := projector.Set(tx, openKey(id, d.Index), openRow{User: d.User, Amount: d.Amount, At: rec.Event.At, Seq: rec.Seq}); err != nil {
			return err
		}
		s.OpenedCount++
		s.OpenedTotal += d.Amount
		if d.Amount > s.BestAmount { // strictly larger: ties go to the earliest
			s.BestIndex, s.BestAmount = d.Index, d.Amount
		}
		if d.RemainingCount == 0 {
			s.State = api.StateFinished
		}
	case events.Expired:
		s.State, s.Refunded = api.StateExpired, d.Refund
	}
	s.LastSeq = rec.Seq
	return projector.Set(tx, summaryKey(id), s)
}

// Get renders the details of envelope id, opens from the cursor on (empty:
// the first), at most limit of them.
func Get(r pebble.Reader, id, cursor string, limit int) (api.GetReply, error) {
	var s summary
	found, err := projector.GetRow(r, summaryKey(id), &s)
	if err != nil {
		return api.GetReply{}, err
	}
	if !found {
		return api.GetReply{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	from := 1
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 1 {
			return api.GetReply{}, api.Errorf(api.CodeBadRequest, "cursor is not one this service gave")
		}
		from = n
	}
	reply := api.GetReply{Envelope: api.EnvelopeView{
		EnvelopeID: id, Sender: s.Sender, Kind: s.Kind, Total: s.Total, Count: s.Count, State: s.State,
		OpenedCount: s.OpenedCount, OpenedTotal: s.OpenedTotal, Refunded: s.Refunded, Greeting: s.Greeting,
		CreatedAt: formatTime(s.CreatedAt), ExpiresAt: formatTime(s.ExpiresAt),
	}, Opens: []api.OpenView{}}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: openKey(id, from), UpperBound: projector.PrefixEnd(projector.Key("d/o/", id))})
	if err != nil {
		return api.GetReply{}, err
	}
	defer it.Close()
	index := from
	for ok := it.First(); ok; ok = it.Next() {
		if len(reply.Opens) == limit {
			reply.Next = strconv.Itoa(index)
			break
		}
		var o openRow
		if err := projector.IterRow(it, &o); err != nil {
			return api.GetReply{}, err
		}
		reply.Opens = append(reply.Opens, api.OpenView{User: o.User, Amount: o.Amount, Index: index, At: formatTime(o.At),
			BestLuck: s.State == api.StateFinished && index == s.BestIndex})
		index++
	}
	return reply, it.Error()
}

// LastSeq is the stream sequence of the envelope's last projected event.
func LastSeq(r pebble.Reader, id string) (uint64, bool, error) {
	var s summary
	found, err := projector.GetRow(r, summaryKey(id), &s)
	return s.LastSeq, found, err
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(api.TimeFormat)
}

// The rows are binary (projector.RowCodec), format 2: the fields in the
// order of the struct, strings with their length, integers as varints,
// times as Unix seconds and nanoseconds. Format 1 was JSON.

// AppendRow encodes s (projector.RowCodec).
func (s *summary) AppendRow(b []byte) []byte {
	b = projector.AppendString(b, s.Sender)
	b = projector.AppendString(b, s.Kind)
	b = binary.AppendVarint(b, s.Total)
	b = binary.AppendVarint(b, int64(s.Count))
	b = projector.AppendString(b, s.Greeting)
	b = projector.AppendString(b, s.State)
	b = binary.AppendVarint(b, int64(s.OpenedCount))
	b = binary.AppendVarint(b, s.OpenedTotal)
	b = binary.AppendVarint(b, s.Refunded)
	b = projector.AppendTime(b, s.CreatedAt)
	b = projector.AppendTime(b, s.ExpiresAt)
	b = binary.AppendVarint(b, int64(s.BestIndex))
	b = binary.AppendVarint(b, s.BestAmount)
	return binary.AppendUvarint(b, s.LastSeq)
}

// DecodeRow decodes what AppendRow wrote (projector.RowCodec).
func (s *summary) DecodeRow(b []byte) error {
	r := projector.NewRowReader(b)
	*s = summary{Sender: r.String(), Kind: r.String(), Total: r.Varint(), Count: r.Int(), Greeting: r.String(),
		State: r.String(), OpenedCount: r.Int(), OpenedTotal: r.Varint(), Refunded: r.Varint(), CreatedAt: r.Time(),
		ExpiresAt: r.Time(), BestIndex: r.Int(), BestAmount: r.Varint(), LastSeq: r.Uvarint()}
	return r.Done()
}

// AppendRow encodes o (projector.RowCodec).
func (o *openRow) AppendRow(b []byte) []byte {
	b = projector.AppendString(b, o.User)
	b = binary.AppendVarint(b, o.Amount)
	b = projector.AppendTime(b, o.At)
	return binary.AppendUvarint(b, o.Seq)
}

// DecodeRow decodes what AppendRow wrote (projector.RowCodec).
func (o *openRow) DecodeRow(b []byte) error {
	r := projector.NewRowReader(b)
	*o = openRow{User: r.String(), Amount: r.Varint(), At: r.Time(), Seq: r.Uvarint()}
	return r.Done()
}
