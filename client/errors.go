package client

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// Machine codes of the contract, carried in Error.Code.
const (
	CodeBadRequest    = "bad_request"    // 400: malformed JSON, missing or unknown field, wrong type
	CodeInvalidAmount = "invalid_amount" // 400
	CodeInvalidCount  = "invalid_count"  // 400
	CodeInvalidID     = "invalid_id"     // 400
	CodeInvalidTicket = "invalid_ticket" // 400: a forged ticket, or another user's or campaign's
	CodeForbidden     = "forbidden"      // 403: the user or sender is blocked by an operator
	CodeNotFound      = "not_found"      // 404: no such envelope or campaign
	CodeConflict      = "conflict"       // 409: e.g. a request_id reused with other fields
	CodeNotLive       = "not_live"       // 409: open on an envelope not paid yet, or cancelled
	CodeBusy          = "busy"           // 429: per-envelope admission limit reached
	CodeRateLimited   = "rate_limited"   // 429: per-user or per-sender limit; see Error.RetryAfter
	CodeUnavailable   = "unavailable"    // 503: outcome unknown; retrying the same request is safe
	CodeOverloaded    = "overloaded"     // 503: the instance sheds load; retrying later is safe
	CodeCorrupt       = "corrupt"        // 500: an envelope's stream cannot be read; operators are told
)

// Error is a request the service answered with an error: its machine Code,
// the HTTP-like Status (Nats-Service-Error-Code), the human Message (never
// to be parsed), and for rate_limited how long to wait before retrying.
//
// errors.Is(err, ErrNotFound) and the other sentinels match an *Error by
// its Code.
type Error struct {
	Code       string
	Status     int
	Message    string
	RetryAfter time.Duration // rate_limited: the service's retry_after_ms; else 0
	Subject    string        // the request's subject; empty in the sentinels
}

// Error implements error: "hongbao: <subject>: <code> (<status>): <message>".
func (e *Error) Error() string {
	s := "hongbao: "
	if e.Subject != "" {
		s += e.Subject + ": "
	}
	s += e.Code + " (" + strconv.Itoa(e.Status) + ")"
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, client.ErrBusy) holds for every busy answer.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Temporary reports whether the same request may succeed later: busy,
// rate_limited, unavailable and overloaded.
func (e *Error) Temporary() bool {
	return e.Status == 429 || e.Status == 503
}

// Sentinels for errors.Is, one per machine code.
var (
	ErrBadRequest    = &Error{Code: CodeBadRequest, Status: 400}
	ErrInvalidAmount = &Error{Code: CodeInvalidAmount, Status: 400}
	ErrInvalidCount  = &Error{Code: CodeInvalidCount, Status: 400}
	ErrInvalidID     = &Error{Code: CodeInvalidID, Status: 400}
	ErrInvalidTicket = &Error{Code: CodeInvalidTicket, Status: 400}
	ErrForbidden     = &Error{Code: CodeForbidden, Status: 403}
	ErrNotFound      = &Error{Code: CodeNotFound, Status: 404}
	ErrConflict      = &Error{Code: CodeConflict, Status: 409}
	ErrNotLive       = &Error{Code: CodeNotLive, Status: 409}
	ErrBusy          = &Error{Code: CodeBusy, Status: 429}
	ErrRateLimited   = &Error{Code: CodeRateLimited, Status: 429}
	ErrUnavailable   = &Error{Code: CodeUnavailable, Status: 503}
	ErrOverloaded    = &Error{Code: CodeOverloaded, Status: 503}
	ErrCorrupt       = &Error{Code: CodeCorrupt, Status: 500}
)

// Micro's error headers (nats.go/micro), spelled out so that the client
// does not import micro.
const (
	hdrErrorCode = "Nats-Service-Error-Code"
	hdrError     = "Nats-Service-Error"
)

// replyError returns the *Error a reply carries, or nil for a success.
func replyError(subject string, m *nats.Msg) *Error {
	if m.Header == nil {
		return nil
	}
	status := m.Header.Get(hdrErrorCode)
	if status == "" {
		return nil
	}
	e := &Error{Subject: subject, Message: m.Header.Get(hdrError)}
	e.Status, _ = strconv.Atoi(status)
	var body struct {
		Error struct {
			Code         string `json:"code"`
			Message      string `json:"message"`
			RetryAfterMs int64  `json:"retry_after_ms"`
		} `json:"error"`
	}
	if json.Unmarshal(m.Data, &body) == nil && body.Error.Code != "" {
		e.Code = body.Error.Code
		if body.Error.Message != "" {
			e.Message = body.Error.Message
		}
		e.RetryAfter = time.Duration(body.Error.RetryAfterMs) * time.Millisecond
	} else {
		e.Code = "status_" + status // not the contract's body: keep what is known
	}
	return e
}
