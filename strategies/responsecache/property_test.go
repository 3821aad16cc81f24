package responsecache

import (
	"container/heap"
	"math/rand/v2"
	"testing"

	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// TestHitsMatchStoredCalls replays random sequences (several tenants, models and colliding
// fingerprints, temperatures, failures, out-of-order completions, random bounds and policies) and
// checks every hit against the answers observed: a hit serves the latest answer stored for the
// very same tenant, fingerprint and original model, younger than the TTL of the call's type; with
// no bound that could evict, a live stored answer is always served.
func TestHitsMatchStoredCalls(t *testing.T) {
	tenants := []string{"a", "b", ""}
	models := []string{"m1", "m2"}
	qts := []traces.QueryType{traces.QueryFactLookup, traces.QueryResearch, traces.QueryChat, traces.QueryTemplate}
	type answer struct {
		k   key
		qt  traces.QueryType
		at  int64
		out int64
	}
	var hits, stales, misses int
	defer func() {
		if hits < 1000 || stales < 100 || misses < 1000 {
			t.Errorf("too few cases: %d hits, %d stale, %d misses", hits, stales, misses)
		}
	}()
	for seq := uint64(0); seq < 300; seq++ {
		rng := rand.New(rand.NewPCG(seq, 99))
		s := Defaults()
		s.Policy = policies[rng.IntN(len(policies))]
		s.TTL = map[string]float64{"fact_lookup": 600, "research": 60, "template": float64(1 + rng.IntN(3000))}
		s.Fresh = map[string]float64{"fact_lookup": 300}
		s.DeterministicOnly = rng.IntN(2) == 0
		unbounded := rng.IntN(4) == 0
		if !unbounded {
			s.MaxEntries = 1 + rng.IntN(12)
			s.MaxBytes = 64 + int64(rng.IntN(4*3000))
		}
		st, err := New(s)
		if err != nil {
			t.Fatal(err)
		}
		ttl := func(qt traces.QueryType) int64 { return st.c.ttl[qt] }
		byOut := map[int64]answer{} // every answer observed, by its (unique) output tokens
		latest := map[key]answer{}  // the latest storable answer per key
		var pending doneHeap
		var n uint64
		now := sec(0)
		for op := 0; op < 400; op++ {
			now += int64(rng.IntN(200)) * 1e9
			for len(pending) > 0 && pending[0].done <= now {
				p := heap.Pop(&pending).(done)
				c := p.c
				o := &strategies.Outcome{OK: rng.IntN(10) > 0, Failed: rng.IntN(20) == 0, Done: p.done, Output: c.Rec.Output}
				st.Observe(p.done, c, o)
				a := answer{key{c.Rec.Tenant, c.Rec.Fingerprint, c.OrigModel}, c.Rec.QueryType, p.done, o.Output}
				byOut[a.out] = a
				_, cacheable := st.cacheable(&c.Rec)
				if cacheable && o.OK && !o.Failed && EntryBytes(o.Output) <= s.MaxBytes {
					latest[a.k] = a
				}
			}
			fp := uint64(rng.IntN(4))
			r := rec(tenants[rng.IntN(len(tenants))], fp, qts[fp], models[rng.IntN(len(models))], int64(op+1)*7)
			switch rng.IntN(4) {
			case 0:
				r.Temperature = 0.5
			case 1:
				r.Unset(traces.FieldTemperature)
			}
			r.Time = strategies.Time(now)
			c := new(strategies.Call)
			n++
			c.Reset(&r, n)
			k := key{r.Tenant, r.Fingerprint, r.Model}
			d := st.Handle(now, c)
			checkInvariants(t, st)
			if d.Action == strategies.Next {
				misses++
				if l, ok := latest[k]; ok && unbounded {
					if _, cacheable := st.cacheable(&r); cacheable && now-l.at < min(ttl(r.QueryType), ttl(l.qt)) {
						t.Fatalf("seq %d op %d: miss on a live answer stored at %d (now %d)", seq, op, l.at, now)
					}
				}
				heap.Push(&pending, done{now + int64(rng.IntN(300))*1e9, n, c})
				continue
			}
			hits++
			if c.Stale {
				stales++
			}
			a, ok := byOut[c.Rec.Output]
			switch {
			case !ok:
				t.Fatalf("seq %d op %d: served output %d, which no call answered", seq, op, c.Rec.Output)
			case a.k != k:
				t.Fatalf("seq %d op %d: call %+v served the answer of %+v", seq, op, k, a.k)
			case now-a.at >= ttl(r.QueryType) || now-a.at != st.LastAge():
				t.Fatalf("seq %d op %d: served an answer aged %d (LastAge %d), TTL %d", seq, op, now-a.at, st.LastAge(), ttl(r.QueryType))
			case latest[k] != a:
				t.Fatalf("seq %d op %d: served %+v, the latest stored is %+v", seq, op, a, latest[k])
			case c.Stale != (now-a.at > st.fresh[r.QueryType]):
				t.Fatalf("seq %d op %d: stale %v at age %d", seq, op, c.Stale, now-a.at)
			}
		}
	}
}
