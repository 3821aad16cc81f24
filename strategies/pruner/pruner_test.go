package pruner

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

var at = time.Date(2026, 2, 13, 15, 0, 0, 0, time.UTC)

// tokens describes a record's prompt: the split, the breakdown (-1: absent) and the turn (-1:
// absent).
type tokens struct {
	Input, W5, W1, Read  int64
	Sys, Hist, New, Turn int64
}

func rec(tk tokens) traces.Record {
	r := traces.Record{Time: at, Model: "claude-sonnet-4-5"}
	r.SetTokens(tk.Input, 300)
	set := func(f traces.Field, p *int64, v int64) {
		if v >= 0 {
			*p = v
			r.Set(f)
		}
	}
	set(traces.FieldCacheWrite5m, &r.CacheWrite5m, tk.W5)
	set(traces.FieldCacheWrite1h, &r.CacheWrite1h, tk.W1)
	set(traces.FieldCacheRead, &r.CacheRead, tk.Read)
	set(traces.FieldSystemTokens, &r.SystemTokens, tk.Sys)
	set(traces.FieldHistoryTokens, &r.HistoryTokens, tk.Hist)
	set(traces.FieldNewTokens, &r.NewTokens, tk.New)
	if tk.Turn >= 0 {
		r.Turn = int(tk.Turn)
		r.Set(traces.FieldTurn)
	}
	return r
}

func got(r *traces.Record) tokens {
	return tokens{r.Input, r.CacheWrite5m, r.CacheWrite1h, r.CacheRead, r.SystemTokens, r.HistoryTokens, r.NewTokens, int64(r.Turn)}
}

func build(t testing.TB, s *Settings, blockSize int) *Pruner {
	t.Helper()
	s.SetEnabled(true)
	p, err := New(s, strategies.Env{BlockSize: blockSize})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func counters(st strategies.Counting) map[string]float64 {
	m := map[string]float64{}
	for _, c := range st.Counters() {
		m[c.Name] = c.Value
	}
	return m
}

func TestKept(t *testing.T) {
	for _, tc := range []struct {
		history int64
		turn    int
		k       int
		budget  int64
		want    int64
	}{
		{20000, 20, 6, 8000, 6000},               // 6 turns of 1,000
		{20000, 10, 6, 8000, 8000},               // 6 turns of 2,000 is over budget
		{20000, 6, 6, 8000, 8000},                // all turns kept, but over budget
		{3000, 3, 6, 8000, 3000},                 // fewer turns than K: all of it
		{3000, 0, 6, 8000, 3000},                 // turn 0: one turn
		{30000, 0, 6, 8000, 8000},                // one turn over budget
		{10001, 7, 6, 100000, 8572},              // floor(6 × 10001 / 7)
		{5000, 10, 0, 8000, 0},                   // K 0 keeps nothing
		{5000, 0, 0, 8000, 0},                    // K 0 keeps nothing, one turn too
		{5000, 10, 6, 0, 0},                      // budget 0 keeps nothing
		{0, 10, 6, 8000, 0},                      // no history
		{1 << 35, 100, 99, 1 << 40, 34016140984}, // large sizes do not overflow
	} {
		s := &Settings{KeepTurns: tc.k, HistoryBudget: tc.budget}
		if got := s.Kept(tc.history, tc.turn); got != tc.want {
			t.Errorf("Kept(%d, turn %d, K %d, budget %d) = %d, want %d", tc.history, tc.turn, tc.k, tc.budget, got, tc.want)
		}
	}
}

func TestHandle(t *testing.T) {
	cnt := func(pruned, removed, before, after, noHist, below, within float64) map[string]float64 {
		return map[string]float64{"pruned_calls": pruned, "pruned_share": pruned, "tokens_removed": removed,
			"history_before": before, "history_after": after, "no_history": noHist, "below_min": below, "within_budget": within}
	}
	for _, tc := range []struct {
		name     string
		s        *Settings
		in       tokens
		want     tokens
		pruned   int64
		quality  float64
		counters map[string]float64
	}{
		{
			"no cache: removed history comes off the input",
			Defaults(),
			tokens{Input: 25000, W5: -1, W1: -1, Read: -1, Sys: 3000, Hist: 20000, New: 2000, Turn: 20},
			tokens{Input: 11000, Sys: 3000, Hist: 6000, New: 2000, Turn: 20},
			14000, 1 - 0.1*14000.0/20000, cnt(1, 14000, 20000, 6000, 0, 0, 0),
		},
		{
			"cache read beyond the system prompt becomes input",
			Defaults(),
			tokens{Input: 2000, W5: 0, W1: 0, Read: 23000, Sys: 3000, Hist: 20000, New: 2000, Turn: 20},
			tokens{Input: 8000, Read: 3000, Sys: 3000, Hist: 6000, New: 2000, Turn: 20},
			14000, 1 - 0.1*14000.0/20000, cnt(1, 14000, 20000, 6000, 0, 0, 0),
		},
		{
			"cache writes: tail stays input, the rest is written (5m)",
			Defaults(),
			tokens{Input: 500, W5: 1500, W1: 0, Read: 23000, Sys: 3000, Hist: 20000, New: 2000, Turn: 10},
			tokens{Input: 500, W5: 9500, Read: 3000, Sys: 3000, Hist: 8000, New: 2000, Turn: 10},
			12000, 1 - 0.1*12000.0/20000, cnt(1, 12000, 20000, 8000, 0, 0, 0),
		},
		{
			"1h writes stay 1h",
			Defaults(),
			tokens{Input: 500, W5: 0, W1: 1500, Read: 23000, Sys: 3000, Hist: 20000, New: 2000, Turn: 10},
			tokens{Input: 500, W1: 9500, Read: 3000, Sys: 3000, Hist: 8000, New: 2000, Turn: 10},
			12000, 1 - 0.1*12000.0/20000, cnt(1, 12000, 20000, 8000, 0, 0, 0),
		},
		{
			"both TTLs: written with 5m",
			Defaults(),
			tokens{Input: 500, W5: 1000, W1: 500, Read: 23000, Sys: 3000, Hist: 20000, New: 2000, Turn: 10},
			tokens{Input: 500, W5: 9500, Read: 3000, Sys: 3000, Hist: 8000, New: 2000, Turn: 10},
			12000, 1 - 0.1*12000.0/20000, cnt(1, 12000, 20000, 8000, 0, 0, 0),
		},
		{
			"cache read within the system prompt stays",
			Defaults(),
			tokens{Input: 22000, W5: -1, W1: -1, Read: 2000, Sys: 3000, Hist: 20000, New: 1000, Turn: 20},
			tokens{Input: 8000, Read: 2000, Sys: 3000, Hist: 6000, New: 1000, Turn: 20},
			14000, 1 - 0.1*14000.0/20000, cnt(1, 14000, 20000, 6000, 0, 0, 0),
		},
		{
			"no system tokens: no cache read survives",
			Defaults(),
			tokens{Input: 1000, W5: -1, W1: -1, Read: 20000, Sys: -1, Hist: 20000, New: 1000, Turn: 20},
			tokens{Input: 7000, Read: 0, Sys: 0, Hist: 6000, New: 1000, Turn: 20},
			14000, 1 - 0.1*14000.0/20000, cnt(1, 14000, 20000, 6000, 0, 0, 0),
		},
		{
			"turn absent: all history is one turn, cut to budget",
			Defaults(),
			tokens{Input: 13000, W5: -1, W1: -1, Read: -1, Sys: 2000, Hist: 10000, New: 1000, Turn: -1},
			tokens{Input: 11000, Sys: 2000, Hist: 8000, New: 1000},
			2000, 1 - 0.1*2000.0/10000, cnt(1, 2000, 10000, 8000, 0, 0, 0),
		},
		{
			"below min_removed",
			Defaults(),
			tokens{Input: 13000, W5: -1, W1: -1, Read: -1, Sys: 2000, Hist: 8400, New: 1000, Turn: 6},
			tokens{Input: 13000, Sys: 2000, Hist: 8400, New: 1000, Turn: 6},
			0, 1, cnt(0, 0, 8400, 8400, 0, 1, 0),
		},
		{
			"exactly min_removed is pruned",
			Defaults(),
			tokens{Input: 13000, W5: -1, W1: -1, Read: -1, Sys: 2000, Hist: 8500, New: 1000, Turn: 6},
			tokens{Input: 12500, Sys: 2000, Hist: 8000, New: 1000, Turn: 6},
			500, 1 - 0.1*500.0/8500, cnt(1, 500, 8500, 8000, 0, 0, 0),
		},
		{
			"within budget",
			Defaults(),
			tokens{Input: 8000, W5: -1, W1: -1, Read: -1, Sys: 2000, Hist: 5000, New: 1000, Turn: 4},
			tokens{Input: 8000, Sys: 2000, Hist: 5000, New: 1000, Turn: 4},
			0, 1, cnt(0, 0, 5000, 5000, 0, 0, 1),
		},
		{
			"no history breakdown",
			Defaults(),
			tokens{Input: 30000, W5: -1, W1: -1, Read: -1, Sys: -1, Hist: -1, New: -1, Turn: 30},
			tokens{Input: 30000, Turn: 30},
			0, 1, cnt(0, 0, 0, 0, 1, 0, 0),
		},
		{
			"history zero",
			Defaults(),
			tokens{Input: 3000, W5: -1, W1: -1, Read: -1, Sys: 2000, Hist: 0, New: 1000, Turn: 0},
			tokens{Input: 3000, Sys: 2000, New: 1000},
			0, 1, cnt(0, 0, 0, 0, 1, 0, 0),
		},
		{
			"history larger than the prompt allows: removal capped",
			&Settings{KeepTurns: 0, HistoryBudget: 8000, MinRemoved: 0, Penalty: 0.5},
			tokens{Input: 5000, W5: -1, W1: -1, Read: -1, Sys: 2000, Hist: 9000, New: 0, Turn: 9},
			tokens{Input: 2000, Sys: 2000, Hist: 6000, New: 0, Turn: 9},
			3000, 1 - 0.5*3000.0/9000, cnt(1, 3000, 9000, 6000, 0, 0, 0),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := build(t, tc.s, 0)
			r := rec(tc.in)
			c := &strategies.Call{}
			c.Reset(&r, 1)
			oldPrompt := c.Rec.PromptTokens()
			if d := p.Handle(at.UnixNano(), c); d != (strategies.Decision{}) {
				t.Errorf("decision %+v", d)
			}
			if diff := cmp.Diff(tc.want, got(&c.Rec)); diff != "" {
				t.Errorf("tokens (-want +got)\n%s", diff)
			}
			if c.Pruned != tc.pruned || math.Abs(c.Quality-tc.quality) > 1e-12 {
				t.Errorf("Pruned %d Quality %g, want %d %g", c.Pruned, c.Quality, tc.pruned, tc.quality)
			}
			if np := c.Rec.PromptTokens(); np != oldPrompt-tc.pruned {
				t.Errorf("prompt %d, want %d - %d", np, oldPrompt, tc.pruned)
			}
			if tc.pruned > 0 && !c.Rec.Has(traces.FieldInput) {
				t.Error("input not present")
			}
			if diff := cmp.Diff(tc.counters, counters(p)); diff != "" {
				t.Errorf("counters (-want +got)\n%s", diff)
			}
		})
	}
}

// The split invariants, on random records: the prompt shrinks by exactly Pruned, no count goes
// negative, cache reads stay within the system prompt, and history shrinks by Pruned.
func TestSplitInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	p := build(t, &Settings{KeepTurns: 3, HistoryBudget: 4000, MinRemoved: 100, Penalty: 0.2}, 0)
	maybe := func(v int64) int64 {
		if rng.IntN(3) == 0 {
			return -1
		}
		return v
	}
	prunedN := 0
	for i := range 20000 {
		sys, hist, nw := rng.Int64N(5000), rng.Int64N(40000), rng.Int64N(3000)
		prompt := sys + hist + nw
		if rng.IntN(10) == 0 { // an inconsistent breakdown
			prompt = rng.Int64N(prompt + 1)
		}
		read := rng.Int64N(prompt + 1)
		w := rng.Int64N(prompt - read + 1)
		in := prompt - read - w
		tk := tokens{Input: in, W5: -1, W1: -1, Read: maybe(read), Sys: maybe(sys), Hist: hist, New: nw, Turn: maybe(rng.Int64N(40))}
		if tk.Read < 0 {
			tk.Input += read
		}
		switch rng.IntN(3) {
		case 0:
			tk.W5 = w
		case 1:
			tk.W1 = w
		default:
			tk.W5, tk.W1 = w/2, w-w/2
		}
		r := rec(tk)
		c := &strategies.Call{}
		c.Reset(&r, uint64(i))
		p.Handle(at.UnixNano(), c)
		nr := &c.Rec
		if c.Pruned > 0 {
			prunedN++
		}
		if nr.PromptTokens() != r.PromptTokens()-c.Pruned {
			t.Fatalf("%d: prompt %d, want %d - %d (%+v → %+v)", i, nr.PromptTokens(), r.PromptTokens(), c.Pruned, got(&r), got(nr))
		}
		if nr.HistoryTokens != r.HistoryTokens-c.Pruned || c.Pruned < 0 {
			t.Fatalf("%d: history %d, want %d - %d", i, nr.HistoryTokens, r.HistoryTokens, c.Pruned)
		}
		if nr.Input < 0 || nr.CacheWrite5m < 0 || nr.CacheWrite1h < 0 || nr.CacheRead < 0 || nr.HistoryTokens < 0 {
			t.Fatalf("%d: negative count %+v", i, got(nr))
		}
		if c.Pruned > 0 {
			if nr.CacheRead > max(nr.SystemTokens, 0) || nr.CacheRead > r.CacheRead {
				t.Fatalf("%d: cache read %d beyond system %d", i, nr.CacheRead, nr.SystemTokens)
			}
			if nr.Input > r.Input && (r.CacheWrite5m > 0 || r.CacheWrite1h > 0) {
				t.Fatalf("%d: input grew on a call that wrote the cache", i)
			}
			if c.Pruned < 100 {
				t.Fatalf("%d: pruned %d below min_removed", i, c.Pruned)
			}
		} else if diff := cmp.Diff(got(&r), got(nr)); diff != "" {
			t.Fatalf("%d: unpruned call changed\n%s", i, diff)
		}
	}
	if prunedN < 5000 {
		t.Errorf("only %d calls pruned", prunedN)
	}
}

func TestPrefixRewrite(t *testing.T) {
	p := build(t, Defaults(), 100)
	// System 250 (2 whole blocks), history 20,000 over 20 turns (6,000 kept), new 750: 21,000
	// tokens, 210 blocks; 14,000 removed leaves 7,000 tokens, 70 blocks.
	r := rec(tokens{Input: 21000, W5: -1, W1: -1, Read: -1, Sys: 250, Hist: 20000, New: 750, Turn: 20})
	for i := range 210 {
		r.Prefix = append(r.Prefix, uint64(1000+i))
	}
	run := func(key uint64) *strategies.Call {
		c := &strategies.Call{}
		c.Reset(&r, key)
		p.Handle(at.UnixNano(), c)
		return c
	}
	c := run(9)
	if c.Pruned != 14000 {
		t.Fatalf("Pruned %d", c.Pruned)
	}
	pre := c.Rec.Prefix
	if len(pre) != 70 {
		t.Fatalf("len(Prefix) = %d, want 70", len(pre))
	}
	if pre[0] != 1000 || pre[1] != 1001 {
		t.Errorf("system blocks changed: %v", pre[:2])
	}
	seen := map[uint64]bool{}
	for i := 2; i < 70; i++ {
		if pre[i] >= 1000 && pre[i] < 1210 {
			t.Errorf("block %d kept its recorded hash", i)
		}
		if seen[pre[i]] {
			t.Errorf("block %d repeats a hash", i)
		}
		seen[pre[i]] = true
	}
	if again := run(9); !cmp.Equal(again.Rec.Prefix, pre) {
		t.Error("same call, different hashes")
	}
	other := run(10)
	for i := 2; i < 70; i++ {
		if other.Rec.Prefix[i] == pre[i] {
			t.Errorf("block %d shared between two calls", i)
		}
	}
	if &other.Rec.Prefix[0] != &other.Rec.Prefix[:cap(other.Rec.Prefix)][0] || cap(other.Rec.Prefix) < 210 {
		t.Error("prefix slice not reused in place")
	}

	// A recorded prefix shorter than the new prompt's blocks is not extended.
	short := rec(tokens{Input: 21000, W5: -1, W1: -1, Read: -1, Sys: 250, Hist: 20000, New: 750, Turn: 20})
	short.Prefix = []uint64{1, 2, 3, 4, 5}
	c = &strategies.Call{}
	c.Reset(&short, 3)
	p.Handle(at.UnixNano(), c)
	if len(c.Rec.Prefix) != 5 || c.Rec.Prefix[1] != 2 || c.Rec.Prefix[2] == 3 {
		t.Errorf("short prefix → %v", c.Rec.Prefix)
	}

	// Without a block size the prefix is left alone.
	p0 := build(t, Defaults(), 0)
	c = &strategies.Call{}
	c.Reset(&r, 9)
	p0.Handle(at.UnixNano(), c)
	if !cmp.Equal(c.Rec.Prefix, r.Prefix) {
		t.Error("prefix changed with block size 0")
	}
}

func TestIdempotent(t *testing.T) {
	p := build(t, Defaults(), 100)
	r := rec(tokens{Input: 21000, W5: -1, W1: -1, Read: -1, Sys: 250, Hist: 20000, New: 750, Turn: 20})
	for i := range 210 {
		r.Prefix = append(r.Prefix, uint64(i))
	}
	c := &strategies.Call{}
	c.Reset(&r, 1)
	p.Handle(at.UnixNano(), c)
	if c.Pruned == 0 {
		t.Fatal("not pruned")
	}
	first := *c
	first.Rec = c.Rec.Clone()
	before := counters(p)
	p.Handle(at.UnixNano(), c)
	opts := cmp.AllowUnexported(traces.Record{}, traces.Pos{})
	if diff := cmp.Diff(first, *c, opts); diff != "" {
		t.Errorf("second pass changed the call\n%s", diff)
	}
	if diff := cmp.Diff(before, counters(p)); diff != "" {
		t.Errorf("second pass counted\n%s", diff)
	}

	// A retried call that was not pruned passes uncounted too.
	c.Reset(&r, 2)
	c.Retries = 1
	p.Handle(at.UnixNano(), c)
	if c.Pruned != 0 || c.Rec.HistoryTokens != 20000 {
		t.Errorf("retried call pruned")
	}
	if diff := cmp.Diff(before, counters(p)); diff != "" {
		t.Errorf("retried call counted\n%s", diff)
	}
}

func TestPrunedShare(t *testing.T) {
	p := build(t, Defaults(), 0)
	for _, h := range []int64{20000, 1000, -1, 30000} {
		r := rec(tokens{Input: 40000, W5: -1, W1: -1, Read: -1, Sys: 1000, Hist: h, New: 500, Turn: h / 1000})
		c := &strategies.Call{}
		c.Reset(&r, 1)
		p.Handle(at.UnixNano(), c)
	}
	if got := counters(p); got["pruned_share"] != 0.5 || got["pruned_calls"] != 2 || got["no_history"] != 1 || got["within_budget"] != 1 {
		t.Errorf("counters %v", got)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(s *Settings)
		want string
	}{
		{"defaults", func(s *Settings) {}, ""},
		{"zero everything", func(s *Settings) { *s = Settings{} }, ""},
		{"keep_turns", func(s *Settings) { s.KeepTurns = -1 }, "keep_turns: "},
		{"history_budget", func(s *Settings) { s.HistoryBudget = -5 }, "history_budget: "},
		{"min_removed", func(s *Settings) { s.MinRemoved = -1 }, "min_removed: "},
		{"penalty above 1", func(s *Settings) { s.Penalty = 1.5 }, "penalty: "},
		{"penalty NaN", func(s *Settings) { s.Penalty = math.NaN() }, "penalty: "},
	} {
		s := Defaults()
		tc.mod(s)
		err := s.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want prefix %q", tc.name, err, tc.want)
		}
		if _, err2 := New(s, strategies.Env{}); (err2 == nil) != (err == nil) {
			t.Errorf("%s: New and Validate disagree: %v / %v", tc.name, err2, err)
		}
	}
}

func TestRegistryAndJSON(t *testing.T) {
	def, ok := strategies.Lookup(Name)
	if !ok {
		t.Fatal("pruner not registered")
	}
	s := def.Defaults()
	if s.Enabled() {
		t.Error("defaults enabled")
	}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"enabled":false,"keep_turns":6,"history_budget":8000,"min_removed":500,"penalty":0.1}`
	if string(data) != want {
		t.Errorf("JSON %s, want %s", data, want)
	}
	back := &Settings{}
	if err := json.Unmarshal(data, back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, strategies.Settings(back)); diff != "" {
		t.Errorf("round trip\n%s", diff)
	}
	st, err := def.Build(back, strategies.Env{BlockSize: 64})
	if err != nil || st.Name() != Name {
		t.Fatalf("Build: %v %v", st, err)
	}
	var _ strategies.Counting = st.(*Pruner)
}

func TestHandleDoesNotAllocate(t *testing.T) {
	p := build(t, Defaults(), 64)
	recs := benchRecords(256, 64)
	var c strategies.Call
	i := 0
	n := testing.AllocsPerRun(2000, func() {
		c.Reset(&recs[i%len(recs)], uint64(i))
		i++
		p.Handle(at.UnixNano(), &c)
	})
	if n != 0 {
		t.Errorf("Handle allocates %g times per call", n)
	}
}
