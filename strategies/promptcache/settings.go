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
//     of the system prompt, floor(SystemTokens/B), when SystemTokens is present (for an inferred
//     prefix: the end of the inferred head, see below).
//  2. Read: the longest position p among the breakpoints and the LookbackBlocks positions before
//     each whose entry is unexpired at now. CacheRead = p×B. The entry read, and the entries at
//     the call's breakpoints below p, have their expiry reset to now + TTL (reads refresh the TTL;
//     see below).
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
// With TTL "none" nothing is cached: the whole prompt is Input.
//
// When a read hits, the entry read has its expiry reset, and so have the live entries at the
// call's breakpoints below the read (the system prompt's end, typically): they are prefixes of
// what was read, content the request used ("refreshed each time the cached content is used"). So
// a shared system prompt stays cached while any session that starts with it is active, instead of
// expiring one TTL after the first session wrote it.
//
// # Inferred prefixes
//
// Traces from Claude Code transcripts or LiteLLM logs carry no prefix hashes. With InferPrefix
// "session" (the default), a call without Prefix (or any call when Env.BlockSize is 0) but with a
// Session gets a virtual prefix, in blocks of B = Env.BlockSize tokens (VirtualBlockSize, 64, when
// the trace has none), built on one assumption: a conversation is append-only within its (tenant,
// session, agent), behind a head (system prompt and tools) shared by every session of the same
// (tenant, agent), or (tenant, model) when the agent is absent. For a call of H head tokens, the
// hash of its first p blocks is
//
//   - hash(tenant, agent|model, "head", p) for p ≤ H/B: the head, shared across sessions;
//   - hash(tenant, session, agent, epoch, p) beyond: the session's own conversation.
//
// H is the call's SystemTokens when present. Otherwise it is estimated from the recorded split:
// the first call of a session that the provider served from its cache read what another session
// had written, which can only be the shared head, so the head of a (tenant, agent|model) is the
// largest CacheRead recorded by the first call of any of its sessions so far (0 before any), capped
// by the call's prompt. A session's first call is one whose (tenant, session, agent) the stage has
// not seen for SessionMemory (one hour, the longest provider TTL: a session idle that long has
// nothing of its own left in the provider's cache). A session-resuming first call whose recorded
// read covers its own history (a resumed or forked conversation) inflates the estimate: the
// largest one is kept.
//
// The epoch starts at 0 and is incremented when the session's body (prompt − H) shrinks by more
// than a quarter from the previous call's (compaction, a rewritten history: a new conversation
// body, which shares only the head). The end of the head is the call's third breakpoint, where
// the system prompt's end is with real prefixes. A pruned call (c.Pruned > 0, whose history the
// pruner rewrote) keeps the head but gets a body of its own, and leaves its session's state as it
// was. The virtual hashes are computed on demand at the few positions probed, never stored: the
// record's Prefix is neither read nor changed for an inferred call.
//
// Calls with neither prefix hashes nor a session (or any call without prefix hashes with
// InferPrefix "off") pass unchanged, with their recorded split, and are counted as no_prefix.
//
// # Memory and speed
//
// Entries expire TTL after their last use, and session states (and inferred heads) TTL after their
// last call, or SessionMemory when InferPrefix is "session"; they are dropped as time advances
// (expiry queues in time order, collected at the start of every Handle), so the state is bounded
// by what was used within one TTL (or hour), not by the length of the trace; the entry table
// shrinks as entries go. Handle allocates nothing in the steady state and probes at most
// Breakpoints × (1 + LookbackBlocks) positions of an open-addressing table keyed by (block hash,
// cache space), however long the prompt.
//
// # Counters
//
// calls (handled), hits (calls with a cache read), hit_rate (hits / calls), read_tokens,
// write_tokens and input_tokens (summed over the calls the stage split), entries (live cache
// entries), sessions (live session states), expired (entries dropped at expiry), inferred (calls
// whose prefix was inferred from their session), no_prefix (calls passed with their recorded split,
// having neither prefix hashes nor a session to infer them from) and below_min (calls that wrote
// nothing because every new prefix was shorter than the minimum cacheable length).
package promptcache

import (
	"fmt"
	"slices"
	"time"

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

// Values of InferPrefix.
const (
	InferSession = "session" // infer a prefix from the call's session when it has none
	InferOff     = "off"     // calls without prefix hashes pass with their recorded split
)

// VirtualBlockSize is the block size, in tokens, of inferred prefixes when the trace has no prefix
// hashes (Env.BlockSize 0).
const VirtualBlockSize = 64

// SessionMemory is how long a session's state (and an inferred head's estimate) outlives its last
// call when InferPrefix is "session": the longest provider TTL, so that a session's first call,
// whose recorded cache read tells the shared head, is told from a session resumed after a pause.
const SessionMemory = time.Hour

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
	// InferPrefix says what to do with calls without prefix hashes: "session" (the default) infers
	// one from the call's session (see the package documentation), "off" passes them with their
	// recorded split.
	InferPrefix string `json:"infer_prefix"`
}

// Defaults returns the default settings, disabled: TTL 5m, 4 breakpoints, 20 blocks of lookback,
// the price book's minimums, prefixes inferred from sessions.
func Defaults() *Settings {
	return &Settings{TTL: TTL5m, Breakpoints: MaxBreakpoints, LookbackBlocks: DefaultLookbackBlocks, InferPrefix: InferSession}
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
	if s.InferPrefix != InferSession && s.InferPrefix != InferOff {
		return strategies.Errorf("infer_prefix", "want \"session\" or \"off\", got %q", s.InferPrefix)
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
