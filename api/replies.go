package api

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/hongbao/hongbao/internal/jsonx"
)

// TimeFormat is how replies write times: RFC 3339 in UTC with milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// FormatTime writes t as replies do (TimeFormat, in UTC); the zero time is
// "" (a time not reached yet, e.g. expires_at before payment).
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeFormat)
}

// Envelope states (api.md, Lifecycle), for clients. The service writes
// the aggregate's status names (envelope.Status.String), which a test of
// the service holds equal to these.
const (
	StateWrapped   = "wrapped"
	StateLive      = "live"
	StateFinished  = "finished"
	StateExpired   = "expired"
	StateCancelled = "cancelled"
)

// Reply statuses of grab and open. Business outcomes that are not faults
// are replies with a status, not errors.
const (
	StatusCanOpen       = "can_open"
	StatusAlreadyOpened = "already_opened"
	StatusExhausted     = "exhausted"
	StatusExpired       = "expired"
	StatusNotLive       = "not_live" // grab only; open on a not-live envelope is a 409 not_live
	StatusOpened        = "opened"
)

// WrapReply answers hongbao.wrap.
type WrapReply struct {
	EnvelopeID string `json:"envelope_id"`
	State      string `json:"state"`
	Total      int64  `json:"total"`
	Count      int    `json:"count"`
	Kind       string `json:"kind"`
}

// PayReply answers hongbao.pay.<envelope_id>. ExpiresAt is RFC 3339.
type PayReply struct {
	EnvelopeID string `json:"envelope_id"`
	State      string `json:"state"`
	ExpiresAt  string `json:"expires_at"`
}

// GrabReply answers hongbao.grab.<envelope_id>. Amount is set only with
// StatusAlreadyOpened.
type GrabReply struct {
	Status string `json:"status"`
	Amount int64  `json:"amount,omitempty"`
}

// OpenReply answers hongbao.open.<envelope_id>. With StatusOpened every
// field is set (RemainingCount points to 0 for the last share, which is why
// it is a pointer); with StatusAlreadyOpened Amount and Index; with
// StatusExhausted and StatusExpired only Status.
type OpenReply struct {
	Status         string `json:"status"`
	Amount         int64  `json:"amount,omitempty"`
	Index          int    `json:"index,omitempty"`
	RemainingCount *int   `json:"remaining_count,omitempty"`
	Seq            uint64 `json:"seq,omitempty"`
}

// AppendJSON appends r exactly as json.Marshal encodes it, without
// reflection: every open is answered with one (TestOpenReplyJSON).
func (r OpenReply) AppendJSON(b []byte) []byte {
	b = append(b, `{"status":`...)
	b = jsonx.AppendString(b, r.Status)
	if r.Amount != 0 {
		b = strconv.AppendInt(append(b, `,"amount":`...), r.Amount, 10)
	}
	if r.Index != 0 {
		b = strconv.AppendInt(append(b, `,"index":`...), int64(r.Index), 10)
	}
	if r.RemainingCount != nil {
		b = strconv.AppendInt(append(b, `,"remaining_count":`...), int64(*r.RemainingCount), 10)
	}
	if r.Seq != 0 {
		b = strconv.AppendUint(append(b, `,"seq":`...), r.Seq, 10)
	}
	return append(b, '}')
}

// GetReply answers hongbao.get.<envelope_id>. Next is the cursor of the
// next page, empty on the last one. A nil Opens encodes as [].
type GetReply struct {
	Envelope EnvelopeView `json:"envelope"`
	Opens    []OpenView   `json:"opens"`
	Next     string       `json:"next"`
}

// MarshalJSON encodes a nil Opens as [] rather than null.
func (r GetReply) MarshalJSON() ([]byte, error) {
	type plain GetReply
	if r.Opens == nil {
		r.Opens = []OpenView{}
	}
	return json.Marshal(plain(r))
}

// EnvelopeView is the envelope part of GetReply. Times are RFC 3339;
// ExpiresAt is empty (and omitted) until the envelope is paid.
type EnvelopeView struct {
	EnvelopeID  string `json:"envelope_id"`
	Sender      string `json:"sender"`
	Kind        string `json:"kind"`
	Total       int64  `json:"total"`
	Count       int    `json:"count"`
	State       string `json:"state"`
	OpenedCount int    `json:"opened_count"`
	OpenedTotal int64  `json:"opened_total"`
	Refunded    int64  `json:"refunded"`
	Greeting    string `json:"greeting"`
	CreatedAt   string `json:"created_at"`
	ExpiresAt   string `json:"expires_at,omitempty"`
}

// OpenView is one open in GetReply. Index counts opens from 1; At is
// RFC 3339. BestLuck is true on exactly one open once the envelope is
// finished: the largest amount, ties to the earliest.
type OpenView struct {
	User     string `json:"user"`
	Amount   int64  `json:"amount"`
	Index    int    `json:"index"`
	At       string `json:"at"`
	BestLuck bool   `json:"best_luck"`
}

// ListTotals covers a user's whole year in ReceivedReply and SentReply,
// not just the page.
type ListTotals struct {
	Count         int   `json:"count"`
	Amount        int64 `json:"amount"`
	BestLuckCount int   `json:"best_luck_count"`
}

// ReceivedItem is one envelope a user opened, in ReceivedReply.
type ReceivedItem struct {
	EnvelopeID string `json:"envelope_id"`
	Sender     string `json:"sender"`
	Amount     int64  `json:"amount"`
	At         string `json:"at"`
	BestLuck   bool   `json:"best_luck"`
}

// ReceivedReply answers hongbao.user.received; Items are newest first and
// a nil Items encodes as [].
type ReceivedReply struct {
	Items  []ReceivedItem `json:"items"`
	Next   string         `json:"next"`
	Totals ListTotals     `json:"totals"`
}

// MarshalJSON encodes a nil Items as [] rather than null.
func (r ReceivedReply) MarshalJSON() ([]byte, error) {
	type plain ReceivedReply
	if r.Items == nil {
		r.Items = []ReceivedItem{}
	}
	return json.Marshal(plain(r))
}

// SentItem is one envelope a user sent, in SentReply.
type SentItem struct {
	EnvelopeID  string `json:"envelope_id"`
	Kind        string `json:"kind"`
	Total       int64  `json:"total"`
	Count       int    `json:"count"`
	OpenedCount int    `json:"opened_count"`
	Refunded    int64  `json:"refunded"`
	State       string `json:"state"`
	At          string `json:"at"`
}

// SentReply answers hongbao.user.sent; Items are newest first and a nil
// Items encodes as [].
type SentReply struct {
	Items  []SentItem `json:"items"`
	Next   string     `json:"next"`
	Totals ListTotals `json:"totals"`
}

// MarshalJSON encodes a nil Items as [] rather than null.
func (r SentReply) MarshalJSON() ([]byte, error) {
	type plain SentReply
	if r.Items == nil {
		r.Items = []SentItem{}
	}
	return json.Marshal(plain(r))
}

// Wallet entry kinds.
const (
	EntryOpen   = "open"
	EntryRefund = "refund"
)

// WalletEntry is one transfer in a user's wallet ledger.
type WalletEntry struct {
	TransferID string `json:"transfer_id"`
	Amount     int64  `json:"amount"`
	Kind       string `json:"kind"`
	EnvelopeID string `json:"envelope_id"`
	At         string `json:"at"`
}

// WalletReply answers hongbao.wallet.<user>; a nil Entries encodes as [].
type WalletReply struct {
	User    string        `json:"user"`
	Balance int64         `json:"balance"`
	Entries []WalletEntry `json:"entries"`
	Next    string        `json:"next"`
}

// MarshalJSON encodes a nil Entries as [] rather than null.
func (r WalletReply) MarshalJSON() ([]byte, error) {
	type plain WalletReply
	if r.Entries == nil {
		r.Entries = []WalletEntry{}
	}
	return json.Marshal(plain(r))
}
