package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Campaign events are the facts of a shake campaign (摇一摇红包, seed 004).
// They are a union of their own, CampaignEvent, beside Event, on purpose:
//
//   - Decode (the envelope streams' decoder) keeps rejecting every campaign
//     type with ErrUnknownType, and DecodeCampaign rejects every envelope
//     type. A campaign event that lands on an envelope subject (or the
//     reverse) therefore fails loudly where it is read, as today, instead
//     of falling through the type switches of the projections, the outbox
//     and the reconciler, which ignore payloads they do not know.
//   - The wire carries "campaign_id", not "envelope_id", so a stored
//     campaign event can never be mistaken for an envelope's.
//
// Wire form, as for envelopes (package invariants 1–3 hold for both):
//
//	{"type":"ticket_opened","v":1,"campaign_id":"01J…","at":"2026-…Z","data":{…}}
//
// Where they are stored: campaign-level events (created, paid, cancelled,
// paused, resumed, ended) on the campaign's subject; slice events
// (tickets_reserved, ticket_opened, slice_closed) on the subject of their
// slice, which serializes the slice (CampaignEvent.Slice). Subject names
// belong to the topology package.

// CampaignType names a campaign event kind on the wire.
type CampaignType string

// The campaign event types.
const (
	TypeCampaignCreated   CampaignType = "campaign_created"
	TypeCampaignPaid      CampaignType = "campaign_paid"
	TypeCampaignCancelled CampaignType = "campaign_cancelled"
	TypeCampaignPaused    CampaignType = "campaign_paused"
	TypeCampaignResumed   CampaignType = "campaign_resumed"
	TypeTicketsReserved   CampaignType = "tickets_reserved"
	TypeTicketOpened      CampaignType = "ticket_opened"
	TypeSliceClosed       CampaignType = "slice_closed"
	TypeCampaignEnded     CampaignType = "campaign_ended"
)

// Hard caps for campaigns that no configuration may exceed. With them the
// share arithmetic (count·max_share, total·count) stays inside 64 bits, or
// 128 bits where it multiplies (package campaign's split).
const (
	HardMaxCampaignCount  = 10_000_000
	HardMaxCampaignSlices = 4096
	HardMaxCampaignShare  = 1_000_000_000         // 10 million CNY per ticket
	HardMaxCampaignTotal  = 1_000_000_000_000_000 // < 2^50 fen
	HardMaxPerUser        = 1_000
)

// CampaignEvent is one fact about a campaign. Data is exactly one of the
// campaign payload types, matching Type.
type CampaignEvent struct {
	Type       CampaignType
	CampaignID string
	At         time.Time
	Data       CampaignPayload
}

// CampaignPayload is implemented by the campaign payload types.
type CampaignPayload interface {
	campaignType() CampaignType
	validate() error
}

// Slice reports which slice's subject the event belongs on, and false for
// campaign-level events.
func (e CampaignEvent) Slice() (int, bool) {
	switch d := e.Data.(type) {
	case TicketsReserved:
		return d.Slice, true
	case TicketOpened:
		return d.Slice, true
	case SliceClosed:
		return d.Slice, true
	}
	return 0, false
}

// CampaignCreated: a sponsor created a campaign of Count tickets worth Total
// fen. Everything a replay needs is recorded here, never read from today's
// configuration: the share limits and the seed (every ticket's amount
// derives from them), the number of slices (which tickets each slice owns),
// per_user, and the times.
type CampaignCreated struct {
	RequestID string    `json:"request_id"`
	Sponsor   string    `json:"sponsor"`
	Total     int64     `json:"total"`
	Count     int       `json:"count"`
	Slices    int       `json:"slices"`
	PerUser   int       `json:"per_user"`
	MinShare  int64     `json:"min_share"`
	MaxShare  int64     `json:"max_share"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	PayBy     time.Time `json:"pay_by"`
	Seed      Seed      `json:"seed"`
}

// CampaignPaid: the payment system confirmed the sponsor funded the total.
type CampaignPaid struct {
	PaymentID string `json:"payment_id"`
	Amount    int64  `json:"amount"`
}

// CampaignCancelled: the campaign was not paid by its deadline.
type CampaignCancelled struct {
	Reason string `json:"reason"`
}

// CampaignPaused: an operator stopped the shakes (risk control). Opens of
// tickets already won go on.
type CampaignPaused struct {
	Operator string `json:"operator"`
	Reason   string `json:"reason,omitempty"`
}

// CampaignResumed: an operator let the shakes go on.
type CampaignResumed struct {
	Operator string `json:"operator"`
}

// TicketsReserved: the slice's owner reserved the ticket indexes
// [From, To) before handing any of them out. Reservations of a slice are
// contiguous: From is where the previous one ended.
type TicketsReserved struct {
	Slice int `json:"slice"`
	From  int `json:"from"`
	To    int `json:"to"`
}

// TicketOpened: a user opened a ticket won by a shake; this event is the
// voucher the wallet credit follows from. Ticket is the signed token the
// user presented (its key id is KeyID), so an auditor can check that the
// service issued this index to this user.
type TicketOpened struct {
	Slice  int    `json:"slice"`
	Index  int    `json:"index"`
	User   string `json:"user"`
	Amount int64  `json:"amount"`
	KeyID  string `json:"key_id"`
	Ticket string `json:"ticket"`
}

// SliceClosed: the slice reached the campaign's end; no open follows on its
// subject. It states the slice's totals, which CampaignEnded adds up.
type SliceClosed struct {
	Slice       int   `json:"slice"`
	Reserved    int   `json:"reserved"` // tickets reserved on the slice
	OpenedCount int   `json:"opened_count"`
	OpenedTotal int64 `json:"opened_total"`
}

// CampaignEnded: the campaign ended, once. Refund is exactly total − Σ
// opened, the amounts of every ticket not opened, issued or not; it goes
// back to the sponsor in one transfer.
type CampaignEnded struct {
	Refund      int64 `json:"refund"`
	OpenedCount int   `json:"opened_count"`
	OpenedTotal int64 `json:"opened_total"`
	Reserved    int   `json:"reserved"`
}

func (CampaignCreated) campaignType() CampaignType   { return TypeCampaignCreated }
func (CampaignPaid) campaignType() CampaignType      { return TypeCampaignPaid }
func (CampaignCancelled) campaignType() CampaignType { return TypeCampaignCancelled }
func (CampaignPaused) campaignType() CampaignType    { return TypeCampaignPaused }
func (CampaignResumed) campaignType() CampaignType   { return TypeCampaignResumed }
func (TicketsReserved) campaignType() CampaignType   { return TypeTicketsReserved }
func (TicketOpened) campaignType() CampaignType      { return TypeTicketOpened }
func (SliceClosed) campaignType() CampaignType       { return TypeSliceClosed }
func (CampaignEnded) campaignType() CampaignType     { return TypeCampaignEnded }

func (c CampaignCreated) validate() error {
	switch {
	case c.Sponsor == "":
		return errors.New("campaign_created: empty sponsor")
	case c.Count < 1 || c.Count > HardMaxCampaignCount:
		return fmt.Errorf("campaign_created: count %d", c.Count)
	case c.Slices < 1 || c.Slices > HardMaxCampaignSlices || c.Slices > c.Count:
		return fmt.Errorf("campaign_created: %d slices for %d tickets", c.Slices, c.Count)
	case c.PerUser < 1 || c.PerUser > HardMaxPerUser:
		return fmt.Errorf("campaign_created: per_user %d", c.PerUser)
	case c.MinShare < 1 || c.MaxShare < c.MinShare || c.MaxShare > HardMaxCampaignShare:
		return fmt.Errorf("campaign_created: share limits [%d, %d]", c.MinShare, c.MaxShare)
	case c.Total > HardMaxCampaignTotal || c.Total < int64(c.Count)*c.MinShare || c.Total > int64(c.Count)*c.MaxShare:
		return fmt.Errorf("campaign_created: total %d for %d tickets", c.Total, c.Count)
	case c.StartsAt.IsZero() || !c.EndsAt.After(c.StartsAt) || c.PayBy.IsZero():
		return fmt.Errorf("campaign_created: starts_at %v, ends_at %v, pay_by %v", c.StartsAt, c.EndsAt, c.PayBy)
	}
	return nil
}

func (p CampaignPaid) validate() error {
	if p.PaymentID == "" || p.Amount < 1 {
		return errors.New("campaign_paid: payment_id and amount are required")
	}
	return nil
}

func (CampaignCancelled) validate() error { return nil }

func (p CampaignPaused) validate() error {
	if p.Operator == "" {
		return errors.New("campaign_paused: empty operator")
	}
	return nil
}

func (r CampaignResumed) validate() error {
	if r.Operator == "" {
		return errors.New("campaign_resumed: empty operator")
	}
	return nil
}

func (r TicketsReserved) validate() error {
	if r.Slice < 0 || r.From < 0 || r.To <= r.From || r.To > HardMaxCampaignCount {
		return fmt.Errorf("tickets_reserved: slice %d [%d, %d)", r.Slice, r.From, r.To)
	}
	return nil
}

func (o TicketOpened) validate() error {
	if o.Slice < 0 || o.Index < 0 || o.Index >= HardMaxCampaignCount || o.User == "" || o.Amount < 1 || o.KeyID == "" || o.Ticket == "" {
		return fmt.Errorf("ticket_opened: slice %d index %d user %q amount %d key %q", o.Slice, o.Index, o.User, o.Amount, o.KeyID)
	}
	return nil
}

func (c SliceClosed) validate() error {
	if c.Slice < 0 || c.Reserved < 0 || c.OpenedCount < 0 || c.OpenedCount > c.Reserved || c.OpenedTotal < 0 {
		return fmt.Errorf("slice_closed: slice %d reserved %d opened %d/%d", c.Slice, c.Reserved, c.OpenedCount, c.OpenedTotal)
	}
	return nil
}

func (e CampaignEnded) validate() error {
	if e.Refund < 0 || e.OpenedCount < 0 || e.OpenedTotal < 0 || e.Reserved < e.OpenedCount {
		return fmt.Errorf("campaign_ended: refund %d opened %d/%d reserved %d", e.Refund, e.OpenedCount, e.OpenedTotal, e.Reserved)
	}
	return nil
}

// NewCampaign builds a campaign event from a payload.
func NewCampaign(campaignID string, at time.Time, p CampaignPayload) CampaignEvent {
	return CampaignEvent{Type: p.campaignType(), CampaignID: campaignID, At: at.UTC(), Data: p}
}

// CampaignRecord is a campaign event with the stream sequence it was stored
// at (0 when not stored yet).
type CampaignRecord struct {
	Seq   uint64
	Event CampaignEvent
}

type campaignWire struct {
	Type       CampaignType    `json:"type"`
	V          int             `json:"v"`
	CampaignID string          `json:"campaign_id"`
	At         time.Time       `json:"at"`
	Data       json.RawMessage `json:"data"`
}

// EncodeCampaign serialises a campaign event. It fails only on an event
// whose payload does not match its type or does not validate.
func EncodeCampaign(e CampaignEvent) ([]byte, error) {
	if e.Data == nil || e.Data.campaignType() != e.Type {
		return nil, fmt.Errorf("%w: type %q with payload %T", ErrMalformed, e.Type, e.Data)
	}
	if e.CampaignID == "" || e.At.IsZero() {
		return nil, fmt.Errorf("%w: campaign_id and at are required", ErrMalformed)
	}
	if err := e.Data.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return json.Marshal(campaignWire{Type: e.Type, V: Version, CampaignID: e.CampaignID, At: e.At.UTC(), Data: data})
}

// DecodeCampaign parses and validates one campaign event, strictly (package
// invariant 2): an envelope event is ErrUnknownType here, as a campaign
// event is in Decode.
func DecodeCampaign(b []byte) (CampaignEvent, error) {
	var w campaignWire
	if err := strict(b, &w); err != nil {
		return CampaignEvent{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if w.V != Version {
		return CampaignEvent{}, fmt.Errorf("%w: version %d of %q", ErrUnknownType, w.V, w.Type)
	}
	if w.CampaignID == "" || w.At.IsZero() || len(w.Data) == 0 {
		return CampaignEvent{}, fmt.Errorf("%w: campaign_id, at and data are required", ErrMalformed)
	}
	var p CampaignPayload
	var err error
	switch w.Type {
	case TypeCampaignCreated:
		p, err = decodeCampaignAs[CampaignCreated](w.Data)
	case TypeCampaignPaid:
		p, err = decodeCampaignAs[CampaignPaid](w.Data)
	case TypeCampaignCancelled:
		p, err = decodeCampaignAs[CampaignCancelled](w.Data)
	case TypeCampaignPaused:
		p, err = decodeCampaignAs[CampaignPaused](w.Data)
	case TypeCampaignResumed:
		p, err = decodeCampaignAs[CampaignResumed](w.Data)
	case TypeTicketsReserved:
		p, err = decodeCampaignAs[TicketsReserved](w.Data)
	case TypeTicketOpened:
		p, err = decodeCampaignAs[TicketOpened](w.Data)
	case TypeSliceClosed:
		p, err = decodeCampaignAs[SliceClosed](w.Data)
	case TypeCampaignEnded:
		p, err = decodeCampaignAs[CampaignEnded](w.Data)
	default:
		return CampaignEvent{}, fmt.Errorf("%w: %q", ErrUnknownType, w.Type)
	}
	if err != nil {
		return CampaignEvent{}, fmt.Errorf("%w: %s: %v", ErrMalformed, w.Type, err)
	}
	if err := p.validate(); err != nil {
		return CampaignEvent{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return CampaignEvent{Type: w.Type, CampaignID: w.CampaignID, At: w.At.UTC(), Data: p}, nil
}

func decodeCampaignAs[T CampaignPayload](b []byte) (CampaignPayload, error) {
	var v T
	if err := strict(b, &v); err != nil {
		return nil, err
	}
	return v, nil
}
