package client

import (
	"encoding/json"
	"strconv"
	"time"
)

// timeFormat is how requests write times (RFC 3339, UTC, milliseconds).
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// flat walks a flat JSON object as encoding/json writes it: no whitespace,
// values that are strings without escapes, integers, true, false or null.
// Anything else sets bad, and the caller decodes with encoding/json.
type flat struct {
	b   []byte
	i   int
	bad bool
}

func newFlat(b []byte) flat {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return flat{bad: true}
	}
	return flat{b: b, i: 1}
}

// next returns the next key and its raw value (a string's without quotes;
// str says it was one); false at the end or on anything unexpected.
func (f *flat) next() (key, val []byte, str bool, ok bool) {
	if f.bad || f.i >= len(f.b)-1 {
		return nil, nil, false, false
	}
	if f.i > 1 {
		if f.b[f.i] != ',' {
			f.bad = true
			return nil, nil, false, false
		}
		f.i++
	}
	key, ok = f.str()
	if !ok || f.i >= len(f.b) || f.b[f.i] != ':' {
		f.bad = true
		return nil, nil, false, false
	}
	f.i++
	if f.i < len(f.b) && f.b[f.i] == '"' {
		val, ok = f.str()
		if !ok {
			f.bad = true
			return nil, nil, false, false
		}
		return key, val, true, true
	}
	j := f.i
	for j < len(f.b) && f.b[j] != ',' && f.b[j] != '}' {
		switch c := f.b[j]; {
		case c >= '0' && c <= '9', c == '-', c >= 'a' && c <= 'z':
			j++
		default:
			f.bad = true
			return nil, nil, false, false
		}
	}
	if j == f.i || j >= len(f.b) {
		f.bad = true
		return nil, nil, false, false
	}
	val, f.i = f.b[f.i:j], j
	return key, val, false, true
}

// str reads a string without escapes at f.i.
func (f *flat) str() ([]byte, bool) {
	if f.i >= len(f.b) || f.b[f.i] != '"' {
		return nil, false
	}
	for j := f.i + 1; j < len(f.b); j++ {
		switch f.b[j] {
		case '\\':
			return nil, false
		case '"':
			s := f.b[f.i+1 : j]
			f.i = j + 1
			return s, true
		}
	}
	return nil, false
}

// int parses an integer value; false marks f bad.
func (f *flat) int(v []byte, str bool) int64 {
	if str {
		f.bad = true
		return 0
	}
	n, err := strconv.ParseInt(string(v), 10, 64) // no allocation: the conversion does not escape
	if err != nil {
		f.bad = true
	}
	return n
}

func (f *flat) uint(v []byte, str bool) uint64 {
	if str {
		f.bad = true
		return 0
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		f.bad = true
	}
	return n
}

// status returns the Status constant for v without allocating when known.
func status(v []byte) Status {
	switch string(v) {
	case "opened":
		return StatusOpened
	case "already_opened":
		return StatusAlreadyOpened
	case "exhausted":
		return StatusExhausted
	case "expired":
		return StatusExpired
	case "can_open":
		return StatusCanOpen
	case "not_live":
		return StatusNotLive
	case "won":
		return StatusWon
	case "none":
		return StatusNone
	case "limit":
		return StatusLimit
	case "not_started":
		return StatusNotStarted
	case "ended":
		return StatusEnded
	}
	return Status(v)
}

// state returns the State constant for v without allocating when known.
func state(v []byte) State {
	switch string(v) {
	case "wrapped":
		return StateWrapped
	case "live":
		return StateLive
	case "finished":
		return StateFinished
	case "expired":
		return StateExpired
	case "cancelled":
		return StateCancelled
	case "created":
		return StateCreated
	case "ended":
		return StateEnded
	}
	return State(v)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendField appends ,"key":<string> (without the comma for the first).
func appendStringField(b []byte, key, v string) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, `":`...)
	return appendString(b, v)
}

func appendIntField(b []byte, key string, v int64) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, `":`...)
	return strconv.AppendInt(b, v, 10)
}

func appendTimeField(b []byte, key string, t time.Time) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, `":"`...)
	b = t.UTC().AppendFormat(b, timeFormat)
	return append(b, '"')
}

// jtime decodes a reply's time: RFC 3339, or "" for the zero time.
type jtime time.Time

func (t *jtime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == "" {
		*t = jtime{}
		return nil
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	*t = jtime(v)
	return err
}

func parseTime(v []byte) (time.Time, bool) {
	if len(v) == 0 {
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339Nano, string(v))
	return t, err == nil
}
