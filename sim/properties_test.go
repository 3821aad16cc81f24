package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/sim"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// replayConfig runs recs through the stack c configures and calls onDone for every call.
func replayConfig(t *testing.T, recs []traces.Record, meta traces.Meta, c *config.Config, onDone func(int64, *strategies.Call, *strategies.Outcome)) *sim.Result {
	t.Helper()
	env := strategies.Env{Book: pricing.Default(), Upstream: c.Upstream, BlockSize: meta.BlockSize, Seed: c.Seed}
	stack, err := c.Stack(env)
	if err != nil {
		t.Fatal(err)
	}
	opts := sim.Options{Book: env.Book, Upstream: c.Upstream, Seed: c.Seed, Start: meta.Start, End: meta.End, OnDone: onDone}
	res, err := sim.Run(context.Background(), sim.NewRecords(recs), stack, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func only(t *testing.T, sets ...string) *config.Config {
	t.Helper()
	c := config.Default()
	c.Only()
	if err := c.Set(sets...); err != nil {
		t.Fatal(err)
	}
	return c
}

// A response cache never answers one tenant with another's entry. Tenant b sends, once each, the
// requests tenant a sends (same fingerprints, a second later), so every hit for b would be a
// cross-tenant hit.
func TestCacheNeverServesAcrossTenants(t *testing.T) {
	base, meta := generated(t, "tars-baseline", 7, 5)
	var recs []traces.Record
	seen := map[uint64]bool{}
	for _, r := range base {
		recs = append(recs, r)
		if r.Has(traces.FieldFingerprint) && !seen[r.Fingerprint] {
			seen[r.Fingerprint] = true
			b := r.Clone()
			b.Tenant, b.ID = "b", "b-"+r.ID
			b.Time = r.Time.Add(time.Second)
			recs = append(recs, b)
		}
	}
	sortByTime(recs)
	hits := map[string]int{}
	res := replayConfig(t, recs, meta, only(t, "strategies.responsecache.enabled=true"), func(_ int64, c *strategies.Call, _ *strategies.Outcome) {
		if c.ServedBy == "responsecache" {
			hits[c.Rec.Tenant]++
		}
	})
	if hits["b"] != 0 {
		t.Errorf("tenant b got %d hits from tenant a's entries", hits["b"])
	}
	if hits["tars"] == 0 || res.Total.CacheHits != int64(hits["tars"]) {
		t.Errorf("tenant a's own repeats: %d hits (total %d): the test would not see a cross-tenant hit", hits["tars"], res.Total.CacheHits)
	}
}

func sortByTime(recs []traces.Record) {
	// Insertion from a nearly sorted slice: stable, so equal times keep their order.
	for i := 1; i < len(recs); i++ {
		for j := i; j > 0 && recs[j].Time.Before(recs[j-1].Time); j-- {
			recs[j], recs[j-1] = recs[j-1], recs[j]
		}
	}
}

// Deferral never holds a call past its max_delay or the max deferral, and sends it inside the
// window.
func TestDeferralWithinLimits(t *testing.T) {
	recs, meta := generated(t, "tars-baseline", 7, 5)
	for _, tc := range []struct {
		start, end string
		maxDefer   int
	}{{"00:00", "06:00", 3600}, {"12:00", "18:00", 10800}, {"22:00", "02:00", 1800}} {
		t.Run(fmt.Sprintf("window=%s-%s/max=%d", tc.start, tc.end, tc.maxDefer), func(t *testing.T) {
			c := only(t, "strategies.deferral.enabled=true", "strategies.deferral.window.start="+tc.start,
				"strategies.deferral.window.end="+tc.end, fmt.Sprintf("strategies.deferral.max_deferral_s=%d", tc.maxDefer))
			ws, _ := time.Parse("15:04", tc.start)
			we, _ := time.Parse("15:04", tc.end)
			inWindow := func(t time.Time) bool {
				m := t.Hour()*60 + t.Minute()
				s, e := ws.Hour()*60+ws.Minute(), we.Hour()*60+we.Minute()
				if s < e {
					return m >= s && m < e
				}
				return m >= s || m < e
			}
			deferred := 0
			replayConfig(t, recs, meta, c, func(_ int64, call *strategies.Call, _ *strategies.Outcome) {
				if !call.Deferred {
					return
				}
				deferred++
				wait := time.Duration(call.Send - call.Arrival)
				if wait > call.Rec.MaxDelay || wait > time.Duration(tc.maxDefer)*time.Second {
					t.Errorf("call %s waited %v: max_delay %v, max deferral %ds", call.Rec.ID, wait, call.Rec.MaxDelay, tc.maxDefer)
				}
				if !inWindow(strategies.Time(call.Send)) {
					t.Errorf("call %s sent at %s, outside the window", call.Rec.ID, strategies.Time(call.Send))
				}
			})
			if deferred == 0 {
				t.Error("no call deferred: the property is not exercised")
			}
		})
	}
}

// The Batch API batcher never holds a call longer than its window.
func TestBatchesFlushByWindow(t *testing.T) {
	recs, meta := generated(t, "tars-baseline", 7, 5)
	for _, window := range []int{60, 300, 1800} {
		t.Run(fmt.Sprintf("window_s=%d", window), func(t *testing.T) {
			c := only(t, "strategies.batcher.enabled=true", fmt.Sprintf("strategies.batcher.window_s=%d", window))
			batched := 0
			replayConfig(t, recs, meta, c, func(_ int64, call *strategies.Call, _ *strategies.Outcome) {
				if !call.Batched {
					return
				}
				batched++
				if wait := call.Send - call.Arrival; wait > int64(window)*int64(time.Second) {
					t.Errorf("call %s held %v in a %ds window", call.Rec.ID, time.Duration(wait), window)
				}
				if call.Rec.ServiceTier != traces.TierBatch {
					t.Errorf("call %s batched but billed at tier %v", call.Rec.ID, call.Rec.ServiceTier)
				}
			})
			if batched == 0 {
				t.Error("no call batched")
			}
		})
	}
}

// Without cascade, routing never raises the cost of a call, whatever the bands.
func TestRoutingNeverRaisesCost(t *testing.T) {
	recs, meta := generated(t, "agentic-coding", 2, 5)
	models := []string{"claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-5", "claude-3-haiku", "claude-opus-4-1"}
	rng := rand.New(rand.NewPCG(3, 4))
	book := pricing.Default()
	for trial := range 6 {
		sets := []string{"strategies.router.enabled=true", "strategies.router.cascade.enabled=false"}
		hi := 0
		for i := range 4 {
			hi += 1 + rng.IntN(25)
			if i == 3 {
				hi = 100
			}
			sets = append(sets, fmt.Sprintf("strategies.router.bands[%d].max=%d", i, hi),
				fmt.Sprintf("strategies.router.bands[%d].model=%s", i, models[rng.IntN(len(models))]))
		}
		t.Run(fmt.Sprint("trial=", trial), func(t *testing.T) {
			routed := 0
			res := replayConfig(t, recs, meta, only(t, sets...), func(_ int64, c *strategies.Call, _ *strategies.Outcome) {
				at := strategies.Time(c.Send)
				orig := c.Rec
				orig.Model = c.OrigModel
				before, err1 := book.CostAt(&orig, at)
				after, err2 := book.CostAt(&c.Rec, at)
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				if after.Total() > before.Total() {
					t.Errorf("call %s routed %s → %s: cost %v > %v", c.Rec.ID, c.OrigModel, c.Rec.Model, after.Total(), before.Total())
				}
				if c.Routed {
					routed++
				}
			})
			base := replayConfig(t, recs, meta, only(t), nil)
			if res.Total.Cost.Total() > base.Total.Cost.Total() {
				t.Errorf("routed total %v above the baseline %v", res.Total.Cost.Total(), base.Total.Cost.Total())
			}
			t.Logf("bands %v: %d calls routed", sets[2:], routed)
		})
	}
}

// The same configuration gives the same result, byte for byte, whatever GOMAXPROCS is and
// however many runs go on at once.
func TestDeterministicWhateverGOMAXPROCS(t *testing.T) {
	recs, meta := generated(t, "tars-baseline", 7, 5)
	c := config.Default()
	if err := c.Set("strategies.promptcache.enabled=true"); err != nil {
		t.Fatal(err)
	}
	summary := func() []byte {
		res := replayConfig(t, recs, meta, c.Clone(), nil)
		b, err := json.Marshal(res.Summary(true))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	want := summary()
	runtime.GOMAXPROCS(8)
	var wg sync.WaitGroup
	got := make([][]byte, 4)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = summary() }()
	}
	wg.Wait()
	for i, g := range got {
		if !bytes.Equal(g, want) {
			t.Errorf("run %d with GOMAXPROCS 8 differs from the run with GOMAXPROCS 1", i)
		}
	}
}
