package users

import (
	"encoding/binary"
	"fmt"
	"strconv"
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

// The keys, built without boxing their parts (as projector.Key would).

func helperKey(id string) []byte {
	return append(append(make([]byte, 0, 4+len(id)), "u/x/"...), id...)
}

// itemKey is projector.Key("u/", list, "/", user, "/", uint16(year), ^seq).
func itemKey(list, user string, year int, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(userKey("u/", list, user, year, 8), ^seq)
}

// listPrefix is projector.Key("u/", list, "/", user, "/", uint16(year)).
func listPrefix(list, user string, year int) []byte { return userKey("u/", list, user, year, 0) }

// totalsKey is projector.Key("u/t", list, "/", user, "/", uint16(year)).
func totalsKey(list, user string, year int) []byte { return userKey("u/t", list, user, year, 0) }

// userKey is prefix, list, "/", user, "/", year (uint16be), with room for
// extra bytes.
func userKey(prefix, list, user string, year, extra int) []byte {
	k := make([]byte, 0, len(prefix)+len(list)+1+len(user)+1+2+extra)
	k = append(append(append(append(append(k, prefix...), list...), '/'), user...), '/')
	return binary.BigEndian.AppendUint16(k, uint16(year))
}

// Apply projects one event.
func (Projection) Apply(tx *projector.Tx, rec events.Record) error {
	id := rec.Event.EnvelopeID
	h, err := projector.EnvelopeRow[helper](tx, helperKey(id), rec.Event, "users")
	if err != nil {
		return err
	}
	switch d := rec.Event.Data.(type) {
	case events.Wrapped:
		h = helper{Sender: d.Sender, Kind: string(d.Kind), Total: d.Total, Count: d.Count}
	case events.Paid:
		h.SentYear, h.SentSeq, h.PaidAt = Year(rec.Event.At), rec.Seq, rec.Event.At
		item := sent{EnvelopeID: id, Kind: h.Kind, Total: h.Total, Count: h.Count, State: api.StateLive, At: rec.Event.At}
		if err := projector.Set(tx, itemKey("s", h.Sender, h.SentYear, h.SentSeq), item); err != nil {
			return err
		}
		if err := addTotals(tx, totalsKey("s", h.Sender, h.SentYear), 1, h.Total, 0); err != nil {
			return err
		}
	case events.Cancelled:
		// Never paid, so never in a list.
	case events.Opened:
		year := Year(rec.Event.At)
		item := received{EnvelopeID: id, Sender: h.Sender, Amount: d.Amount, At: rec.Event.At}
		if err := projector.Set(tx, itemKey("r", d.User, year, rec.Seq), item); err != nil {
			return err
		}
		if err := addTotals(tx, totalsKey("r", d.User, year), 1, d.Amount, 0); err != nil {
			return err
		}
		if d.Amount > h.BestShare { // strictly larger: ties go to the earliest
			h.BestUser, h.BestYear, h.BestSeq, h.BestShare = d.User, year, rec.Seq, d.Amount
		}
		finished := d.RemainingCount == 0
		if err := updateSent(tx, h, func(s *sent) {
			s.OpenedCount = d.Index
			if finished {
				s.State = api.StateFinished
			}
		}); err != nil {
			return err
		}
		if finished {
			if err := markBestLuck(tx, h); err != nil {
				return err
			}
		}
	case events.Expired:
		if err := updateSent(tx, h, func(s *sent) { s.State, s.Refunded = api.StateExpired, d.Refund }); err != nil {
			return err
		}
	}
	return projector.Set(tx, helperKey(id), h)
}

func updateSent(tx *projector.Tx, h helper, f func(*sent)) error {
	if h.SentSeq == 0 {
		return fmt.Errorf("users: envelope of %s changed before it was paid", h.Sender)
	}
	key := itemKey("s", h.Sender, h.SentYear, h.SentSeq)
	s, found, err := projector.Get[sent](tx, key)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("users: sent item %q missing", key)
	}
	f(&s)
	return projector.Set(tx, key, s)
}

func markBestLuck(tx *projector.Tx, h helper) error {
	key := itemKey("r", h.BestUser, h.BestYear, h.BestSeq)
	r, found, err := projector.Get[received](tx, key)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("users: best-luck item %q missing", key)
	}
	r.BestLuck = true
	if err := projector.Set(tx, key, r); err != nil {
		return err
	}
	return addTotals(tx, totalsKey("r", h.BestUser, h.BestYear), 0, 0, 1)
}

func addTotals(tx *projector.Tx, key []byte, count int, amount int64, best int) error {
	t, _, err := projector.Get[totals](tx, key)
	if err != nil {
		return err
	}
	t.Count += count
	t.Amount += amount
	t.BestLuckCount += best
	return projector.Set(tx, key, t)
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

// AppendJSON encodes h as json.Marshal does (projector.JSONAppender).
func (h helper) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"sender":`...)
	b = projector.AppendJSONString(b, h.Sender)
	b = append(b, `,"kind":`...)
	b = projector.AppendJSONString(b, h.Kind)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, h.Total, 10)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(h.Count), 10)
	if h.SentYear != 0 {
		b = append(b, `,"sent_year":`...)
		b = strconv.AppendInt(b, int64(h.SentYear), 10)
	}
	if h.SentSeq != 0 {
		b = append(b, `,"sent_seq":`...)
		b = strconv.AppendUint(b, h.SentSeq, 10)
	}
	if h.BestUser != "" {
		b = append(b, `,"best_user":`...)
		b = projector.AppendJSONString(b, h.BestUser)
	}
	if h.BestYear != 0 {
		b = append(b, `,"best_year":`...)
		b = strconv.AppendInt(b, int64(h.BestYear), 10)
	}
	if h.BestSeq != 0 {
		b = append(b, `,"best_seq":`...)
		b = strconv.AppendUint(b, h.BestSeq, 10)
	}
	if h.BestShare != 0 {
		b = append(b, `,"best_share":`...)
		b = strconv.AppendInt(b, h.BestShare, 10)
	}
	if !h.PaidAt.IsZero() {
		b = append(b, `,"paid_at":`...)
		var err error
		if b, err = projector.AppendJSONTime(b, h.PaidAt); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// AppendJSON encodes r as json.Marshal does (projector.JSONAppender).
func (r received) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"envelope_id":`...)
	b = projector.AppendJSONString(b, r.EnvelopeID)
	b = append(b, `,"sender":`...)
	b = projector.AppendJSONString(b, r.Sender)
	b = append(b, `,"amount":`...)
	b = strconv.AppendInt(b, r.Amount, 10)
	b = append(b, `,"at":`...)
	b, err := projector.AppendJSONTime(b, r.At)
	if err != nil {
		return b, err
	}
	b = append(b, `,"best_luck":`...)
	b = strconv.AppendBool(b, r.BestLuck)
	return append(b, '}'), nil
}

// AppendJSON encodes s as json.Marshal does (projector.JSONAppender).
func (s sent) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"envelope_id":`...)
	b = projector.AppendJSONString(b, s.EnvelopeID)
	b = append(b, `,"kind":`...)
	b = projector.AppendJSONString(b, s.Kind)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, s.Total, 10)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(s.Count), 10)
	b = append(b, `,"opened_count":`...)
	b = strconv.AppendInt(b, int64(s.OpenedCount), 10)
	b = append(b, `,"refunded":`...)
	b = strconv.AppendInt(b, s.Refunded, 10)
	b = append(b, `,"state":`...)
	b = projector.AppendJSONString(b, s.State)
	b = append(b, `,"at":`...)
	b, err := projector.AppendJSONTime(b, s.At)
	if err != nil {
		return b, err
	}
	return append(b, '}'), nil
}

// AppendJSON encodes t as json.Marshal does (projector.JSONAppender).
func (t totals) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"count":`...)
	b = strconv.AppendInt(b, int64(t.Count), 10)
	b = append(b, `,"amount":`...)
	b = strconv.AppendInt(b, t.Amount, 10)
	b = append(b, `,"best_luck_count":`...)
	b = strconv.AppendInt(b, int64(t.BestLuckCount), 10)
	return append(b, '}'), nil
}
