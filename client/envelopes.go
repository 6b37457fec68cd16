package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// ErrInvalidReply: a successful reply the client could not decode.
var ErrInvalidReply = errors.New("hongbao: invalid reply")

// QueryOption shapes a query: Get, UserReceived, UserSent, Wallet.
type QueryOption func(*query)

type query struct {
	limit    int
	cursor   string
	afterSeq uint64
	year     int
}

// Limit sets the page size (1 to 100; default 20).
func Limit(n int) QueryOption { return func(q *query) { q.limit = n } }

// Cursor asks for the page after the one whose Next it is.
func Cursor(next string) QueryOption { return func(q *query) { q.cursor = next } }

// AfterSeq asks the reply to reflect at least stream sequence seq (an
// OpenResult's or CampaignOpenResult's Seq): read-your-writes for Get,
// UserReceived and UserSent. The service waits briefly for its read model
// and else answers 503 unavailable, which the client retries. Wallet
// ignores it: credits reach wallets asynchronously.
func AfterSeq(seq uint64) QueryOption { return func(q *query) { q.afterSeq = seq } }

// Year selects the year of UserReceived and UserSent (default: the
// current year).
func Year(y int) QueryOption { return func(q *query) { q.year = y } }

func (q *query) body(b []byte, user string, afterSeq, year bool) []byte {
	b = append(b, '{')
	if user != "" {
		b = appendStringField(b, "user", user)
	}
	if year && q.year != 0 {
		b = appendIntField(b, "year", int64(q.year))
	}
	if q.limit != 0 {
		b = appendIntField(b, "limit", int64(q.limit))
	}
	if q.cursor != "" {
		b = appendStringField(b, "cursor", q.cursor)
	}
	if afterSeq && q.afterSeq != 0 {
		b = appendIntField(b, "after_seq", int64(q.afterSeq))
	}
	return append(b, '}')
}

func queryOf(opts []QueryOption) query {
	var q query
	for _, o := range opts {
		o(&q)
	}
	return q
}

// decode unmarshals a successful reply into v.
func decode(subject string, m *nats.Msg, v any) error {
	if err := json.Unmarshal(m.Data, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidReply, subject, err)
	}
	return nil
}

// fallback decodes a reply the fast scanner did not expect with
// encoding/json into v; ok reports that it holds a status or id.
func fallback(subject string, m *nats.Msg, v any, ok func() bool) error {
	if json.Unmarshal(m.Data, v) != nil || !ok() {
		return invalid(subject, m)
	}
	return nil
}

func invalid(subject string, m *nats.Msg) error {
	return fmt.Errorf("%w: %s: %q", ErrInvalidReply, subject, m.Data)
}

// token checks an id or user that goes into a subject: it must be one
// non-empty token, so it cannot smuggle '.', '*' or '>' into the subject.
// The service checks the rest; this only keeps the subject what it says.
func token(subject, what, code, v string) error {
	if v != "" && !strings.ContainsAny(v, ".*> \t\r\n") {
		return nil
	}
	return &Error{Code: code, Status: 400, Subject: subject, Message: what + " " + strconv.Quote(v) + " is not a subject token (checked by the client)"}
}

// newRequestID makes a unique request id for a call that was given none.
func newRequestID() string { return "c-" + nuid.Next() }

// Wrap creates an envelope (hongbao.wrap). The same sender and request id
// with the same fields returns the same envelope (so retries are safe);
// with other fields it is ErrConflict. Limits: ErrInvalidAmount,
// ErrInvalidCount; a blocked sender ErrForbidden; too many wraps
// ErrRateLimited.
func (c *Client) Wrap(ctx context.Context, r WrapRequest) (WrapResult, error) {
	if r.RequestID == "" {
		r.RequestID = newRequestID()
	}
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], '{')
	b = appendStringField(b, "request_id", r.RequestID)
	b = appendStringField(b, "sender", r.Sender)
	b = appendStringField(b, "kind", string(r.Kind))
	b = appendIntField(b, "total", r.Total)
	b = appendIntField(b, "count", int64(r.Count))
	if r.Greeting != "" {
		b = appendStringField(b, "greeting", r.Greeting)
	}
	b = append(b, '}')
	*bp = b
	subject := c.subject("wrap", "")
	m, err := c.call(ctx, subject, b)
	if err != nil {
		return WrapResult{}, err
	}
	res := WrapResult{RequestID: r.RequestID}
	f := newFlat(m.Data)
	for k, v, s, ok := f.next(); ok; k, v, s, ok = f.next() {
		switch string(k) {
		case "envelope_id":
			res.EnvelopeID = string(v)
		case "state":
			res.State = state(v)
		case "total":
			res.Total = f.int(v, s)
		case "count":
			res.Count = int(f.int(v, s))
		case "kind":
			switch string(v) {
			case string(Lucky):
				res.Kind = Lucky
			case string(Equal):
				res.Kind = Equal
			default:
				res.Kind = Kind(v)
			}
		}
	}
	if f.bad || res.EnvelopeID == "" {
		// A variable of its own: passing &res to encoding/json would put
		// every result on the heap.
		slow := WrapResult{RequestID: r.RequestID}
		if err := fallback(subject, m, &slow, func() bool { return slow.EnvelopeID != "" }); err != nil {
			return WrapResult{}, err
		}
		res = slow
	}
	return res, nil
}

// Pay confirms the sender's payment of envelope id (hongbao.pay.<id>):
// amount must be the envelope's total. The same paymentID answers the same
// again; another paymentID for a paid envelope, a wrong amount or a
// cancelled envelope is ErrConflict.
func (c *Client) Pay(ctx context.Context, id, paymentID string, amount int64) (PayResult, error) {
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], '{')
	b = appendStringField(b, "payment_id", paymentID)
	b = appendIntField(b, "amount", amount)
	b = append(b, '}')
	*bp = b
	subject := c.subject("pay", id)
	if err := token(subject, "envelope id", CodeInvalidID, id); err != nil {
		return PayResult{}, err
	}
	m, err := c.call(ctx, subject, b)
	if err != nil {
		return PayResult{}, err
	}
	var res PayResult
	f := newFlat(m.Data)
	for k, v, _, ok := f.next(); ok; k, v, _, ok = f.next() {
		switch string(k) {
		case "envelope_id":
			res.EnvelopeID = string(v)
		case "state":
			res.State = state(v)
		case "expires_at":
			var ok bool
			if res.ExpiresAt, ok = parseTime(v); !ok {
				f.bad = true
			}
		}
	}
	if f.bad || res.EnvelopeID == "" {
		// A variable of its own: passing &res to encoding/json would put
		// every result on the heap.
		slow := PayResult{}
		if err := fallback(subject, m, &slow, func() bool { return slow.EnvelopeID != "" }); err != nil {
			return PayResult{}, err
		}
		res = slow
	}
	return res, nil
}

// userBody appends {"user":"<user>"}.
func userBody(b []byte, user string) []byte {
	b = append(b, `{"user":`...)
	b = appendString(b, user)
	return append(b, '}')
}

// Grab asks whether user may open envelope id (hongbao.grab.<id>), from
// the service's memory, without writing: StatusCanOpen, StatusAlreadyOpened
// (with Amount), StatusExhausted, StatusExpired or StatusNotLive.
func (c *Client) Grab(ctx context.Context, id, user string) (GrabResult, error) {
	bp := getBuf()
	defer putBuf(bp)
	*bp = userBody((*bp)[:0], user)
	subject := c.subject("grab", id)
	if err := token(subject, "envelope id", CodeInvalidID, id); err != nil {
		return GrabResult{}, err
	}
	m, err := c.call(ctx, subject, *bp)
	if err != nil {
		return GrabResult{}, err
	}
	var res GrabResult
	f := newFlat(m.Data)
	for k, v, s, ok := f.next(); ok; k, v, s, ok = f.next() {
		switch string(k) {
		case "status":
			res.Status = status(v)
		case "amount":
			res.Amount = f.int(v, s)
		}
	}
	if f.bad || res.Status == "" {
		// A variable of its own: passing &res to encoding/json would put
		// every result on the heap.
		slow := GrabResult{}
		if err := fallback(subject, m, &slow, func() bool { return slow.Status != "" }); err != nil {
			return GrabResult{}, err
		}
		res = slow
	}
	return res, nil
}

// Open opens envelope id for user (hongbao.open.<id>). StatusOpened comes
// only after the event store confirmed the open; opening twice never pays
// twice (StatusAlreadyOpened). An envelope not paid or cancelled is
// ErrNotLive; a full mailbox ErrBusy.
func (c *Client) Open(ctx context.Context, id, user string) (OpenResult, error) {
	bp := getBuf()
	defer putBuf(bp)
	*bp = userBody((*bp)[:0], user)
	subject := c.subject("open", id)
	if err := token(subject, "envelope id", CodeInvalidID, id); err != nil {
		return OpenResult{}, err
	}
	m, err := c.call(ctx, subject, *bp)
	if err != nil {
		return OpenResult{}, err
	}
	return decodeOpen(subject, m)
}

func decodeOpen(subject string, m *nats.Msg) (OpenResult, error) {
	res, ok := parseOpen(m.Data)
	if !ok {
		// A variable of its own: passing &res to encoding/json would put
		// every result on the heap.
		slow := OpenResult{}
		if err := fallback(subject, m, &slow, func() bool { return slow.Status != "" }); err != nil {
			return OpenResult{}, err
		}
		res = slow
	}
	return res, nil
}

// OpenRequest returns the request message Open would send, for callers
// that pipeline requests themselves (publish many, then collect the
// replies on an inbox of their own). Decode the reply with ParseOpenReply.
func (c *Client) OpenRequest(id, user string) *nats.Msg {
	return &nats.Msg{Subject: c.subject("open", id), Data: userBody(nil, user)}
}

// ParseOpenReply decodes a reply to an OpenRequest as Open does: the
// result, an *Error, or ErrInvalidReply. A no-responders status reply is
// nats.ErrNoResponders.
func ParseOpenReply(m *nats.Msg) (OpenResult, error) {
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		return OpenResult{}, nats.ErrNoResponders
	}
	if e := replyError(m.Subject, m); e != nil {
		return OpenResult{}, e
	}
	return decodeOpen(m.Subject, m)
}

func parseOpen(data []byte) (OpenResult, bool) {
	var res OpenResult
	f := newFlat(data)
	for k, v, s, ok := f.next(); ok; k, v, s, ok = f.next() {
		switch string(k) {
		case "status":
			res.Status = status(v)
		case "amount":
			res.Amount = f.int(v, s)
		case "index":
			res.Index = int(f.int(v, s))
		case "remaining_count":
			res.RemainingCount = int(f.int(v, s))
		case "seq":
			res.Seq = f.uint(v, s)
		}
	}
	return res, !f.bad && res.Status != ""
}

// Get returns envelope id's details and a page of its opens
// (hongbao.get.<id>); options Limit, Cursor, AfterSeq. An unknown id is
// ErrNotFound.
func (c *Client) Get(ctx context.Context, id string, opts ...QueryOption) (GetResult, error) {
	q := queryOf(opts)
	bp := getBuf()
	defer putBuf(bp)
	*bp = q.body((*bp)[:0], "", true, false)
	subject := c.subject("get", id)
	if err := token(subject, "envelope id", CodeInvalidID, id); err != nil {
		return GetResult{}, err
	}
	m, err := c.call(ctx, subject, *bp)
	if err != nil {
		return GetResult{}, err
	}
	var res GetResult
	return res, decode(subject, m, &res)
}

// GetAfter is Get reflecting at least stream sequence seq (an
// OpenResult.Seq): read-your-writes after an open.
func (c *Client) GetAfter(ctx context.Context, id string, seq uint64, opts ...QueryOption) (GetResult, error) {
	return c.Get(ctx, id, append(opts, AfterSeq(seq))...)
}

// UserReceived lists the envelopes user opened, newest first, with the
// year's totals (hongbao.user.received); options Year, Limit, Cursor,
// AfterSeq.
func (c *Client) UserReceived(ctx context.Context, user string, opts ...QueryOption) (ReceivedResult, error) {
	var res ReceivedResult
	return res, c.list(ctx, "received", user, opts, &res)
}

// UserSent lists the envelopes user sent, newest first, with the year's
// totals (hongbao.user.sent); options as UserReceived.
func (c *Client) UserSent(ctx context.Context, user string, opts ...QueryOption) (SentResult, error) {
	var res SentResult
	return res, c.list(ctx, "sent", user, opts, &res)
}

func (c *Client) list(ctx context.Context, which, user string, opts []QueryOption, v any) error {
	q := queryOf(opts)
	bp := getBuf()
	defer putBuf(bp)
	*bp = q.body((*bp)[:0], user, true, true)
	subject := c.subject("user", which)
	m, err := c.call(ctx, subject, *bp)
	if err != nil {
		return err
	}
	return decode(subject, m, v)
}

// Wallet returns user's balance and a page of wallet entries, newest
// first (hongbao.wallet.<user>); options Limit and Cursor. Credits arrive
// asynchronously after an open (outbox, then ledger): poll for them.
func (c *Client) Wallet(ctx context.Context, user string, opts ...QueryOption) (WalletResult, error) {
	q := queryOf(opts)
	bp := getBuf()
	defer putBuf(bp)
	*bp = q.body((*bp)[:0], "", false, false)
	subject := c.subject("wallet", user)
	if err := token(subject, "user", CodeBadRequest, user); err != nil {
		return WalletResult{}, err
	}
	m, err := c.call(ctx, subject, *bp)
	if err != nil {
		return WalletResult{}, err
	}
	var res WalletResult
	return res, decode(subject, m, &res)
}
