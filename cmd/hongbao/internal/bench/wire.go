package bench

import (
	"strconv"
)

// The requests themselves are encoded and their replies decoded by the
// service's client (package client; newClient in load.go). What remains
// here is the ceilings' own integer formatting and parsing.

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
