package analysis

import (
	_ "embed"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/tarsopt/tarsopt/internal/strictjson"
)

// PlanClaims are a plan's own figures, to set beside what replays measure: a claims file.
type PlanClaims struct {
	// Source says where the figures come from.
	Source string `json:"source"`
	// BaselineUSDPerDay is the daily cost the plan's per-strategy savings are quoted against.
	BaselineUSDPerDay float64 `json:"baseline_usd_per_day"`
	// StrategySavingsUSDPerDay is each strategy's claimed saving, in USD per day, by registered
	// strategy name; the plan adds them up to its headline.
	StrategySavingsUSDPerDay map[string]float64 `json:"strategy_savings_usd_per_day"`
	// Claims are the figures a replay can measure.
	Claims []Claim `json:"claims"`
	// Figures are the plan's stated numbers, for checking its own arithmetic (CheckArithmetic).
	Figures Figures `json:"figures"`
}

// Claim is one measurable figure of a plan: a value (within a tolerance) or a range.
type Claim struct {
	Name string `json:"name"`
	// Run is "baseline" (every strategy off) or "configured" (the default).
	Run string `json:"run,omitempty"`
	// Strategies, when set, replays the configured run with only these strategies on (a phase).
	Strategies []string `json:"strategies,omitempty"`
	// Metric is one of ClaimMetrics, or model_share:PREFIX (the share of upstream calls on models
	// whose name starts with PREFIX), or shapley:STRATEGY (the strategy's Shapley share of the
	// saving, USD per day).
	Metric string `json:"metric"`
	// Value is a point claim, held within Tolerance (relative, default 5%) or ToleranceAbs.
	Value        *float64 `json:"value,omitempty"`
	Tolerance    *float64 `json:"tolerance,omitempty"`
	ToleranceAbs *float64 `json:"tolerance_abs,omitempty"`
	// Min and Max are a range claim (either may be absent).
	Min  *float64 `json:"min,omitempty"`
	Max  *float64 `json:"max,omitempty"`
	Note string   `json:"note,omitempty"`
}

// Figures are a plan's stated numbers that its claims derive from.
type Figures struct {
	BaselineDailyUSD             float64            `json:"baseline_daily_usd"`
	BaselineDailyUSDCostAnalysis float64            `json:"baseline_daily_usd_cost_analysis"`
	BaselineMonthlyUSD           float64            `json:"baseline_monthly_usd"`
	TargetDailyLowUSD            float64            `json:"target_daily_low_usd"`
	TargetDailyHighUSD           float64            `json:"target_daily_high_usd"`
	TargetReductionLow           float64            `json:"target_reduction_low"`
	TargetReductionHigh          float64            `json:"target_reduction_high"`
	TargetMonthlyLowUSD          float64            `json:"target_monthly_low_usd"`
	TargetMonthlyHighUSD         float64            `json:"target_monthly_high_usd"`
	HeadlineReduction            float64            `json:"headline_reduction"`
	AnnualSavingUSD              float64            `json:"annual_saving_usd"`
	RoutingShare                 float64            `json:"routing_share"`
	RoutingModelSaving           float64            `json:"routing_model_saving"`
	TTLHitRates                  map[string]float64 `json:"ttl_hit_rates"`
	TTLHitRateAverage            float64            `json:"ttl_hit_rate_average"`
	CacheHitRateTarget           float64            `json:"cache_hit_rate_target"`
}

// ClaimMetrics are the metrics a claim may name besides model_share:PREFIX and shapley:STRATEGY.
var ClaimMetrics = []string{"cost_per_day_usd", "monthly_cost_usd", "calls_upstream_per_day", "tokens_per_day",
	"cost_reduction", "annual_saving_usd", "cache_hit_rate", "batched_share", "deferred_share",
	"response_time_s", "quality_score", "error_rate"}

//go:embed seedplan-claims.json
var seedPlanClaims []byte

// SeedPlanClaims returns the seed plan's claims (../shared/design/SEED-PLAN.md).
func SeedPlanClaims() *PlanClaims {
	c, err := ParseClaims(seedPlanClaims, "seedplan-claims.json")
	if err != nil {
		panic(fmt.Sprintf("analysis: embedded claims: %v", err))
	}
	return c
}

// SeedPlanClaimsJSON returns the embedded claims file, for users to copy and edit.
func SeedPlanClaimsJSON() []byte { return slices.Clone(seedPlanClaims) }

// LoadClaims reads and checks a claims file.
func LoadClaims(path string) (*PlanClaims, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseClaims(b, path)
}

// ParseClaims decodes and checks a claims file; errors name the file and the JSON path.
func ParseClaims(data []byte, name string) (*PlanClaims, error) {
	var c PlanClaims
	if err := strictjson.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &c, nil
}

// Validate checks every claim: a known metric and run, a value or a range, sane tolerances.
func (c *PlanClaims) Validate() error {
	seen := map[string]int{}
	for i, cl := range c.Claims {
		at := fmt.Sprintf("claims[%d]", i)
		if cl.Name == "" {
			return fmt.Errorf("%s.name: missing", at)
		}
		if j, dup := seen[cl.Name]; dup {
			return fmt.Errorf("%s.name: %q is already claims[%d]", at, cl.Name, j)
		}
		seen[cl.Name] = i
		switch cl.Run {
		case "", "configured":
		case "baseline":
			if len(cl.Strategies) > 0 {
				return fmt.Errorf("%s.strategies: a baseline claim runs no strategy", at)
			}
			if cl.Metric == "cost_reduction" || cl.Metric == "annual_saving_usd" || strings.HasPrefix(cl.Metric, "shapley:") {
				return fmt.Errorf("%s.metric: %s compares with the baseline; it has no baseline value", at, cl.Metric)
			}
		default:
			return fmt.Errorf("%s.run: want baseline or configured, got %q", at, cl.Run)
		}
		m := cl.Metric
		switch {
		case strings.HasPrefix(m, "model_share:") && len(m) > len("model_share:"):
		case strings.HasPrefix(m, "shapley:") && len(m) > len("shapley:"):
		case slices.Contains(ClaimMetrics, m):
		default:
			return fmt.Errorf("%s.metric: unknown metric %q (known: %s, model_share:PREFIX, shapley:STRATEGY)", at, m, strings.Join(ClaimMetrics, ", "))
		}
		if (cl.Value == nil) == (cl.Min == nil && cl.Max == nil) {
			return fmt.Errorf("%s: give a value, or min and/or max", at)
		}
		if cl.Min != nil && cl.Max != nil && *cl.Min > *cl.Max {
			return fmt.Errorf("%s.min: %g is above max %g", at, *cl.Min, *cl.Max)
		}
		if cl.Tolerance != nil && !(*cl.Tolerance >= 0 && *cl.Tolerance < 1) {
			return fmt.Errorf("%s.tolerance: want a relative tolerance in [0, 1), got %g", at, *cl.Tolerance)
		}
		if cl.ToleranceAbs != nil && !(*cl.ToleranceAbs >= 0) {
			return fmt.Errorf("%s.tolerance_abs: want a non-negative tolerance, got %g", at, *cl.ToleranceAbs)
		}
	}
	return nil
}

// Bounds returns the range a claim accepts: its min and max, or its value within its tolerance
// (relative 5% unless it says otherwise).
func (cl *Claim) Bounds() (lo, hi float64) {
	if cl.Value == nil {
		lo, hi = -1e300, 1e300
		if cl.Min != nil {
			lo = *cl.Min
		}
		if cl.Max != nil {
			hi = *cl.Max
		}
		return lo, hi
	}
	v := *cl.Value
	tol := 0.05 * math.Abs(v)
	if cl.Tolerance != nil {
		tol = *cl.Tolerance * math.Abs(v)
	}
	if cl.ToleranceAbs != nil {
		tol = *cl.ToleranceAbs
	}
	return v - tol, v + tol
}
