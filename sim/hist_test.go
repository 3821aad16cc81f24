package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestHistQuantilesWithinBucketError(t *testing.T) {
	for _, k := range []uint8{4, 6} {
		rng := rand.New(rand.NewPCG(1, 2))
		h := newHist(k)
		var us []int64
		for range 100000 {
			v := int64(math.Exp(rng.NormFloat64()*1.5+13)) + rng.Int64N(100) // ns, log-normal around 0.4 ms
			h.add(v)
			us = append(us, v/1000)
		}
		slices.Sort(us)
		for _, q := range []float64{0.01, 0.5, 0.9, 0.95, 0.99, 1} {
			rank := int(math.Ceil(q*float64(len(us)))) - 1
			exact := float64(us[rank]) / 1000
			got := h.quantile(q)
			if math.Abs(got-exact) > exact/float64(int(1)<<k)+0.001 {
				t.Errorf("k=%d q%.2f: %g ms, exact %g ms: off by more than a bucket", k, q, got, exact)
			}
		}
		var sum int64
		for _, v := range us {
			sum += v
		}
		if got, want := h.mean(), float64(sum)/float64(len(us))/1000; got != want {
			t.Errorf("k=%d: mean %g, want %g", k, got, want)
		}
	}
}

func TestHistBucketsAreContiguous(t *testing.T) {
	for _, k := range []uint8{4, 6} {
		h := newHist(k)
		prev := -1
		for v := int64(0); v < 1<<20; v++ {
			b := h.bucket(v)
			if b != prev && b != prev+1 {
				t.Fatalf("k=%d value %d: bucket %d after %d", k, v, b, prev)
			}
			if lo, w := h.low(b); v < lo || v >= lo+w {
				t.Fatalf("k=%d value %d in bucket %d = [%d, %d)", k, v, b, lo, lo+w)
			}
			prev = b
		}
	}
}
