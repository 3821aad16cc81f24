package gen

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tarsopt/tarsopt/traces"
)

// Profile describes a population of model calls to generate: when calls arrive, what kinds of work
// they are, how conversations grow, and which targets the generator must calibrate to. Profiles are
// JSON (see docs/profiles.md); the built-in ones are embedded, and a path to a file works too.
type Profile struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Start is the first instant of the generated window; --start overrides it.
	Start time.Time `json:"start"`
	// Provider, Agent and Tenants label the records. Sessions are spread over the tenants evenly at
	// random; each tenant's prompts share the agent's system prompt.
	Provider string   `json:"provider"`
	Agent    string   `json:"agent"`
	Tenants  []string `json:"tenants"`
	// BlockSize is the number of prompt tokens per prefix hash.
	BlockSize int `json:"block_size"`
	// SystemTokens is the size of the agent's own system prompt and tool definitions, shared by every
	// call (before calibration scales it).
	SystemTokens float64 `json:"system_tokens"`
	// Models is the mix of models main sessions run on, with each model's latency.
	Models []ModelProfile `json:"models"`
	// PromptCache is the provider prompt caching that the recorded calls used: "none" (all input is
	// uncached, as in the seed's baseline), "5m" or "1h" (the longest cached prefix is read, the rest
	// written, as Claude Code's automatic caching does).
	PromptCache string `json:"prompt_cache"`
	// Arrivals shapes when sessions start.
	Arrivals Arrivals `json:"arrivals"`
	// Heartbeat, when set, adds a periodic checklist call (OpenClaw's HEARTBEAT.md turn).
	Heartbeat *Heartbeat `json:"heartbeat,omitempty"`
	// Errors: the share of calls that fail, and how.
	Errors []ErrorProfile `json:"errors"`
	// QueryTypes holds the per-type token sizes, complexity, urgency and repeat behaviour.
	QueryTypes map[string]*QueryTypeProfile `json:"query_types"`
	// Sessions lists the kinds of session (a standalone task is a one-call session).
	Sessions []*SessionProfile `json:"sessions"`
	// Targets, when set, are what calibration must reproduce on average.
	Targets *Targets `json:"targets,omitempty"`
}

// Targets are averages that calibration solves for. Zero fields are not targeted.
type Targets struct {
	CallsPerDay float64 `json:"calls_per_day"`
	// TokensPerDay and CostPerDayUSD together fix the input/output split (with no prompt caching);
	// TokensPerDay alone scales both sides in the profile's own proportion.
	TokensPerDay  float64 `json:"tokens_per_day"`
	CostPerDayUSD float64 `json:"cost_per_day_usd"`
	// ComplexityBelow50 is the share of calls with a complexity score under 50.
	ComplexityBelow50 float64 `json:"complexity_below_50"`
	// CacheHitRate, per query type, is the hit rate an ideal response cache with the type's TTL
	// must be able to reach: repeats are generated at the rate that makes it so.
	CacheHitRate map[string]float64 `json:"cache_hit_rate"`
	// ResponseTime is the mean time to first token, in seconds.
	ResponseTimeS float64 `json:"response_time_s"`
}

// ModelProfile is one model of the mix with its latency: time to first token is log-normal, then
// output streams at TokensPerS.
type ModelProfile struct {
	Model      string  `json:"model"`
	Share      float64 `json:"share"`
	TTFT       Dist    `json:"ttft_s"`
	TokensPerS float64 `json:"tokens_per_s"`
}

// Arrivals is the intensity of session starts over the day and week, in the tenants' local time.
type Arrivals struct {
	UTCOffsetHours float64     `json:"utc_offset_hours"`
	Hourly         [24]float64 `json:"hourly"` // relative weight of each local hour
	Weekly         [7]float64  `json:"weekly"` // relative weight of each day, Monday first
}

// Heartbeat is a call made on a timer, in a session of its own per tenant and day.
type Heartbeat struct {
	EveryS  float64 `json:"every_s"`
	JitterS float64 `json:"jitter_s"`
}

// ErrorProfile is one way calls fail. Failed calls are billed nothing: their token counts are 0.
type ErrorProfile struct {
	Share  float64 `json:"share"` // of all calls
	Status int     `json:"status"`
	Error  string  `json:"error"`
}

// QueryTypeProfile describes calls of one query type.
type QueryTypeProfile struct {
	// SystemTokens is the type's own prompt (a skill's instructions), after the agent's.
	SystemTokens float64 `json:"system_tokens"`
	NewTokens    Dist    `json:"new_tokens"`
	OutputTokens Dist    `json:"output_tokens"`
	// Complexity is a Beta distribution on 0..100 given by its mean and concentration (α+β);
	// omitted, calls of the type carry no complexity score.
	Complexity *BetaDist `json:"complexity,omitempty"`
	// Priority is the share of urgent, normal and low calls.
	Priority map[string]float64 `json:"priority"`
	// MaxDelayS is the max_delay of normal and low calls, in seconds (urgent calls get 0).
	MaxDelayS map[string]float64 `json:"max_delay_s"`
	// Temperature of the requests; 0 makes them deterministic (cacheable).
	Temperature float64 `json:"temperature"`
	// Repeat, for standalone calls, makes some calls exact repeats of earlier ones.
	Repeat *Repeat `json:"repeat,omitempty"`
}

// Repeat describes exact repeats of earlier calls of a type.
type Repeat struct {
	// TTLS is the response-cache TTL that the type's target hit rate refers to, in seconds.
	TTLS float64 `json:"ttl_s"`
	// AgeMeanS is the mean age of the call a repeat copies (exponential); by default TTLS, so that
	// some repeats fall beyond the TTL and a longer TTL catches more.
	AgeMeanS float64 `json:"age_mean_s"`
	// Probability is the chance that a call repeats an earlier one. Calibration sets it from the
	// target hit rate; a value here is used only when there is no target.
	Probability float64 `json:"probability"`
}

// SessionProfile is one kind of session: a conversation or task of one or more calls.
type SessionProfile struct {
	Name string `json:"name"`
	// CallShare is the share of non-heartbeat calls that sessions of this kind make (with a
	// calls_per_day target); SessionsPerDay gives their rate directly otherwise.
	CallShare      float64 `json:"call_share"`
	SessionsPerDay float64 `json:"sessions_per_day"`
	// First and Later are the query-type weights of the first call and of the calls after it.
	First map[string]float64 `json:"first"`
	Later map[string]float64 `json:"later"`
	// ExtraCallsMean is the mean number of calls after the first; ExtraCallsDist is how that number
	// varies: "geometric" (the default: long sessions are common, as in coding agents) or "poisson"
	// (lengths cluster around the mean).
	ExtraCallsMean float64 `json:"extra_calls_mean"`
	ExtraCallsDist string  `json:"extra_calls_dist,omitempty"`
	// ThinkS is the client's delay between a response and the next call, in seconds.
	ThinkS Dist `json:"think_s"`
	// History says whether each call carries the conversation so far (system, then every earlier
	// call's new and output tokens).
	History bool `json:"history"`
	// CompactAt and CompactTo: when a prompt would exceed CompactAt tokens, the history is replaced
	// by a summary of CompactTo tokens (Claude Code's auto-compact). 0 disables it.
	CompactAt float64 `json:"compact_at"`
	CompactTo float64 `json:"compact_to"`
	// Models overrides the profile's model mix for this kind of session (by model id → share).
	Models map[string]float64 `json:"models,omitempty"`
	// Subagents spawns sub-agent sessions from calls of this session.
	Subagents *Subagents `json:"subagents,omitempty"`
	// SystemTokens adds a session-kind prompt after the agent's (a sub-agent's own instructions).
	SystemTokens float64 `json:"system_tokens"`
	// Standalone sessions (one call, no history) are the ones whose calls can be exact repeats.
}

// Subagents spawns child sessions.
type Subagents struct {
	// Probability that a session spawns sub-agents at all; Count is then 1 + Poisson(CountMean-1).
	Probability float64 `json:"probability"`
	CountMean   float64 `json:"count_mean"`
	// Session names the session kind the sub-agents run.
	Session string `json:"session"`
}

// Dist is a log-normal distribution given by its median and the standard deviation of its log,
// truncated to [Min, Max] when those are set. Sigma 0 makes it a constant.
type Dist struct {
	Median float64 `json:"median"`
	Sigma  float64 `json:"sigma"`
	Min    float64 `json:"min,omitempty"`
	Max    float64 `json:"max,omitempty"`
}

// Mean returns the mean of the untruncated distribution: median × exp(σ²/2).
func (d Dist) Mean() float64 { return d.Median * math.Exp(d.Sigma*d.Sigma/2) }

// BetaDist is a Beta distribution on 0..100 given by mean (0..100) and concentration α+β.
type BetaDist struct {
	Mean          float64 `json:"mean"`
	Concentration float64 `json:"concentration"`
}

//go:embed profiles/*.json
var profileFS embed.FS

// Profiles returns the names of the built-in profiles, sorted.
func Profiles() []string {
	ents, _ := profileFS.ReadDir("profiles")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(out)
	return out
}

// LoadProfile returns the built-in profile of that name, or reads the profile file at that path.
func LoadProfile(nameOrPath string) (*Profile, error) {
	data, err := profileFS.ReadFile("profiles/" + nameOrPath + ".json")
	src := "built-in profile " + nameOrPath
	if err != nil {
		if data, err = os.ReadFile(nameOrPath); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("gen: no profile %q: not a built-in (%s) and no such file", nameOrPath, strings.Join(Profiles(), ", "))
			}
			return nil, fmt.Errorf("gen: %w", err)
		}
		src = nameOrPath
	}
	return ParseProfile(data, src)
}

// ParseProfile decodes and validates a profile. Unknown keys are errors.
func ParseProfile(data []byte, src string) (*Profile, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return &p, nil
}

// Validate checks that the profile can be generated, and returns the first problem with its JSON
// path.
func (p *Profile) Validate() error {
	bad := func(path, format string, args ...any) error {
		return fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
	if p.Name == "" {
		return bad("name", "missing")
	}
	if p.Start.IsZero() {
		return bad("start", "missing")
	}
	if p.BlockSize <= 0 {
		return bad("block_size", "must be positive")
	}
	if len(p.Tenants) == 0 {
		return bad("tenants", "need at least one")
	}
	if len(p.Models) == 0 {
		return bad("models", "need at least one")
	}
	total := 0.0
	for i, m := range p.Models {
		path := fmt.Sprintf("models[%d]", i)
		if m.Model == "" {
			return bad(path+".model", "missing")
		}
		if m.Share < 0 || m.TokensPerS <= 0 {
			return bad(path, "share must be non-negative and tokens_per_s positive")
		}
		if err := m.TTFT.check(path + ".ttft_s"); err != nil {
			return err
		}
		total += m.Share
	}
	if total <= 0 {
		return bad("models", "shares add up to 0")
	}
	switch p.PromptCache {
	case "none", "5m", "1h":
	default:
		return bad("prompt_cache", "want none, 5m or 1h, got %q", p.PromptCache)
	}
	var sumW float64
	for _, w := range p.Arrivals.Hourly {
		if w < 0 {
			return bad("arrivals.hourly", "negative weight")
		}
		sumW += w
	}
	if sumW <= 0 {
		return bad("arrivals.hourly", "weights add up to 0")
	}
	sumW = 0
	for _, w := range p.Arrivals.Weekly {
		if w < 0 {
			return bad("arrivals.weekly", "negative weight")
		}
		sumW += w
	}
	if sumW <= 0 {
		return bad("arrivals.weekly", "weights add up to 0")
	}
	if hb := p.Heartbeat; hb != nil {
		if hb.EveryS < 60 || hb.JitterS < 0 || hb.JitterS >= hb.EveryS/2 {
			return bad("heartbeat", "every_s must be at least 60 and jitter_s under half of it")
		}
		if p.QueryTypes["heartbeat"] == nil {
			return bad("query_types.heartbeat", "missing, and the profile has a heartbeat")
		}
	}
	errShare := 0.0
	for i, e := range p.Errors {
		if e.Share < 0 || e.Status < 400 || e.Status > 599 {
			return bad(fmt.Sprintf("errors[%d]", i), "share must be non-negative and status a 4xx or 5xx")
		}
		errShare += e.Share
	}
	if errShare >= 0.5 {
		return bad("errors", "shares add up to %g, want under 0.5", errShare)
	}
	for _, name := range slices.Sorted(maps.Keys(p.QueryTypes)) {
		q := p.QueryTypes[name]
		path := "query_types." + name
		if _, ok := traces.ParseQueryType(name); !ok {
			return bad(path, "not a query type")
		}
		if err := q.NewTokens.check(path + ".new_tokens"); err != nil {
			return err
		}
		if err := q.OutputTokens.check(path + ".output_tokens"); err != nil {
			return err
		}
		if c := q.Complexity; c != nil && (c.Mean <= 0 || c.Mean >= 100 || c.Concentration <= 0) {
			return bad(path+".complexity", "mean must be in (0, 100) and concentration positive")
		}
		if err := checkWeights(path+".priority", q.Priority, func(k string) bool { _, ok := traces.ParsePriority(k); return ok }); err != nil {
			return err
		}
		for k, v := range q.MaxDelayS {
			if k != "normal" && k != "low" {
				return bad(path+".max_delay_s."+k, "only normal and low calls wait")
			}
			if v < 0 {
				return bad(path+".max_delay_s."+k, "negative")
			}
		}
		if q.Temperature < 0 || q.Temperature > 2 {
			return bad(path+".temperature", "out of range 0..2")
		}
		if r := q.Repeat; r != nil {
			if r.TTLS <= 0 || r.AgeMeanS < 0 || r.Probability < 0 || r.Probability > 1 {
				return bad(path+".repeat", "ttl_s must be positive, probability in 0..1")
			}
		}
	}
	if len(p.Sessions) == 0 {
		return bad("sessions", "need at least one")
	}
	names := map[string]bool{}
	for i, s := range p.Sessions {
		path := fmt.Sprintf("sessions[%d]", i)
		if s.Name == "" || names[s.Name] {
			return bad(path+".name", "missing or repeated")
		}
		names[s.Name] = true
		if s.CallShare < 0 || s.SessionsPerDay < 0 || s.ExtraCallsMean < 0 {
			return bad(path, "call_share, sessions_per_day and extra_calls_mean must be non-negative")
		}
		isType := func(k string) bool { return p.QueryTypes[k] != nil }
		if err := checkWeights(path+".first", s.First, isType); err != nil {
			return err
		}
		if s.ExtraCallsMean > 0 {
			if err := checkWeights(path+".later", s.Later, isType); err != nil {
				return err
			}
			if err := s.ThinkS.check(path + ".think_s"); err != nil {
				return err
			}
		}
		if s.ExtraCallsDist != "" && s.ExtraCallsDist != "geometric" && s.ExtraCallsDist != "poisson" {
			return bad(path+".extra_calls_dist", "want geometric or poisson, got %q", s.ExtraCallsDist)
		}
		if s.CompactAt < 0 || s.CompactTo < 0 || (s.CompactAt > 0 && s.CompactTo >= s.CompactAt) {
			return bad(path, "compact_to must be below compact_at")
		}
		for m, w := range s.Models {
			if w < 0 {
				return bad(path+".models."+m, "negative share")
			}
			if p.model(m) == nil {
				return bad(path+".models."+m, "not in the profile's models")
			}
		}
	}
	for i, s := range p.Sessions {
		if sa := s.Subagents; sa != nil {
			path := fmt.Sprintf("sessions[%d].subagents", i)
			if p.session(sa.Session) == nil {
				return bad(path+".session", "no session named %q", sa.Session)
			}
			if sa.Probability < 0 || sa.Probability > 1 || sa.CountMean < 1 {
				return bad(path, "probability must be in 0..1 and count_mean at least 1")
			}
		}
	}
	if t := p.Targets; t != nil {
		if t.CallsPerDay < 0 || t.TokensPerDay < 0 || t.CostPerDayUSD < 0 || t.ComplexityBelow50 < 0 || t.ComplexityBelow50 >= 1 {
			return bad("targets", "values must be non-negative, complexity_below_50 under 1")
		}
		if t.CostPerDayUSD > 0 && t.TokensPerDay == 0 {
			return bad("targets.cost_per_day_usd", "needs tokens_per_day too")
		}
		if t.CostPerDayUSD > 0 && p.PromptCache != "none" {
			return bad("targets.cost_per_day_usd", "supported only with prompt_cache none")
		}
		for k, v := range t.CacheHitRate {
			q := p.QueryTypes[k]
			if q == nil || q.Repeat == nil {
				return bad("targets.cache_hit_rate."+k, "query type has no repeat settings")
			}
			if v < 0 || v >= 1 {
				return bad("targets.cache_hit_rate."+k, "want a rate in [0, 1)")
			}
		}
	}
	return nil
}

func (d Dist) check(path string) error {
	if d.Median < 0 || d.Sigma < 0 || d.Min < 0 || (d.Max > 0 && d.Max < d.Min) {
		return fmt.Errorf("%s: median and sigma must be non-negative, max at least min", path)
	}
	return nil
}

func checkWeights(path string, w map[string]float64, valid func(string) bool) error {
	if len(w) == 0 {
		return fmt.Errorf("%s: need at least one weight", path)
	}
	total := 0.0
	for k, v := range w {
		if !valid(k) {
			return fmt.Errorf("%s.%s: unknown", path, k)
		}
		if v < 0 {
			return fmt.Errorf("%s.%s: negative weight", path, k)
		}
		total += v
	}
	if total <= 0 {
		return fmt.Errorf("%s: weights add up to 0", path)
	}
	return nil
}

func (p *Profile) model(id string) *ModelProfile {
	for i := range p.Models {
		if p.Models[i].Model == id {
			return &p.Models[i]
		}
	}
	return nil
}

func (p *Profile) session(name string) *SessionProfile {
	for _, s := range p.Sessions {
		if s.Name == name {
			return s
		}
	}
	return nil
}
