package strategies

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/tarsopt/tarsopt/internal/hash64"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/traces"
)

// Settings is one strategy's configuration: the object under strategies.NAME in
// performance-config.json. Implementations are structs with json tags that embed Common.
type Settings interface {
	// Enabled reports whether the strategy runs.
	Enabled() bool
	// SetEnabled turns the strategy on or off.
	SetEnabled(on bool)
	// Validate checks the settings and returns the first problem, its message starting with the
	// JSON path of the offending key relative to the strategy's object ("bands[1].max: ...").
	Validate() error
}

// Common holds the settings every strategy has. Embed it in a Settings struct.
type Common struct {
	On bool `json:"enabled"`
}

// Enabled reports whether the strategy runs.
func (c *Common) Enabled() bool { return c.On }

// SetEnabled turns the strategy on or off.
func (c *Common) SetEnabled(on bool) { c.On = on }

// Env is what a strategy may use when it is built: shared, read-only for the run.
type Env struct {
	// Book prices calls (the router compares models' costs; the prompt cache reads minimum
	// cacheable lengths).
	Book *pricing.Book
	// Upstream is the model of the provider's models (speeds and quality curves).
	Upstream *Upstream
	// BlockSize is the number of prompt tokens per Prefix hash in the trace; 0 when the trace has
	// no prefixes.
	BlockSize int
	// Seed seeds every random draw of the run (see Draw).
	Seed uint64
}

// Def describes one strategy to the registry.
type Def struct {
	// Name is the key under strategies in the configuration.
	Name string
	// Summary is one line for help texts and docs.
	Summary string
	// Defaults returns a new Settings holding the strategy's defaults (disabled).
	Defaults func() Settings
	// Build makes the stage from validated settings (of the type Defaults returns).
	Build func(s Settings, env Env) (Stage, error)
}

var (
	regMu sync.RWMutex
	reg   = map[string]Def{}
)

// Register adds a strategy. Strategy packages call it from init; a second registration of a name
// panics.
func Register(d Def) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := reg[d.Name]; dup {
		panic("strategies: " + d.Name + " registered twice")
	}
	if d.Name == "" || d.Defaults == nil || d.Build == nil {
		panic("strategies: incomplete Def for " + d.Name)
	}
	reg[d.Name] = d
}

// Lookup returns the strategy registered under name.
func Lookup(name string) (Def, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	d, ok := reg[name]
	return d, ok
}

// Names returns the registered strategies' names in sorted order.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(reg))
	for n := range reg {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// MarshalSettings encodes s as JSON (a helper for Settings that need no custom encoding).
func MarshalSettings(s Settings) ([]byte, error) { return json.Marshal(s) }

// Draw returns a uniform number in [0, 1) for the call with key, for one purpose: common random
// numbers, so that the same call meets the same luck under every configuration. Purposes are small
// constants that each user of randomness picks (see the Draw* constants).
func Draw(seed, key, purpose uint64) float64 {
	h := hash64.Combine(hash64.Combine(seed, key), purpose)
	return float64(h>>11) / (1 << 53)
}

// Purposes of random draws about a call, so that no two uses share a number.
const (
	DrawQuality    uint64 = iota + 1 // whether the answer is acceptable (attempt n adds n×16)
	DrawError                        // whether the provider fails the call
	DrawTurnaround                   // the Batch API's turnaround
	DrawLatency                      // the estimated latency's noise
)

// Normal returns a standard normal deviate from a uniform u in (0, 1) by the inverse CDF.
func Normal(u float64) float64 {
	if u <= 0 {
		u = math.SmallestNonzeroFloat64
	}
	if u >= 1 {
		u = 1 - 1e-16
	}
	return math.Sqrt2 * math.Erfinv(2*u-1)
}

// KeyOf returns a call's identity for common random numbers: the hash of its ID when it has one,
// else of its ordinal in the trace.
func KeyOf(r *traces.Record, ordinal int64) uint64 {
	if r.ID != "" {
		return hash64.String(r.ID)
	}
	return hash64.Mix(uint64(ordinal) + 1)
}

// Complexity returns a call's difficulty score, 0 to 100: the record's own when present, else an
// estimate from its features,
//
//	base(query type) + 8 × log2(1 + prompt / 4000) + 8 × log2(1 + output / 1000),
//
// capped at 100. The bases (heartbeat 10, fact_lookup 20, template 25, tool 35, chat 40,
// code_pattern 55, research 65, unknown or absent 45) follow the seed plan's bands: heartbeats and
// lookups are simple, research and code are complex. Longer prompts (more context to reason over)
// and longer answers add to it, slowly: an agent's 150,000-token context adds 42, a 1,000-token
// answer 8.
func Complexity(r *traces.Record) float64 {
	if r.Has(traces.FieldComplexity) {
		return min(max(r.Complexity, 0), 100) // the builtins: math.Min's NaN and ±0 rules, inlined
	}
	base := 45.0
	switch r.QueryType {
	case traces.QueryHeartbeat:
		base = 10
	case traces.QueryFactLookup:
		base = 20
	case traces.QueryTemplate:
		base = 25
	case traces.QueryTool:
		base = 35
	case traces.QueryChat:
		base = 40
	case traces.QueryCodePattern:
		base = 55
	case traces.QueryResearch:
		base = 65
	}
	c := base + 8*math.Log2(1+float64(r.PromptTokens())/4000) + 8*math.Log2(1+float64(r.Output)/1000)
	return min(c, 100)
}

// Errorf returns an error whose message starts with the JSON path (relative to the strategy's
// object) of the setting it is about.
func Errorf(path, format string, args ...any) error {
	return fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
}
