package promptcache

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tarsopt/tarsopt/internal/hash64"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// bs is the block size of the hand-built traces: 100 tokens per prefix hash.
const bs = 100

var t0 = time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC)

// seq returns block contents from, from+1, ..., n of them.
func seq(from uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = from + uint64(i)
	}
	return out
}

// cat concatenates block contents.
func cat(parts ...[]uint64) []uint64 {
	var out []uint64
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// chain returns the prefix hashes of a prompt made of the given blocks, chained as the importers
// and the generator chain them.
func chain(blocks []uint64) []uint64 {
	out := make([]uint64, len(blocks))
	h := uint64(0x5eed)
	for i, b := range blocks {
		h = hash64.Combine(h, b)
		out[i] = h
	}
	return out
}

// in is one hand-built call.
type in struct {
	at                       time.Duration // after t0
	tenant, model, session   string
	agent                    string
	prompt                   int64    // all Input unless recorded is set
	blocks                   []uint64 // block contents; Prefix is their chain
	system                   int64    // SystemTokens when > 0
	recorded                 *split   // a recorded split to start from (its sum is the prompt)
	noModelDefault, noPrefix bool
	pruned                   int64 // c.Pruned, as the pruner would have set it
}

// split is a call's prompt split as the stage left it.
type split struct{ Input, W5m, W1h, Read int64 }

func (c in) record() traces.Record {
	r := traces.Record{Time: t0.Add(c.at), Tenant: c.tenant, Model: c.model, Session: c.session, Agent: c.agent}
	if r.Model == "" && !c.noModelDefault {
		r.Model = "claude-sonnet-4-5"
	}
	if !c.noPrefix {
		r.Prefix = chain(c.blocks)
	}
	if c.recorded != nil {
		r.Input, r.CacheWrite5m, r.CacheWrite1h, r.CacheRead = c.recorded.Input, c.recorded.W5m, c.recorded.W1h, c.recorded.Read
		r.Set(traces.FieldCacheWrite5m)
		r.Set(traces.FieldCacheWrite1h)
		r.Set(traces.FieldCacheRead)
	} else {
		r.Input = c.prompt
	}
	r.Set(traces.FieldInput)
	if c.system > 0 {
		r.SystemTokens = c.system
		r.Set(traces.FieldSystemTokens)
	}
	return r
}

func splitOf(r *traces.Record) split {
	return split{r.Input, r.CacheWrite5m, r.CacheWrite1h, r.CacheRead}
}

func newStage(t testing.TB, mod func(*Settings), block int) *Stage {
	t.Helper()
	s := Defaults()
	s.SetEnabled(true)
	if mod != nil {
		mod(s)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("settings: %v", err)
	}
	return New(s, strategies.Env{Book: pricing.Default(), BlockSize: block})
}

// run hands the calls to st in order and returns their splits.
func run(t testing.TB, st *Stage, calls []in) []split {
	t.Helper()
	var c strategies.Call
	out := make([]split, 0, len(calls))
	for i, ci := range calls {
		r := ci.record()
		c.Reset(&r, uint64(i))
		c.Pruned = ci.pruned
		prompt := c.Rec.PromptTokens()
		if d := st.Handle(c.Arrival, &c); d != (strategies.Decision{}) {
			t.Fatalf("call %d: decision %+v, want Next", i, d)
		}
		if got := c.Rec.PromptTokens(); got != prompt {
			t.Fatalf("call %d: prompt %d after Handle, was %d", i, got, prompt)
		}
		out = append(out, splitOf(&c.Rec))
	}
	return out
}

func counters(st *Stage) map[string]float64 {
	m := map[string]float64{}
	for _, c := range st.Counters() {
		m[c.Name] = c.Value
	}
	return m
}

func TestHandle(t *testing.T) {
	grow := [3][]uint64{seq(1, 50), seq(1, 80), seq(1, 120)} // a conversation whose prompt grows
	turns := func(gap time.Duration, session string) []in {
		return []in{
			{at: 0, session: session, prompt: 5050, blocks: grow[0]},
			{at: gap, session: session, prompt: 8030, blocks: grow[1]},
			{at: 2 * gap, session: session, prompt: 12000, blocks: grow[2]},
		}
	}
	sysA := cat(seq(1, 20), seq(100, 30)) // 20 blocks of system prompt, then session A's turn
	sysB := cat(seq(1, 20), seq(200, 40)) // the same system prompt, then session B's turn
	tests := []struct {
		name     string
		mod      func(*Settings)
		block    int // 0 means bs
		calls    []in
		want     []split
		counters map[string]float64 // a subset to check
	}{
		{
			name:  "3-turn session: turns 2 and 3 read the previous prompt through the session hint",
			calls: turns(30*time.Second, "s1"),
			want:  []split{{50, 5000, 0, 0}, {30, 3000, 0, 5000}, {0, 4000, 0, 8000}},
			counters: map[string]float64{"calls": 3, "hits": 2, "hit_rate": 2.0 / 3, "read_tokens": 13000,
				"write_tokens": 12000, "input_tokens": 80, "entries": 3, "sessions": 1, "expired": 0, "no_prefix": 0, "below_min": 0},
		},
		{
			name:     "same calls without a session: growth beyond the lookback misses",
			calls:    turns(30*time.Second, ""),
			want:     []split{{50, 5000, 0, 0}, {30, 8000, 0, 0}, {0, 12000, 0, 0}},
			counters: map[string]float64{"hits": 0, "sessions": 0, "entries": 3},
		},
		{
			name: "growth within the lookback hits without a session",
			calls: []in{
				{at: 0, prompt: 5050, blocks: seq(1, 50)},
				{at: time.Second, prompt: 7030, blocks: seq(1, 70)}, // end 70, entry at 50 = 70-20
			},
			want: []split{{50, 5000, 0, 0}, {30, 2000, 0, 5000}},
		},
		{
			name: "one block beyond the lookback misses",
			calls: []in{
				{at: 0, prompt: 5050, blocks: seq(1, 50)},
				{at: time.Second, prompt: 7130, blocks: seq(1, 71)},
			},
			want: []split{{50, 5000, 0, 0}, {30, 7100, 0, 0}},
		},
		{
			name:  "lookback 0: only exact breakpoints hit",
			mod:   func(s *Settings) { s.LookbackBlocks = 0 },
			calls: []in{{at: 0, prompt: 5050, blocks: seq(1, 50)}, {at: time.Second, prompt: 5150, blocks: seq(1, 51)}},
			want:  []split{{50, 5000, 0, 0}, {50, 5100, 0, 0}},
		},
		{
			name:     "gap over 5 minutes with ttl 5m: miss and write again",
			calls:    turns(6*time.Minute, "s1")[:2],
			want:     []split{{50, 5000, 0, 0}, {30, 8000, 0, 0}},
			counters: map[string]float64{"expired": 1, "entries": 1, "hits": 0},
		},
		{
			name:     "gap over 5 minutes with ttl 1h: hit, writes at the 1-hour rate",
			mod:      func(s *Settings) { s.TTL = TTL1h },
			calls:    turns(6*time.Minute, "s1")[:2],
			want:     []split{{50, 0, 5000, 0}, {30, 0, 3000, 5000}},
			counters: map[string]float64{"expired": 0, "entries": 2, "hits": 1},
		},
		{
			name:  "exactly the TTL later the entry has expired",
			calls: []in{{at: 0, prompt: 5050, blocks: seq(1, 50)}, {at: 5 * time.Minute, prompt: 5050, blocks: seq(1, 50)}},
			want:  []split{{50, 5000, 0, 0}, {50, 5000, 0, 0}},
		},
		{
			name: "a read refreshes the TTL",
			calls: []in{
				{at: 0, prompt: 5050, blocks: seq(1, 50)},
				{at: 4 * time.Minute, prompt: 5050, blocks: seq(1, 50)}, // read, expiry now 9m
				{at: 8 * time.Minute, prompt: 5050, blocks: seq(1, 50)}, // still there
			},
			want:     []split{{50, 5000, 0, 0}, {50, 0, 0, 5000}, {50, 0, 0, 5000}},
			counters: map[string]float64{"hits": 2, "expired": 0, "entries": 1},
		},
		{
			name:  "without the read in between, the same entry has expired at 8 minutes",
			calls: []in{{at: 0, prompt: 5050, blocks: seq(1, 50)}, {at: 8 * time.Minute, prompt: 5050, blocks: seq(1, 50)}},
			want:  []split{{50, 5000, 0, 0}, {50, 5000, 0, 0}},
		},
		{
			name: "two tenants with identical hashes never share",
			calls: []in{
				{at: 0, tenant: "a", prompt: 5050, blocks: seq(1, 50)},
				{at: time.Second, tenant: "b", prompt: 5050, blocks: seq(1, 50)},
				{at: 2 * time.Second, tenant: "a", prompt: 5050, blocks: seq(1, 50)},
			},
			want:     []split{{50, 5000, 0, 0}, {50, 5000, 0, 0}, {50, 0, 0, 5000}},
			counters: map[string]float64{"entries": 2},
		},
		{
			name: "two models never share",
			calls: []in{
				{at: 0, model: "claude-sonnet-4-5", prompt: 5050, blocks: seq(1, 50)},
				{at: time.Second, model: "claude-opus-4-1", prompt: 5050, blocks: seq(1, 50)},
				{at: 2 * time.Second, model: "claude-opus-4-1", prompt: 5050, blocks: seq(1, 50)},
			},
			want: []split{{50, 5000, 0, 0}, {50, 5000, 0, 0}, {50, 0, 0, 5000}},
		},
		{
			name: "a dated id and its alias are one model",
			calls: []in{
				{at: 0, model: "claude-sonnet-4-5-20250929", prompt: 5050, blocks: seq(1, 50)},
				{at: time.Second, model: "claude-sonnet-4-5", prompt: 5050, blocks: seq(1, 50)},
			},
			want: []split{{50, 5000, 0, 0}, {50, 0, 0, 5000}},
		},
		{
			name: "below Sonnet's minimum (1024): no write, and so no hit later",
			calls: []in{
				{at: 0, prompt: 1050, blocks: seq(1, 10)}, // 1000 tokens of full blocks
				{at: time.Second, prompt: 1050, blocks: seq(1, 10)},
			},
			want:     []split{{1050, 0, 0, 0}, {1050, 0, 0, 0}},
			counters: map[string]float64{"below_min": 2, "entries": 0, "input_tokens": 2100},
		},
		{
			name: "Haiku 4.5's minimum is 4096 in the book",
			calls: []in{
				{at: 0, model: "claude-haiku-4-5", prompt: 4050, blocks: seq(1, 40)},
				{at: time.Second, model: "claude-haiku-4-5", prompt: 4150, blocks: seq(1, 41)},
			},
			want: []split{{4050, 0, 0, 0}, {50, 4100, 0, 0}},
		},
		{
			name:  "min_tokens overrides the book",
			mod:   func(s *Settings) { s.MinTokens = map[string]int64{"claude-haiku-4-5-20251001": 1000} },
			calls: []in{{at: 0, model: "claude-haiku-4-5", prompt: 1050, blocks: seq(1, 10)}},
			want:  []split{{50, 1000, 0, 0}},
		},
		{
			name: "models the book does not know take the default minimum",
			calls: []in{
				{at: 0, model: "some-local-model", prompt: 1050, blocks: seq(1, 10)},
				{at: time.Second, model: "some-local-model", prompt: 1150, blocks: seq(1, 11)},
			},
			want: []split{{1050, 0, 0, 0}, {50, 1100, 0, 0}},
		},
		{
			name: "the system prompt's breakpoint is shared across sessions",
			calls: []in{
				{at: 0, session: "a", prompt: 5050, blocks: sysA, system: 2000},
				{at: time.Second, session: "b", prompt: 6000, blocks: sysB, system: 2000},
			},
			want:     []split{{50, 5000, 0, 0}, {0, 4000, 0, 2000}},
			counters: map[string]float64{"entries": 3, "sessions": 2},
		},
		{
			name: "a read refreshes the entries at the breakpoints below it: the system prompt stays cached",
			calls: []in{
				{at: 0, session: "a", prompt: 5050, blocks: sysA, system: 2000},                     // writes 50 and 20
				{at: 4 * time.Minute, session: "a", prompt: 5050, blocks: sysA, system: 2000},       // reads 50, refreshes 20
				{at: 8 * time.Minute, session: "b", prompt: 6000, blocks: sysB, system: 2000},       // 20 still live
				{at: 14 * time.Minute, session: "c", prompt: 6000, blocks: sysB[:30], system: 2000}, // all expired
			},
			want: []split{{50, 5000, 0, 0}, {50, 0, 0, 5000}, {0, 4000, 0, 2000}, {3000, 3000, 0, 0}},
		},
		{
			name: "a system prompt below the minimum is not a cache entry",
			calls: []in{
				{at: 0, session: "a", prompt: 5050, blocks: cat(seq(1, 8), seq(100, 42)), system: 800},
				{at: time.Second, session: "b", prompt: 6000, blocks: cat(seq(1, 8), seq(200, 52)), system: 800},
			},
			want:     []split{{50, 5000, 0, 0}, {0, 6000, 0, 0}},
			counters: map[string]float64{"entries": 2, "below_min": 0},
		},
		{
			name: "breakpoints 1: only the prompt's end",
			mod:  func(s *Settings) { s.Breakpoints = 1 },
			calls: []in{
				{at: 0, session: "a", prompt: 5050, blocks: sysA, system: 2000},
				{at: time.Second, session: "b", prompt: 6000, blocks: sysB, system: 2000},
			},
			want: []split{{50, 5000, 0, 0}, {0, 6000, 0, 0}},
		},
		{
			name: "breakpoints 2: the session hint comes before the system prompt's end",
			mod:  func(s *Settings) { s.Breakpoints = 2 },
			calls: []in{
				{at: 0, session: "a", prompt: 5050, blocks: sysA, system: 2000},               // writes 50 and 20
				{at: time.Second, session: "b", prompt: 3000, blocks: sysB[:30]},              // b's hint: 30
				{at: 2 * time.Second, session: "b", prompt: 6000, blocks: sysB, system: 2000}, // 60, hint 30: no room for 20
			},
			// The second call reads the system entry through the lookback (30-20 = 10 blocks back);
			// the third reads b's own entry at 30.
			want: []split{{50, 5000, 0, 0}, {0, 1000, 0, 2000}, {0, 3000, 0, 3000}},
		},
		{
			name: "sub-agents are sessions of their own",
			calls: []in{
				{at: 0, session: "s", prompt: 5050, blocks: seq(1, 50)},
				{at: time.Second, session: "s", agent: "sub", prompt: 3000, blocks: seq(500, 30)},
				{at: 2 * time.Second, session: "s", prompt: 8000, blocks: seq(1, 80)},
			},
			want:     []split{{50, 5000, 0, 0}, {0, 3000, 0, 0}, {0, 3000, 0, 5000}},
			counters: map[string]float64{"sessions": 2},
		},
		{
			name: "a pruned prompt shorter than its hashes caches only its full blocks",
			calls: []in{
				{at: 0, prompt: 3050, blocks: seq(1, 50)}, // 30 full blocks of prompt
				{at: time.Second, prompt: 3050, blocks: seq(1, 50)},
			},
			want: []split{{50, 3000, 0, 0}, {50, 0, 0, 3000}},
		},
		{
			name: "a prompt shorter than one block is all input",
			calls: []in{
				{at: 0, prompt: 60, blocks: seq(1, 1)},
			},
			want:     []split{{60, 0, 0, 0}},
			counters: map[string]float64{"below_min": 1, "hits": 0},
		},
		{
			name: "ttl none: the whole prompt is input, the recorded split is replaced",
			mod:  func(s *Settings) { s.TTL = TTLNone },
			calls: []in{
				{at: 0, recorded: &split{10, 0, 300, 5000}, blocks: seq(1, 53)},
				{at: time.Second, recorded: &split{10, 0, 300, 5000}, blocks: seq(1, 53)},
			},
			want:     []split{{5310, 0, 0, 0}, {5310, 0, 0, 0}},
			counters: map[string]float64{"calls": 2, "hits": 0, "input_tokens": 10620, "entries": 0, "no_prefix": 0},
		},
		{
			name: "the recorded split is replaced",
			calls: []in{
				{at: 0, recorded: &split{10, 0, 300, 5000}, blocks: seq(1, 53)},
			},
			want: []split{{10, 5300, 0, 0}},
		},
		{
			name:     "no prefix hashes: the call passes with its recorded split",
			calls:    []in{{at: 0, recorded: &split{10, 0, 300, 5000}, noPrefix: true}},
			want:     []split{{10, 0, 300, 5000}},
			counters: map[string]float64{"calls": 1, "no_prefix": 1, "input_tokens": 0},
		},
		{
			name:     "block size 0: nothing to do",
			block:    -1,
			calls:    []in{{at: 0, recorded: &split{10, 0, 300, 5000}, blocks: seq(1, 53)}},
			want:     []split{{10, 0, 300, 5000}},
			counters: map[string]float64{"no_prefix": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			block := tt.block
			switch block {
			case 0:
				block = bs
			case -1:
				block = 0
			}
			st := newStage(t, tt.mod, block)
			got := run(t, st, tt.calls)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("splits (-want +got):\n%s", d)
			}
			c := counters(st)
			for k, v := range tt.counters {
				if c[k] != v {
					t.Errorf("counter %s = %v, want %v", k, c[k], v)
				}
			}
		})
	}
}

// TestSplitAddsUp hands random calls (tenants, models, sessions, shared and diverging prefixes,
// system prompts, recorded splits, pruned prompts) to stages of every TTL and checks that each
// split is non-negative, keeps the prompt exactly, reads whole blocks, uses the TTL's write field
// only, and that a second run gives the same splits.
func TestSplitAddsUp(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var calls []in
	at := time.Duration(0)
	models := []string{"claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-6", "unknown-model"}
	hist := map[string][]uint64{} // each session's last prompt
	for i := 0; i < 3000; i++ {
		at += time.Duration(rng.IntN(90)) * time.Second
		sess := []string{"", "s1", "s2", "s3"}[rng.IntN(4)]
		blocks := hist[sess]
		switch u := rng.IntN(10); {
		case u == 0 || sess == "": // a fresh prompt sharing a random part of a common one
			nb := rng.IntN(200)
			shared := rng.IntN(nb + 1)
			blocks = cat(seq(uint64(1+rng.IntN(3))*1000, shared), seq(uint64(i+1)*1_000_000, nb-shared))
		case u == 1: // compaction: keep a head
			blocks = blocks[:rng.IntN(len(blocks)+1)]
		default: // the conversation grows
			blocks = cat(blocks, seq(uint64(i+1)*1_000_000, rng.IntN(60)))
		}
		hist[sess] = blocks
		nb := len(blocks)
		if rng.IntN(10) == 0 {
			sess = sess + "x" // another tenant and model (a routed call) for the same prompt
		}
		c := in{
			at: at, tenant: []string{"", "t1", "t2"}[len(sess)%3], model: models[len(sess)],
			session: sess, blocks: blocks,
			prompt: int64(nb*bs + rng.IntN(bs)),
		}
		if rng.IntN(5) == 0 {
			c.prompt = int64(rng.IntN(nb*bs + 1)) // pruned: fewer tokens than the hashes cover
		}
		if rng.IntN(3) == 0 {
			c.system = int64(rng.IntN(5000))
		}
		if rng.IntN(4) == 0 {
			r := c.prompt / 3
			c.recorded = &split{c.prompt - r, 0, r, 0}
		}
		calls = append(calls, c)
	}
	// Block size 0: no prefix hashes, every call of a session inferred, in blocks of 64 tokens.
	for _, tc := range []struct {
		ttl   string
		block int
	}{{TTL5m, bs}, {TTL1h, bs}, {TTLNone, bs}, {TTL5m, 0}, {TTL1h, 0}} {
		t.Run(fmt.Sprintf("ttl=%s/block=%d", tc.ttl, tc.block), func(t *testing.T) {
			ttl := tc.ttl
			mod := func(s *Settings) { s.TTL = ttl }
			unit := int64(tc.block)
			if unit == 0 {
				unit = VirtualBlockSize
			}
			got := run(t, newStage(t, mod, tc.block), calls)
			var hits int
			for i, s := range got {
				r := calls[i].record()
				p := r.PromptTokens()
				if s.Input < 0 || s.W5m < 0 || s.W1h < 0 || s.Read < 0 || s.Input+s.W5m+s.W1h+s.Read != p {
					t.Fatalf("call %d: split %+v of prompt %d", i, s, p)
				}
				if (len(r.Prefix) == 0 || tc.block == 0) && r.Session == "" && ttl != TTLNone {
					if s != splitOf(&r) {
						t.Fatalf("call %d without prefix: split %+v, recorded %+v", i, s, splitOf(&r))
					}
					continue
				}
				if s.Read%unit != 0 || (s.W5m+s.W1h)%unit != 0 {
					t.Fatalf("call %d: split %+v not in whole blocks", i, s)
				}
				if (ttl == TTL5m && s.W1h != 0) || (ttl == TTL1h && s.W5m != 0) || (ttl == TTLNone && s.Input != p) {
					t.Fatalf("call %d: split %+v with ttl %s", i, s, ttl)
				}
				if s.Read > 0 {
					hits++
				}
			}
			if ttl != TTLNone && hits < len(calls)/10 {
				t.Errorf("only %d hits in %d calls: the random trace should share prefixes", hits, len(calls))
			}
			if again := run(t, newStage(t, mod, tc.block), calls); !cmp.Equal(got, again) {
				t.Error("a second run gave other splits")
			}
		})
	}
}

// TestBoundedState replays ten hours of calls, one a second, with a 5-minute TTL: the live
// entries never exceed what five minutes of calls can write, and once the traffic stops for
// longer than the TTL every entry, session hint, cache space and queued expiry is gone.
func TestBoundedState(t *testing.T) {
	st := newStage(t, nil, bs)
	var c strategies.Call
	maxEntries := 0
	const n = 36000
	for i := 0; i < n; i++ {
		sess := i % 50
		turn := i / 50
		ci := in{
			at: time.Duration(i) * time.Second, tenant: []string{"a", "b", "c"}[i%3], session: "s" + string(rune('A'+sess%26)) + string(rune('a'+sess/26)),
			blocks: cat(seq(uint64(sess)*1e6, 20+turn%40), seq(uint64(i)*1e9, 5)), system: 2000,
		}
		ci.prompt = int64(len(ci.blocks)*bs + 10)
		r := ci.record()
		c.Reset(&r, uint64(i))
		st.Handle(c.Arrival, &c)
		maxEntries = max(maxEntries, st.entries.n)
	}
	if bound := 300 * MaxBreakpoints; maxEntries > bound {
		t.Errorf("at most %d live entries, want ≤ %d (five minutes of calls)", maxEntries, bound)
	}
	if len(st.spaces) > 3 {
		t.Errorf("%d cache spaces allocated for 3 tenants × 1 model", len(st.spaces))
	}
	// A call without prefix, long after: everything has expired (session states after
	// SessionMemory).
	r := in{at: n*time.Second + SessionMemory, noPrefix: true, prompt: 10}.record()
	c.Reset(&r, n)
	st.Handle(c.Arrival, &c)
	if st.entries.n != 0 || st.sessIdx.len() != 0 || st.spacesWithEntries() != 0 || st.queue.n != 0 || st.squeue.n != 0 {
		t.Errorf("after the TTL: %d entries, %d sessions, %d spaces, queues %d and %d; want all 0",
			st.entries.n, st.sessIdx.len(), st.spacesWithEntries(), st.queue.n, st.squeue.n)
	}
	if len(st.spaceIdx) > len(st.spaces) {
		t.Errorf("%d space index entries for %d space ids", len(st.spaceIdx), len(st.spaces))
	}
	for p, n := range st.entries.atPos {
		if n != 0 {
			t.Fatalf("after the TTL: %d entries of length %d", n, p)
		}
	}
	if len(st.entries.slots) != minTable || len(st.sess) > 150 {
		t.Errorf("after the TTL: table of %d slots (want %d), %d hint slots for 150 (tenant, session) pairs", len(st.entries.slots), minTable, len(st.sess))
	}
	if got := counters(st)["expired"]; got == 0 {
		t.Error("expired counter is 0")
	}
}

// TestSpacesReused checks that a space whose entries expired is found again by its own tenant, and
// that another tenant's space never sees its entries.
func TestSpacesReused(t *testing.T) {
	st := newStage(t, nil, bs)
	got := run(t, st, []in{
		{at: 0, tenant: "a", prompt: 5000, blocks: seq(1, 50)},
		{at: 10 * time.Minute, tenant: "b", prompt: 5000, blocks: seq(1, 50)}, // a's entry expired
		{at: 10*time.Minute + time.Second, tenant: "b", prompt: 5000, blocks: seq(1, 50)},
		{at: 10*time.Minute + 2*time.Second, tenant: "a", prompt: 5000, blocks: seq(1, 50)},
	})
	want := []split{{0, 5000, 0, 0}, {0, 5000, 0, 0}, {0, 0, 0, 5000}, {0, 5000, 0, 0}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("splits (-want +got):\n%s", d)
	}
	if len(st.spaces) != 2 {
		t.Errorf("%d space slots, want 2 (a's, kept while empty, and b's)", len(st.spaces))
	}
}

// TestEmptySpacesSwept sends one call each for many tenants, an hour apart so that every entry
// has expired by the next call: the empty spaces are freed in sweeps and their ids reused, so the
// space slots stay bounded, and no tenant ever reads another's entry, though they all send the
// same prompt into reused ids.
func TestEmptySpacesSwept(t *testing.T) {
	st := newStage(t, nil, bs)
	var c strategies.Call
	const tenants = 1000
	for i := range 2 * tenants {
		r := in{at: time.Duration(i) * time.Hour, tenant: fmt.Sprintf("t%d", i%tenants), prompt: 5000, blocks: seq(1, 50)}.record()
		c.Reset(&r, uint64(i))
		st.Handle(c.Arrival, &c)
		if c.Rec.CacheRead != 0 {
			t.Fatalf("call %d read %d cached tokens: every entry had expired", i, c.Rec.CacheRead)
		}
		if c.Rec.CacheWrite5m == 0 {
			t.Fatalf("call %d wrote nothing", i)
		}
		if n := len(st.spaces); n > 2*minSweep+2 {
			t.Fatalf("after %d calls: %d space slots for one space with entries", i+1, n)
		}
	}
	if len(st.spaceIdx) != len(st.spaces)-len(st.freeSpace) {
		t.Errorf("%d index entries for %d spaces in use", len(st.spaceIdx), len(st.spaces)-len(st.freeSpace))
	}
	if got := st.spacesWithEntries(); got != 1 {
		t.Errorf("%d spaces with entries, want 1 (the last call's)", got)
	}
	for k, id := range st.spaceIdx {
		if sp := st.spaces[id]; !sp.inUse || sp.key != k {
			t.Errorf("index entry %v names space %d holding %v (in use %v)", k, id, sp.key, sp.inUse)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Settings)
		want string // error prefix; "" for valid
	}{
		{"defaults", func(*Settings) {}, ""},
		{"ttl 1h", func(s *Settings) { s.TTL = TTL1h }, ""},
		{"ttl none", func(s *Settings) { s.TTL = TTLNone }, ""},
		{"ttl 2h", func(s *Settings) { s.TTL = "2h" }, `ttl: want "5m", "1h" or "none", got "2h"`},
		{"ttl empty", func(s *Settings) { s.TTL = "" }, "ttl: "},
		{"breakpoints 0", func(s *Settings) { s.Breakpoints = 0 }, "breakpoints: want 1 to 4, got 0"},
		{"breakpoints 5", func(s *Settings) { s.Breakpoints = 5 }, "breakpoints: want 1 to 4, got 5"},
		{"breakpoints 1", func(s *Settings) { s.Breakpoints = 1 }, ""},
		{"lookback negative", func(s *Settings) { s.LookbackBlocks = -1 }, "lookback_blocks: want 0 to 1000, got -1"},
		{"lookback too far", func(s *Settings) { s.LookbackBlocks = 1001 }, "lookback_blocks: "},
		{"lookback 0", func(s *Settings) { s.LookbackBlocks = 0 }, ""},
		{"infer off", func(s *Settings) { s.InferPrefix = InferOff }, ""},
		{"infer bad", func(s *Settings) { s.InferPrefix = "always" }, `infer_prefix: want "session" or "off", got "always"`},
		{"infer empty", func(s *Settings) { s.InferPrefix = "" }, `infer_prefix: want "session" or "off", got ""`},
		{"min_tokens ok", func(s *Settings) { s.MinTokens = map[string]int64{"claude-haiku-4-5": 2048, "gpt-5": 0} }, ""},
		{"min_tokens negative", func(s *Settings) { s.MinTokens = map[string]int64{"gpt-5": 1, "claude-haiku-4-5": -1} },
			"min_tokens.claude-haiku-4-5: want tokens ≥ 0, got -1"},
		{"min_tokens empty name", func(s *Settings) { s.MinTokens = map[string]int64{"": 1} }, "min_tokens.: want a model family"},
		{"min_tokens same family twice", func(s *Settings) {
			s.MinTokens = map[string]int64{"claude-haiku-4-5": 1, "claude-haiku-4-5-20251001": 2}
		}, "min_tokens.claude-haiku-4-5-20251001: names the same model family (claude-haiku-4-5) as min_tokens.claude-haiku-4-5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Defaults()
			tt.mod(s)
			err := s.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Errorf("error %v, want one starting with %q", err, tt.want)
			}
		})
	}
}

func TestSettingsJSON(t *testing.T) {
	s := Defaults()
	s.SetEnabled(true)
	s.TTL, s.Breakpoints, s.LookbackBlocks, s.InferPrefix = TTL1h, 3, 7, InferOff
	s.MinTokens = map[string]int64{"claude-haiku-4-5": 2048}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"enabled":true,"ttl":"1h","breakpoints":3,"min_tokens":{"claude-haiku-4-5":2048},"lookback_blocks":7,"infer_prefix":"off"}`
	if string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
	back := Defaults()
	if err := json.Unmarshal(b, back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(s, back); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	d, _ := json.Marshal(Defaults())
	if string(d) != `{"enabled":false,"ttl":"5m","breakpoints":4,"lookback_blocks":20,"infer_prefix":"session"}` {
		t.Errorf("defaults encode as %s", d)
	}
}

func TestRegistered(t *testing.T) {
	d, ok := strategies.Lookup(Name)
	if !ok {
		t.Fatal("promptcache is not registered")
	}
	s := d.Defaults()
	if s.Enabled() {
		t.Error("defaults are enabled")
	}
	if err := s.Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	st, err := d.Build(s, strategies.Env{Book: pricing.Default(), BlockSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	if st.Name() != Name {
		t.Errorf("Name() = %q", st.Name())
	}
	if _, ok := st.(strategies.Counting); !ok {
		t.Error("stage does not count")
	}
	bad := Defaults()
	bad.Breakpoints = 9
	if _, err := d.Build(bad, strategies.Env{}); err == nil || !strings.HasPrefix(err.Error(), "breakpoints:") {
		t.Errorf("Build of invalid settings: %v", err)
	}
}

// TestNilBook: without a price book every model takes DefaultMinTokens.
func TestNilBook(t *testing.T) {
	s := Defaults()
	st := New(s, strategies.Env{BlockSize: bs})
	got := run(t, st, []in{
		{at: 0, model: "claude-haiku-4-5", prompt: 1050, blocks: seq(1, 10)},
		{at: time.Second, model: "claude-haiku-4-5", prompt: 1150, blocks: seq(1, 11)},
	})
	if d := cmp.Diff([]split{{1050, 0, 0, 0}, {50, 1100, 0, 0}}, got); d != "" {
		t.Errorf("splits (-want +got):\n%s", d)
	}
}
