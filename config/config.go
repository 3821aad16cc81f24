// Package config loads, validates and edits performance-config.json: which strategies run, in what
// order and with what settings, how the simulated provider behaves, and the plan's success
// criteria, rollback triggers and phases. It builds strategy stacks from it.
//
// Every error names the JSON path of the offending value (strategies.router.bands[1].max) and, when
// it comes from a file, its line and column. Unknown keys are errors.
package config

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tarsopt/tarsopt/internal/strictjson"
	"github.com/tarsopt/tarsopt/strategies"

	// The strategies a configuration can name register themselves.
	_ "github.com/tarsopt/tarsopt/strategies/batcher"
	_ "github.com/tarsopt/tarsopt/strategies/deferral"
	_ "github.com/tarsopt/tarsopt/strategies/promptcache"
	_ "github.com/tarsopt/tarsopt/strategies/pruner"
	_ "github.com/tarsopt/tarsopt/strategies/responsecache"
	_ "github.com/tarsopt/tarsopt/strategies/router"
)

// Version is the configuration format version this package reads and writes.
const Version = 1

//go:embed default.json
var defaultJSON []byte

// Config is a whole performance configuration.
type Config struct {
	// Version is the format version; 1.
	Version int `json:"version"`
	// Name and Description label the configuration in reports.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Seed seeds every random draw of a replay.
	Seed uint64 `json:"seed"`
	// Order is the order of the stack, first stage first. Every registered strategy appears once.
	Order []string `json:"order"`
	// Strategies holds each strategy's settings, under its name.
	Strategies Strategies `json:"strategies"`
	// Upstream models the provider: model speeds, quality curves, error rate.
	Upstream *strategies.Upstream `json:"upstream"`
	// SuccessCriteria bounds metrics (by name, see Metrics) that a configuration must meet.
	SuccessCriteria map[string]Bound `json:"success_criteria"`
	// RollbackTriggers say which strategies to disable when a metric crosses a threshold.
	RollbackTriggers []Trigger `json:"rollback_triggers"`
	// Phases is the plan's rollout, each phase with its strategies and targets.
	Phases []Phase `json:"phases"`
	// Uncertainty declares what tarsopt mc varies (see Uncertainty).
	Uncertainty *Uncertainty `json:"uncertainty,omitempty"`
}

// Bound is a range a metric must fall in; a nil end is open.
type Bound struct {
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
}

// Contains reports whether x is within the bound (ends included).
func (b Bound) Contains(x float64) bool {
	return (b.Min == nil || x >= *b.Min) && (b.Max == nil || x <= *b.Max)
}

// Trigger disables strategies when a metric falls below or rises above a threshold.
type Trigger struct {
	Metric  string   `json:"metric"`
	Below   *float64 `json:"below,omitempty"`
	Above   *float64 `json:"above,omitempty"`
	Disable []string `json:"disable"` // strategy names, or "all"
}

// Fires reports whether the trigger's condition holds for the metric's value x.
func (t Trigger) Fires(x float64) bool {
	return (t.Below != nil && x < *t.Below) || (t.Above != nil && x > *t.Above)
}

// Phase is one step of the plan's rollout.
type Phase struct {
	Name       string   `json:"name"`
	Report     string   `json:"report"` // file name of the phase's report
	Start      string   `json:"start"`  // first day, YYYY-MM-DD (UTC)
	End        string   `json:"end"`    // last day, YYYY-MM-DD, included
	Strategies []string `json:"strategies"`
	// TargetReduction is the cumulative cost reduction the plan promises by the end of the phase.
	TargetReduction float64 `json:"target_reduction"`
	// TargetDailyCostUSD is the daily cost the plan promises, in dollars.
	TargetDailyCostUSD float64 `json:"target_daily_cost_usd"`
	Note               string  `json:"note,omitempty"`
}

// Metrics lists the metric names that success criteria and rollback triggers may name. Costs are
// in dollars, shares and rates in 0..1, times as the suffix says. response_time_s is the mean time
// to the first token of interactive calls (the plan's "response time"); *_change metrics are
// relative to the baseline (0.5 = 50% more).
var Metrics = []string{
	"cost_reduction", "cost_usd", "cost_per_day_usd", "monthly_cost_usd",
	"calls_upstream_per_day", "tokens_per_day",
	"response_time_s", "response_time_change", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
	"error_rate", "quality_score", "cache_hit_rate", "batched_share", "deferred_share",
}

// Strategies holds the settings of every registered strategy, by name. Strategies a file leaves
// out keep their defaults (disabled).
type Strategies struct {
	m map[string]strategies.Settings
}

// Get returns the settings of strategy name, or nil when no such strategy is registered. The
// result is the configuration's own: changes to it change the configuration.
func (s *Strategies) Get(name string) strategies.Settings {
	s.fill()
	return s.m[name]
}

func (s *Strategies) fill() {
	if s.m == nil {
		s.m = map[string]strategies.Settings{}
	}
	for _, n := range strategies.Names() {
		if _, ok := s.m[n]; !ok {
			d, _ := strategies.Lookup(n)
			s.m[n] = d.Defaults()
		}
	}
}

// Target implements strictjson.Keyed: each member decodes into its strategy's settings.
func (s *Strategies) Target(name string) (any, error) {
	s.fill()
	st, ok := s.m[name]
	if !ok {
		return nil, fmt.Errorf("unknown strategy (known: %s)", strings.Join(strategies.Names(), ", "))
	}
	return st, nil
}

// MarshalJSON encodes the settings of every strategy, by name in sorted order.
func (s Strategies) MarshalJSON() ([]byte, error) {
	s.fill()
	return json.Marshal(s.m)
}

// UnmarshalJSON decodes strictly (unknown strategies and keys are errors).
func (s *Strategies) UnmarshalJSON(b []byte) error { return strictjson.Unmarshal(b, (*keyed)(s)) }

type keyed Strategies

func (k *keyed) Target(name string) (any, error) { return (*Strategies)(k).Target(name) }

// Default returns the built-in configuration: the seed plan. Each call returns a new copy.
func Default() *Config {
	c := &Config{}
	if err := c.parse(defaultJSON, "built-in default"); err != nil {
		panic(err)
	}
	return c
}

// DefaultJSON returns the built-in configuration file as shipped.
func DefaultJSON() []byte { return bytes.Clone(defaultJSON) }

// Parse decodes and validates a configuration from data (a file's content; name is for errors).
// The file is laid over the built-in default: keys it leaves out keep their default values, and
// settings objects are merged key by key, while lists and name-keyed tables it gives (bands,
// ttl_s, upstream.models, success_criteria) replace the default's.
func Parse(data []byte, name string) (*Config, error) {
	c := Default()
	if err := c.parse(data, name); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) parse(data []byte, name string) error {
	if err := c.decode(data, name); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// decode lays data over c without validating the result.
func (c *Config) decode(data []byte, name string) error {
	if err := strictjson.Unmarshal(data, c); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	c.Strategies.fill()
	return nil
}

// Load reads the configuration file at path (laid over the default, as Parse does), applies the
// assignments (see Set) and validates the result: a file that is broken only in what an
// assignment overrides loads.
func Load(path string, assignments ...string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c := Default()
	if err := c.decode(data, path); err != nil {
		return nil, err
	}
	if len(assignments) == 0 {
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return c, nil
	}
	if err := c.Set(assignments...); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// JSON returns c as indented JSON, the form `tarsopt config default` prints.
func (c *Config) JSON() ([]byte, error) {
	c.Strategies.fill()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	b, err := c.JSON()
	if err != nil {
		panic(err)
	}
	d := &Config{}
	if err := d.parse(b, "clone"); err != nil {
		panic(err)
	}
	return d
}

// PathError is a validation error about the value at a JSON path.
type PathError struct {
	Path string
	Msg  string
}

func (e *PathError) Error() string { return e.Path + ": " + e.Msg }

func bad(path, format string, args ...any) error {
	return &PathError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks the whole configuration and returns the first problem, naming its JSON path.
func (c *Config) Validate() error {
	if c.Version != Version {
		return bad("version", "want %d, got %d", Version, c.Version)
	}
	if c.Name == "" {
		return bad("name", "missing")
	}
	c.Strategies.fill()
	names := strategies.Names()
	seen := map[string]int{}
	for i, n := range c.Order {
		if _, ok := strategies.Lookup(n); !ok {
			return bad(fmt.Sprintf("order[%d]", i), "unknown strategy %q (known: %s)", n, strings.Join(names, ", "))
		}
		if j, dup := seen[n]; dup {
			return bad(fmt.Sprintf("order[%d]", i), "%s is already at order[%d]", n, j)
		}
		seen[n] = i
	}
	for _, n := range names {
		if _, ok := seen[n]; !ok {
			return bad("order", "%s is missing: list every strategy once (disabled ones too)", n)
		}
	}
	for _, n := range names {
		if err := c.Strategies.m[n].Validate(); err != nil {
			var pe *PathError
			if errors.As(err, &pe) {
				return bad("strategies."+n+"."+pe.Path, "%s", pe.Msg)
			}
			return fmt.Errorf("strategies.%s.%w", n, err)
		}
	}
	if c.Upstream == nil {
		return bad("upstream", "missing")
	}
	if err := c.Upstream.Validate(); err != nil {
		return fmt.Errorf("upstream.%w", err)
	}
	for _, m := range sortedKeys(c.SuccessCriteria) {
		path := "success_criteria." + m
		if !slices.Contains(Metrics, m) {
			return bad(path, "unknown metric (known: %s)", strings.Join(Metrics, ", "))
		}
		b := c.SuccessCriteria[m]
		if b.Min == nil && b.Max == nil {
			return bad(path, "give min, max or both")
		}
		if b.Min != nil && b.Max != nil && *b.Min > *b.Max {
			return bad(path, "min %g is above max %g", *b.Min, *b.Max)
		}
	}
	for i, t := range c.RollbackTriggers {
		path := fmt.Sprintf("rollback_triggers[%d]", i)
		if !slices.Contains(Metrics, t.Metric) {
			return bad(path+".metric", "unknown metric %q (known: %s)", t.Metric, strings.Join(Metrics, ", "))
		}
		if (t.Below == nil) == (t.Above == nil) {
			return bad(path, "give exactly one of below and above")
		}
		if len(t.Disable) == 0 {
			return bad(path+".disable", "name the strategies to disable, or \"all\"")
		}
		for j, n := range t.Disable {
			if _, ok := strategies.Lookup(n); !ok && n != "all" {
				return bad(fmt.Sprintf("%s.disable[%d]", path, j), "unknown strategy %q", n)
			}
		}
	}
	var prevEnd time.Time
	for i, p := range c.Phases {
		path := fmt.Sprintf("phases[%d]", i)
		if p.Name == "" {
			return bad(path+".name", "missing")
		}
		start, err := time.Parse(time.DateOnly, p.Start)
		if err != nil {
			return bad(path+".start", "want a date YYYY-MM-DD, got %q", p.Start)
		}
		end, err := time.Parse(time.DateOnly, p.End)
		if err != nil {
			return bad(path+".end", "want a date YYYY-MM-DD, got %q", p.End)
		}
		if end.Before(start) {
			return bad(path+".end", "%s is before start %s", p.End, p.Start)
		}
		if !prevEnd.IsZero() && !start.After(prevEnd) {
			return bad(path+".start", "%s overlaps the previous phase (ends %s)", p.Start, prevEnd.Format(time.DateOnly))
		}
		prevEnd = end
		for j, n := range p.Strategies {
			if _, ok := strategies.Lookup(n); !ok {
				return bad(fmt.Sprintf("%s.strategies[%d]", path, j), "unknown strategy %q", n)
			}
		}
		if !(p.TargetReduction >= 0 && p.TargetReduction < 1) {
			return bad(path+".target_reduction", "want a share in [0, 1), got %g", p.TargetReduction)
		}
		if p.TargetDailyCostUSD < 0 {
			return bad(path+".target_daily_cost_usd", "negative")
		}
	}
	return c.validateUncertainty()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Enabled returns the names of the enabled strategies in stack order.
func (c *Config) Enabled() []string {
	var out []string
	for _, n := range c.Order {
		if s := c.Strategies.Get(n); s != nil && s.Enabled() {
			out = append(out, n)
		}
	}
	return out
}

// Only enables exactly the named strategies (with their settings) and disables the others.
func (c *Config) Only(names ...string) {
	for _, n := range strategies.Names() {
		c.Strategies.Get(n).SetEnabled(slices.Contains(names, n))
	}
}

// Stack builds the enabled strategies' stages in order.
func (c *Config) Stack(env strategies.Env) ([]strategies.Stage, error) {
	var out []strategies.Stage
	for _, n := range c.Enabled() {
		d, _ := strategies.Lookup(n)
		st, err := d.Build(c.Strategies.Get(n), env)
		if err != nil {
			return nil, fmt.Errorf("strategies.%s.%w", n, err)
		}
		out = append(out, st)
	}
	return out, nil
}
