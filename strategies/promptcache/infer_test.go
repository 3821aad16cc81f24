package promptcache

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// rec is a recorded split of prompt tokens of which read were cache reads (the rest input).
func rec(prompt, read int64) *split { return &split{Input: prompt - read, Read: read} }

// TestInfer checks prefixes inferred from sessions, in a trace without prefix hashes (virtual
// blocks of 64 tokens) unless block says otherwise.
func TestInfer(t *testing.T) {
	const B = VirtualBlockSize
	tests := []struct {
		name     string
		mod      func(*Settings)
		block    int // the trace's block size; 0 for none
		calls    []in
		want     []split
		counters map[string]float64 // a subset to check
	}{
		{
			name: "3-turn session: turns 2 and 3 read the previous prompt",
			calls: []in{
				{at: 0, session: "s", prompt: 5050},                 // 78 blocks
				{at: 30 * time.Second, session: "s", prompt: 8030},  // 125
				{at: 60 * time.Second, session: "s", prompt: 12000}, // 187
			},
			want: []split{{5050 - 78*B, 78 * B, 0, 0}, {8030 - 125*B, 47 * B, 0, 78 * B}, {12000 - 187*B, 62 * B, 0, 125 * B}},
			counters: map[string]float64{"calls": 3, "hits": 2, "inferred": 3, "no_prefix": 0, "sessions": 1, "entries": 3,
				"read_tokens": 203 * B, "write_tokens": 187 * B},
		},
		{
			name: "the record's Prefix is ignored without a block size",
			calls: []in{
				{at: 0, session: "s", prompt: 5050, blocks: seq(1, 50)},
				{at: time.Second, session: "s", prompt: 5050, blocks: seq(1000, 50)},
			},
			want:     []split{{5050 - 78*B, 78 * B, 0, 0}, {5050 - 78*B, 0, 0, 78 * B}},
			counters: map[string]float64{"inferred": 2},
		},
		{
			name:  "with the trace's block size, calls without hashes are inferred in its blocks",
			block: bs,
			calls: []in{
				{at: 0, session: "s", prompt: 5050, noPrefix: true},
				{at: time.Second, session: "s", prompt: 8030, noPrefix: true},
				{at: 2 * time.Second, session: "s", prompt: 5050, blocks: seq(1, 50)}, // real hashes: not the same prefix
			},
			want:     []split{{50, 5000, 0, 0}, {30, 3000, 0, 5000}, {50, 5000, 0, 0}},
			counters: map[string]float64{"inferred": 2, "no_prefix": 0},
		},
		{
			name:     "a call with neither prefix nor session passes with its recorded split",
			calls:    []in{{at: 0, recorded: &split{10, 0, 300, 5000}, noPrefix: true}},
			want:     []split{{10, 0, 300, 5000}},
			counters: map[string]float64{"inferred": 0, "no_prefix": 1, "calls": 1},
		},
		{
			name:     "infer_prefix off: a session's call without prefix passes too",
			mod:      func(s *Settings) { s.InferPrefix = InferOff },
			calls:    []in{{at: 0, session: "s", recorded: &split{10, 0, 300, 5000}}},
			want:     []split{{10, 0, 300, 5000}},
			counters: map[string]float64{"inferred": 0, "no_prefix": 1, "sessions": 0},
		},
		{
			name:     "a prompt shorter than a block is all input",
			calls:    []in{{at: 0, session: "s", prompt: 60, recorded: rec(60, 50)}},
			want:     []split{{60, 0, 0, 0}},
			counters: map[string]float64{"inferred": 1, "below_min": 1},
		},
		{
			name: "sessions of one model share the head a first call's recorded read tells; other agents and tenants do not",
			calls: []in{
				{at: 0, session: "a", recorded: rec(5000, 3000)},                                         // head 46 blocks; writes 78 and 46
				{at: time.Minute, session: "b", recorded: rec(6000, 3000)},                               // reads a's head
				{at: 2 * time.Minute, session: "c", agent: "x", recorded: rec(6000, 3000)},               // agent x's own head
				{at: 3 * time.Minute, tenant: "t2", session: "b", recorded: rec(6000, 3000)},             // tenant t2's own
				{at: 4 * time.Minute, session: "d", model: "claude-opus-4-6", recorded: rec(6000, 3000)}, // another model
			},
			want: []split{
				{5000 - 78*B, 78 * B, 0, 0},
				{6000 - 93*B, 47 * B, 0, 46 * B},
				{6000 - 93*B, 93 * B, 0, 0},
				{6000 - 93*B, 93 * B, 0, 0},
				{6000 - 93*B, 93 * B, 0, 0},
			},
			counters: map[string]float64{"sessions": 5, "hits": 1},
		},
		{
			name: "the largest first-call read is the head; a later call's read is not a first call's",
			calls: []in{
				{at: 0, session: "a", recorded: rec(5000, 1000)},               // head 15 blocks: below the minimum, not written
				{at: time.Minute, session: "a", recorded: rec(8000, 7000)},     // not a first call: the head stays 1000
				{at: 2 * time.Minute, session: "b", recorded: rec(6000, 3000)}, // head 3000 (46 blocks): written
				{at: 3 * time.Minute, session: "c", prompt: 6000},              // no recorded split: head 3000, read
				{at: 4 * time.Minute, session: "d", recorded: rec(6000, 2000)}, // a smaller estimate: the head stays 3000
			},
			want: []split{
				{5000 - 78*B, 78 * B, 0, 0},
				{0, 47 * B, 0, 78 * B},
				{6000 - 93*B, 93 * B, 0, 0},
				{6000 - 93*B, 47 * B, 0, 46 * B},
				{6000 - 93*B, 47 * B, 0, 46 * B},
			},
		},
		{
			name: "SystemTokens is the head: shared without any recorded split",
			calls: []in{
				{at: 0, session: "a", prompt: 5050, system: 2000},           // head 31 blocks
				{at: time.Second, session: "b", prompt: 6000, system: 2000}, // reads it
			},
			want: []split{{5050 - 78*B, 78 * B, 0, 0}, {6000 - 93*B, 62 * B, 0, 31 * B}},
		},
		{
			name: "compaction (the body loses over a quarter) starts a new body: only the head is read",
			calls: []in{
				{at: 0, session: "s", prompt: 20000, system: 2000},               // 312 blocks
				{at: time.Minute, session: "s", prompt: 40000, system: 2000},     // 625
				{at: 2 * time.Minute, session: "s", prompt: 20100, system: 2000}, // 314, epoch 1: the first call's 312 is another body
				{at: 3 * time.Minute, session: "s", prompt: 21000, system: 2000}, // 328, reads epoch 1's 314
			},
			want: []split{
				{20000 - 312*B, 312 * B, 0, 0},
				{0, 313 * B, 0, 312 * B},
				{20100 - 314*B, 283 * B, 0, 31 * B},
				{21000 - 328*B, 14 * B, 0, 314 * B},
			},
		},
		{
			name: "a small shrink keeps the body: an earlier prompt's entry is read",
			calls: []in{
				{at: 0, session: "s", prompt: 20000},               // 312 blocks
				{at: time.Minute, session: "s", prompt: 20500},     // 320
				{at: 2 * time.Minute, session: "s", prompt: 20100}, // 314: finds 312 in the lookback
			},
			want: []split{{20000 - 312*B, 312 * B, 0, 0}, {20500 - 320*B, 8 * B, 0, 312 * B}, {20100 - 314*B, 2 * B, 0, 312 * B}},
		},
		{
			name: "a pruned call keeps the head, has a body of its own and leaves the session as it was",
			calls: []in{
				{at: 0, session: "s", prompt: 20000, system: 2000},                             // 312 blocks
				{at: time.Minute, session: "s", prompt: 15000, system: 2000, pruned: 5000},     // 234: head only
				{at: 2 * time.Minute, session: "s", prompt: 15000, system: 2000, pruned: 5000}, // not the pruned call's body either
				{at: 3 * time.Minute, session: "s", prompt: 21000, system: 2000},               // 328: reads the first call's 312
			},
			want: []split{
				{20000 - 312*B, 312 * B, 0, 0},
				{15000 - 234*B, 203 * B, 0, 31 * B},
				{15000 - 234*B, 203 * B, 0, 31 * B},
				{21000 - 328*B, 16 * B, 0, 312 * B},
			},
			counters: map[string]float64{"sessions": 1},
		},
		{
			name: "a session idle for less than SessionMemory is no new session: its read is not the head",
			calls: []in{
				{at: 0, session: "a", recorded: rec(5000, 3000)},                // head 46
				{at: 30 * time.Minute, session: "a", recorded: rec(8000, 7000)}, // all expired; rewrites 125 and 46
				{at: 31 * time.Minute, session: "b", prompt: 9000},              // head 46: read
			},
			want: []split{{5000 - 78*B, 78 * B, 0, 0}, {0, 125 * B, 0, 0}, {9000 - 140*B, 94 * B, 0, 46 * B}},
		},
		{
			name: "a session idle for longer than SessionMemory starts anew: its first read is the head",
			calls: []in{
				{at: 0, session: "a", recorded: rec(5000, 3000)},                           // head 46
				{at: SessionMemory + time.Minute, session: "a", recorded: rec(8000, 7000)}, // first call again: head 7000 (109)
				{at: SessionMemory + 2*time.Minute, session: "b", prompt: 9000},            // head 109: read
			},
			want: []split{{5000 - 78*B, 78 * B, 0, 0}, {0, 125 * B, 0, 0}, {9000 - 140*B, 31 * B, 0, 109 * B}},
		},
		{
			name: "reads refresh the head below them; a head estimate longer than the prompt is capped by it",
			calls: []in{
				{at: 0, session: "a", prompt: 5050, system: 2000},               // writes 78 and 31
				{at: 4 * time.Minute, session: "a", prompt: 5550, system: 2000}, // reads 78, refreshes 31
				{at: 8 * time.Minute, session: "b", prompt: 6000, system: 2000}, // 31 still live
				{at: 9 * time.Minute, session: "c", prompt: 1500, system: 2000}, // head capped at 1500 (23 blocks)
			},
			want: []split{
				{5050 - 78*B, 78 * B, 0, 0},
				{5550 - 86*B, 8 * B, 0, 78 * B},
				{6000 - 93*B, 62 * B, 0, 31 * B},
				{1500 - 23*B, 23 * B, 0, 0},
			},
		},
		{
			name: "ttl 1h: a session fifty minutes later still reads the head",
			mod:  func(s *Settings) { s.TTL = TTL1h },
			calls: []in{
				{at: 0, session: "a", recorded: rec(5000, 3000)},
				{at: 50 * time.Minute, session: "b", recorded: rec(6000, 3000)},
			},
			want: []split{{5000 - 78*B, 0, 78 * B, 0}, {6000 - 93*B, 0, 47 * B, 46 * B}},
		},
		{
			name: "the same session id in two tenants, or on two models, never shares",
			calls: []in{
				{at: 0, tenant: "a", session: "s", prompt: 5050},
				{at: time.Second, tenant: "b", session: "s", prompt: 5050},
				{at: 2 * time.Second, tenant: "a", session: "s", model: "claude-opus-4-6", prompt: 5050},
				{at: 3 * time.Second, tenant: "a", session: "s", prompt: 5050},
			},
			want: []split{{5050 - 78*B, 78 * B, 0, 0}, {5050 - 78*B, 78 * B, 0, 0}, {5050 - 78*B, 78 * B, 0, 0}, {5050 - 78*B, 0, 0, 78 * B}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStage(t, tt.mod, tt.block)
			calls := tt.calls
			for i := range calls {
				if tt.block == 0 && calls[i].blocks == nil {
					calls[i].noPrefix = true
				}
			}
			got := run(t, st, calls)
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

// TestInferKeepsNoPrefix checks that an inferred call's record is left with its Prefix as it was
// (the virtual prefix is computed aside).
func TestInferKeepsNoPrefix(t *testing.T) {
	st := newStage(t, nil, 0)
	r := in{session: "s", prompt: 5050, blocks: seq(1, 3)}.record()
	want := append([]uint64(nil), r.Prefix...)
	var c strategies.Call
	c.Reset(&r, 1)
	st.Handle(c.Arrival, &c)
	if !cmp.Equal(c.Rec.Prefix, want) {
		t.Errorf("Prefix %v after Handle, want %v", c.Rec.Prefix, want)
	}
	if c.Rec.CacheWrite5m != 78*VirtualBlockSize || !c.Rec.Has(traces.FieldCacheRead) {
		t.Errorf("split %+v", splitOf(&c.Rec))
	}
}

// TestInferBoundedState replays ten hours of inferred calls, one a second, from many short sessions
// of many agents: once the traffic stops for longer than SessionMemory, every entry, session
// state, head and queued expiry is gone.
func TestInferBoundedState(t *testing.T) {
	st := newStage(t, nil, 0)
	var c strategies.Call
	const n = 36000
	maxSess := 0
	for i := 0; i < n; i++ {
		sess := i / 20 // 20 calls a session, a new session every 20 seconds
		ci := in{
			at: time.Duration(i) * time.Second, tenant: []string{"a", "b", "c"}[sess%3], agent: string(rune('A' + sess%7)),
			session: "s" + string(rune('A'+sess%26)) + string(rune('a'+(sess/26)%26)) + string(rune('a'+sess/676)),
			prompt:  int64(4000 + 500*(i%20)), noPrefix: true,
		}
		if i%20 == 0 {
			ci.recorded = rec(ci.prompt, 3000)
		}
		r := ci.record()
		c.Reset(&r, uint64(i))
		st.Handle(c.Arrival, &c)
		maxSess = max(maxSess, st.sessIdx.len())
	}
	// An hour of sessions (180) and 3 × 7 heads.
	if maxSess > 180+1+21 {
		t.Errorf("%d session and head states live at most, want ≤ %d", maxSess, 180+1+21)
	}
	if got := counters(st); got["hits"] < 0.9*n || got["inferred"] != n {
		t.Errorf("counters %v: want most calls hitting, all inferred", got)
	}
	r := in{at: n*time.Second + SessionMemory, noPrefix: true, prompt: 10}.record()
	c.Reset(&r, n)
	st.Handle(c.Arrival, &c)
	if st.entries.n != 0 || st.sessIdx.len() != 0 || st.heads != 0 || st.queue.n != 0 || st.squeue.n != 0 {
		t.Errorf("after SessionMemory: %d entries, %d session states, %d heads, queues %d and %d; want all 0",
			st.entries.n, st.sessIdx.len(), st.heads, st.queue.n, st.squeue.n)
	}
}
