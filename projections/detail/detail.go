package detail

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hongbao/hongbao/aggregates/envelope"
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

// Envelope is the summary of one envelope in the detail view.
type Envelope struct {
	ID          string
	Sender      string
	Kind        events.Kind
	Total       int64
	Count       int
	Greeting    string
	Status      envelope.Status
	OpenedCount int
	OpenedTotal int64
	Refunded    int64
	CreatedAt   time.Time
	ExpiresAt   time.Time // zero until paid
}

// Open is one open of an envelope. Index counts opens from 1; BestLuck is
// set on one open once the envelope has finished (envelope.Luckier).
type Open struct {
	User     string
	Amount   int64
	Index    int
	At       time.Time
	BestLuck bool
}

// Page is an envelope with a page of its opens. Next is the cursor of the
// next page, "" after the last.
type Page struct {
	Envelope Envelope
	Opens    []Open
	Next     string
}

// A cursor names the first open of a page: its 1-based index, in decimal.
// The detail view and the aggregate (FromAggregate) page alike.

// ParseCursor returns the index of the first open of the page that cursor
// names ("" is the first page), or projector.ErrBadCursor.
func ParseCursor(cursor string) (int, error) {
	if cursor == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(cursor)
	if err != nil || n < 1 {
		return 0, projector.ErrBadCursor
	}
	return n, nil
}

func cursorAt(index int) string { return strconv.Itoa(index) }

// summary is the row of an envelope. State is the name of its
// envelope.Status (rows of format 2 hold the names).
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
			State: envelope.StatusWrapped.String(), CreatedAt: rec.Event.At}
	case events.Paid:
		s.State, s.ExpiresAt = envelope.StatusLive.String(), d.ExpiresAt
	case events.Cancelled:
		s.State = envelope.StatusCancelled.String()
	case events.Opened:
		if d.Index != s.OpenedCount+1 {
			return fmt.Errorf("detail: %s open #%d after %d opens", id, d.Index, s.OpenedCount)
		}
		if err := projector.Set(tx, openKey(id, d.Index), openRow{User: d.User, Amount: d.Amount, At: rec.Event.At, Seq: rec.Seq}); err != nil {
			return err
		}
		s.OpenedCount++
		s.OpenedTotal += d.Amount
		if envelope.Luckier(d.Amount, s.BestAmount) {
			s.BestIndex, s.BestAmount = d.Index, d.Amount
		}
		if d.RemainingCount == 0 {
			s.State = envelope.StatusFinished.String()
		}
	case events.Expired:
		s.State, s.Refunded = envelope.StatusExpired.String(), d.Refund
	}
	s.LastSeq = rec.Seq
	return projector.Set(tx, summaryKey(id), s)
}

// Get returns the details of envelope id with at most limit opens from
// the index from on (ParseCursor), or ErrNotFound.
func Get(r pebble.Reader, id string, from, limit int) (Page, error) {
	var s summary
	found, err := projector.GetRow(r, summaryKey(id), &s)
	if err != nil {
		return Page{}, err
	}
	if !found {
		return Page{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	status, err := envelope.ParseStatus(s.State)
	if err != nil {
		return Page{}, fmt.Errorf("detail: envelope %s: %w", id, err)
	}
	best := 0
	if status == envelope.StatusFinished {
		best = s.BestIndex
	}
	page := Page{Envelope: Envelope{
		ID: id, Sender: s.Sender, Kind: events.Kind(s.Kind), Total: s.Total, Count: s.Count, Greeting: s.Greeting,
		Status: status, OpenedCount: s.OpenedCount, OpenedTotal: s.OpenedTotal, Refunded: s.Refunded,
		CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt,
	}}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: openKey(id, from), UpperBound: projector.PrefixEnd(projector.Key("d/o/", id))})
	if err != nil {
		return Page{}, err
	}
	defer it.Close()
	index := from
	for ok := it.First(); ok; ok = it.Next() {
		if len(page.Opens) == limit {
			page.Next = cursorAt(index)
			break
		}
		var o openRow
		if err := projector.IterRow(it, &o); err != nil {
			return Page{}, err
		}
		page.Opens = append(page.Opens, Open{User: o.User, Amount: o.Amount, Index: index, At: o.At, BestLuck: index == best})
		index++
	}
	return page, it.Error()
}

// FromAggregate returns the details of an envelope from its aggregate's
// state, paged as Get pages them: for an envelope the view has not
// projected yet.
func FromAggregate(st *envelope.Envelope, from, limit int) Page {
	page := Page{Envelope: Envelope{
		ID: st.ID, Sender: st.Sender, Kind: st.Kind, Total: st.Total, Count: st.Count, Greeting: st.Greeting,
		Status: st.Status, OpenedCount: len(st.Opens), OpenedTotal: st.OpenedTotal, Refunded: st.Refund,
		CreatedAt: st.CreatedAt, ExpiresAt: st.ExpiresAt,
	}}
	best, _ := st.BestLuck()
	end := min(len(st.Opens), from-1+limit)
	for i := from; i <= end; i++ {
		o := st.Opens[i-1]
		page.Opens = append(page.Opens, Open{User: o.User, Amount: o.Amount, Index: i, At: o.At, BestLuck: i == best})
	}
	if end < len(st.Opens) {
		page.Next = cursorAt(end + 1)
	}
	return page
}

// LastSeq is the stream sequence of the envelope's last projected event.
func LastSeq(r pebble.Reader, id string) (uint64, bool, error) {
	var s summary
	found, err := projector.GetRow(r, summaryKey(id), &s)
	return s.LastSeq, found, err
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
