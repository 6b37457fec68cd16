package events

import (
	"time"
	"unicode/utf8"
)

// decodeFast is Decode's fast path: one pass, no reflection, over the
// layout Encode writes (no whitespace, no escapes, the wrapper's "type"
// before its "data"). It is a partial function: ok is false for anything
// it does not handle (every malformed or unusual input, but also valid
// events that are merely not in that layout), and Decode then runs the
// strict decoder (decodeStrict) instead. When ok is true, the event is
// exactly the one decodeStrict returns for b; FuzzDecodeMatchesStrict
// checks that.
//
// What it accepts is a subset of what decodeStrict accepts:
//
//   - one JSON object, nothing before or after it, no whitespace;
//   - keys spelled exactly as the json tags (the strict decoder also folds
//     case; those inputs fall back), each at most once, unknown keys
//     nowhere;
//   - strings without escapes or control characters, in valid UTF-8 (the
//     strict decoder returns such strings byte for byte);
//   - integers as -?(0|[1-9][0-9]*) of at most 18 digits (no overflow
//     possible);
//   - times and seeds through the very methods the strict decoder calls
//     (time.Time.UnmarshalJSON with the quoted bytes, Seed.UnmarshalText);
//   - a known type, version 1, a present envelope_id, at and data (an
//     object, not null), and a payload that validates.
//
// No error of its own is ever returned: the strict decoder words every
// error.
func decodeFast(b []byte) (Event, bool) {
	s := scanner{b: b}
	var (
		e       Event
		seen    uint8
		version int64
		ok      bool
	)
	const (
		fType = 1 << iota
		fV
		fID
		fAt
		fData
	)
	if !s.byte('{') || s.peek('}') {
		return Event{}, false
	}
	for {
		k, ok2 := s.key()
		if !ok2 {
			return Event{}, false
		}
		var f uint8
		switch string(k) {
		case "type":
			f = fType
			e.Type, ok = s.typ()
		case "v":
			f = fV
			version, ok = s.int()
		case "envelope_id":
			f = fID
			e.EnvelopeID, ok = s.str()
		case "at":
			f = fAt
			e.At, ok = s.time()
		case "data":
			f = fData
			if seen&fType == 0 {
				return Event{}, false // the payload's type is not known yet
			}
			e.Data, ok = s.payload(e.Type)
		default:
			return Event{}, false
		}
		if !ok || seen&f != 0 {
			return Event{}, false
		}
		seen |= f
		if s.byte(',') {
			continue
		}
		if !s.byte('}') || s.i != len(s.b) {
			return Event{}, false
		}
		break
	}
	if seen&fData == 0 || version != Version || e.EnvelopeID == "" || e.At.IsZero() {
		return Event{}, false
	}
	if e.Data.validate() != nil {
		return Event{}, false
	}
	e.At = e.At.UTC()
	return e, true
}

// scanner reads the JSON subset decodeFast accepts; every method returns
// false on anything else.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) byte(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) peek(c byte) bool { return s.i < len(s.b) && s.b[s.i] == c }

// plain is the ASCII bytes a string holds as they are (not '"', '\\' or
// a control character).
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// quoted returns the contents of a string without escapes or control
// characters (not yet checked for valid UTF-8: ascii is false when a byte
// is not ASCII).
func (s *scanner) quoted() (v []byte, ascii, ok bool) {
	if !s.byte('"') {
		return nil, false, false
	}
	start := s.i
	ascii = true
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case plain[c]:
		case c == '"':
			v = s.b[start:s.i]
			s.i++
			return v, ascii, true
		case c >= utf8.RuneSelf:
			ascii = false
		default: // '\\' or a control character
			return nil, false, false
		}
	}
	return nil, false, false
}

// key reads `"name":`.
func (s *scanner) key() ([]byte, bool) {
	k, ascii, ok := s.quoted()
	if !ok || !ascii || !s.byte(':') {
		return nil, false
	}
	return k, true
}

func (s *scanner) str() (string, bool) {
	v, ascii, ok := s.quoted()
	if !ok || (!ascii && !utf8.Valid(v)) {
		return "", false
	}
	return string(v), true
}

// typ reads a known event type (without allocating).
func (s *scanner) typ() (Type, bool) {
	v, _, ok := s.quoted()
	if !ok {
		return "", false
	}
	for _, t := range [...]Type{TypeOpened, TypeWrapped, TypePaid, TypeExpired, TypeCancelled} {
		if string(v) == string(t) {
			return t, true
		}
	}
	return "", false // unknown: the strict decoder words the error
}

// int reads an integer of at most 18 digits, so it cannot overflow.
func (s *scanner) int() (int64, bool) {
	neg := s.byte('-')
	start := s.i
	var n int64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = n*10 + int64(s.b[s.i]-'0')
		s.i++
	}
	digits := s.i - start
	if digits == 0 || digits > 18 || (digits > 1 && s.b[start] == '0') {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// intInt reads an int (a value that fits in the platform's int).
func (s *scanner) intInt() (int, bool) {
	n, ok := s.int()
	if !ok || int64(int(n)) != n {
		return 0, false
	}
	return int(n), true
}

func (s *scanner) time() (time.Time, bool) {
	start := s.i
	if _, _, ok := s.quoted(); !ok {
		return time.Time{}, false
	}
	var t time.Time
	if t.UnmarshalJSON(s.b[start:s.i]) != nil {
		return time.Time{}, false
	}
	return t, true
}

// object reads an object of distinct keys, calling field for each key
// (field reads the value; it returns the key's bit, 0 for an unknown key,
// and whether the value was read).
func (s *scanner) object(field func(k []byte) (uint32, bool)) bool {
	if !s.byte('{') {
		return false
	}
	if s.byte('}') {
		return true
	}
	var seen uint32
	for {
		k, ok := s.key()
		if !ok {
			return false
		}
		f, ok := field(k)
		if !ok || f == 0 || seen&f != 0 {
			return false
		}
		seen |= f
		if s.byte(',') {
			continue
		}
		return s.byte('}')
	}
}

func (s *scanner) payload(t Type) (Payload, bool) {
	switch t {
	case TypeWrapped:
		return s.wrapped()
	case TypePaid:
		return s.paid()
	case TypeCancelled:
		return s.cancelled()
	case TypeOpened:
		return s.opened()
	case TypeExpired:
		return s.expired()
	}
	return nil, false
}

func (s *scanner) wrapped() (Payload, bool) {
	var w Wrapped
	ok := s.object(func(k []byte) (f uint32, ok bool) {
		switch string(k) {
		case "request_id":
			w.RequestID, ok = s.str()
			return 1 << 0, ok
		case "sender":
			w.Sender, ok = s.str()
			return 1 << 1, ok
		case "kind":
			var v []byte
			var ascii bool
			v, ascii, ok = s.quoted()
			switch {
			case !ok || !ascii:
				ok = false
			case string(v) == string(KindLucky):
				w.Kind = KindLucky
			case string(v) == string(KindEqual):
				w.Kind = KindEqual
			default:
				ok = false // validate refuses it
			}
			return 1 << 2, ok
		case "total":
			w.Total, ok = s.int()
			return 1 << 3, ok
		case "count":
			w.Count, ok = s.intInt()
			return 1 << 4, ok
		case "greeting":
			w.Greeting, ok = s.str()
			return 1 << 5, ok
		case "seed":
			var v []byte
			var ascii bool
			v, ascii, ok = s.quoted()
			return 1 << 6, ok && ascii && w.Seed.UnmarshalText(v) == nil
		case "min_share":
			w.MinShare, ok = s.int()
			return 1 << 7, ok
		case "max_share":
			w.MaxShare, ok = s.int()
			return 1 << 8, ok
		case "pay_by":
			w.PayBy, ok = s.time()
			return 1 << 9, ok
		case "expiry_ns":
			var v int64
			v, ok = s.int()
			w.Expiry = time.Duration(v)
			return 1 << 10, ok
		}
		return 0, false
	})
	return w, ok
}

func (s *scanner) paid() (Payload, bool) {
	var p Paid
	ok := s.object(func(k []byte) (f uint32, ok bool) {
		switch string(k) {
		case "payment_id":
			p.PaymentID, ok = s.str()
			return 1 << 0, ok
		case "amount":
			p.Amount, ok = s.int()
			return 1 << 1, ok
		case "expires_at":
			p.ExpiresAt, ok = s.time()
			return 1 << 2, ok
		}
		return 0, false
	})
	return p, ok
}

func (s *scanner) cancelled() (Payload, bool) {
	var c Cancelled
	ok := s.object(func(k []byte) (f uint32, ok bool) {
		if string(k) == "reason" {
			c.Reason, ok = s.str()
			return 1, ok
		}
		return 0, false
	})
	return c, ok
}

func (s *scanner) opened() (Payload, bool) {
	var o Opened
	ok := s.object(func(k []byte) (f uint32, ok bool) {
		switch string(k) {
		case "user":
			o.User, ok = s.str()
			return 1 << 0, ok
		case "amount":
			o.Amount, ok = s.int()
			return 1 << 1, ok
		case "index":
			o.Index, ok = s.intInt()
			return 1 << 2, ok
		case "remaining_amount":
			o.RemainingAmount, ok = s.int()
			return 1 << 3, ok
		case "remaining_count":
			o.RemainingCount, ok = s.intInt()
			return 1 << 4, ok
		}
		return 0, false
	})
	return o, ok
}

func (s *scanner) expired() (Payload, bool) {
	var x Expired
	ok := s.object(func(k []byte) (f uint32, ok bool) {
		switch string(k) {
		case "refund":
			x.Refund, ok = s.int()
			return 1 << 0, ok
		case "opened_count":
			x.OpenedCount, ok = s.intInt()
			return 1 << 1, ok
		}
		return 0, false
	})
	return x, ok
}
