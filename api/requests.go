package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"unicode/utf8"
)

// Request limits of api.md.
const (
	MaxBody          = 64 << 10 // bytes; a larger body is bad_request
	MaxGreetingRunes = 100      // greeting length in characters (runes)
	DefaultLimit     = 20       // page size when limit is absent or 0
	MaxLimit         = 100      // largest page size
	MaxCursorLen     = 256      // bytes
	MinYear          = 2000     // smallest year a list request may name
	MaxYear          = 9999     // largest year a list request may name
)

// Envelope kinds.
const (
	KindLucky = "lucky" // random shares (拼手气)
	KindEqual = "equal" // every share total/count (普通)
)

// The json tags of the request types below let clients and tests encode
// requests; the service decodes them only with the Decode functions, which
// enforce the rules the json tags cannot.

// WrapRequest is the body of hongbao.wrap. DecodeWrap guarantees:
// ValidRequestID(RequestID), ValidUser(Sender), Kind is KindLucky or
// KindEqual, Total >= 1, 1 <= Count <= math.MaxInt32, and Greeting is valid
// UTF-8 of at most MaxGreetingRunes characters (empty when absent).
// Business limits are the aggregate's to check.
type WrapRequest struct {
	RequestID string `json:"request_id"`
	Sender    string `json:"sender"`
	Kind      string `json:"kind"`
	Total     int64  `json:"total"`
	Count     int    `json:"count"`
	Greeting  string `json:"greeting,omitempty"`
}

// DecodeWrap decodes the body of hongbao.wrap strictly. Every field but
// greeting is required. Errors are *Error: invalid_amount for a total that is
// not a positive int64 integer, invalid_count for a count that is not a
// positive int32 integer, bad_request for everything else.
func DecodeWrap(b []byte) (WrapRequest, error) {
	var r WrapRequest
	total := wireInt{code: CodeInvalidAmount}
	count := wireInt{code: CodeInvalidCount}
	fields := []field{
		{name: "request_id", required: true, dst: &r.RequestID},
		{name: "sender", required: true, dst: &r.Sender},
		{name: "kind", required: true, dst: &r.Kind},
		{name: "total", required: true, dst: &total},
		{name: "count", required: true, dst: &count},
		{name: "greeting", dst: &r.Greeting},
	}
	if err := decodeObject(b, fields); err != nil {
		return WrapRequest{}, err
	}
	if !ValidRequestID(r.RequestID) {
		return WrapRequest{}, errRequestID("request_id")
	}
	if !ValidUser(r.Sender) {
		return WrapRequest{}, errUser("sender")
	}
	if r.Kind != KindLucky && r.Kind != KindEqual {
		return WrapRequest{}, Errorf(CodeBadRequest, "kind must be %q or %q", KindLucky, KindEqual)
	}
	if total.v < 1 {
		return WrapRequest{}, Errorf(CodeInvalidAmount, "total must be at least 1 fen")
	}
	if count.v < 1 {
		return WrapRequest{}, Errorf(CodeInvalidCount, "count must be at least 1")
	}
	if count.v > math.MaxInt32 {
		return WrapRequest{}, Errorf(CodeInvalidCount, "count is out of range")
	}
	if !utf8.ValidString(r.Greeting) || utf8.RuneCountInString(r.Greeting) > MaxGreetingRunes {
		return WrapRequest{}, Errorf(CodeBadRequest, "greeting must be at most %d characters", MaxGreetingRunes)
	}
	r.Total, r.Count = total.v, int(count.v)
	return r, nil
}

// PayRequest is the body of hongbao.pay.<envelope_id>. DecodePay
// guarantees ValidRequestID(PaymentID) and Amount >= 1.
type PayRequest struct {
	PaymentID string `json:"payment_id"`
	Amount    int64  `json:"amount"`
}

// DecodePay decodes the body of hongbao.pay.<envelope_id> strictly. Both
// fields are required. Errors are *Error: invalid_amount for an amount that
// is not a positive int64 integer, bad_request for everything else.
func DecodePay(b []byte) (PayRequest, error) {
	var r PayRequest
	amount := wireInt{code: CodeInvalidAmount}
	fields := []field{
		{name: "payment_id", required: true, dst: &r.PaymentID},
		{name: "amount", required: true, dst: &amount},
	}
	if err := decodeObject(b, fields); err != nil {
		return PayRequest{}, err
	}
	if !ValidRequestID(r.PaymentID) {
		return PayRequest{}, errRequestID("payment_id")
	}
	if amount.v < 1 {
		return PayRequest{}, Errorf(CodeInvalidAmount, "amount must be at least 1 fen")
	}
	r.Amount = amount.v
	return r, nil
}

// UserRequest is the body of hongbao.grab.<envelope_id> and
// hongbao.open.<envelope_id>: {"user":"bob"}. DecodeUser guarantees
// ValidUser(User).
type UserRequest struct {
	User string `json:"user"`
}

// DecodeUser decodes the body of grab and open strictly. user is required;
// every error is an *Error bad_request.
func DecodeUser(b []byte) (UserRequest, error) {
	if u, ok := decodeUserFast(b); ok {
		return UserRequest{User: u}, nil
	}
	return decodeUserStrict(b)
}

// decodeUserFast decodes exactly the body a JSON encoder writes for a valid
// user, {"user":"<user>"}, without a tokenizer: grab and open are the hot
// path. Anything else (spaces, escapes, other fields, a bad user) reports
// false and goes through decodeUserStrict, which decides and words the
// error. FuzzDecodeUserFastMatchesStrict holds the two to the same results.
func decodeUserFast(b []byte) (string, bool) {
	const pre, post = `{"user":"`, `"}`
	if len(b) <= len(pre)+len(post) || len(b) > len(pre)+MaxUserLen+len(post) ||
		string(b[:len(pre)]) != pre || string(b[len(b)-len(post):]) != post {
		return "", false
	}
	u := string(b[len(pre) : len(b)-len(post)])
	return u, ValidUser(u)
}

func decodeUserStrict(b []byte) (UserRequest, error) {
	var r UserRequest
	fields := []field{{name: "user", required: true, dst: &r.User}}
	if err := decodeObject(b, fields); err != nil {
		return UserRequest{}, err
	}
	if !ValidUser(r.User) {
		return UserRequest{}, errUser("user")
	}
	return r, nil
}

// GetRequest is the body of hongbao.get.<envelope_id>; every field is
// optional and an empty body means {}. DecodeGet guarantees
// 1 <= Limit <= MaxLimit (DefaultLimit when absent or 0), Cursor is at most
// MaxCursorLen bytes of printable ASCII (empty for the first page), and
// AfterSeq is 0 when absent.
type GetRequest struct {
	Limit    int    `json:"limit,omitempty"`
	Cursor   string `json:"cursor,omitempty"`
	AfterSeq uint64 `json:"after_seq,omitempty"`
}

// DecodeGet decodes the body of hongbao.get.<envelope_id> strictly. Every
// error is an *Error bad_request.
func DecodeGet(b []byte) (GetRequest, error) {
	var r GetRequest
	var p page
	if err := decodeObject(b, p.fields(nil, true)); err != nil {
		return GetRequest{}, err
	}
	if err := p.check(); err != nil {
		return GetRequest{}, err
	}
	r.Limit, r.Cursor, r.AfterSeq = int(p.limit.v), p.cursor, p.afterSeq.v
	return r, nil
}

// ListRequest is the body of hongbao.user.received and hongbao.user.sent.
// DecodeList guarantees ValidUser(User), Year is 0 (the caller picks the
// current year) or within MinYear..MaxYear, and Limit, Cursor and AfterSeq
// as for GetRequest.
type ListRequest struct {
	User     string `json:"user"`
	Year     int    `json:"year,omitempty"`
	Limit    int    `json:"limit,omitempty"`
	Cursor   string `json:"cursor,omitempty"`
	AfterSeq uint64 `json:"after_seq,omitempty"`
}

// DecodeList decodes the body of hongbao.user.received and
// hongbao.user.sent strictly. user is required, the rest optional; a year of
// 0 means the same as no year. Every error is an *Error bad_request.
func DecodeList(b []byte) (ListRequest, error) {
	var r ListRequest
	var p page
	year := wireInt{code: CodeBadRequest}
	fields := p.fields([]field{
		{name: "user", required: true, dst: &r.User},
		{name: "year", dst: &year},
	}, true)
	if err := decodeObject(b, fields); err != nil {
		return ListRequest{}, err
	}
	if !ValidUser(r.User) {
		return ListRequest{}, errUser("user")
	}
	if year.v != 0 && (year.v < MinYear || year.v > MaxYear) {
		return ListRequest{}, Errorf(CodeBadRequest, "year must be between %d and %d", MinYear, MaxYear)
	}
	if err := p.check(); err != nil {
		return ListRequest{}, err
	}
	r.Year, r.Limit, r.Cursor, r.AfterSeq = int(year.v), int(p.limit.v), p.cursor, p.afterSeq.v
	return r, nil
}

// WalletRequest is the body of hongbao.wallet.<user>; every field is
// optional and an empty body means {}. Limit and Cursor are as for
// GetRequest; after_seq is not part of this request.
type WalletRequest struct {
	Limit  int    `json:"limit,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

// DecodeWallet decodes the body of hongbao.wallet.<user> strictly. Every
// error is an *Error bad_request.
func DecodeWallet(b []byte) (WalletRequest, error) {
	var r WalletRequest
	var p page
	if err := decodeObject(b, p.fields(nil, false)); err != nil {
		return WalletRequest{}, err
	}
	if err := p.check(); err != nil {
		return WalletRequest{}, err
	}
	r.Limit, r.Cursor = int(p.limit.v), p.cursor
	return r, nil
}

// page holds the paging fields shared by get, the user lists and wallet.
type page struct {
	limit    wireInt
	cursor   string
	afterSeq wireUint
}

// fields appends limit, cursor and, when afterSeq, after_seq to fs.
func (p *page) fields(fs []field, afterSeq bool) []field {
	p.limit.code = CodeBadRequest
	fs = append(fs,
		field{name: "limit", dst: &p.limit},
		field{name: "cursor", dst: &p.cursor},
	)
	if afterSeq {
		fs = append(fs, field{name: "after_seq", dst: &p.afterSeq})
	}
	return fs
}

// check validates the paging fields and applies the default limit.
func (p *page) check() *Error {
	switch {
	case p.limit.v == 0:
		p.limit.v = DefaultLimit
	case p.limit.v < 1 || p.limit.v > MaxLimit:
		return Errorf(CodeBadRequest, "limit must be between 1 and %d", MaxLimit)
	}
	if len(p.cursor) > MaxCursorLen || !printableASCII(p.cursor) {
		return Errorf(CodeBadRequest, "cursor must be at most %d printable ASCII characters", MaxCursorLen)
	}
	return nil
}

func errRequestID(name string) *Error {
	return Errorf(CodeBadRequest, "%s must be 1 to %d printable ASCII characters", name, MaxRequestIDLen)
}

func errUser(name string) *Error {
	return Errorf(CodeBadRequest, "%s must be 1 to %d characters of [A-Za-z0-9_-]", name, MaxUserLen)
}

// field is one member of a request object, as decodeObject sees it.
type field struct {
	name     string // exact JSON name; matching is case-sensitive
	required bool   // absent or null is bad_request
	dst      any    // *string, *wireInt or *wireUint; filled by json.Unmarshal
	seen     bool   // set by decodeObject when the name occurs
}

// decodeObject is the one strict JSON decoder of the package. It decodes b,
// which must hold exactly one JSON object (an empty b counts as {}), into
// the destinations of fields, and rejects with a bad_request *Error: a body
// over MaxBody bytes or not valid UTF-8, malformed JSON, anything but an
// object at the top, trailing data, a name that is not exactly one of the
// fields' names, a name given twice, a missing required field and a null for
// a required one. A null for an optional field counts as absent. Errors
// from a destination's UnmarshalJSON keep their code (invalid_amount,
// invalid_count) and are prefixed with the field's name.
func decodeObject(b []byte, fields []field) *Error {
	if len(b) > MaxBody {
		return Errorf(CodeBadRequest, "body is larger than %d bytes", MaxBody)
	}
	if len(b) > 0 {
		if err := decodeMembers(b, fields); err != nil {
			return err
		}
	}
	for i := range fields {
		if fields[i].required && !fields[i].seen {
			return Errorf(CodeBadRequest, "missing field %q", fields[i].name)
		}
	}
	return nil
}

func decodeMembers(b []byte, fields []field) *Error {
	if !utf8.Valid(b) {
		return Errorf(CodeBadRequest, "body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return errMalformed(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return Errorf(CodeBadRequest, "body must be a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errMalformed(err)
		}
		name, ok := tok.(string)
		if !ok { // the decoder only returns strings in name position
			return Errorf(CodeBadRequest, "malformed JSON: object member without a name")
		}
		f := lookup(fields, name)
		if f == nil {
			return Errorf(CodeBadRequest, "unknown field %q", clip(name))
		}
		if f.seen {
			return Errorf(CodeBadRequest, "duplicate field %q", f.name)
		}
		f.seen = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return errMalformed(err)
		}
		if string(raw) == "null" {
			if f.required {
				return Errorf(CodeBadRequest, "field %q must not be null", f.name)
			}
			continue
		}
		if err := json.Unmarshal(raw, f.dst); err != nil {
			return errField(f.name, err)
		}
	}
	if tok, err := dec.Token(); err != nil {
		return errMalformed(err)
	} else if d, ok := tok.(json.Delim); !ok || d != '}' {
		return Errorf(CodeBadRequest, "malformed JSON: unterminated object")
	}
	if len(bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n")) != 0 {
		return Errorf(CodeBadRequest, "trailing data after the JSON object")
	}
	return nil
}

func lookup(fields []field, name string) *field {
	for i := range fields {
		if fields[i].name == name {
			return &fields[i]
		}
	}
	return nil
}

func errMalformed(err error) *Error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return Errorf(CodeBadRequest, "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return Errorf(CodeBadRequest, "malformed JSON: unexpected end of body")
	}
	return Errorf(CodeBadRequest, "malformed JSON: %v", err)
}

// errField classifies an error of json.Unmarshal into a field's destination.
func errField(name string, err error) *Error {
	if e, ok := AsError(err); ok {
		return &Error{Status: e.Status, Code: e.Code, Message: "field " + strconv.Quote(name) + ": " + e.Message}
	}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return Errorf(CodeBadRequest, "field %q: wrong type: expected %s, got %s", name, ute.Type, ute.Value)
	}
	return Errorf(CodeBadRequest, "field %q: invalid value", name)
}

// clip shortens an echoed name so that an error message stays small.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// wireInt is an integer member of a request body. Its UnmarshalJSON accepts
// only a JSON number literal without fraction or exponent that fits in an
// int64. A string, boolean, null, array or object is bad_request (wrong
// type); a number that is not such an integer (1.5, 1e3, 1.0, 2^63) is code.
type wireInt struct {
	code string // the error code for a number that is not an int64 integer
	v    int64
}

func (w *wireInt) UnmarshalJSON(b []byte) error {
	if err := integerLiteral(b, w.code); err != nil {
		return err
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return Errorf(w.code, "integer out of range")
	}
	w.v = v
	return nil
}

// wireUint is a non-negative integer member of a request body (a stream
// sequence). Like wireInt, but the value must fit in a uint64, and any
// problem with it is bad_request.
type wireUint struct {
	v uint64
}

func (w *wireUint) UnmarshalJSON(b []byte) error {
	if err := integerLiteral(b, CodeBadRequest); err != nil {
		return err
	}
	if b[0] == '-' {
		if string(b) == "-0" { // JSON has no leading zeros: the only negative zero
			w.v = 0
			return nil
		}
		return Errorf(CodeBadRequest, "must not be negative")
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return Errorf(CodeBadRequest, "integer out of range")
	}
	w.v = v
	return nil
}

// integerLiteral checks that b is a JSON integer literal: an optional minus
// and one or more digits. A JSON value of another type is bad_request; a
// number with a fraction or an exponent is code.
func integerLiteral(b []byte, code string) *Error {
	if len(b) == 0 {
		return Errorf(CodeBadRequest, "empty value")
	}
	switch c := b[0]; {
	case c == '"':
		return Errorf(CodeBadRequest, "wrong type: expected an integer, got a string")
	case c == 't' || c == 'f':
		return Errorf(CodeBadRequest, "wrong type: expected an integer, got a boolean")
	case c == 'n':
		return Errorf(CodeBadRequest, "wrong type: expected an integer, got null")
	case c == '[':
		return Errorf(CodeBadRequest, "wrong type: expected an integer, got an array")
	case c == '{':
		return Errorf(CodeBadRequest, "wrong type: expected an integer, got an object")
	case c != '-' && (c < '0' || c > '9'):
		return Errorf(CodeBadRequest, "wrong type: expected an integer")
	}
	digits := b
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return Errorf(CodeBadRequest, "malformed number")
	}
	for _, c := range digits {
		switch {
		case '0' <= c && c <= '9':
		case c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-':
			return Errorf(code, "must be an integer, without fraction or exponent")
		default:
			return Errorf(CodeBadRequest, "malformed number")
		}
	}
	return nil
}
