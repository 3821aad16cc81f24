// Package promptcache simulates the provider's prompt cache (Anthropic's cache_control breakpoints;
// OpenAI's automatic prefix caching behaves alike), so that a replay can ask "what if we had turned
// prompt caching on, with a 5-minute or a 1-hour TTL", or "what if we had none".
//
// The stage sits last in the stack: it sees the model and the prompt as the earlier stages left
// them (routed, pruned) and rewrites the call's token split, c.Rec's Input, CacheWrite5m,
// CacheWrite1h and CacheRead, replacing whatever split the trace recorded. The prompt size
// (PromptTokens) is kept; the simulator prices the new split with the price book (reads at a tenth
// of the input price, writes at a premium).
//
// # Model
//
// The cache is simulated from the record's prefix block hashes: c.Rec.Prefix[i] identifies the
// first (i+1)×B prompt tokens, B being Env.BlockSize. A cache entry is a prompt prefix of p blocks
// (a position), keyed by (tenant, model, Prefix[p-1]); entries never cross tenants or models. The
// model is the price book's canonical id, so that dated ids and aliases share one cache (else its
// pricing.Family). For a call with n full blocks (n = min(len(Prefix), prompt/B)):
//
//  1. Breakpoints, at most Settings.Breakpoints of them, in this order: the end of the prompt's
//     last full block (n); the session hint, the block count of the previous call of the same
//     (tenant, session, agent), capped at n (the longest prefix this call can share with it; it
//     stands for the breakpoint the client put on the last message of the previous turn); the end
//     of the system prompt, floor(SystemTokens/B), when SystemTokens is present.
//  2. Read: the longest position p among the breakpoints and the LookbackBlocks positions before
//     each whose entry is unexpired at now. CacheRead = p×B. The entry read has its expiry reset
//     to now + TTL (reads refresh the TTL).
//  3. Write: an entry is written at every breakpoint beyond the read position whose length (in
//     tokens) is at least the model's minimum cacheable length (Settings.MinTokens, else the price
//     book's Price.MinCacheable). The tokens from the read position to the furthest breakpoint
//     written are the call's cache writes (CacheWrite5m or CacheWrite1h, per TTL).
//  4. Input = prompt − CacheRead − writes: the tail after the last full block, plus everything
//     beyond the read position when nothing is written.
//
// Writes happen at Handle time, when the call is sent. The provider makes an entry readable only
// once the response starts, so two calls sent within a time to first token of each other would
// both miss at the provider, where the simulation lets the second one read: a small optimism for
// parallel calls sharing a prefix.
//
// With TTL "none" nothing is cached: the whole prompt is Input. Calls without prefix hashes (or a
// trace with BlockSize 0) pass unchanged, with their recorded split, and are counted as no_prefix.
//
// # Memory and speed
//
// Entries and session hints expire TTL after their last use and are dropped as time advances
// (expiry queues in time order, collected at the start of every Handle), so the state is bounded
// by what was used within one TTL, not by the length of the trace; the entry table shrinks as
// entries go. Handle allocates nothing in the steady state and probes at most
// Breakpoints × (1 + LookbackBlocks) positions of an open-addressing table keyed by (block hash,
// cache space), however long the prompt.
//
// # Counters
//
// calls (handled), hits (calls with a cache read), hit_rate (hits / calls), read_tokens,
// write_tokens and input_tokens (summed over the calls the stage split), entries (live cache
// entries), sessions (live session hints), expired (entries dropped at expiry), no_prefix (calls
// passed with their recorded split for lack of prefix hashes) and below_min (calls that wrote
// nothing because every new prefix was shorter than the minimum cacheable length).
package promptcache

import (
	"fmt"
	"slices"

	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/strategies"
)

// Name is the strategy's name in the configuration (strategies.promptcache).
const Name = "promptcache"

// TTLs the settings accept.
const (
	TTL5m   = "5m"   // Anthropic's default ephemeral cache: writes at 1.25× the input price
	TTL1h   = "1h"   // the extended cache: writes at 2× the input price
	TTLNone = "none" // no prompt caching at all
)

// Limits and defaults of the settings.
const (
	// MaxBreakpoints is the provider's limit of cache breakpoints per request.
	MaxBreakpoints = 4
	// MaxLookbackBlocks bounds LookbackBlocks, which bounds the map lookups per call.
	MaxLookbackBlocks = 1000
	// DefaultLookbackBlocks is how far before a breakpoint a hit is searched by default (the
	// provider looks back about 20 content blocks).
	DefaultLookbackBlocks = 20
	// DefaultMinTokens is the minimum cacheable length, in tokens, for models the price book does
	// not know or gives no minimum for (Price.MinCacheable 0), unless MinTokens names them.
	DefaultMinTokens = 1024
)

// Settings configure the prompt cache. The zero value is not valid; start from Defaults.
type Settings struct {
	strategies.Common
	// TTL is the cache's time to live: "5m", "1h" or "none".
	TTL string `json:"ttl"`
	// Breakpoints is the most cache breakpoints a request uses, 1 to 4 (default 4).
	Breakpoints int `json:"breakpoints"`
	// MinTokens overrides the price book's minimum cacheable length (tokens) by model family
	// (pricing.Family: "claude-haiku-4-5" covers its dated ids). Optional; the map is the
	// settings' own, and Build copies it.
	MinTokens map[string]int64 `json:"min_tokens,omitempty"`
	// LookbackBlocks is how many blocks (of the trace's block size) before each breakpoint a hit
	// is searched, 0 to 1000 (default 20).
	LookbackBlocks int `json:"lookback_blocks"`
}

// Defaults returns the default settings, disabled: TTL 5m, 4 breakpoints, 20 blocks of lookback,
// the price book's minimums.
func Defaults() *Settings {
	return &Settings{TTL: TTL5m, Breakpoints: MaxBreakpoints, LookbackBlocks: DefaultLookbackBlocks}
}

// Validate returns the first problem of the settings, its message starting with the JSON path of
// the key ("ttl: ...", "min_tokens.claude-haiku-4-5: ...").
func (s *Settings) Validate() error {
	switch s.TTL {
	case TTL5m, TTL1h, TTLNone:
	default:
		return strategies.Errorf("ttl", "want \"5m\", \"1h\" or \"none\", got %q", s.TTL)
	}
	if s.Breakpoints < 1 || s.Breakpoints > MaxBreakpoints {
		return strategies.Errorf("breakpoints", "want 1 to %d, got %d", MaxBreakpoints, s.Breakpoints)
	}
	if s.LookbackBlocks < 0 || s.LookbackBlocks > MaxLookbackBlocks {
		return strategies.Errorf("lookback_blocks", "want 0 to %d, got %d", MaxLookbackBlocks, s.LookbackBlocks)
	}
	keys := make([]string, 0, len(s.MinTokens))
	for k := range s.MinTokens {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	seen := make(map[string]string, len(keys))
	for _, k := range keys {
		path := "min_tokens." + k
		f := pricing.Family(k)
		if f == "" {
			return strategies.Errorf(path, "want a model family, got an empty name")
		}
		if v := s.MinTokens[k]; v < 0 {
			return strategies.Errorf(path, "want tokens ≥ 0, got %d", v)
		}
		if prev, dup := seen[f]; dup {
			return strategies.Errorf(path, "names the same model family (%s) as min_tokens.%s", f, prev)
		}
		seen[f] = k
	}
	return nil
}

func init() {
	strategies.Register(strategies.Def{
		Name:     Name,
		Summary:  "the provider's prompt cache simulated from prefix block hashes: re-splits each prompt into cache reads, cache writes and uncached input (TTL 5m, 1h or none)",
		Defaults: func() strategies.Settings { return Defaults() },
		Build: func(s strategies.Settings, env strategies.Env) (strategies.Stage, error) {
			ps, ok := s.(*Settings)
			if !ok {
				return nil, fmt.Errorf("settings of type %T, want *promptcache.Settings", s)
			}
			if err := ps.Validate(); err != nil {
				return nil, err
			}
			return New(ps, env), nil
		},
	})
}
