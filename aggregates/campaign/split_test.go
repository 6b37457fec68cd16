package campaign

import (
	"math/rand/v2"
	"testing"

	"github.com/hongbao/hongbao/events"
)

func seedOf(r *rand.Rand) (s events.Seed) {
	for i := range s {
		s[i] = byte(r.Uint32())
	}
	return s
}

// checkAll derives every ticket of a small split: sum, bounds, and Sum over
// random ranges against the brute-force prefix sums.
func checkAll(t *testing.T, s Split, r *rand.Rand) {
	t.Helper()
	prefix := make([]int64, s.Count+1)
	for i := 0; i < s.Count; i++ {
		a := s.Amount(i)
		if a < s.MinShare || a > s.MaxShare {
			t.Fatalf("%+v: ticket %d = %d outside [%d, %d]", s, i, a, s.MinShare, s.MaxShare)
		}
		prefix[i+1] = prefix[i] + a
	}
	if prefix[s.Count] != s.Total {
		t.Fatalf("%+v: Σ = %d, want %d", s, prefix[s.Count], s.Total)
	}
	for k := 0; k < 20; k++ {
		from := r.IntN(s.Count + 1)
		to := from + r.IntN(s.Count-from+1)
		if got, want := s.Sum(from, to), prefix[to]-prefix[from]; got != want {
			t.Fatalf("%+v: Sum(%d, %d) = %d, want %d", s, from, to, got, want)
		}
	}
}

func TestSplitProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for k := 0; k < 300; k++ {
		count := 1 + r.IntN(300)
		min := int64(1 + r.IntN(3))
		max := min + int64(r.IntN(20000))
		total := int64(count)*min + r.Int64N(int64(count)*(max-min)+1)
		s := Split{Seed: seedOf(r), Total: total, Count: count, MinShare: min, MaxShare: max}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		checkAll(t, s, r)
	}
}

func TestSplitEdges(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	seed := seedOf(r)
	cases := []Split{
		{Seed: seed, Total: 1, Count: 1, MinShare: 1, MaxShare: 20000},
		{Seed: seed, Total: 20000, Count: 1, MinShare: 1, MaxShare: 20000},
		{Seed: seed, Total: 1000, Count: 1000, MinShare: 1, MaxShare: 20000},         // all at MIN
		{Seed: seed, Total: 1000 * 20000, Count: 1000, MinShare: 1, MaxShare: 20000}, // all at MAX
		{Seed: seed, Total: 1000*20000 - 1, Count: 1000, MinShare: 1, MaxShare: 20000},
		{Seed: seed, Total: 1001, Count: 1000, MinShare: 1, MaxShare: 20000},
		{Seed: seed, Total: 7, Count: 7, MinShare: 1, MaxShare: 1},
		{Seed: seed, Total: 3, Count: 2, MinShare: 1, MaxShare: 2},
		{Seed: seed, Total: 1 << 20, Count: 1 << 10, MinShare: 1, MaxShare: events.HardMaxCampaignShare},
	}
	for _, s := range cases {
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		checkAll(t, s, r)
	}
	for i := 0; i < 1000; i++ {
		if a := cases[2].Amount(i); a != 1 {
			t.Fatalf("total = count·MIN: ticket %d = %d", i, a)
		}
		if a := cases[3].Amount(i); a != 20000 {
			t.Fatalf("total = count·MAX: ticket %d = %d", i, a)
		}
	}
}

func TestSplitValidate(t *testing.T) {
	bad := []Split{
		{Total: 0, Count: 0, MinShare: 1, MaxShare: 1},
		{Total: events.HardMaxCampaignCount + 1, Count: events.HardMaxCampaignCount + 1, MinShare: 1, MaxShare: 1},
		{Total: 9, Count: 10, MinShare: 1, MaxShare: 20000},
		{Total: 200001, Count: 10, MinShare: 1, MaxShare: 20000},
		{Total: 10, Count: 10, MinShare: 0, MaxShare: 20000},
		{Total: 10, Count: 10, MinShare: 2, MaxShare: 1},
		{Total: events.HardMaxCampaignTotal + 1, Count: events.HardMaxCampaignCount, MinShare: 1, MaxShare: events.HardMaxCampaignShare},
	}
	for _, s := range bad {
		if s.Validate() == nil {
			t.Errorf("%+v validates", s)
		}
	}
}

// Ten million tickets: sampled indexes are within bounds and deterministic,
// the slices' Sums add up to the total, and a range's Sum equals its
// tickets' amounts.
func TestSplitTenMillion(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cases := []Split{
		{Seed: seedOf(r), Total: 100_000_000_000, Count: events.HardMaxCampaignCount, MinShare: 1, MaxShare: 20000}, // mean 10000
		{Seed: seedOf(r), Total: events.HardMaxCampaignCount * 20000, Count: events.HardMaxCampaignCount, MinShare: 1, MaxShare: 20000},
		{Seed: seedOf(r), Total: events.HardMaxCampaignCount, Count: events.HardMaxCampaignCount, MinShare: 1, MaxShare: 20000},
		{Seed: seedOf(r), Total: events.HardMaxCampaignTotal, Count: events.HardMaxCampaignCount, MinShare: 1, MaxShare: events.HardMaxCampaignShare},
		{Seed: seedOf(r), Total: 12_345_678_901, Count: 9_999_991, MinShare: 1, MaxShare: 20000},
	}
	for _, s := range cases {
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 2000; k++ {
			i := r.IntN(s.Count)
			a := s.Amount(i)
			if a < s.MinShare || a > s.MaxShare {
				t.Fatalf("ticket %d = %d outside bounds", i, a)
			}
			if b := s.Amount(i); b != a {
				t.Fatalf("ticket %d: %d then %d", i, a, b)
			}
			if got := s.Sum(i, i+1); got != a {
				t.Fatalf("Sum(%d, %d) = %d, Amount = %d", i, i+1, got, a)
			}
		}
		const slices = 16
		var sum int64
		for k := 0; k < slices; k++ {
			lo, hi := SliceRange(s.Count, slices, k)
			sum += s.Sum(lo, hi)
		}
		if sum != s.Total {
			t.Fatalf("Σ slices = %d, total %d", sum, s.Total)
		}
		from := r.IntN(s.Count - 1000)
		var direct int64
		for i := from; i < from+1000; i++ {
			direct += s.Amount(i)
		}
		if got := s.Sum(from, from+1000); got != direct {
			t.Fatalf("Sum(%d, +1000) = %d, Σ Amount = %d", from, got, direct)
		}
	}
}

// Another seed gives other shares; the same seed the same ones.
func TestSplitDeterminism(t *testing.T) {
	a := Split{Seed: events.Seed{1}, Total: 1_000_000, Count: 1000, MinShare: 1, MaxShare: 20000}
	b := a
	b.Seed[0] = 2
	same, differ := 0, 0
	for i := 0; i < a.Count; i++ {
		if a.Amount(i) == b.Amount(i) {
			same++
		} else {
			differ++
		}
	}
	if differ < 900 {
		t.Fatalf("seeds 1 and 2 agree on %d of 1000 tickets", same)
	}
	// A pinned value: the derivation must never change, or every audit of
	// a stored campaign breaks.
	if got := a.Amount(0) + 1000*a.Amount(999); got != pinnedDerivation {
		t.Fatalf("Amount(0) + 1000·Amount(999) = %d, pinned %d: the split changed", got, pinnedDerivation)
	}
}

// TestSplitShape measures the distribution the doc of Split states: mean
// total/count, standard deviation ≈ 0.58 of the mean, a small mass at MIN.
func TestSplitShape(t *testing.T) {
	s := Split{Seed: events.Seed{7}, Total: 100_000 * 1000, Count: 100_000, MinShare: 1, MaxShare: 20000}
	var sum, sq int64
	atMin, over2 := 0, 0
	for i := 0; i < s.Count; i++ {
		a := s.Amount(i)
		sum += a
		sq += a * a
		if a == s.MinShare {
			atMin++
		}
		if a > 2000 {
			over2++
		}
	}
	n := int64(s.Count)
	mean := sum / n
	variance := sq/n - mean*mean
	sd := isqrt(uint64(variance))
	t.Logf("mean %d, sd %d (%d%% of the mean), at MIN %d, over 2·mean %d of %d",
		mean, sd, int64(sd)*100/mean, atMin, over2, n)
	if mean != 1000 || sd < 450 || sd > 700 {
		t.Fatalf("mean %d sd %d: not the documented shape", mean, sd)
	}
	if over2 == 0 || over2 > s.Count/10 {
		t.Fatalf("%d shares over twice the mean", over2)
	}
}

func BenchmarkAmount(b *testing.B) {
	s := Split{Seed: events.Seed{1}, Total: 100_000_000_000, Count: events.HardMaxCampaignCount, MinShare: 1, MaxShare: 20000}
	i := 0
	for b.Loop() {
		s.Amount(i)
		i = (i + 7_654_321) % s.Count
	}
}

func BenchmarkSliceSum(b *testing.B) {
	s := Split{Seed: events.Seed{1}, Total: 100_000_000_000, Count: events.HardMaxCampaignCount, MinShare: 1, MaxShare: 20000}
	lo, hi := SliceRange(s.Count, 16, 5)
	for b.Loop() {
		s.Sum(lo, hi)
	}
}

const pinnedDerivation = 1301724
