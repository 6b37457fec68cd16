package users

import (
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/projections/projector"
)

// China is the zone that decides which year an item belongs to.
var China = time.FixedZone("CST", 8*3600)

// Year is the calendar year of t in China.
func Year(t time.Time) int { return t.In(China).Year() }

// Projection is the users read model; it implements projector.Projection.
type Projection struct{}

var _ projector.Projection = Projection{}

// Name is "users".
func (Projection) Name() string { return "users" }

type helper struct {
	Sender    string    `json:"sender"`
	Kind      string    `json:"kind"`
	Total     int64     `json:"total"`
	Count     int       `json:"count"`
	SentYear  int       `json:"sent_year,omitempty"`
	SentSeq   uint64    `json:"sent_seq,omitempty"`
	BestUser  string    `json:"best_user,omitempty"`
	BestYear  int       `json:"best_year,omitempty"`
	BestSeq   uint64    `json:"best_seq,omitempty"`
	BestShare int64     `json:"best_share,omitempty"`
	PaidAt    time.Time `json:"paid_at,omitzero"`
}

type received struct {
	EnvelopeID string    `json:"envelope_id"`
	Sender     string    `json:"sender"`
	Amount     int64     `json:"amount"`
	At         time.Time `json:"at"`
	BestLuck   bool      `json:"best_luck"`
}

type sent struct {
	EnvelopeID  string    `json:"envelope_id"`
	Kind        string    `json:"kind"`
	Total       int64     `json:"total"`
	Count       int       `json:"count"`
	OpenedCount int       `json:"opened_count"`
	Refunded    int64     `json:"refunded"`
	State       string    `json:"state"`
	At          time.Time `json:"at"`
}

type totals struct {
	Count         int   `json:"count"`
	Amount        int64 `json:"amount"`
	BestLuckCount int   `json:"best_luck_count"`
}

func helperKey(id string) []byte { return projector.Key("u/x/", id) }

func itemKey(list, user string, year int, seq uint64) []byte {
	return projector.Key("u/", list, "/", user, "/", uint16(year), ^seq)
}

func listPrefix(list, user string, year int) []byte {
	return projector.Key("u/", list, "/", user, "/", uint16(year))
}

func totalsKey(list, user string, year int) []byte {
	return projector.Key("u/t", list, "/", user, "/", uint16(year))
}

// Apply projects one event.
func (Projection) Apply(b *pebble.Batch, rec events.Record) error {
	id := rec.Event.EnvelopeID
	var h helper
	found, err := projector.GetJSON(b, helperKey(id), &h)
	if err != nil {
		return err
	}
	if !found && rec.Event.Type != events.TypeWrapped {
		return fmt.Errorf("users: %s for unknown envelope %s", rec.Event.Type, id)
	}
	switch d := rec.Event.Data.(type) {
	case events.Wrapped:
		h = helper{Sender: d.Sender, Kind: string(d.Kind), Total: d.Total, Count: d.Count}
	case events.Paid:
		h.SentYear, h.SentSeq, h.PaidAt = Year(rec.Event.At), rec.Seq, rec.Event.At
		item := sent{EnvelopeID: id, Kind: h.Kind, Total: h.Total, Count: h.Count, State: api.StateLive, At: rec.Event.At}
		if err := projector.SetJSON(b, itemKey("s", h.Sender, h.SentYear, h.SentSeq), item); err != nil {
			return err
		}
		if err := addTotals(b, totalsKey("s", h.Sender, h.SentYear), 1, h.Total, 0); err != nil {
			return err
		}
	case events.Cancelled:
		// Never paid, so never in a list.
	case events.Opened:
		year := Year(rec.Event.At)
		item := received{EnvelopeID: id, Sender: h.Sender, Amount: d.Amount, At: rec.Event.At}
		if err := projector.SetJSON(b, itemKey("r", d.User, year, rec.Seq), item); err != nil {
			return err
		}
		if err := addTotals(b, totalsKey("r", d.User, year), 1, d.Amount, 0); err != nil {
			return err
		}
		if d.Amount > h.BestShare { // strictly larger: ties go to the earliest
			h.BestUser, h.BestYear, h.BestSeq, h.BestShare = d.User, year, rec.Seq, d.Amount
		}
		finished := d.RemainingCount == 0
		if err := updateSent(b, h, func(s *sent) {
			s.OpenedCount = d.Index
			if finished {
				s.State = api.StateFinished
			}
		}); err != nil {
			return err
		}
		if finished {
			if err := markBestLuck(b, h); err != nil {
				return err
			}
		}
	case events.Expired:
		if err := updateSent(b, h, func(s *sent) { s.State, s.Refunded = api.StateExpired, d.Refund }); err != nil {
			return err
		}
	}
	return projector.SetJSON(b, helperKey(id), h)
}

func updateSent(b *pebble.Batch, h helper, f func(*sent)) error {
	if h.SentSeq == 0 {
		return fmt.Errorf("users: envelope of %s changed before it was paid", h.Sender)
	}
	key := itemKey("s", h.Sender, h.SentYear, h.SentSeq)
	var s sent
	found, err := projector.GetJSON(b, key, &s)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("users: sent item %q missing", key)
	}
	f(&s)
	return projector.SetJSON(b, key, s)
}

func markBestLuck(b *pebble.Batch, h helper) error {
	key := itemKey("r", h.BestUser, h.BestYear, h.BestSeq)
	var r received
	found, err := projector.GetJSON(b, key, &r)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("users: best-luck item %q missing", key)
	}
	r.BestLuck = true
	if err := projector.SetJSON(b, key, r); err != nil {
		return err
	}
	return addTotals(b, totalsKey("r", h.BestUser, h.BestYear), 0, 0, 1)
}

func addTotals(b *pebble.Batch, key []byte, count int, amount int64, best int) error {
	var t totals
	if _, err := projector.GetJSON(b, key, &t); err != nil {
		return err
	}
	t.Count += count
	t.Amount += amount
	t.BestLuckCount += best
	return projector.SetJSON(b, key, t)
}

// Received lists what user received in year, newest first.
func Received(r pebble.Reader, user string, year int, cursor string, limit int) (api.ReceivedReply, error) {
	reply := api.ReceivedReply{Items: []api.ReceivedItem{}}
	var t totals
	if _, err := projector.GetJSON(r, totalsKey("r", user, year), &t); err != nil {
		return reply, err
	}
	reply.Totals = api.ListTotals(t)
	next, err := page(r, "r", user, year, cursor, limit, func(it *pebble.Iterator) error {
		var v received
		if err := projector.IterJSON(it, &v); err != nil {
			return err
		}
		reply.Items = append(reply.Items, api.ReceivedItem{EnvelopeID: v.EnvelopeID, Sender: v.Sender, Amount: v.Amount, At: formatTime(v.At), BestLuck: v.BestLuck})
		return nil
	})
	reply.Next = next
	return reply, err
}

// Sent lists what user sent (paid) in year, newest first.
func Sent(r pebble.Reader, user string, year int, cursor string, limit int) (api.SentReply, error) {
	reply := api.SentReply{Items: []api.SentItem{}}
	var t totals
	if _, err := projector.GetJSON(r, totalsKey("s", user, year), &t); err != nil {
		return reply, err
	}
	reply.Totals = api.ListTotals(t)
	next, err := page(r, "s", user, year, cursor, limit, func(it *pebble.Iterator) error {
		var v sent
		if err := projector.IterJSON(it, &v); err != nil {
			return err
		}
		reply.Items = append(reply.Items, api.SentItem{EnvelopeID: v.EnvelopeID, Kind: v.Kind, Total: v.Total, Count: v.Count,
			OpenedCount: v.OpenedCount, Refunded: v.Refunded, State: v.State, At: formatTime(v.At)})
		return nil
	})
	reply.Next = next
	return reply, err
}

// page visits up to limit items of a list after the cursor and returns the
// cursor of the next page ("" at the end).
func page(r pebble.Reader, list, user string, year int, cursor string, limit int, visit func(*pebble.Iterator) error) (string, error) {
	return projector.PageNewestFirst(r, listPrefix(list, user, year), cursor, limit, visit)
}

func formatTime(t time.Time) string { return t.UTC().Format(api.TimeFormat) }
