// Package responsecache is the response cache strategy: it answers a client request that is
// identical to an earlier one (same tenant, same request fingerprint, same requested model) from
// the stored answer, with no upstream call.
//
// The stage is a pure policy (see package strategies): Handle looks the call up and serves it on a
// live entry; Observe stores the answer of a call that went upstream. The cache is bounded by a
// number of entries and by an estimate of the bytes the answers take (see EntryBytes), and evicts
// by a configurable policy: "lru", "sieve" (Zhang et al., NSDI'24) or "s3fifo" (Yang et al.,
// SOSP'23). Entries expire after the TTL of their query type; expired entries are swept eagerly
// (see Stage), so they never pin memory.
//
// The simulator and the live proxy drive it the same way; the one thing a driver must add is the
// latency of a hit, which the stage does not decide on its own: see Stage.HitLatency.
package responsecache

import (
	"fmt"
	"math"
	"sort"

	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// Name is the strategy's registered name, the key under strategies in the configuration, and the
// value of Call.ServedBy on a hit.
const Name = "responsecache"

// Eviction policies accepted by Settings.Policy.
const (
	PolicyLRU    = "lru"    // least recently used
	PolicySIEVE  = "sieve"  // SIEVE: FIFO with a visited bit and a moving hand (NSDI'24)
	PolicyS3FIFO = "s3fifo" // S3-FIFO: small probationary FIFO, main FIFO with reinsertion, ghost FIFO (SOSP'23)
)

// DefaultPolicy is the eviction policy of Defaults. In the comparison of policy_test.go
// (TestPolicyComparison, BenchmarkPolicies) SIEVE hits as often as LRU on the generated agent
// traces, whose repeats follow recency and whose working set the TTLs bound (within 0.7 points
// either way), and 6 to 12 points more than LRU on Zipf workloads with and without scans, where
// S3-FIFO is at most 2 points better but falls up to 1.5 points below LRU on the agent traces.
const DefaultPolicy = PolicySIEVE

// Settings configures the response cache: the object under strategies.responsecache in
// performance-config.json. The zero value is not useful; start from Defaults.
type Settings struct {
	strategies.Common

	// TTL gives, by query type name (traces.QueryType.String(): research, fact_lookup,
	// code_pattern, template, chat, tool, heartbeat, unknown), how long in seconds an answer may
	// be served. Calls of a type that is absent or has a TTL of 0 are not cached. A configuration
	// file that gives ttl_s replaces the default table (tarsopt's config decoder replaces maps);
	// --set strategies.responsecache.ttl_s.TYPE=SECONDS edits one entry.
	TTL map[string]float64 `json:"ttl_s"`
	// Fresh gives, by query type name, how old in seconds an answer may be and still count as
	// fresh; a hit on an older entry is stale (Call.Stale, quality × (1 − StalePenalty)). A type
	// absent here is fresh for its whole TTL. Optional.
	Fresh map[string]float64 `json:"fresh_s"`
	// StalePenalty is the share of quality lost on a stale hit, 0 to 1: Call.Quality is multiplied
	// by 1 − StalePenalty.
	StalePenalty float64 `json:"stale_penalty"`
	// DeterministicOnly caches only calls with a temperature present and equal to 0. When false,
	// calls without a temperature or with a temperature above 0 are cached too.
	DeterministicOnly bool `json:"deterministic_only"`
	// MaxEntries bounds the number of stored answers.
	MaxEntries int `json:"max_entries"`
	// MaxBytes bounds the estimated size of the stored answers, in bytes (see EntryBytes).
	MaxBytes int64 `json:"max_bytes"`
	// Policy is the eviction policy: "lru", "sieve" or "s3fifo".
	Policy string `json:"policy"`
	// HitLatencyMS is how long a hit takes to answer, in milliseconds (see Stage.HitLatency).
	HitLatencyMS float64 `json:"hit_latency_ms"`
}

// Defaults returns the settings of the seed plan, disabled: TTLs research 3,600 s, fact_lookup
// 7,200 s, code_pattern and template 86,400 s; no separate freshness; stale penalty 0.05;
// deterministic calls only; 100,000 entries and 256 MiB; policy DefaultPolicy; hits answered in
// 20 ms.
func Defaults() *Settings {
	return &Settings{
		TTL: map[string]float64{
			"research":     3600,
			"fact_lookup":  7200,
			"code_pattern": 86400,
			"template":     86400,
		},
		Fresh:             map[string]float64{},
		StalePenalty:      0.05,
		DeterministicOnly: true,
		MaxEntries:        100000,
		MaxBytes:          268435456,
		Policy:            DefaultPolicy,
		HitLatencyMS:      20,
	}
}

// maxSeconds bounds TTLs and freshness (100 years), so that they fit in int64 nanoseconds.
const maxSeconds = 100 * 365 * 86400

// Validate checks the settings and returns the first problem, its message starting with the JSON
// path of the offending key (such as "ttl_s.reserch: unknown query type ...").
func (s *Settings) Validate() error {
	if err := checkTypes("ttl_s", s.TTL); err != nil {
		return err
	}
	if err := checkTypes("fresh_s", s.Fresh); err != nil {
		return err
	}
	for _, name := range sortedNames(s.Fresh) {
		if ttl := s.TTL[name]; ttl > 0 && s.Fresh[name] > ttl {
			return strategies.Errorf("fresh_s."+name, "must not exceed ttl_s.%s (%g), got %g", name, ttl, s.Fresh[name])
		}
	}
	if !(s.StalePenalty >= 0 && s.StalePenalty <= 1) {
		return strategies.Errorf("stale_penalty", "must be between 0 and 1, got %g", s.StalePenalty)
	}
	if s.MaxEntries < 1 || s.MaxEntries > math.MaxInt32-1 {
		return strategies.Errorf("max_entries", "must be between 1 and %d, got %d", math.MaxInt32-1, s.MaxEntries)
	}
	if s.MaxBytes < entryOverhead {
		return strategies.Errorf("max_bytes", "must be at least %d (one entry's overhead), got %d", entryOverhead, s.MaxBytes)
	}
	switch s.Policy {
	case PolicyLRU, PolicySIEVE, PolicyS3FIFO:
	default:
		return strategies.Errorf("policy", "must be %q, %q or %q, got %q", PolicyLRU, PolicySIEVE, PolicyS3FIFO, s.Policy)
	}
	if !(s.HitLatencyMS >= 0 && s.HitLatencyMS <= maxSeconds*1000) {
		return strategies.Errorf("hit_latency_ms", "must be a number of milliseconds ≥ 0, got %g", s.HitLatencyMS)
	}
	return nil
}

// checkTypes checks a map from query type names to seconds, in sorted order of names so that the
// first problem reported does not depend on map order.
func checkTypes(path string, m map[string]float64) error {
	for _, name := range sortedNames(m) {
		if _, ok := traces.ParseQueryType(name); !ok {
			return strategies.Errorf(path+"."+name, "unknown query type (want one of %s)", typeList())
		}
		if v := m[name]; !(v >= 0 && v <= maxSeconds) {
			return strategies.Errorf(path+"."+name, "must be a number of seconds ≥ 0, got %g", v)
		}
	}
	return nil
}

func sortedNames(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func typeList() string {
	s := ""
	for i, q := range traces.QueryTypes {
		if i > 0 {
			s += ", "
		}
		s += q.String()
	}
	return s
}

func init() {
	strategies.Register(strategies.Def{
		Name:     Name,
		Summary:  "answer identical deterministic requests from stored answers, with per-query-type TTLs",
		Defaults: func() strategies.Settings { return Defaults() },
		Build: func(s strategies.Settings, _ strategies.Env) (strategies.Stage, error) {
			rs, ok := s.(*Settings)
			if !ok {
				return nil, fmt.Errorf("responsecache: settings of type %T, want *responsecache.Settings", s)
			}
			return New(rs)
		},
	})
}
