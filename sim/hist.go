package sim

import "math/bits"

// hist is a log-linear histogram of non-negative durations in microseconds: exact below 2^k µs,
// then 2^k buckets per power of two, so a quantile (the middle of its bucket) is within 2^-(k+1)
// of the true value. It grows to the largest value seen. The run's totals use k = 6 (within
// 0.8%); each day's use k = 4 (within 3.1%), so that a year of days stays small.
type hist struct {
	k      uint8
	counts []int64
	n      int64
	sum    int64 // microseconds, exact
}

func newHist(k uint8) hist { return hist{k: k} }

func (h *hist) bucket(v int64) int {
	if v < 0 {
		v = 0
	}
	e := max(bits.Len64(uint64(v))-int(h.k)-1, 0) // v>>e is below 2^(k+1)
	return e<<h.k + int(v>>e)
}

// low returns the smallest value in bucket b, and the width of the bucket.
func (h *hist) low(b int) (int64, int64) {
	e := max(b>>h.k-1, 0)
	m := int64(b - e<<h.k)
	return m << e, 1 << e
}

// add records a duration in nanoseconds.
func (h *hist) add(ns int64) {
	us := max(ns/1000, 0)
	b := h.bucket(us)
	if b >= len(h.counts) {
		h.grow(b + 1)
	}
	h.counts[b]++
	h.n++
	h.sum += us
}

// grow extends counts to n buckets, doubling its capacity so that growing allocates rarely.
func (h *hist) grow(n int) {
	if n > cap(h.counts) {
		c := make([]int64, len(h.counts), max(n, 2*cap(h.counts), 64))
		copy(c, h.counts)
		h.counts = c
	}
	h.counts = h.counts[:n]
}

// quantile returns the q-quantile (0 < q ≤ 1) in milliseconds: the middle of the bucket that holds
// the value of rank ceil(q × n). It returns 0 for an empty histogram.
func (h *hist) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := int64(q * float64(h.n))
	if float64(rank) < q*float64(h.n) {
		rank++
	}
	rank = max(rank, 1)
	var seen int64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := h.low(b)
			return (float64(lo) + float64(w-1)/2) / 1000
		}
	}
	return 0
}

// mean returns the mean in milliseconds.
func (h *hist) mean() float64 {
	if h.n == 0 {
		return 0
	}
	return float64(h.sum) / float64(h.n) / 1000
}
