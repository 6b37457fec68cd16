package envelope

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/hongbao/hongbao/events"
)

// splitDomain separates the split's hash from any other use of the seed.
const splitDomain = "hongbao/split/v1"

// Draw is the deterministic random number for the open with the given
// 1-based index: the first 8 bytes, big-endian, of
// SHA-256("hongbao/split/v1" ‖ seed ‖ uint32be(index)).
func Draw(seed events.Seed, index int) uint64 {
	var buf [len(splitDomain) + len(seed) + 4]byte
	n := copy(buf[:], splitDomain)
	n += copy(buf[n:], seed[:])
	binary.BigEndian.PutUint32(buf[n:], uint32(index))
	sum := sha256.Sum256(buf[:])
	return binary.BigEndian.Uint64(sum[:8])
}

// Bounds returns the interval a lucky share must fall in when remaining
// fen are left for n shares, each within [min, max]. It requires
// n·min ≤ remaining ≤ n·max.
func Bounds(remaining int64, n int, min, max int64) (lower, upper int64) {
	rest := int64(n - 1)
	lower = remaining - rest*max
	if lower < min {
		lower = min
	}
	upper = remaining - rest*min
	if upper > max {
		upper = max
	}
	if twice := 2 * remaining / int64(n); upper > twice {
		upper = twice
	}
	if upper < lower {
		upper = lower
	}
	return lower, upper
}

// LuckyShare is the watermark rule: the last share takes the remainder;
// otherwise r = Draw mod upper, and the share is lower when r < lower, else
// r.
func LuckyShare(seed events.Seed, index int, remaining int64, n int, min, max int64) int64 {
	if n == 1 {
		return remaining
	}
	lower, upper := Bounds(remaining, n, min, max)
	r := int64(Draw(seed, index) % uint64(upper))
	if r < lower {
		return lower
	}
	return r
}

// Share is the amount the next open of e receives: total/count for an
// equal envelope, LuckyShare for a lucky one. It requires at least one
// share to be left.
func (e *Envelope) Share() int64 {
	index := len(e.Opens) + 1
	if e.Kind == events.KindEqual {
		return e.Total / int64(e.Count)
	}
	return LuckyShare(e.Seed, index, e.Total-e.OpenedTotal, e.Count-len(e.Opens), e.MinShare, e.MaxShare)
}
