package responsecache

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/gen"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// replay drives one stage through records the way strategies' package doc says a driver does,
// reduced to what the cache sees: a call arrives, is handled, and when it went upstream its answer
// is observed at its completion time (the record's latency after its arrival), completions and
// arrivals merged in time order (completions first at equal times).
func replay(t testing.TB, st *Stage, recs []traces.Record) {
	var pending doneHeap
	var seq uint64
	deliver := func(upTo int64) {
		for len(pending) > 0 && pending[0].done <= upTo {
			p := heap.Pop(&pending).(done)
			st.Observe(p.done, p.c, &strategies.Outcome{OK: true, Done: p.done, Output: p.c.Rec.Output, P: 1})
		}
	}
	for j := range recs {
		r := &recs[j]
		now := r.Time.UnixNano()
		deliver(now)
		c := new(strategies.Call)
		c.Reset(r, strategies.KeyOf(r, int64(j)))
		if d := st.Handle(now, c); d.Action == strategies.Serve {
			continue
		}
		lat := int64(time.Second)
		if r.Has(traces.FieldLatency) {
			lat = int64(r.Latency)
		}
		seq++
		heap.Push(&pending, done{now + lat, seq, c})
	}
	deliver(math.MaxInt64)
}

type done struct {
	done int64
	seq  uint64
	c    *strategies.Call
}

type doneHeap []done

func (h doneHeap) Len() int { return len(h) }
func (h doneHeap) Less(i, j int) bool {
	if h[i].done != h[j].done {
		return h[i].done < h[j].done
	}
	return h[i].seq < h[j].seq
}
func (h doneHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *doneHeap) Push(x any)   { *h = append(*h, x.(done)) }
func (h *doneHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// counter returns the named counter of st.
func counter(st *Stage, name string) float64 {
	for _, c := range st.Counters() {
		if c.Name == name {
			return c.Value
		}
	}
	panic("no counter " + name)
}

// distinctKeys returns the number of distinct cache keys among the records cacheable under s.
func distinctKeys(s *Settings, recs []traces.Record) int {
	st, err := New(s)
	if err != nil {
		panic(err)
	}
	seen := map[key]bool{}
	for j := range recs {
		if _, ok := st.cacheable(&recs[j]); ok {
			seen[key{recs[j].Tenant, recs[j].Fingerprint, recs[j].Model}] = true
		}
	}
	return len(seen)
}

// workload is a named trace for the policy comparison.
type workload struct {
	name string
	recs func(testing.TB) []traces.Record
	ttl  map[string]float64 // nil: the defaults
}

var genCache sync.Map // "profile/days" → []traces.Record

// generated returns the records of gen's profile over days with seed 1, as `tarsopt gen` writes
// them.
func generated(profile string, days int) func(testing.TB) []traces.Record {
	return func(t testing.TB) []traces.Record {
		id := fmt.Sprintf("%s/%d", profile, days)
		if v, ok := genCache.Load(id); ok {
			return v.([]traces.Record)
		}
		p, err := gen.LoadProfile(profile)
		if err != nil {
			t.Fatal(err)
		}
		g, err := gen.New(p, gen.Options{Days: days, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		var recs []traces.Record
		if _, err := g.Generate(func(r *traces.Record) error {
			recs = append(recs, r.Clone())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		genCache.Store(id, recs)
		return recs
	}
}

// zipfScan returns a synthetic workload: n requests, one a second, for keys drawn from a Zipf
// distribution of exponent alpha over universe keys, interrupted every scanEvery requests by a
// scan of scanLen keys that are never requested again (a batch job sweeping through documents).
func zipfScan(n, universe int, alpha float64, scanEvery, scanLen int) func(testing.TB) []traces.Record {
	return func(testing.TB) []traces.Record {
		cum := make([]float64, universe)
		total := 0.0
		for i := range cum {
			total += 1 / math.Pow(float64(i+1), alpha)
			cum[i] = total
		}
		rng := rand.New(rand.NewPCG(7, 11))
		perm := rng.Perm(universe) // popularity rank → key, so that popular keys are not the low ids
		t0 := time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
		recs := make([]traces.Record, 0, n+n/max(scanEvery, 1)*scanLen)
		scanKey := uint64(universe)
		add := func(k uint64) {
			r := traces.Record{Time: t0.Add(time.Duration(len(recs)) * time.Second), Tenant: "t", Model: "m",
				QueryType: traces.QueryCodePattern, Fingerprint: k, Temperature: 0, Output: 100, Latency: 0}
			r.Set(traces.FieldFingerprint)
			r.Set(traces.FieldTemperature)
			r.Set(traces.FieldOutput)
			r.Set(traces.FieldLatency)
			recs = append(recs, r)
		}
		for i := 0; i < n; i++ {
			if scanEvery > 0 && i > 0 && i%scanEvery == 0 {
				for j := 0; j < scanLen; j++ {
					add(scanKey)
					scanKey++
				}
			}
			u := rng.Float64() * total
			lo, hi := 0, universe-1
			for lo < hi {
				mid := (lo + hi) / 2
				if cum[mid] < u {
					lo = mid + 1
				} else {
					hi = mid
				}
			}
			add(uint64(perm[lo]))
		}
		return recs
	}
}

var policies = []string{PolicyLRU, PolicySIEVE, PolicyS3FIFO}

// hitRatio replays w with the given policy and a capacity of share of the distinct keys (at least
// one entry) and returns the hit rate and the capacity.
func hitRatio(t testing.TB, w workload, policy string, share float64) (float64, int) {
	recs := w.recs(t)
	s := Defaults()
	s.On = true
	if w.ttl != nil {
		s.TTL = w.ttl
	}
	s.Policy = policy
	s.MaxEntries = max(1, int(math.Round(share*float64(distinctKeys(s, recs)))))
	st, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	replay(t, st, recs)
	checkInvariants(t, st)
	return counter(st, "hit_rate"), s.MaxEntries
}
