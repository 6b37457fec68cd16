package users

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hongbao/hongbao/aggregates/envelope"
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

// Format is the version of the rows: 2, binary (1 was JSON).
func (Projection) Format() int { return 2 }

// Received is one envelope a user opened.
type Received struct {
	EnvelopeID string
	Sender     string
	Amount     int64
	At         time.Time
	BestLuck   bool
}

// Sent is one envelope a user sent (paid).
type Sent struct {
	EnvelopeID  string
	Kind        events.Kind
	Total       int64
	Count       int
	OpenedCount int
	Refunded    int64
	Status      envelope.Status
	At          time.Time
}

// Totals cover a user's list for a whole year.
type Totals struct {
	Count         int
	Amount        int64
	BestLuckCount int
}

// ReceivedPage is a page of a user's received list, newest first. Next is
// the cursor of the next page, "" after the last.
type ReceivedPage struct {
	Items  []Received
	Next   string
	Totals Totals
}

// SentPage is a page of a user's sent list, newest first. Next is the
// cursor of the next page, "" after the last.
type SentPage struct {
	Items  []Sent
	Next   string
	Totals Totals
}

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

// sent is the row of a sent item. State is the name of its
// envelope.Status (rows of format 2 hold the names).
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
		item := sent{EnvelopeID: id, Kind: h.Kind, Total: h.Total, Count: h.Count, State: envelope.StatusLive.String(), At: rec.Event.At}
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
		if envelope.Luckier(d.Amount, h.BestShare) {
			h.BestUser, h.BestYear, h.BestSeq, h.BestShare = d.User, year, rec.Seq, d.Amount
		}
		finished := d.RemainingCount == 0
		if err := updateSent(tx, h, func(s *sent) {
			s.OpenedCount = d.Index
			if finished {
				s.State = envelope.StatusFinished.String()
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
		if err := updateSent(tx, h, func(s *sent) { s.State, s.Refunded = envelope.StatusExpired.String(), d.Refund }); err != nil {
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

// ReceivedList lists what user received in year, newest first, at most
// limit items after the cursor.
func ReceivedList(r pebble.Reader, user string, year int, cursor string, limit int) (ReceivedPage, error) {
	var p ReceivedPage
	var t totals
	if _, err := projector.GetRow(r, totalsKey("r", user, year), &t); err != nil {
		return p, err
	}
	p.Totals = Totals(t)
	next, err := page(r, "r", user, year, cursor, limit, func(it *pebble.Iterator) error {
		var v received
		if err := projector.IterRow(it, &v); err != nil {
			return err
		}
		p.Items = append(p.Items, Received(v))
		return nil
	})
	p.Next = next
	return p, err
}

// SentList lists what user sent (paid) in year, newest first, at most
// limit items after the cursor.
func SentList(r pebble.Reader, user string, year int, cursor string, limit int) (SentPage, error) {
	var p SentPage
	var t totals
	if _, err := projector.GetRow(r, totalsKey("s", user, year), &t); err != nil {
		return p, err
	}
	p.Totals = Totals(t)
	next, err := page(r, "s", user, year, cursor, limit, func(it *pebble.Iterator) error {
		var v sent
		if err := projector.IterRow(it, &v); err != nil {
			return err
		}
		status, err := envelope.ParseStatus(v.State)
		if err != nil {
			return fmt.Errorf("users: sent item of %s: %w", v.EnvelopeID, err)
		}
		p.Items = append(p.Items, Sent{EnvelopeID: v.EnvelopeID, Kind: events.Kind(v.Kind), Total: v.Total, Count: v.Count,
			OpenedCount: v.OpenedCount, Refunded: v.Refunded, Status: status, At: v.At})
		return nil
	})
	p.Next = next
	return p, err
}

// page visits up to limit items of a list after the cursor and returns the
// cursor of the next page ("" at the end).
func page(r pebble.Reader, list, user string, year int, cursor string, limit int, visit func(*pebble.Iterator) error) (string, error) {
	return projector.PageNewestFirst(r, listPrefix(list, user, year), cursor, limit, visit)
}

// The rows are binary (projector.RowCodec), format 2: the fields in the
// order of the struct, strings with their length, integers as varints,
// times as Unix seconds and nanoseconds. Format 1 was JSON, with the struct
// tags kept for the rows' appearance in `hongbao rebuild --verify`.

// AppendRow encodes h (projector.RowCodec).
func (h *helper) AppendRow(b []byte) []byte {
	b = projector.AppendString(b, h.Sender)
	b = projector.AppendString(b, h.Kind)
	b = binary.AppendVarint(b, h.Total)
	b = binary.AppendVarint(b, int64(h.Count))
	b = binary.AppendVarint(b, int64(h.SentYear))
	b = binary.AppendUvarint(b, h.SentSeq)
	b = projector.AppendString(b, h.BestUser)
	b = binary.AppendVarint(b, int64(h.BestYear))
	b = binary.AppendUvarint(b, h.BestSeq)
	b = binary.AppendVarint(b, h.BestShare)
	return projector.AppendTime(b, h.PaidAt)
}

// DecodeRow decodes what AppendRow wrote (projector.RowCodec).
func (h *helper) DecodeRow(b []byte) error {
	r := projector.NewRowReader(b)
	*h = helper{Sender: r.String(), Kind: r.String(), Total: r.Varint(), Count: r.Int(), SentYear: r.Int(),
		SentSeq: r.Uvarint(), BestUser: r.String(), BestYear: r.Int(), BestSeq: r.Uvarint(), BestShare: r.Varint(), PaidAt: r.Time()}
	return r.Done()
}

// AppendRow encodes v (projector.RowCodec).
func (v *received) AppendRow(b []byte) []byte {
	b = projector.AppendString(b, v.EnvelopeID)
	b = projector.AppendString(b, v.Sender)
	b = binary.AppendVarint(b, v.Amount)
	b = projector.AppendTime(b, v.At)
	return projector.AppendBool(b, v.BestLuck)
}

// DecodeRow decodes what AppendRow wrote (projector.RowCodec).
func (v *received) DecodeRow(b []byte) error {
	r := projector.NewRowReader(b)
	*v = received{EnvelopeID: r.String(), Sender: r.String(), Amount: r.Varint(), At: r.Time(), BestLuck: r.Bool()}
	return r.Done()
}

// AppendRow encodes s (projector.RowCodec).
func (s *sent) AppendRow(b []byte) []byte {
	b = projector.AppendString(b, s.EnvelopeID)
	b = projector.AppendString(b, s.Kind)
	b = binary.AppendVarint(b, s.Total)
	b = binary.AppendVarint(b, int64(s.Count))
	b = binary.AppendVarint(b, int64(s.OpenedCount))
	b = binary.AppendVarint(b, s.Refunded)
	b = projector.AppendString(b, s.State)
	return projector.AppendTime(b, s.At)
}

// DecodeRow decodes what AppendRow wrote (projector.RowCodec).
func (s *sent) DecodeRow(b []byte) error {
	r := projector.NewRowReader(b)
	*s = sent{EnvelopeID: r.String(), Kind: r.String(), Total: r.Varint(), Count: r.Int(), OpenedCount: r.Int(),
		Refunded: r.Varint(), State: r.String(), At: r.Time()}
	return r.Done()
}

// AppendRow encodes t (projector.RowCodec).
func (t *totals) AppendRow(b []byte) []byte {
	b = binary.AppendVarint(b, int64(t.Count))
	b = binary.AppendVarint(b, t.Amount)
	return binary.AppendVarint(b, int64(t.BestLuckCount))
}

// DecodeRow decodes what AppendRow wrote (projector.RowCodec).
func (t *totals) DecodeRow(b []byte) error {
	r := projector.NewRowReader(b)
	*t = totals{Count: r.Int(), Amount: r.Varint(), BestLuckCount: r.Int()}
	return r.Done()
}
