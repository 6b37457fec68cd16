package projector

import (
	"encoding/json"
	"time"
)

// JSONAppender is implemented by row types that encode themselves exactly
// as json.Marshal encodes them, byte for byte, only faster (no
// reflection). A Tx encodes the rows it writes with it when their type
// implements it (on the value or the pointer), with json.Marshal
// otherwise. rowtest.CheckJSON holds an implementation to json.Marshal.
type JSONAppender interface {
	AppendJSON(b []byte) ([]byte, error)
}

// jsonSafe is the bytes json.Marshal copies into a string as they are
// (with HTML escaping on, as it is by default).
var jsonSafe = func() (safe [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		safe[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return safe
}()

// AppendJSONString appends s as json.Marshal encodes a string.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !jsonSafe[s[i]] {
			q, _ := json.Marshal(s) // escapes, or not ASCII: as it is done there
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// AppendJSONTime appends t as json.Marshal encodes a time.Time (its
// MarshalJSON, RFC 3339 with nanoseconds), failing as it fails.
func AppendJSONTime(b []byte, t time.Time) ([]byte, error) {
	// MarshalJSON formats as AppendFormat(RFC3339Nano) does, and refuses
	// years outside [0, 9999] and zone offsets of 24 hours or more.
	_, offset := t.Zone()
	if y := t.Year(); y < 0 || y > 9999 || offset <= -24*3600 || offset >= 24*3600 {
		q, err := t.MarshalJSON()
		if err != nil {
			return b, err
		}
		return append(b, q...), nil
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}
