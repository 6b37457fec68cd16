package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Machine codes of api.md, carried in Error.Code and in the error body.
const (
	CodeBadRequest    = "bad_request"    // 400: malformed JSON, missing/unknown field, wrong type
	CodeInvalidAmount = "invalid_amount" // 400
	CodeInvalidCount  = "invalid_count"  // 400
	CodeInvalidID     = "invalid_id"     // 400
	CodeNotFound      = "not_found"      // 404: no such envelope
	CodeConflict      = "conflict"       // 409
	CodeNotLive       = "not_live"       // 409: open on an envelope that is not paid yet or was cancelled
	CodeBusy          = "busy"           // 429: per-envelope admission limit reached
	CodeUnavailable   = "unavailable"    // 503: outcome unknown; retrying the same request is safe

	// v1.1 (risk controls and load shedding).
	CodeForbidden   = "forbidden"    // 403: the user or sender is blocked by an operator
	CodeRateLimited = "rate_limited" // 429: a per-user or per-sender limit; the body carries retry_after_ms
	CodeOverloaded  = "overloaded"   // 503: the instance sheds load; retrying later is safe
	// CodeCorrupt (500, an extension of api.md): the envelope's stream
	// holds an event that does not decode, verify or fold; retrying will
	// not help, operators are told (reconcile, status).
	CodeCorrupt = "corrupt"
)

// Error is a failed request as the contract describes it. The service sends
// Status as the Nats-Service-Error-Code header, Message as Nats-Service-Error,
// and Body as the reply body.
type Error struct {
	Status  int    // HTTP-like number, derived from Code by Errorf
	Code    string // machine code, one of the Code constants
	Message string // human text; never parsed by clients
	// RetryAfterMs, when positive, is how long the client should wait
	// before retrying (rate_limited); the body carries it as
	// retry_after_ms. Zero leaves the field out, so the v1 body is unchanged.
	RetryAfterMs int64
}

// Error implements error as "api: <code>: <message>".
func (e *Error) Error() string {
	return "api: " + e.Code + ": " + e.Message
}

// StatusFor returns the HTTP-like status of a machine code: 400 for
// bad_request, invalid_amount, invalid_count and invalid_id, 404 for
// not_found, 403 for forbidden, 409 for conflict and not_live, 429 for
// busy and rate_limited, 503 for unavailable and overloaded, and 500 for
// any code the contract does not define.
func StatusFor(code string) int {
	switch code {
	case CodeBadRequest, CodeInvalidAmount, CodeInvalidCount, CodeInvalidID:
		return 400
	case CodeForbidden:
		return 403
	case CodeNotFound:
		return 404
	case CodeConflict, CodeNotLive:
		return 409
	case CodeBusy, CodeRateLimited:
		return 429
	case CodeUnavailable, CodeOverloaded:
		return 503
	}
	return 500
}

// Errorf returns an *Error with the given code, its status (StatusFor) and
// a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Status: StatusFor(code), Code: code, Message: fmt.Sprintf(format, args...)}
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	RetryAfterMs int64  `json:"retry_after_ms,omitempty"`
}

// RateLimited is a 429 rate_limited error asking the client to wait
// retryAfter (rounded up to a whole millisecond, at least 1) before it
// retries.
func RateLimited(retryAfter time.Duration, format string, args ...any) *Error {
	e := Errorf(CodeRateLimited, format, args...)
	e.RetryAfterMs = max(1, int64((retryAfter+time.Millisecond-1)/time.Millisecond))
	return e
}

// Body returns the JSON reply body of the error:
// {"error":{"code":"<code>","message":"<message>"}}, and for an error with
// RetryAfterMs {"error":{"code":"<code>","message":"<message>","retry_after_ms":250}}.
// A v1 client that reads only code and message reads both alike.
func (e *Error) Body() []byte {
	b, err := json.Marshal(errorBody{Error: errorDetail{Code: e.Code, Message: e.Message, RetryAfterMs: e.RetryAfterMs}})
	if err != nil { // cannot happen: two strings always marshal
		panic("api: marshal error body: " + err.Error())
	}
	return b
}

// AsError finds the first *Error in err's chain (errors.As). It reports
// false for a nil err or when the chain holds no *Error; a caller then
// usually answers 503 unavailable or a 500.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e, true
	}
	return nil, false
}
