package bench

import (
	"strconv"
)

// jsonString returns the string value of "key" in a flat JSON object as
// encoding/json writes it (no spaces), or nil. It does not unescape.
func jsonString(b []byte, key string) []byte {
	i := fieldStart(b, key)
	if i < 0 || i >= len(b) || b[i] != '"' {
		return nil
	}
	i++
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '\\':
			return nil // escaped strings are not statuses or codes
		case '"':
			return b[i:j]
		}
	}
	return nil
}

// jsonInt returns the integer value of "key", as jsonString.
func jsonInt(b []byte, key string) (int64, bool) {
	i := fieldStart(b, key)
	if i < 0 {
		return 0, false
	}
	var v int64
	j := i
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		v = v*10 + int64(b[j]-'0')
	}
	return v, j > i
}

// fieldStart returns the index just after `"key":` in b, or -1.
func fieldStart(b []byte, key string) int {
	for i := 0; i+len(key)+3 <= len(b); i++ {
		if b[i] == '"' && string(b[i+1:i+1+len(key)]) == key && b[i+1+len(key)] == '"' && b[i+2+len(key)] == ':' {
			return i + len(key) + 3
		}
	}
	return -1
}

func itoa(i int) string { return strconv.Itoa(i) }

// atoi parses a non-negative decimal int.
func atoi(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return v, true
}

// appendUserBody appends {"user":"<prefix><i>"}.
func appendUserBody(b []byte, prefix string, i int) []byte {
	b = append(b, `{"user":"`...)
	b = append(b, prefix...)
	b = appendInt(b, int64(i))
	return append(b, `"}`...)
}

func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}
