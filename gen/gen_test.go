package gen

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/traces"
)

// The seed plan's baseline (../shared/design/SEED-PLAN.md): what tars-baseline must reproduce.
const (
	seedCallsPerDay  = 234
	seedTokensPerDay = 850_000
	seedCostPerDay   = 8.50
)

var (
	tarsOnce sync.Once
	tarsGen  *Generator
	tarsErr  error
)

// tars returns the tars-baseline generator for 30 days; calibration runs once per test binary.
func tars(t *testing.T) *Generator {
	t.Helper()
	tarsOnce.Do(func() {
		p, err := LoadProfile("tars-baseline")
		if err != nil {
			tarsErr = err
			return
		}
		tarsGen, tarsErr = New(p, Options{Days: 30, Seed: 1})
	})
	if tarsErr != nil {
		t.Fatal(tarsErr)
	}
	return tarsGen
}

// withSeed returns a copy of g that generates with another seed (calibration does not depend on it).
func withSeed(g *Generator, seed uint64) *Generator {
	c := *g
	c.opts.Seed = seed
	return &c
}

func TestBuiltinProfilesAreValid(t *testing.T) {
	names := Profiles()
	if len(names) < 2 {
		t.Fatalf("built-in profiles: %v", names)
	}
	for _, name := range names {
		p, err := LoadProfile(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if p.Name != name {
			t.Errorf("profile file %s.json names itself %q", name, p.Name)
		}
	}
}

func TestTarsProfileTargetsAreTheSeed(t *testing.T) {
	p := tars(t).p
	tg := p.Targets
	if tg.CallsPerDay != seedCallsPerDay || tg.TokensPerDay != seedTokensPerDay || tg.CostPerDayUSD != seedCostPerDay {
		t.Errorf("targets %+v do not match the seed baseline", tg)
	}
	if len(p.Models) != 1 || p.Models[0].Model != "claude-sonnet-4-5" || p.PromptCache != "none" {
		t.Errorf("the seed baseline is 100%% claude-sonnet-4-5 with no caching; profile has %+v, prompt_cache %s", p.Models, p.PromptCache)
	}
}

// Over 30 days, every seed's trace is within 2% of the seed baseline's calls, tokens and cost a day.
func TestTarsBaselineMeetsTargets(t *testing.T) {
	g := tars(t)
	for seed := uint64(1); seed <= 8; seed++ {
		s, err := withSeed(g, seed).Generate(nil)
		if err != nil {
			t.Fatal(err)
		}
		calls := float64(s.Records) / s.Days
		tokens := float64(s.Prompt+s.Output) / s.Days
		cost := s.Cost.Dollars() / s.Days
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"calls/day", calls, seedCallsPerDay}, {"tokens/day", tokens, seedTokensPerDay}, {"cost/day", cost, seedCostPerDay}} {
			if math.Abs(c.got/c.want-1) > 0.02 {
				t.Errorf("seed %d: %s = %.2f, want within 2%% of %v", seed, c.name, c.got, c.want)
			}
		}
		if s.Models["claude-sonnet-4-5"] != s.Records {
			t.Errorf("seed %d: models %v, want only claude-sonnet-4-5", seed, s.Models)
		}
		if share := float64(s.Below50) / float64(s.Scored); math.Abs(share-0.45) > 0.03 {
			t.Errorf("seed %d: %.3f of calls have complexity under 50, want about 0.45", seed, share)
		}
	}
}

// Pooled over seeds, an ideal cache with the plan's TTLs reaches the plan's per-type hit rates.
func TestTarsRepeatsMakeHitRatesReachable(t *testing.T) {
	g := tars(t)
	calls, hits := map[traces.QueryType]int64{}, map[traces.QueryType]int64{}
	for seed := uint64(1); seed <= 4; seed++ {
		s, _ := withSeed(g, seed).Generate(nil)
		for qt, n := range s.IdealCalls {
			calls[qt] += n
			hits[qt] += s.IdealHits[qt]
		}
	}
	for name, want := range g.p.Targets.CacheHitRate {
		qt, _ := traces.ParseQueryType(name)
		got := float64(hits[qt]) / float64(calls[qt])
		// Binomial standard error over the pooled calls, times four.
		tol := 4 * math.Sqrt(want*(1-want)/float64(calls[qt]))
		if math.Abs(got-want) > tol {
			t.Errorf("%s: ideal hit rate %.3f over %d calls, want %.2f ± %.3f", name, got, calls[qt], want, tol)
		}
	}
}

func collect(t *testing.T, g *Generator) []traces.Record {
	t.Helper()
	var out []traces.Record
	if _, err := g.Generate(func(r *traces.Record) error {
		out = append(out, r.Clone())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTarsTraceStructure(t *testing.T) {
	g := tars(t)
	recs := collect(t, withSeed(g, 3))
	heartbeatsPerDay := map[string]int{}
	bySession := map[string][]*traces.Record{}
	fingerprints := map[uint64]*traces.Record{}
	for i := range recs {
		r := &recs[i]
		if e := r.Validate(); e != nil {
			t.Fatalf("record %d invalid: %v", i, e)
		}
		if i > 0 && r.Time.Before(recs[i-1].Time) {
			t.Fatalf("record %d out of order", i)
		}
		if r.Time.Before(g.start) || !r.Time.Before(g.end) {
			t.Fatalf("record %d at %v outside the window", i, r.Time)
		}
		if r.QueryType == traces.QueryHeartbeat {
			heartbeatsPerDay[r.Time.Format("2006-01-02")]++
		}
		if r.Status == 200 && r.PromptTokens() != r.SystemTokens+r.HistoryTokens+r.NewTokens {
			t.Fatalf("record %d: prompt %d != system %d + history %d + new %d", i, r.PromptTokens(), r.SystemTokens, r.HistoryTokens, r.NewTokens)
		}
		if want := int(r.SystemTokens+r.HistoryTokens+r.NewTokens) / g.p.BlockSize; len(r.Prefix) != want {
			t.Fatalf("record %d: %d prefix blocks, want %d", i, len(r.Prefix), want)
		}
		if (r.Priority == traces.PriorityUrgent) != (r.MaxDelay == 0) {
			t.Fatalf("record %d: priority %s with max_delay %v", i, r.Priority, r.MaxDelay)
		}
		if prev, ok := fingerprints[r.Fingerprint]; ok {
			// An exact repeat is the same request: same prompt, model, type and output size.
			if prev.NewTokens != r.NewTokens || prev.Model != r.Model || prev.QueryType != r.QueryType || prev.SystemTokens != r.SystemTokens {
				t.Fatalf("record %d repeats fingerprint of %s but differs", i, prev.ID)
			}
		} else {
			fingerprints[r.Fingerprint] = r
		}
		bySession[r.Session] = append(bySession[r.Session], r)
	}
	total := 0
	for day, n := range heartbeatsPerDay {
		total += n
		if n < 47 || n > 49 { // jitter moves the midnight one across days
			t.Errorf("%s: %d heartbeats, want 48 (every 30 minutes)", day, n)
		}
	}
	if total != 48*30 {
		t.Errorf("%d heartbeats in 30 days, want %d", total, 48*30)
	}
	// Conversations grow: each turn's history is the previous prompt's history plus its new tokens
	// and output, and the previous prompt's blocks are a prefix of this one's.
	grown := 0
	for _, calls := range bySession {
		for k := 1; k < len(calls); k++ {
			a, b := calls[k-1], calls[k]
			if b.QueryType == traces.QueryHeartbeat || a.QueryType == traces.QueryHeartbeat {
				break
			}
			if b.HistoryTokens <= a.HistoryTokens {
				t.Fatalf("session %s turn %d: history %d did not grow from %d", b.Session, b.Turn, b.HistoryTokens, a.HistoryTokens)
			}
			n := int(a.SystemTokens+a.HistoryTokens+a.NewTokens) / g.p.BlockSize
			for i := 0; i < n; i++ {
				if a.Prefix[i] != b.Prefix[i] {
					t.Fatalf("session %s turn %d: block %d differs from the previous turn's", b.Session, b.Turn, i)
				}
			}
			grown++
		}
	}
	if grown == 0 {
		t.Error("no multi-turn sessions")
	}
}

func TestDeterministic(t *testing.T) {
	g := tars(t)
	hash := func(g *Generator) [32]byte {
		var buf bytes.Buffer
		g.Generate(func(r *traces.Record) error {
			buf.Write(traces.AppendJSON(nil, r))
			return nil
		})
		return sha256.Sum256(buf.Bytes())
	}
	a, b := hash(withSeed(g, 7)), hash(withSeed(g, 7))
	if a != b {
		t.Error("same seed gave different traces")
	}
	if hash(withSeed(g, 8)) == a {
		t.Error("different seeds gave the same trace")
	}
	// Calibration is repeatable too.
	p, _ := LoadProfile("tars-baseline")
	g2, err := New(p, Options{Days: 30, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if g2.prm.sIn != g.prm.sIn || g2.prm.sOut != g.prm.sOut || g2.prm.complexityShift != g.prm.complexityShift {
		t.Error("calibrating twice gave different parameters")
	}
}

func TestCalibrationReport(t *testing.T) {
	var b strings.Builder
	tars(t).Calibration().WriteTo(&b)
	out := b.String()
	for _, want := range []string{"input/output split: 354,167 input (41.7%) + 495,833 output (58.3%) tokens/day", "heartbeats: 48.0 calls/day", "complexity: logit shift"} {
		if !strings.Contains(out, want) {
			t.Errorf("calibration report lacks %q:\n%s", want, out)
		}
	}
	// The plan's weighted average hit rate is 32%; the profile's type shares reproduce it.
	var w float64
	if _, err := fmt.Sscanf(out[strings.Index(out, "weighted hit rate: "):], "weighted hit rate: %f%%", &w); err != nil || math.Abs(w-32) > 0.5 {
		t.Errorf("weighted hit rate %v (%v), want 32%% ± 0.5", w, err)
	}
}

// wekaStats are the statistics of the public WEKA agentic traces that agentic-coding follows.
type wekaStats struct {
	outputMedian, thinkMedian, firstInputMedian, growthMedian float64
	models                                                    map[string]bool
}

func loadWEKA(t *testing.T) wekaStats {
	t.Helper()
	files, _ := filepath.Glob("testdata/weka/trace_*.json")
	if len(files) == 0 {
		t.Fatal("no WEKA fixtures")
	}
	type req struct {
		Type      string  `json:"type"`
		Model     string  `json:"model"`
		In        float64 `json:"in"`
		Out       float64 `json:"out"`
		ThinkTime float64 `json:"think_time"`
		Requests  []req   `json:"requests"`
	}
	var outs, thinks, firsts, growth []float64
	st := wekaStats{models: map[string]bool{}}
	var walk func([]req)
	walk = func(rs []req) {
		var prev float64
		for i, r := range rs {
			if r.Type == "subagent" {
				walk(r.Requests)
				continue
			}
			st.models[strings.Join(strings.Split(r.Model, "-")[:2], "-")] = true
			outs = append(outs, r.Out)
			if i > 0 {
				thinks = append(thinks, r.ThinkTime)
				growth = append(growth, r.In-prev)
			} else {
				firsts = append(firsts, r.In)
			}
			prev = r.In
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tr struct{ Requests []req }
		if err := json.Unmarshal(data, &tr); err != nil {
			t.Fatal(err)
		}
		walk(tr.Requests)
	}
	st.outputMedian, st.thinkMedian, st.firstInputMedian, st.growthMedian = median(outs), median(thinks), median(firsts), median(growth)
	return st
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func TestAgenticCodingFollowsWEKA(t *testing.T) {
	want := loadWEKA(t)
	p, err := LoadProfile("agentic-coding")
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(p, Options{Days: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	recs := collect(t, g)
	var outs, thinks, firsts, growth []float64
	models := map[string]int{}
	var prompt, read int64
	last := map[string]*traces.Record{}
	for i := range recs {
		r := &recs[i]
		models[r.Model]++
		prompt += r.PromptTokens()
		read += r.CacheRead
		if r.Status != 200 {
			continue
		}
		outs = append(outs, float64(r.Output))
		if prev := last[r.Session]; prev != nil {
			thinks = append(thinks, r.Time.Sub(prev.Time.Add(prev.Latency)).Seconds())
			growth = append(growth, float64(r.PromptTokens()-prev.PromptTokens()))
		} else {
			firsts = append(firsts, float64(r.PromptTokens()))
		}
		last[r.Session] = r
	}
	got := wekaStats{outputMedian: median(outs), thinkMedian: median(thinks), firstInputMedian: median(firsts), growthMedian: median(growth)}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"median output tokens", got.outputMedian, want.outputMedian},
		{"median think time (s)", got.thinkMedian, want.thinkMedian},
		{"median first prompt (tokens)", got.firstInputMedian, want.firstInputMedian},
		{"median prompt growth per turn (tokens)", got.growthMedian, want.growthMedian},
	} {
		if r := c.got / c.want; r < 0.5 || r > 2 {
			t.Errorf("%s: generated %.0f, WEKA traces %.0f: more than a factor of 2 apart", c.name, c.got, c.want)
		}
	}
	for _, family := range []string{"claude-opus-4-5", "claude-sonnet-4-5", "claude-haiku-4-5"} {
		if models[family] == 0 {
			t.Errorf("no calls on %s (mix %v)", family, models)
		}
	}
	if share := float64(read) / float64(prompt); share < 0.8 {
		t.Errorf("%.2f of prompt tokens read from the prompt cache; agentic traffic with a 5-minute cache reads most of its prompt", share)
	}
	if !want.models["claude-opus"] || !want.models["claude-haiku"] {
		t.Errorf("WEKA fixture models %v", want.models)
	}
}

func TestProfileErrors(t *testing.T) {
	base, _ := profileFS.ReadFile("profiles/tars-baseline.json")
	tests := []struct {
		edit func(m map[string]any)
		want string
	}{
		{func(m map[string]any) { m["colour"] = 1 }, "unknown field"},
		{func(m map[string]any) { m["prompt_cache"] = "2h" }, "prompt_cache"},
		{func(m map[string]any) { m["block_size"] = 0 }, "block_size"},
		{func(m map[string]any) {
			m["query_types"].(map[string]any)["research"].(map[string]any)["priority"] = map[string]any{"soon": 1}
		}, "query_types.research.priority.soon: unknown"},
		{func(m map[string]any) { m["sessions"].([]any)[0].(map[string]any)["first"] = map[string]any{"nope": 1} }, "sessions[0].first.nope: unknown"},
		{func(m map[string]any) { m["targets"].(map[string]any)["cost_per_day_usd"] = 100 }, "cannot cost"},
	}
	for _, tt := range tests {
		var m map[string]any
		json.Unmarshal(base, &m)
		tt.edit(m)
		data, _ := json.Marshal(m)
		p, err := ParseProfile(data, "p.json")
		if err == nil {
			_, err = New(p, Options{Days: 1, Seed: 1})
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error = %v, want it to contain %q", err, tt.want)
		}
	}
}

func TestStratumIsUniform(t *testing.T) {
	r := newRun(tars(t), 1, time.Unix(0, 0), time.Unix(0, 0), params{})
	var counts [strataSize]int
	const n = strataSize * 50
	sum := 0.0
	for i := 0; i < n; i++ {
		u := r.stratum("k").uniform()
		counts[int(u*strataSize)]++
		sum += u
	}
	for k, c := range counts {
		if c != 50 {
			t.Fatalf("band %d drawn %d times in %d runs, want exactly once per run", k, c, n/strataSize)
		}
	}
	if m := sum / n; math.Abs(m-0.5) > 0.005 {
		t.Errorf("mean %.4f, want 0.5", m)
	}
}

func TestPrefixSharing(t *testing.T) {
	a := appendPrefix(nil, []segment{{1, 100}, {2, 50}}, 64, 9)
	b := appendPrefix(nil, []segment{{1, 100}, {3, 200}}, 64, 9)
	if len(a) != 2 || len(b) != 4 {
		t.Fatalf("blocks: %d and %d, want 2 and 4", len(a), len(b))
	}
	if a[0] != b[0] {
		t.Error("the first block (tokens 0-63, all from segment 1) should be shared")
	}
	if a[1] == b[1] {
		t.Error("the second block mixes segment 1 with different segments and must differ")
	}
	if c := appendPrefix(nil, []segment{{1, 100}, {2, 50}}, 64, 10); c[0] == a[0] {
		t.Error("another agent's prompt must not share hashes")
	}
}

// Profiles are a decoder too: no input makes ParseProfile panic, and what it accepts validates.
func FuzzParseProfile(f *testing.F) {
	// Small seeds: Go's fuzzer stalls on multi-kilobyte inputs, so the built-in profiles are
	// covered by the tests above instead.
	f.Add([]byte(`{"name":"x"}`))
	f.Add([]byte(`{"name":"p","start":"2026-02-10T00:00:00Z","provider":"anthropic","agent":"a","tenants":["t"],"block_size":64,
"models":[{"model":"claude-haiku-4-5","share":1,"ttft_s":{"median":1},"tokens_per_s":100}],"prompt_cache":"5m",
"arrivals":{"hourly":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"weekly":[1,1,1,1,1,1,1]},
"heartbeat":{"every_s":600},"errors":[{"share":0.1,"status":529,"error":"e"}],
"query_types":{"chat":{"new_tokens":{"median":10},"output_tokens":{"median":5},"repeat":{"ttl_s":60}},"heartbeat":{"new_tokens":{"median":1},"output_tokens":{"median":1}}},
"sessions":[{"name":"s","sessions_per_day":5,"first":{"chat":1},"later":{"chat":1},"extra_calls_mean":1,"history":true,
"subagents":{"probability":0.5,"count_mean":1,"session":"s"}}],"targets":{"cache_hit_rate":{"chat":0.2}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProfile(data, "fuzz.json")
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParseProfile accepted a profile that does not validate: %v", err)
		}
	})
}
