package campaign

import "hash/fnv"

// SliceRange is the tickets [lo, hi) of slice k of a campaign of count
// tickets in the given number of slices: contiguous ranges of equal size
// (±1), so a slice's total is Split.Sum(lo, hi).
func SliceRange(count, slices, k int) (lo, hi int) {
	return int(int64(k) * int64(count) / int64(slices)), int(int64(k+1) * int64(count) / int64(slices))
}

// SliceOf is the slice that owns ticket i.
func SliceOf(count, slices, i int) int {
	// The inverse of SliceRange: the largest k with k·count/slices ≤ i.
	k := int((int64(i)*int64(slices) + int64(slices) - 1) / int64(count))
	for k > 0 {
		if lo, _ := SliceRange(count, slices, k); lo <= i {
			break
		}
		k--
	}
	for k+1 < slices {
		if lo, _ := SliceRange(count, slices, k+1); lo > i {
			break
		}
		k++
	}
	return k
}

// HomeSlice is the slice every ticket of user comes from (the per-user
// limit's serialization point, see the package doc): FNV-1a 64 of the
// user, mod slices.
func HomeSlice(user string, slices int) int {
	h := fnv.New64a()
	h.Write([]byte(user))
	return int(h.Sum64() % uint64(slices))
}
