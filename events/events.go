package events

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hongbao/hongbao/internal/jsonx"
)

// Version is the schema version written by this build.
const Version = 1

// Sentinel errors; match with errors.Is.
var (
	// ErrUnknownType is returned when an event's type is not one this build knows.
	ErrUnknownType = errors.New("events: unknown event type")
	// ErrMalformed is returned for payloads that are not a valid event of their type.
	ErrMalformed = errors.New("events: malformed event")
)

// Type names an event kind on the wire.
type Type string

// The event types.
const (
	TypeWrapped   Type = "wrapped"
	TypePaid      Type = "paid"
	TypeCancelled Type = "cancelled"
	TypeOpened    Type = "opened"
	TypeExpired   Type = "expired"
)

// Kind is the kind of envelope.
type Kind string

// Envelope kinds.
const (
	KindLucky Kind = "lucky" // 拼手气: random shares by the watermark rule
	KindEqual Kind = "equal" // 普通: every share total/count
)

// Hard caps that no configuration may exceed. They keep the split
// arithmetic ((count−1)·max_share) far from int64 overflow even for a forged
// event.
const (
	HardMaxCount = 1_000_000
	HardMaxShare = 1_000_000_000_000
)

// Seed is the per-envelope secret from which every lucky share is derived.
// It is stored in Wrapped so an auditor can re-derive shares; the API never
// exposes it.
type Seed [32]byte

// MarshalText encodes the seed as hex.
func (s Seed) MarshalText() ([]byte, error) {
	out := make([]byte, hex.EncodedLen(len(s)))
	hex.Encode(out, s[:])
	return out, nil
}

// UnmarshalText decodes a 64-character hex seed.
func (s *Seed) UnmarshalText(b []byte) error {
	if len(b) != hex.EncodedLen(len(s)) {
		return fmt.Errorf("%w: seed must be %d hex characters", ErrMalformed, hex.EncodedLen(len(s)))
	}
	if _, err := hex.Decode(s[:], b); err != nil {
		return fmt.Errorf("%w: seed: %v", ErrMalformed, err)
	}
	return nil
}

// Event is one fact about an envelope. Data is exactly one of the payload
// types below, matching Type.
type Event struct {
	Type       Type
	EnvelopeID string
	At         time.Time
	Data       Payload
}

// Payload is implemented by the five payload types.
type Payload interface {
	eventType() Type
	validate() error
}

// Wrapped: the sender created an envelope order (包). Limits in force are
// recorded so that a replay never depends on today's configuration.
type Wrapped struct {
	RequestID string        `json:"request_id"`
	Sender    string        `json:"sender"`
	Kind      Kind          `json:"kind"`
	Total     int64         `json:"total"`
	Count     int           `json:"count"`
	Greeting  string        `json:"greeting,omitempty"`
	Seed      Seed          `json:"seed"`
	MinShare  int64         `json:"min_share"`
	MaxShare  int64         `json:"max_share"`
	PayBy     time.Time     `json:"pay_by"`
	Expiry    time.Duration `json:"expiry_ns"`
}

// Paid: the payment system confirmed the sender paid the total (发).
type Paid struct {
	PaymentID string    `json:"payment_id"`
	Amount    int64     `json:"amount"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Cancelled: the envelope was not paid before its pay deadline.
type Cancelled struct {
	Reason string `json:"reason"`
}

// Opened: a user opened the envelope and got a share (拆). This event is the
// voucher: the wallet credit follows from it.
type Opened struct {
	User            string `json:"user"`
	Amount          int64  `json:"amount"`
	Index           int    `json:"index"`
	RemainingAmount int64  `json:"remaining_amount"`
	RemainingCount  int    `json:"remaining_count"`
}

// Expired: the envelope reached its expiry with shares left; Refund is
// exactly total − Σ opened and goes back to the sender.
type Expired struct {
	Refund      int64 `json:"refund"`
	OpenedCount int   `json:"opened_count"`
}

func (Wrapped) eventType() Type   { return TypeWrapped }
func (Paid) eventType() Type      { return TypePaid }
func (Cancelled) eventType() Type { return TypeCancelled }
func (Opened) eventType() Type    { return TypeOpened }
func (Expired) eventType() Type   { return TypeExpired }

func (w Wrapped) validate() error {
	switch {
	case w.Sender == "":
		return errors.New("wrapped: empty sender")
	case w.Kind != KindLucky && w.Kind != KindEqual:
		return fmt.Errorf("wrapped: kind %q", w.Kind)
	case w.Count < 1 || w.Count > HardMaxCount:
		return fmt.Errorf("wrapped: count %d", w.Count)
	case w.MinShare < 1 || w.MaxShare < w.MinShare || w.MaxShare > HardMaxShare:
		return fmt.Errorf("wrapped: share limits [%d, %d]", w.MinShare, w.MaxShare)
	case w.Total < int64(w.Count)*w.MinShare || overCap(w.Total, int64(w.Count), w.MaxShare):
		return fmt.Errorf("wrapped: total %d for %d shares", w.Total, w.Count)
	case w.Kind == KindEqual && w.Total%int64(w.Count) != 0:
		return fmt.Errorf("wrapped: %d fen do not divide into %d equal shares", w.Total, w.Count)
	case w.Expiry <= 0:
		return fmt.Errorf("wrapped: expiry %v", w.Expiry)
	}
	return nil
}

// overCap reports whether total > count*max without overflowing.
func overCap(total, count, max int64) bool {
	q, r := total/count, total%count
	return q > max || (q == max && r != 0)
}

func (p Paid) validate() error {
	if p.PaymentID == "" || p.Amount < 1 || p.ExpiresAt.IsZero() {
		return errors.New("paid: payment_id, amount and expires_at are required")
	}
	return nil
}

func (Cancelled) validate() error { return nil }

func (o Opened) validate() error {
	if o.User == "" || o.Amount < 1 || o.Index < 1 || o.RemainingAmount < 0 || o.RemainingCount < 0 {
		return fmt.Errorf("opened: user %q amount %d index %d remaining %d/%d",
			o.User, o.Amount, o.Index, o.RemainingAmount, o.RemainingCount)
	}
	return nil
}

func (e Expired) validate() error {
	if e.Refund < 0 || e.OpenedCount < 0 {
		return fmt.Errorf("expired: refund %d opened %d", e.Refund, e.OpenedCount)
	}
	return nil
}

// Record is an event with the stream sequence it was stored at (0 when not
// stored yet).
type Record struct {
	Seq   uint64
	Event Event
}

// New builds an event from a payload.
func New(envelopeID string, at time.Time, p Payload) Event {
	return Event{Type: p.eventType(), EnvelopeID: envelopeID, At: at.UTC(), Data: p}
}

type wire struct {
	Type       Type            `json:"type"`
	V          int             `json:"v"`
	EnvelopeID string          `json:"envelope_id"`
	At         time.Time       `json:"at"`
	Data       json.RawMessage `json:"data"`
}

// Encode serialises an event. It fails only on an event whose payload does
// not match its type or does not validate.
func Encode(e Event) ([]byte, error) {
	if e.Data == nil || e.Data.eventType() != e.Type {
		return nil, fmt.Errorf("%w: type %q with payload %T", ErrMalformed, e.Type, e.Data)
	}
	if err := e.Data.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if o, ok := e.Data.(Opened); ok {
		return encodeOpened(e, o)
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return json.Marshal(wire{Type: e.Type, V: Version, EnvelopeID: e.EnvelopeID, At: e.At.UTC(), Data: data})
}

// encodeOpened writes an Opened event, the one every open stores, exactly
// as the json.Marshal path above writes it (TestEncodeOpenedMatchesJSON),
// without reflection: 0.22 µs and one allocation instead of 1.3 µs and four
// (BenchmarkEncode/opened).
func encodeOpened(e Event, o Opened) ([]byte, error) {
	b := make([]byte, 0, 192+len(e.EnvelopeID)+len(o.User))
	b = append(b, `{"type":"opened","v":`...)
	b = strconv.AppendInt(b, Version, 10)
	b = append(b, `,"envelope_id":`...)
	b = jsonx.AppendString(b, e.EnvelopeID)
	b = append(b, `,"at":`...)
	b, err := jsonx.AppendTime(b, e.At.UTC())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	b = append(b, `,"data":{"user":`...)
	b = jsonx.AppendString(b, o.User)
	b = append(b, `,"amount":`...)
	b = strconv.AppendInt(b, o.Amount, 10)
	b = append(b, `,"index":`...)
	b = strconv.AppendInt(b, int64(o.Index), 10)
	b = append(b, `,"remaining_amount":`...)
	b = strconv.AppendInt(b, o.RemainingAmount, 10)
	b = append(b, `,"remaining_count":`...)
	b = strconv.AppendInt(b, int64(o.RemainingCount), 10)
	return append(b, "}}"...), nil
}

// Decode parses and validates one event, strictly (package invariant 2).
//
// Events as Encode writes them take a fast path of one pass without
// reflection (decodeFast); anything else, including every input that is an
// error, goes through the strict decoder (decodeStrict), which words the
// errors. Both accept and return exactly the same: FuzzDecodeMatchesStrict
// checks it.
func Decode(b []byte) (Event, error) {
	if e, ok := decodeFast(b); ok {
		return e, nil
	}
	return decodeStrict(b)
}

// decodeStrict is the reference decoder: encoding/json with unknown fields
// disallowed, the wrapper first, then the payload of its type.
func decodeStrict(b []byte) (Event, error) {
	var w wire
	if err := strict(b, &w); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if w.V != Version {
		return Event{}, fmt.Errorf("%w: version %d of %q", ErrUnknownType, w.V, w.Type)
	}
	if w.EnvelopeID == "" || w.At.IsZero() || len(w.Data) == 0 {
		return Event{}, fmt.Errorf("%w: envelope_id, at and data are required", ErrMalformed)
	}
	var p Payload
	var err error
	switch w.Type {
	case TypeWrapped:
		p, err = decodeAs[Wrapped](w.Data)
	case TypePaid:
		p, err = decodeAs[Paid](w.Data)
	case TypeCancelled:
		p, err = decodeAs[Cancelled](w.Data)
	case TypeOpened:
		p, err = decodeAs[Opened](w.Data)
	case TypeExpired:
		p, err = decodeAs[Expired](w.Data)
	default:
		return Event{}, fmt.Errorf("%w: %q", ErrUnknownType, w.Type)
	}
	if err != nil {
		return Event{}, fmt.Errorf("%w: %s: %v", ErrMalformed, w.Type, err)
	}
	if err := p.validate(); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return Event{Type: w.Type, EnvelopeID: w.EnvelopeID, At: w.At.UTC(), Data: p}, nil
}

func decodeAs[T Payload](b []byte) (Payload, error) {
	var v T
	if err := strict(b, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// strict decodes exactly one JSON object with no unknown fields.
func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the event")
	}
	if _, err := dec.Token(); err == nil {
		return errors.New("trailing data after the event")
	}
	return nil
}
