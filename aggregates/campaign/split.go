package campaign

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/hongbao/hongbao/events"
)

// splitDomain separates the campaign split's hash from any other use of the
// seed (the envelope split uses "hongbao/split/v1"). It is short so that
// domain ‖ seed ‖ node fits one SHA-256 block (≤ 55 bytes).
const splitDomain = "hongbao/cs/v1"

// Split derives the amount of any ticket of a campaign from its seed, in
// O(log count) and without materialising the shares: the tickets
// [0, count) are the leaves of an implicit binary tree. A node holding n ≥ 2
// tickets [lo, lo+n) worth T fen gives its left child nL = n/2 tickets and
// its right child nR = n − nL, and the left child's amount L is
//
//	L = clamp(m − a + Draw(node) mod (2a+1), lo, hi)
//	m = ⌊T·nL/n⌋                            the proportional part
//	a = ⌊(T/n)·√(nL·nR/n)⌋                  the spread
//	[lo, hi] = [max(nL·MIN, T − nR·MAX), min(nL·MAX, T − nR·MIN)]
//
// with Draw(node) = the first 8 bytes of SHA-256("hongbao/cs/v1" ‖ seed ‖
// uint32be(lo) ‖ uint32be(n)). The right child gets T − L. A leaf (n = 1)
// is a ticket, and its amount is its node's T.
//
// Why this holds the money invariants: [lo, hi] is exactly the set of L
// for which both children can still be filled within [MIN, MAX] per
// ticket (it is never empty when the parent's T is feasible, which
// Validate checks at the root), so by induction every leaf is within
// [MIN, MAX], and every split conserves T, so Σ leaves = total.
//
// The shape ("lucky", not equal): a uniform draw on [m − a, m + a] has
// variance a²/3 = μ²/3 · nL·nR/n with μ = T/n, which is the variance of the
// left sum of n independent shares of mean μ and variance σ² = μ²/3
// conditioned on their sum being T. That σ is the one of a share uniform
// on [0, 2μ], the shape of the watermark rule of the envelopes. Because
// each split's spread is proportional to its own node's mean, the
// perturbations compound multiplicatively down the ~log₂(count) levels, so
// the shares are right-skewed: a standard deviation of about 0.6·μ, most
// tickets between 0.25·μ and 1.25·μ, and a tail of lucky ones up to about
// five times the mean (100,000 tickets of mean 1000 fen: min 63, max
// 5310, 7% above 2·μ). Near the bounds the clamps bite: with a mean of a
// few fen many tickets are MIN, and with a mean of 0.75·MAX about 40% are
// exactly MAX (the sum leaves no other room for a skewed shape).
// TestSplitShape measures it. Neighbouring tickets are slightly correlated
// (they share the lower splits), which no user can observe: which ticket a
// user gets depends on arrival order.
type Split struct {
	Seed     events.Seed
	Total    int64
	Count    int
	MinShare int64
	MaxShare int64
}

// SplitOf is the split recorded in a CampaignCreated event.
func SplitOf(c events.CampaignCreated) Split {
	return Split{Seed: c.Seed, Total: c.Total, Count: c.Count, MinShare: c.MinShare, MaxShare: c.MaxShare}
}

// Validate reports whether the split is feasible and inside the hard caps
// (which keep its arithmetic within 128-bit intermediates).
func (s Split) Validate() error {
	switch {
	case s.Count < 1 || s.Count > events.HardMaxCampaignCount:
		return fmt.Errorf("campaign: split of %d tickets", s.Count)
	case s.MinShare < 1 || s.MaxShare < s.MinShare || s.MaxShare > events.HardMaxCampaignShare:
		return fmt.Errorf("campaign: share limits [%d, %d]", s.MinShare, s.MaxShare)
	case s.Total > events.HardMaxCampaignTotal || s.Total < int64(s.Count)*s.MinShare || s.Total > int64(s.Count)*s.MaxShare:
		return fmt.Errorf("campaign: %d fen for %d tickets within [%d, %d]", s.Total, s.Count, s.MinShare, s.MaxShare)
	}
	return nil
}

// Draw is the deterministic random number of the node covering the tickets
// [lo, lo+n).
func Draw(seed events.Seed, lo, n int) uint64 {
	var buf [len(splitDomain) + len(seed) + 8]byte
	k := copy(buf[:], splitDomain)
	k += copy(buf[k:], seed[:])
	binary.BigEndian.PutUint32(buf[k:], uint32(lo))
	binary.BigEndian.PutUint32(buf[k+4:], uint32(n))
	sum := sha256.Sum256(buf[:])
	return binary.BigEndian.Uint64(sum[:8])
}

// left is the amount of the left child of the node [lo, lo+n) worth t.
func (s Split) left(lo, n int, t int64) int64 {
	nL, nR := int64(n/2), int64(n-n/2)
	low := max(nL*s.MinShare, t-nR*s.MaxShare)
	high := min(nL*s.MaxShare, t-nR*s.MinShare)
	if low >= high {
		return low
	}
	nn := uint64(n)
	m := mulDiv(uint64(t), uint64(nL), nn)
	// √(nL·nR/n) in 16.16 fixed point: nL·nR·2³²/n < n/4·2³² ≤ 2⁵⁴, and
	// the 128-bit numerator's high word (nL·nR/2³² ≤ n²/2³⁴) is below n.
	r := isqrt(mulDiv(uint64(nL*nR), 1<<32, nn))
	a := int64(mulDiv(uint64(t), r, nn<<16)) // t·r ≤ 2⁵⁰·2²⁷: 128 bits, high word < n·2¹⁶
	l := int64(m) - a + int64(Draw(s.Seed, lo, n)%uint64(2*a+1))
	return min(max(l, low), high)
}

// Amount is the amount of ticket i, 0 ≤ i < Count: one walk from the root
// to the leaf, one SHA-256 per level.
func (s Split) Amount(i int) int64 {
	lo, n, t := 0, s.Count, s.Total
	for n > 1 {
		l := s.left(lo, n, t)
		half := n / 2
		if i < lo+half {
			n, t = half, l
		} else {
			lo, n, t = lo+half, n-half, t-l
		}
	}
	return t
}

// Sum is the total of the tickets [from, to), 0 ≤ from ≤ to ≤ Count, in
// O(log count) draws: the nodes fully inside the range are summed without
// descending into them.
func (s Split) Sum(from, to int) int64 {
	if from >= to {
		return 0
	}
	return s.sum(0, s.Count, s.Total, from, to)
}

func (s Split) sum(lo, n int, t int64, from, to int) int64 {
	if from <= lo && lo+n <= to {
		return t
	}
	if to <= lo || lo+n <= from {
		return 0
	}
	l := s.left(lo, n, t)
	half := n / 2
	return s.sum(lo, half, l, from, to) + s.sum(lo+half, n-half, t-l, from, to)
}

// mulDiv is ⌊a·b/c⌋ with a 128-bit product. It requires the product's high
// word to be below c (the quotient fits 64 bits); callers keep that by the
// hard caps.
func mulDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	q, _ := bits.Div64(hi, lo, c)
	return q
}

// isqrt is ⌊√x⌋, by Newton's method on integers.
func isqrt(x uint64) uint64 {
	if x < 2 {
		return x
	}
	r := uint64(1) << ((bits.Len64(x) + 1) / 2) // ≥ √x
	for {
		next := (r + x/r) / 2
		if next >= r {
			return r
		}
		r = next
	}
}
