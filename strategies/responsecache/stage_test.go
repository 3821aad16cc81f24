package responsecache

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

var t0 = time.Date(2026, 2, 10, 9, 0, 0, 0, time.UTC)

// rec returns a deterministic (temperature 0) call of tenant for request fp of query type qt on
// model m, with output tokens out.
func rec(tenant string, fp uint64, qt traces.QueryType, m string, out int64) traces.Record {
	r := traces.Record{Time: t0, Tenant: tenant, Model: m, QueryType: qt, Fingerprint: fp, Output: out}
	r.Set(traces.FieldFingerprint)
	r.Set(traces.FieldTemperature)
	r.Set(traces.FieldOutput)
	return r
}

// with returns r changed by f.
func with(r traces.Record, f func(*traces.Record)) traces.Record { f(&r); return r }

const (
	pass  = "pass"  // Next
	hit   = "hit"   // Serve, fresh
	stale = "stale" // Serve, stale
)

// step is one call in a scenario: it arrives at at (seconds after t0) and is handled; when it
// passes, its answer (out tokens, or as the outcome fields say) is observed answer seconds later
// (before the next step).
type step struct {
	at      float64
	r       traces.Record
	want    string
	wantOut int64   // on a hit: the output tokens served
	answer  float64 // seconds from arrival to the answer; 1 when 0
	out     int64   // Outcome.Output; r.Output when 0
	notOK   bool    // the answer was unacceptable
	failed  bool    // the provider failed
	retry   bool    // a later stage asked for a retry
	served  bool    // a later stage served it (a follower)
}

func sec(s float64) int64 { return t0.UnixNano() + int64(s*1e9) }

func TestHandleObserve(t *testing.T) {
	const sonnet, haiku = "claude-sonnet-4-5", "claude-haiku-4-5"
	fact := func(tenant string, fp uint64, out int64) traces.Record {
		return rec(tenant, fp, traces.QueryFactLookup, sonnet, out)
	}
	tests := []struct {
		name     string
		settings func(*Settings)
		steps    []step
		counters map[string]float64
	}{
		{
			// The same request from two tenants: each pays for its own answer.
			name: "tenants never share",
			steps: []step{
				{at: 0, r: fact("a", 1, 100), want: pass},
				{at: 10, r: fact("b", 1, 200), want: pass},
				{at: 20, r: fact("a", 1, 999), want: hit, wantOut: 100},
				{at: 30, r: fact("b", 1, 999), want: hit, wantOut: 200},
				{at: 40, r: fact("", 1, 300), want: pass},
			},
			counters: map[string]float64{"hits": 2, "misses": 3, "stored": 3, "entries": 3, "hit_rate": 0.4},
		},
		{
			// The key is the model the client asked for, and the fingerprint.
			name: "model and fingerprint are part of the key",
			steps: []step{
				{at: 0, r: fact("a", 1, 100), want: pass},
				{at: 10, r: rec("a", 1, traces.QueryFactLookup, haiku, 50), want: pass},
				{at: 20, r: fact("a", 2, 70), want: pass},
				{at: 30, r: rec("a", 1, traces.QueryFactLookup, haiku, 1), want: hit, wantOut: 50},
				{at: 40, r: fact("a", 2, 1), want: hit, wantOut: 70},
			},
			counters: map[string]float64{"hits": 2, "misses": 3, "entries": 3},
		},
		{
			// fact_lookup lives 7,200 s from the time its answer was complete (arrival + 1 s).
			name: "TTL expiry",
			steps: []step{
				{at: 0, r: fact("a", 1, 100), want: pass},
				{at: 7200, r: fact("a", 1, 1), want: hit, wantOut: 100}, // age 7,199 s
				{at: 7201, r: fact("a", 1, 300), want: pass, answer: 5}, // age 7,200 s: expired
				{at: 7206 + 7199, r: fact("a", 1, 1), want: hit, wantOut: 300},
			},
			counters: map[string]float64{"hits": 2, "misses": 2, "expired": 1, "stored": 2, "entries": 1},
		},
		{
			// The TTL is the calling type's: a research call (3,600 s) finds the answer a
			// fact_lookup call (7,200 s) stored and removes it when it is too old for research.
			name: "TTL of the call's type",
			steps: []step{
				{at: 0, r: fact("a", 1, 100), want: pass},
				{at: 3000, r: rec("a", 1, traces.QueryResearch, sonnet, 1), want: hit, wantOut: 100},
				{at: 3601, r: rec("a", 1, traces.QueryResearch, sonnet, 1), want: pass, out: 5},
				{at: 3700, r: fact("a", 1, 1), want: hit, wantOut: 5},
			},
			counters: map[string]float64{"hits": 2, "misses": 2, "expired": 1, "entries": 1},
		},
		{
			// Expired entries are swept at the next call, whatever its key, so they pin no memory.
			name: "sweep",
			steps: []step{
				{at: 0, r: fact("a", 1, 100), want: pass},
				{at: 1, r: rec("a", 2, traces.QueryResearch, sonnet, 100), want: pass},
				{at: 2, r: rec("a", 3, traces.QueryTemplate, sonnet, 100), want: pass},
				{at: 3605, r: rec("a", 9, traces.QueryChat, sonnet, 1), want: pass}, // research expired
				{at: 7202, r: rec("a", 9, traces.QueryChat, sonnet, 1), want: pass}, // fact_lookup expired
			},
			counters: map[string]float64{"expired": 2, "entries": 1, "bytes": 4*100 + 64, "uncacheable": 2},
		},
		{
			// Past fresh_s the answer is still served, as stale.
			name:     "staleness",
			settings: func(s *Settings) { s.Fresh = map[string]float64{"fact_lookup": 600} },
			steps: []step{
				{at: 0, r: fact("a", 1, 100), want: pass},
				{at: 601, r: fact("a", 1, 1), want: hit, wantOut: 100},   // age 600 s: fresh
				{at: 602, r: fact("a", 1, 1), want: stale, wantOut: 100}, // age 601 s
				{at: 7000, r: fact("a", 1, 1), want: stale, wantOut: 100},
			},
			counters: map[string]float64{"hits": 3, "stale_hits": 2},
		},
		{
			// Temperature above 0 or absent, no fingerprint, a type with no TTL (or TTL 0): the
			// call passes uncounted in the hit rate, and its answer is not stored.
			name:     "uncacheable calls pass",
			settings: func(s *Settings) { s.TTL["research"] = 0 },
			steps: []step{
				{at: 0, r: with(fact("a", 1, 100), func(r *traces.Record) { r.Temperature = 0.7 }), want: pass},
				{at: 10, r: with(fact("a", 1, 100), func(r *traces.Record) { r.Temperature = 0.7 }), want: pass},
				{at: 20, r: with(fact("a", 2, 100), func(r *traces.Record) { r.Unset(traces.FieldTemperature) }), want: pass},
				{at: 30, r: with(fact("a", 2, 100), func(r *traces.Record) { r.Unset(traces.FieldTemperature) }), want: pass},
				{at: 40, r: with(fact("a", 3, 100), func(r *traces.Record) { r.Unset(traces.FieldFingerprint) }), want: pass},
				{at: 50, r: rec("a", 4, traces.QueryChat, sonnet, 100), want: pass},
				{at: 60, r: rec("a", 4, traces.QueryChat, sonnet, 100), want: pass},
				{at: 70, r: rec("a", 5, traces.QueryResearch, sonnet, 100), want: pass},
				{at: 80, r: rec("a", 5, traces.QueryResearch, sonnet, 100), want: pass},
				{at: 90, r: rec("a", 6, 0, sonnet, 100), want: pass},
			},
			counters: map[string]float64{"uncacheable": 10, "hits": 0, "misses": 0, "stored": 0, "entries": 0, "hit_rate": 0},
		},
		{
			// deterministic_only false: any temperature is cacheable.
			name:     "deterministic_only off",
			settings: func(s *Settings) { s.DeterministicOnly = false },
			steps: []step{
				{at: 0, r: with(fact("a", 1, 100), func(r *traces.Record) { r.Temperature = 0.7 }), want: pass},
				{at: 10, r: with(fact("a", 1, 1), func(r *traces.Record) { r.Temperature = 0.7 }), want: hit, wantOut: 100},
				{at: 20, r: with(fact("a", 2, 100), func(r *traces.Record) { r.Unset(traces.FieldTemperature) }), want: pass},
				{at: 30, r: with(fact("a", 2, 1), func(r *traces.Record) { r.Unset(traces.FieldTemperature) }), want: hit, wantOut: 100},
			},
			counters: map[string]float64{"hits": 2, "misses": 2, "uncacheable": 0},
		},
		{
			// Only acceptable answers of calls that went upstream are stored.
			name: "what is stored",
			steps: []step{
				{at: 0, r: fact("a", 1, 100), want: pass, notOK: true},
				{at: 10, r: fact("a", 1, 100), want: pass, failed: true},
				{at: 20, r: fact("a", 1, 100), want: pass, retry: true},
				{at: 30, r: fact("a", 1, 100), want: pass, served: true},
				{at: 40, r: fact("a", 1, 100), want: pass, out: 123},
				{at: 50, r: fact("a", 1, 100), want: hit, wantOut: 123},
			},
			counters: map[string]float64{"stored": 1, "misses": 5, "hits": 1},
		},
		{
			// A second answer to the same request (two calls in flight) replaces the first.
			name: "replace",
			steps: []step{
				{at: 0, r: fact("a", 1, 100), want: pass, answer: 100},
				{at: 150, r: fact("a", 1, 100), want: hit, wantOut: 100},
			},
			counters: map[string]float64{"stored": 1},
		},
		{
			// max_entries 2: the third answer evicts (LRU: the least recently used).
			name:     "bounded entries",
			settings: func(s *Settings) { s.MaxEntries, s.Policy = 2, PolicyLRU },
			steps: []step{
				{at: 0, r: fact("a", 1, 100), want: pass},
				{at: 10, r: fact("a", 2, 200), want: pass},
				{at: 20, r: fact("a", 1, 1), want: hit, wantOut: 100},
				{at: 30, r: fact("a", 3, 300), want: pass}, // evicts 2
				{at: 40, r: fact("a", 2, 1), want: pass},   // evicts 1
				{at: 50, r: fact("a", 3, 1), want: hit, wantOut: 300},
				{at: 60, r: fact("a", 1, 1), want: pass},
			},
			counters: map[string]float64{"evictions": 3, "entries": 2, "hits": 2, "misses": 5},
		},
		{
			// max_bytes 1,000: 100 tokens take 464 bytes, 300 take 1,264 (too large).
			name:     "bounded bytes",
			settings: func(s *Settings) { s.MaxBytes, s.Policy = 1000, PolicySIEVE },
			steps: []step{
				{at: 0, r: fact("a", 1, 100), want: pass},
				{at: 10, r: fact("a", 2, 100), want: pass},
				{at: 20, r: fact("a", 3, 300), want: pass},
				{at: 30, r: fact("a", 3, 1), want: pass, out: 300},
				{at: 40, r: fact("a", 4, 10), want: pass},             // 104 bytes: evicts 1
				{at: 50, r: fact("a", 2, 1), want: hit, wantOut: 100}, // 2 visited
				{at: 60, r: fact("a", 1, 1), want: pass, out: 100},    // evicts 4, spares 2
				{at: 70, r: fact("a", 2, 1), want: hit, wantOut: 100},
			},
			counters: map[string]float64{"too_large": 2, "evictions": 2, "entries": 2, "bytes": 464 + 464},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Defaults()
			s.On = true
			if tt.settings != nil {
				tt.settings(s)
			}
			st, err := New(s)
			if err != nil {
				t.Fatal(err)
			}
			for j, sp := range tt.steps {
				r := sp.r
				r.Time = t0.Add(time.Duration(sp.at * float64(time.Second)))
				c := new(strategies.Call)
				c.Reset(&r, uint64(j))
				now := r.Time.UnixNano()
				d := st.Handle(now, c)
				checkInvariants(t, st)
				got := pass
				if d.Action == strategies.Serve {
					got = hit
					if c.Stale {
						got = stale
					}
				} else if d.Action != strategies.Next {
					t.Fatalf("step %d: action %v", j, d.Action)
				}
				if got != sp.want {
					t.Fatalf("step %d: got %s, want %s", j, got, sp.want)
				}
				if got == pass {
					if c.Served || c.Stale || c.Quality != 1 || c.Rec.Output != r.Output {
						t.Errorf("step %d: a call that passes was changed: %+v", j, c)
					}
					ans := sp.answer
					if ans == 0 {
						ans = 1
					}
					out := sp.out
					if out == 0 {
						out = r.Output
					}
					done := now + int64(ans*1e9)
					if sp.served {
						c.Served, c.ServedBy = true, "deferral"
					}
					o := &strategies.Outcome{OK: !sp.notOK, Failed: sp.failed, Done: done, Output: out, P: 0.9}
					if sp.retry {
						o.RetryWith = "claude-opus-4-6"
					}
					st.Observe(done, c, o)
					checkInvariants(t, st)
					continue
				}
				wantQ := 1.0
				if got == stale {
					wantQ = 0.95
				}
				if !c.Served || c.ServedBy != Name || c.Rec.Output != sp.wantOut || math.Abs(c.Quality-wantQ) > 1e-12 {
					t.Errorf("step %d: served %v by %q, output %d, quality %g; want output %d, quality %g",
						j, c.Served, c.ServedBy, c.Rec.Output, c.Quality, sp.wantOut, wantQ)
				}
			}
			got := map[string]float64{}
			for _, cn := range st.Counters() {
				if _, ok := tt.counters[cn.Name]; ok {
					got[cn.Name] = cn.Value
				}
			}
			if diff := cmp.Diff(tt.counters, got); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
		})
	}
}

// A hit sets the served call's tokens, reasoning and age; the hit latency is the setting's.
func TestHitFields(t *testing.T) {
	s := Defaults()
	s.HitLatencyMS = 35
	st, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	if st.HitLatency() != 35e6 || st.Name() != "responsecache" {
		t.Fatalf("HitLatency %d, Name %q", st.HitLatency(), st.Name())
	}
	r := rec("a", 1, traces.QueryCodePattern, "m", 900)
	r.Reasoning = 300
	r.Set(traces.FieldReasoning)
	c := new(strategies.Call)
	c.Reset(&r, 1)
	if d := st.Handle(sec(0), c); d.Action != strategies.Next {
		t.Fatal("first call served")
	}
	st.Observe(sec(30), c, &strategies.Outcome{OK: true, Done: sec(30), Output: 900})

	// The second call (a different recorded answer, no reasoning) is served the stored one.
	r2 := rec("a", 1, traces.QueryCodePattern, "m", 10)
	c.Reset(&r2, 2) // the driver reuses calls
	if d := st.Handle(sec(3630), c); d.Action != strategies.Serve {
		t.Fatal("second call not served")
	}
	if c.Rec.Output != 900 || c.Rec.Reasoning != 300 || !c.Rec.Has(traces.FieldReasoning) || st.LastAge() != 3600e9 {
		t.Errorf("output %d, reasoning %d (%v), age %d", c.Rec.Output, c.Rec.Reasoning, c.Rec.Has(traces.FieldReasoning), st.LastAge())
	}
	if got := counter(st, "mean_hit_age_s"); got != 3600 {
		t.Errorf("mean_hit_age_s %g", got)
	}

	// An answer stored without reasoning clears the call's recorded reasoning.
	r3 := rec("a", 2, traces.QueryCodePattern, "m", 50)
	c.Reset(&r3, 3)
	st.Handle(sec(4000), c)
	st.Observe(sec(4001), c, &strategies.Outcome{OK: true, Done: sec(4001), Output: 50})
	r4 := with(rec("a", 2, traces.QueryCodePattern, "m", 10), func(r *traces.Record) { r.Reasoning = 5; r.Set(traces.FieldReasoning) })
	c.Reset(&r4, 4)
	if d := st.Handle(sec(4002), c); d.Action != strategies.Serve || c.Rec.Output != 50 || c.Rec.Has(traces.FieldReasoning) {
		t.Errorf("action %v, output %d, reasoning present %v", d.Action, c.Rec.Output, c.Rec.Has(traces.FieldReasoning))
	}
}

// Every policy keeps the cache within its bounds and serves only what it holds.
func TestPoliciesEvict(t *testing.T) {
	for _, p := range policies {
		t.Run("policy="+p, func(t *testing.T) {
			s := Defaults()
			s.Policy, s.MaxEntries = p, 10
			st, err := New(s)
			if err != nil {
				t.Fatal(err)
			}
			c := new(strategies.Call)
			for i := 0; i < 1000; i++ {
				// A hot key 0 every other call, cold keys otherwise.
				fp := uint64(i)
				if i%2 == 0 {
					fp = 0
				}
				r := rec("a", fp, traces.QueryCodePattern, "m", int64(i+1))
				c.Reset(&r, uint64(i))
				now := sec(float64(i))
				if st.Handle(now, c).Action == strategies.Next {
					st.Observe(now, c, &strategies.Outcome{OK: true, Done: now, Output: r.Output})
				}
				checkInvariants(t, st)
			}
			if n := counter(st, "entries"); n != 10 {
				t.Errorf("entries %g, want 10", n)
			}
			// The hot key stays; every cold key is a miss.
			if h := counter(st, "hits"); h != 499 {
				t.Errorf("hits %g, want 499", h)
			}
			if e := counter(st, "evictions"); e != 491 { // 501 answers stored, 10 kept
				t.Errorf("evictions %g, want 491", e)
			}
		})
	}
}

// A hash collision in the index (forced here: two keys of different tenants on one index slot)
// is a miss, never a hit across tenants, and the newer answer takes the slot.
func TestCollision(t *testing.T) {
	st, err := New(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	a, b := rec("a", 1, traces.QueryTemplate, "m", 100), rec("b", 1, traces.QueryTemplate, "m", 200)
	ca, cb := new(strategies.Call), new(strategies.Call)
	ca.Reset(&a, 1)
	cb.Reset(&b, 2)
	st.Handle(sec(0), ca)
	st.Observe(sec(1), ca, &strategies.Outcome{OK: true, Done: sec(1), Output: 100})
	ka, kb := key{"a", 1, "m"}, key{"b", 1, "m"}
	ia, _ := st.c.index.Get(st.c.hs.hash(&ka))
	// Make b's hash point at a's entry, as a collision would.
	st.c.index.Delete(st.c.slab[ia].h)
	hb := st.c.hs.hash(&kb)
	st.c.index.Put(hb, ia)
	st.c.slab[ia].h = hb
	if d := st.Handle(sec(2), cb); d.Action != strategies.Next || cb.Served {
		t.Fatalf("tenant b served tenant a's answer (output %d)", cb.Rec.Output)
	}
	st.Observe(sec(3), cb, &strategies.Outcome{OK: true, Done: sec(3), Output: 200})
	cb.Reset(&b, 3)
	if d := st.Handle(sec(4), cb); d.Action != strategies.Serve || cb.Rec.Output != 200 {
		t.Fatalf("b's own answer not served: %v, output %d", d.Action, cb.Rec.Output)
	}
	if n, e := counter(st, "entries"), counter(st, "evictions"); n != 1 || e != 1 {
		t.Errorf("entries %g, evictions %g; want 1, 1", n, e)
	}
	checkInvariants(t, st)
}
