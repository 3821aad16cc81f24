package responsecache

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// benchRecords returns n hand-built calls: two tenants, a skewed choice among 2,000 requests of
// the four cached types, a quarter of calls uncacheable (chat at temperature 1).
func benchRecords(n int) []traces.Record {
	rng := rand.New(rand.NewPCG(1, 2))
	qts := []traces.QueryType{traces.QueryResearch, traces.QueryFactLookup, traces.QueryCodePattern, traces.QueryTemplate}
	recs := make([]traces.Record, n)
	for i := range recs {
		fp := uint64(rng.ExpFloat64()*300) % 2000
		r := rec([]string{"t1", "t2"}[rng.IntN(2)], fp, qts[fp%4], "claude-sonnet-4-5", int64(50+rng.IntN(2000)))
		if rng.IntN(4) == 0 {
			r.QueryType, r.Temperature = traces.QueryChat, 1
		}
		recs[i] = r
	}
	return recs
}

// BenchmarkHandle measures one call through the stage: Handle, and for a call that passes, Observe
// of its answer, with a call reused as the driver's pool does. Time advances 100 ms a call, so
// research answers expire after 36,000 calls. cap is max_entries (64 evicts all the time, 100000
// never does).
func BenchmarkHandle(b *testing.B) {
	recs := benchRecords(4096)
	// The driver's share of the loop (resetting a pooled call), to subtract from the others.
	b.Run("policy=none/cap=0", func(b *testing.B) {
		c := new(strategies.Call)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c.Reset(&recs[i%len(recs)], uint64(i))
			i++
		}
	})
	for _, p := range policies {
		for _, capacity := range []int{64, 100000} {
			b.Run(fmt.Sprintf("policy=%s/cap=%d", p, capacity), func(b *testing.B) {
				s := Defaults()
				s.Policy, s.MaxEntries = p, capacity
				st, err := New(s)
				if err != nil {
					b.Fatal(err)
				}
				c := new(strategies.Call)
				now := sec(0)
				o := &strategies.Outcome{OK: true}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					r := &recs[i%len(recs)]
					i++
					now += 1e8
					c.Reset(r, uint64(i))
					if st.Handle(now, c).Action == strategies.Next {
						o.Done, o.Output = now, r.Output
						st.Observe(now, c, o)
					}
				}
				b.ReportMetric(counter(st, "hit_rate"), "hit/op")
			})
		}
	}
}
