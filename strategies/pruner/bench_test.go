package pruner

import (
	"math/rand/v2"
	"testing"

	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// benchRecords returns n conversation calls with a prompt breakdown, a cache split and, with
// blockSize > 0, prefix hashes; one in eight has no breakdown.
func benchRecords(n, blockSize int) []traces.Record {
	rng := rand.New(rand.NewPCG(8, 9))
	out := make([]traces.Record, n)
	for i := range out {
		turn := rng.IntN(40)
		sys, hist, nw := 1000+rng.Int64N(4000), int64(turn)*(200+rng.Int64N(1500)), 100+rng.Int64N(2000)
		prompt := sys + hist + nw
		read := rng.Int64N(prompt)
		r := rec(tokens{Input: prompt - read, W5: -1, W1: -1, Read: read, Sys: sys, Hist: hist, New: nw, Turn: int64(turn)})
		if i%8 == 0 {
			r.Unset(traces.FieldHistoryTokens)
		}
		if i%3 == 0 {
			w := r.Input / 2
			r.Input, r.CacheWrite5m = r.Input-w, w
			r.Set(traces.FieldCacheWrite5m)
		}
		if blockSize > 0 {
			for b := range prompt / int64(blockSize) {
				r.Prefix = append(r.Prefix, uint64(b)*7+uint64(i))
			}
		}
		out[i] = r
	}
	return out
}

// BenchmarkHandle measures Handle with the driver's c.Reset of each call (which copies the
// record's prefix hashes); reset_only=true measures the Reset alone, as a baseline.
func BenchmarkHandle(b *testing.B) {
	for _, bc := range []struct {
		name      string
		blockSize int
		handle    bool
	}{
		{"block=0", 0, true},
		{"block=64", 64, true},
		{"block=64,reset_only=true", 64, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			recs := benchRecords(4096, bc.blockSize)
			p := build(b, Defaults(), bc.blockSize)
			var c strategies.Call
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := &recs[i&(len(recs)-1)]
				i++
				c.Reset(r, uint64(i))
				if bc.handle {
					p.Handle(at.UnixNano(), &c)
				}
			}
		})
	}
}
