package detail

import (
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

func summaryKey(id string) []byte         { return projector.Key("d/e/", id) }
func openKey(id string, index int) []byte { return projector.Key("d/o/", id, uint32(index)) }

// Apply projects one event.
func (Projection) Apply(b *pebble.Batch, rec events.Record) error {
	id := rec.Event.EnvelopeID
	var s summary
	found, err := projector.GetJSON(b, summaryKey(id), &s)
	if err != nil {
		return err
	}
	if !found && rec.Event.Type != events.TypeWrapped {
		return fmt.Errorf("detail: %s for unknown envelope %s", rec.Event.Type, id)
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
		if err := projector.SetJSON(b, openKey(id, d.Index), openRow{User: d.User, Amount: d.Amount, At: rec.Event.At, Seq: rec.Seq}); err != nil {
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
	return projector.SetJSON(b, summaryKey(id), s)
}

// Get renders the details of envelope id, opens from the cursor on (empty:
// the first), at most limit of them.
func Get(r pebble.Reader, id, cursor string, limit int) (api.GetReply, error) {
	var s summary
	found, err := projector.GetJSON(r, summaryKey(id), &s)
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
		if err := projector.IterJSON(it, &o); err != nil {
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
	found, err := projector.GetJSON(r, summaryKey(id), &s)
	return s.LastSeq, found, err
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(api.TimeFormat)
}
