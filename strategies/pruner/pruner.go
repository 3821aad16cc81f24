// Package pruner is the context-pruning strategy: it keeps the system prompt and the last
// keep_turns turns of a call's conversation history, within a history budget, and removes the
// older history from the prompt.
//
// # What it changes
//
// A call needs the prompt breakdown: without HistoryTokens (absent or 0) it passes unchanged.
// Otherwise the history kept is
//
//	kept = min(history_budget, keep_turns × HistoryTokens / Turn)     (Turn > 0; floor)
//	kept = min(history_budget, keep_turns × HistoryTokens)            (Turn 0 or absent: one turn)
//
// and removed = HistoryTokens − kept, at most the prompt less the system prompt (for a record
// whose breakdown does not fit its prompt). The call is pruned when removed >= min_removed (and
// removed > 0); then:
//
//   - c.Rec.HistoryTokens -= removed, c.Pruned = removed, and the prompt is exactly removed tokens
//     smaller;
//   - the prompt split is redone, since the prompt after the system prompt changed and the provider
//     can no longer read it from its cache: CacheRead = min(CacheRead, SystemTokens) (0 without
//     SystemTokens). When the call recorded cache writes, the uncached input stays as recorded
//     (capped to what is left: the tail after the last cache breakpoint does not move) and the
//     rest of the prompt is written to the cache, with the TTL the call wrote (5 minutes when it
//     wrote both); otherwise the rest is uncached input;
//   - with a block size (Env.BlockSize > 0), c.Rec.Prefix keeps the blocks that lie entirely
//     within the system prompt, the later blocks get fresh hashes unique to the call (so no other
//     call shares them), and it is cut to the new prompt's whole blocks (in place);
//   - c.Quality *= 1 − penalty × removed / HistoryTokens (the history before pruning).
//
// SystemTokens, NewTokens and Output are not changed. A call already pruned (c.Pruned > 0), or
// re-entering the stack on a retry (c.Retries > 0), passes unchanged and uncounted.
package pruner

import (
	"github.com/tarsopt/tarsopt/internal/hash64"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// Name is the strategy's registered name: the key under strategies in the configuration.
const Name = "pruner"

func init() {
	strategies.Register(strategies.Def{
		Name:     Name,
		Summary:  "keep the system prompt and the last turns of history within a budget; remove older history",
		Defaults: func() strategies.Settings { return Defaults() },
		Build: func(s strategies.Settings, env strategies.Env) (strategies.Stage, error) {
			return New(s.(*Settings), env)
		},
	})
}

// Settings configure the pruner: the object under strategies.pruner.
type Settings struct {
	strategies.Common
	// KeepTurns is how many of the latest turns of history are kept (K).
	KeepTurns int `json:"keep_turns"`
	// HistoryBudget is the most history kept, in tokens.
	HistoryBudget int64 `json:"history_budget"`
	// MinRemoved is the fewest tokens worth removing: a call is pruned only when at least this
	// many history tokens would go.
	MinRemoved int64 `json:"min_removed"`
	// Penalty is the loss of answer quality when all history is removed: a pruned call's
	// c.Quality is multiplied by 1 − Penalty × removed / history (0 to 1).
	Penalty float64 `json:"penalty"`
}

// Limits of the settings, beyond which a value is a configuration mistake.
const (
	maxKeepTurns = 1 << 20
	maxTokens    = 1 << 40
)

// Defaults returns the default settings, disabled: keep 6 turns, at most 8,000 history tokens,
// prune only when 500 tokens or more go, and lose up to 10% answer quality.
func Defaults() *Settings {
	return &Settings{KeepTurns: 6, HistoryBudget: 8000, MinRemoved: 500, Penalty: 0.10}
}

// Validate returns the first problem of s, its message starting with the JSON path of the
// offending key relative to strategies.pruner.
func (s *Settings) Validate() error {
	switch {
	case s.KeepTurns < 0 || s.KeepTurns > maxKeepTurns:
		return strategies.Errorf("keep_turns", "must be in 0..%d, got %d", maxKeepTurns, s.KeepTurns)
	case s.HistoryBudget < 0 || s.HistoryBudget > maxTokens:
		return strategies.Errorf("history_budget", "must be in 0..%d tokens, got %d", int64(maxTokens), s.HistoryBudget)
	case s.MinRemoved < 0 || s.MinRemoved > maxTokens:
		return strategies.Errorf("min_removed", "must be in 0..%d tokens, got %d", int64(maxTokens), s.MinRemoved)
	case !(s.Penalty >= 0 && s.Penalty <= 1):
		return strategies.Errorf("penalty", "must be in [0, 1], got %g", s.Penalty)
	}
	return nil
}

// Pruner is the pruning stage. It keeps no state about calls, only counters.
type Pruner struct {
	keepTurns  int64
	budget     int64
	minRemoved int64
	penalty    float64
	blockSize  int64

	seen, pruned, removed, before, after, noHistory, belowMin, within int64
}

// New builds the stage from validated settings; env.BlockSize is the trace's prefix block size
// (0: no prefix hashes to rewrite).
func New(s *Settings, env strategies.Env) (*Pruner, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &Pruner{
		keepTurns:  int64(s.KeepTurns),
		budget:     s.HistoryBudget,
		minRemoved: s.MinRemoved,
		penalty:    s.Penalty,
		blockSize:  int64(max(env.BlockSize, 0)),
	}, nil
}

// Name returns "pruner".
func (p *Pruner) Name() string { return Name }

// prunePurpose salts the fresh prefix hashes of pruned calls.
const prunePurpose = 0x7072756e65 // "prune"

// Kept returns the history tokens a call keeps under s: min(history_budget, keep_turns × the
// average turn size), the average turn being history/turn when turn > 0, else all of history.
// The result is at most history.
func (s *Settings) Kept(history int64, turn int) int64 {
	return kept(history, int64(turn), int64(s.KeepTurns), s.HistoryBudget)
}

func kept(history, turn, k, budget int64) int64 {
	if history <= 0 {
		return 0
	}
	var want int64
	if turn > 0 {
		if k >= turn {
			want = history
		} else {
			want = k * history / turn // k < turn, so k × history < turn × history: no overflow for sane sizes
		}
	} else if k > 0 {
		want = history
	}
	return min(want, budget, history)
}

// Handle prunes the history of c as the package documentation describes. It always returns Next.
func (p *Pruner) Handle(now int64, c *strategies.Call) strategies.Decision {
	if c.Pruned > 0 || c.Retries > 0 {
		return strategies.Decision{}
	}
	p.seen++
	r := &c.Rec
	if !r.Has(traces.FieldHistoryTokens) || r.HistoryTokens <= 0 {
		p.noHistory++
		return strategies.Decision{}
	}
	h := r.HistoryTokens
	var turn int64
	if r.Has(traces.FieldTurn) {
		turn = int64(r.Turn)
	}
	prompt := r.PromptTokens()
	sys := int64(0)
	if r.Has(traces.FieldSystemTokens) {
		sys = min(max(r.SystemTokens, 0), prompt)
	}
	removed := h - kept(h, turn, p.keepTurns, p.budget)
	removed = min(removed, prompt-sys)
	p.before += h
	switch {
	case removed <= 0:
		p.within++
		p.after += h
		return strategies.Decision{}
	case removed < p.minRemoved:
		p.belowMin++
		p.after += h
		return strategies.Decision{}
	}
	p.pruned++
	p.removed += removed
	p.after += h - removed

	newPrompt := prompt - removed
	r.HistoryTokens = h - removed
	c.Pruned = removed
	c.Quality *= 1 - p.penalty*float64(removed)/float64(h)

	// The split: cache reads only within the system prompt; the rest written or uncached.
	read := min(r.CacheRead, sys)
	rest := newPrompt - read
	r.CacheRead = read
	switch {
	case r.CacheWrite5m > 0 || r.CacheWrite1h > 0:
		in := min(max(r.Input, 0), rest)
		r.Input = in
		if r.CacheWrite5m > 0 {
			r.CacheWrite5m, r.CacheWrite1h = rest-in, 0
		} else {
			r.CacheWrite1h = rest - in
		}
	default:
		r.Input = rest
		r.Set(traces.FieldInput)
	}

	// Prefix hashes: system blocks stay, the rest become this call's own, cut to the new prompt.
	if bs := p.blockSize; bs > 0 && len(r.Prefix) > 0 {
		n := min(int64(len(r.Prefix)), newPrompt/bs)
		salt := hash64.Combine(c.Key, prunePurpose)
		for i := sys / bs; i < n; i++ {
			r.Prefix[i] = hash64.Mix(salt + uint64(i))
		}
		r.Prefix = r.Prefix[:n]
	}
	return strategies.Decision{}
}

// Counters returns the stage's counters: pruned_calls, pruned_share (of the calls seen),
// tokens_removed, history_before and history_after (history tokens of the calls with history,
// before and after pruning), no_history (calls without a history breakdown), below_min (calls
// that would lose fewer than min_removed tokens) and within_budget (calls with nothing to remove).
func (p *Pruner) Counters() []strategies.Count {
	share := 0.0
	if p.seen > 0 {
		share = float64(p.pruned) / float64(p.seen)
	}
	return []strategies.Count{
		{Name: "pruned_calls", Value: float64(p.pruned)},
		{Name: "pruned_share", Value: share},
		{Name: "tokens_removed", Value: float64(p.removed)},
		{Name: "history_before", Value: float64(p.before)},
		{Name: "history_after", Value: float64(p.after)},
		{Name: "no_history", Value: float64(p.noHistory)},
		{Name: "below_min", Value: float64(p.belowMin)},
		{Name: "within_budget", Value: float64(p.within)},
	}
}
