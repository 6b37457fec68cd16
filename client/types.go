package client

import (
	"encoding/json"
	"time"
)

// Kind of an envelope.
type Kind string

// Envelope kinds.
const (
	Lucky Kind = "lucky" // random shares (拼手气)
	Equal Kind = "equal" // every share total/count (普通)
)

// State of an envelope (wrapped, live, finished, expired, cancelled) or a
// campaign (created, live, ended, cancelled).
type State string

// States.
const (
	StateWrapped   State = "wrapped"
	StateLive      State = "live"
	StateFinished  State = "finished"
	StateExpired   State = "expired"
	StateCancelled State = "cancelled"
	StateCreated   State = "created" // campaigns: created, not paid yet
	StateEnded     State = "ended"   // campaigns: past ends_at
)

// Status of a grab, open, shake or campaign open: a business outcome, not
// an error.
type Status string

// Statuses.
const (
	StatusCanOpen       Status = "can_open"       // grab: the user may open it
	StatusOpened        Status = "opened"         // open, campaign open: this call opened it
	StatusAlreadyOpened Status = "already_opened" // grab, open, campaign open: opened before; Amount is that result
	StatusExhausted     Status = "exhausted"      // grab, open: no share left
	StatusExpired       Status = "expired"        // grab, open: past expires_at
	StatusNotLive       Status = "not_live"       // grab: not paid yet, or cancelled (open answers ErrNotLive)
	StatusWon           Status = "won"            // shake: Ticket is the user's
	StatusNone          Status = "none"           // shake: no ticket left
	StatusLimit         Status = "limit"          // shake: the user has won per_user tickets
	StatusNotStarted    Status = "not_started"    // shake: before starts_at
	StatusEnded         Status = "ended"          // shake, campaign open: after ends_at
)

// WrapRequest creates an envelope. RequestID is the idempotency key of
// the sender: empty, Wrap makes a unique one (WrapResult.RequestID), which
// its retries reuse. Greeting is optional.
type WrapRequest struct {
	RequestID string
	Sender    string
	Kind      Kind
	Total     int64 // fen
	Count     int
	Greeting  string
}

// WrapResult answers Wrap.
type WrapResult struct {
	EnvelopeID string `json:"envelope_id"`
	State      State  `json:"state"` // StateWrapped
	Total      int64  `json:"total"`
	Count      int    `json:"count"`
	Kind       Kind   `json:"kind"`
	RequestID  string `json:"-"` // the request id sent (the caller's, or the one Wrap made)
}

// PayResult answers Pay.
type PayResult struct {
	EnvelopeID string    `json:"envelope_id"`
	State      State     `json:"state"` // StateLive
	ExpiresAt  time.Time `json:"-"`
}

// UnmarshalJSON decodes the contract's pay reply.
func (p *PayResult) UnmarshalJSON(b []byte) error {
	type plain PayResult
	aux := struct {
		*plain
		ExpiresAt jtime `json:"expires_at"`
	}{plain: (*plain)(p)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	p.ExpiresAt = time.Time(aux.ExpiresAt)
	return nil
}

// GrabResult answers Grab. Amount is set with StatusAlreadyOpened.
type GrabResult struct {
	Status Status `json:"status"`
	Amount int64  `json:"amount"`
}

// OpenResult answers Open. With StatusOpened every field is set; Seq is the
// stream sequence of the open, for read-your-writes (GetAfter, AfterSeq).
// With StatusAlreadyOpened, Amount and Index of the user's earlier open.
// With StatusExhausted and StatusExpired only Status.
type OpenResult struct {
	Status         Status `json:"status"`
	Amount         int64  `json:"amount"`
	Index          int    `json:"index"`
	RemainingCount int    `json:"remaining_count"`
	Seq            uint64 `json:"seq"`
}

// Opened reports whether this call opened the envelope.
func (r OpenResult) Opened() bool { return r.Status == StatusOpened }

// Envelope is the envelope part of a GetResult. ExpiresAt is zero until
// it is paid.
type Envelope struct {
	EnvelopeID  string    `json:"envelope_id"`
	Sender      string    `json:"sender"`
	Kind        Kind      `json:"kind"`
	Total       int64     `json:"total"`
	Count       int       `json:"count"`
	State       State     `json:"state"`
	OpenedCount int       `json:"opened_count"`
	OpenedTotal int64     `json:"opened_total"`
	Refunded    int64     `json:"refunded"`
	Greeting    string    `json:"greeting"`
	CreatedAt   time.Time `json:"-"`
	ExpiresAt   time.Time `json:"-"`
}

// UnmarshalJSON decodes the contract's envelope ("" times are zero).
func (e *Envelope) UnmarshalJSON(b []byte) error {
	type plain Envelope
	aux := struct {
		*plain
		CreatedAt jtime `json:"created_at"`
		ExpiresAt jtime `json:"expires_at"`
	}{plain: (*plain)(e)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	e.CreatedAt, e.ExpiresAt = time.Time(aux.CreatedAt), time.Time(aux.ExpiresAt)
	return nil
}

// OpenEntry is one open in a GetResult. BestLuck is set on exactly one
// open once the envelope is finished.
type OpenEntry struct {
	User     string    `json:"user"`
	Amount   int64     `json:"amount"`
	Index    int       `json:"index"`
	At       time.Time `json:"-"`
	BestLuck bool      `json:"best_luck"`
}

// UnmarshalJSON decodes the contract's open.
func (o *OpenEntry) UnmarshalJSON(b []byte) error {
	type plain OpenEntry
	aux := struct {
		*plain
		At jtime `json:"at"`
	}{plain: (*plain)(o)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	o.At = time.Time(aux.At)
	return nil
}

// GetResult answers Get: the envelope and a page of its opens. Next is
// the cursor of the next page (Cursor), empty on the last one.
type GetResult struct {
	Envelope Envelope    `json:"envelope"`
	Opens    []OpenEntry `json:"opens"`
	Next     string      `json:"next"`
}

// Totals cover a user's whole year, not just the page.
type Totals struct {
	Count         int   `json:"count"`
	Amount        int64 `json:"amount"`
	BestLuckCount int   `json:"best_luck_count"`
}

// Received is one envelope a user opened.
type Received struct {
	EnvelopeID string    `json:"envelope_id"`
	Sender     string    `json:"sender"`
	Amount     int64     `json:"amount"`
	At         time.Time `json:"-"`
	BestLuck   bool      `json:"best_luck"`
}

// UnmarshalJSON decodes the contract's received item.
func (r *Received) UnmarshalJSON(b []byte) error {
	type plain Received
	aux := struct {
		*plain
		At jtime `json:"at"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	r.At = time.Time(aux.At)
	return nil
}

// ReceivedResult answers UserReceived; Items are newest first.
type ReceivedResult struct {
	Items  []Received `json:"items"`
	Next   string     `json:"next"`
	Totals Totals     `json:"totals"`
}

// Sent is one envelope a user sent.
type Sent struct {
	EnvelopeID  string    `json:"envelope_id"`
	Kind        Kind      `json:"kind"`
	Total       int64     `json:"total"`
	Count       int       `json:"count"`
	OpenedCount int       `json:"opened_count"`
	Refunded    int64     `json:"refunded"`
	State       State     `json:"state"`
	At          time.Time `json:"-"`
}

// UnmarshalJSON decodes the contract's sent item.
func (s *Sent) UnmarshalJSON(b []byte) error {
	type plain Sent
	aux := struct {
		*plain
		At jtime `json:"at"`
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	s.At = time.Time(aux.At)
	return nil
}

// SentResult answers UserSent; Items are newest first.
type SentResult struct {
	Items  []Sent `json:"items"`
	Next   string `json:"next"`
	Totals Totals `json:"totals"`
}

// Wallet entry kinds.
const (
	EntryOpen     = "open"     // a share of an envelope; EnvelopeID is set
	EntryRefund   = "refund"   // an envelope's (or campaign's) remainder, to its sender
	EntryCampaign = "campaign" // a campaign ticket; CampaignID is set
)

// WalletEntry is one transfer in a user's wallet.
type WalletEntry struct {
	TransferID string    `json:"transfer_id"`
	Amount     int64     `json:"amount"`
	Kind       string    `json:"kind"`
	EnvelopeID string    `json:"envelope_id,omitempty"`
	CampaignID string    `json:"campaign_id,omitempty"`
	At         time.Time `json:"-"`
}

// UnmarshalJSON decodes the contract's wallet entry.
func (w *WalletEntry) UnmarshalJSON(b []byte) error {
	type plain WalletEntry
	aux := struct {
		*plain
		At jtime `json:"at"`
	}{plain: (*plain)(w)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	w.At = time.Time(aux.At)
	return nil
}

// WalletResult answers Wallet.
type WalletResult struct {
	User    string        `json:"user"`
	Balance int64         `json:"balance"`
	Entries []WalletEntry `json:"entries"`
	Next    string        `json:"next"`
}

// CampaignCreateRequest creates a shake campaign. RequestID as for
// WrapRequest. StartsAt zero: it starts when paid. PerUser and MaxShare
// zero: the service's defaults (1 ticket, 20000 fen).
type CampaignCreateRequest struct {
	RequestID string
	Sponsor   string
	Total     int64 // fen
	Count     int
	StartsAt  time.Time
	EndsAt    time.Time
	PerUser   int
	MaxShare  int64
}

// CampaignCreateResult answers CampaignCreate.
type CampaignCreateResult struct {
	CampaignID string `json:"campaign_id"`
	State      State  `json:"state"` // StateCreated
	Total      int64  `json:"total"`
	Count      int    `json:"count"`
	RequestID  string `json:"-"` // the request id sent
}

// CampaignPayResult answers CampaignPay.
type CampaignPayResult struct {
	CampaignID string    `json:"campaign_id"`
	State      State     `json:"state"` // StateLive
	StartsAt   time.Time `json:"-"`
	EndsAt     time.Time `json:"-"`
}

// UnmarshalJSON decodes the contract's campaign pay reply.
func (p *CampaignPayResult) UnmarshalJSON(b []byte) error {
	type plain CampaignPayResult
	aux := struct {
		*plain
		StartsAt jtime `json:"starts_at"`
		EndsAt   jtime `json:"ends_at"`
	}{plain: (*plain)(p)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	p.StartsAt, p.EndsAt = time.Time(aux.StartsAt), time.Time(aux.EndsAt)
	return nil
}

// ShakeResult answers Shake: with StatusWon, the user's Ticket for
// CampaignOpen (opaque; bound to the user and the campaign).
type ShakeResult struct {
	Status Status `json:"status"`
	Ticket string `json:"ticket"`
}

// CampaignOpenResult answers CampaignOpen. With StatusOpened, Amount and
// Seq; with StatusAlreadyOpened, Amount; with StatusEnded only Status.
type CampaignOpenResult struct {
	Status Status `json:"status"`
	Amount int64  `json:"amount"`
	Seq    uint64 `json:"seq"`
}

// Campaign answers CampaignGet.
type Campaign struct {
	CampaignID  string    `json:"campaign_id"`
	Sponsor     string    `json:"sponsor"`
	Total       int64     `json:"total"`
	Count       int       `json:"count"`
	State       State     `json:"state"`
	Issued      int       `json:"issued"`
	OpenedCount int       `json:"opened_count"`
	OpenedTotal int64     `json:"opened_total"`
	Refunded    int64     `json:"refunded"`
	StartsAt    time.Time `json:"-"`
	EndsAt      time.Time `json:"-"`
}

// UnmarshalJSON decodes the contract's campaign.
func (c *Campaign) UnmarshalJSON(b []byte) error {
	type plain Campaign
	aux := struct {
		*plain
		StartsAt jtime `json:"starts_at"`
		EndsAt   jtime `json:"ends_at"`
	}{plain: (*plain)(c)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	c.StartsAt, c.EndsAt = time.Time(aux.StartsAt), time.Time(aux.EndsAt)
	return nil
}
