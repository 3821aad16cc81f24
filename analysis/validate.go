package analysis

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/big"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/sim"
)

// ClaimCheck is one claim beside what the replay measured.
type ClaimCheck struct {
	Name       string   `json:"name"`
	Metric     string   `json:"metric"`
	Run        string   `json:"run"`
	Strategies []string `json:"strategies,omitempty"`
	Claimed    Claimed  `json:"claimed"`
	Measured   Interval `json:"measured"`
	// Verdict is "holds" (the estimate is within the claim), "plausible" (it is not, but its
	// interval reaches the claim), or "fails: measured above" / "fails: measured below".
	Verdict string `json:"verdict"`
	Note    string `json:"note,omitempty"`
}

// Claimed is what a claim states: a value with the range its tolerance accepts, or a range.
type Claimed struct {
	Value *float64 `json:"value,omitempty"`
	Min   *float64 `json:"min,omitempty"`
	Max   *float64 `json:"max,omitempty"`
}

// Validation is a plan's claims checked against replays of a trace.
type Validation struct {
	Days       int               `json:"days"`
	Replays    int               `json:"replays"`
	Level      float64           `json:"level"`
	Claims     []ClaimCheck      `json:"claims"`
	Arithmetic []ArithmeticCheck `json:"arithmetic"`
}

// Verdicts.
const (
	VerdictHolds     = "holds"
	VerdictPlausible = "plausible"
	VerdictAbove     = "fails: measured above"
	VerdictBelow     = "fails: measured below"
)

func verdict(lo, hi float64, m Interval) string {
	switch {
	case m.Est >= lo && m.Est <= hi:
		return VerdictHolds
	case m.Hi >= lo && m.Lo <= hi:
		return VerdictPlausible
	case m.Est > hi:
		return VerdictAbove
	}
	return VerdictBelow
}

// SubsetKey names a set of strategies whatever their order ("batcher+router").
func SubsetKey(on []string) string {
	s := slices.Clone(on)
	slices.Sort(s)
	return strings.Join(s, "+")
}

// Validate replays tr as each claim needs (the baseline, the configured strategies enabled, each
// phase's subset, and every subset of enabled when a claim names a strategy's Shapley saving) and
// checks every claim, each with a bootstrap interval over days. scenario returns the configured
// scenario with only the given strategies on.
func (rn *Runner) Validate(ctx context.Context, tr *Trace, pc *PlanClaims, enabled []string, scenario func(on []string) Scenario, bs Bootstrap) (*Validation, error) {
	subsets := map[string][]string{SubsetKey(nil): nil, SubsetKey(enabled): enabled}
	needShapley := false
	for _, cl := range pc.Claims {
		if len(cl.Strategies) > 0 {
			subsets[SubsetKey(cl.Strategies)] = cl.Strategies
		}
		if name, ok := strings.CutPrefix(cl.Metric, "shapley:"); ok {
			if !slices.Contains(enabled, name) {
				return nil, fmt.Errorf("claim %q: %s is not enabled in the configuration, so it has no share of the saving", cl.Name, name)
			}
			needShapley = true
		}
	}
	if needShapley {
		if len(enabled) > MaxAttributed {
			return nil, fmt.Errorf("%d strategies enabled; Shapley claims need at most %d", len(enabled), MaxAttributed)
		}
		for mask := 0; mask < 1<<len(enabled); mask++ {
			on := maskSubset(enabled, mask)
			subsets[SubsetKey(on)] = on
		}
	}
	keys := slices.Sorted(maps.Keys(subsets))
	scs := make([]Scenario, len(keys))
	for i, k := range keys {
		scs[i] = scenario(subsets[k])
		scs[i].Name = "strategies: " + k
	}
	res, err := rn.Run(ctx, tr, scs)
	if err != nil {
		return nil, err
	}
	byKey := map[string]*sim.Result{}
	for i, k := range keys {
		byKey[k] = res[i]
	}
	base := byKey[SubsetKey(nil)]
	v := &Validation{Days: base.NumDays(), Replays: len(scs), Level: bs.Level}
	start, n := window(base)
	baseDays := foldDays(base, start, n)
	for _, cl := range pc.Claims {
		chk := ClaimCheck{Name: cl.Name, Metric: cl.Metric, Run: cl.Run, Strategies: cl.Strategies, Note: cl.Note,
			Claimed: Claimed{Value: cl.Value, Min: cl.Min, Max: cl.Max}}
		if chk.Run == "" {
			chk.Run = "configured"
		}
		var f func(idx []int) float64
		if name, ok := strings.CutPrefix(cl.Metric, "shapley:"); ok {
			f = shapleyStat(enabled, slices.Index(enabled, name), baseDays, func(on []string) []sim.Metrics {
				return foldDays(byKey[SubsetKey(on)], start, n)
			})
		} else {
			run := base
			if chk.Run == "configured" {
				on := enabled
				if len(cl.Strategies) > 0 {
					on = cl.Strategies
				}
				run = byKey[SubsetKey(on)]
			}
			f = claimStat(cl.Metric, baseDays, foldDays(run, start, n))
		}
		chk.Measured = bs.interval(n, f)
		lo, hi := cl.Bounds()
		if cl.Value != nil {
			chk.Claimed.Min, chk.Claimed.Max = &lo, &hi
		}
		chk.Verdict = verdict(lo, hi, chk.Measured)
		v.Claims = append(v.Claims, chk)
	}
	v.Arithmetic = CheckArithmetic(pc, rn.Book)
	return v, nil
}

func maskSubset(names []string, mask int) []string {
	var on []string
	for i, n := range names {
		if mask&(1<<i) != 0 {
			on = append(on, n)
		}
	}
	return on
}

// foldDays returns r's metrics on each of the n days from start, a day outside counting on the
// nearest day inside.
func foldDays(r *sim.Result, start time.Time, n int) []sim.Metrics {
	out := make([]sim.Metrics, n)
	for i := range r.Days {
		d := &r.Days[i]
		j := min(max(int(d.Date.Sub(start).Hours()/24), 0), n-1)
		out[j].Add(&d.Metrics)
	}
	return out
}

// claimStat returns the statistic of a metric over a set of days (with repeats): a ratio of sums,
// so that over all days it is the replay's own figure.
func claimStat(metric string, base, run []sim.Metrics) func(idx []int) float64 {
	ratio := func(num, den func(m *sim.Metrics) float64, scale float64) func(idx []int) float64 {
		return func(idx []int) float64 {
			var a, b float64
			for _, i := range idx {
				a += num(&run[i])
				b += den(&run[i])
			}
			if b == 0 {
				return 0
			}
			return scale * a / b
		}
	}
	one := func(*sim.Metrics) float64 { return 1 }
	cost := func(m *sim.Metrics) float64 { return float64(m.Cost.Total()) / float64(money.Dollar) }
	calls := func(m *sim.Metrics) float64 { return float64(m.Calls) }
	switch metric {
	case "cost_per_day_usd":
		return ratio(cost, one, 1)
	case "monthly_cost_usd":
		return ratio(cost, one, 30)
	case "calls_upstream_per_day":
		return ratio(func(m *sim.Metrics) float64 { return float64(m.Upstream) }, one, 1)
	case "tokens_per_day":
		return ratio(func(m *sim.Metrics) float64 { return float64(m.Tokens()) }, one, 1)
	case "cache_hit_rate":
		return ratio(func(m *sim.Metrics) float64 { return float64(m.CacheHits) }, calls, 1)
	case "batched_share":
		return ratio(func(m *sim.Metrics) float64 { return float64(m.Batched) }, calls, 1)
	case "deferred_share":
		return ratio(func(m *sim.Metrics) float64 { return float64(m.Deferred) }, calls, 1)
	case "error_rate":
		return ratio(func(m *sim.Metrics) float64 { return float64(m.Failed) }, calls, 1)
	case "quality_score":
		return ratio(func(m *sim.Metrics) float64 { return m.QualitySum }, func(m *sim.Metrics) float64 { return float64(m.Answered) }, 1)
	case "response_time_s":
		return ratio(func(m *sim.Metrics) float64 { return float64(m.TTFTSum) }, func(m *sim.Metrics) float64 { return float64(m.Interactive) }, 1e-6)
	case "cost_reduction", "annual_saving_usd":
		return func(idx []int) float64 {
			var b, c float64
			for _, i := range idx {
				b += cost(&base[i])
				c += cost(&run[i])
			}
			if metric == "annual_saving_usd" {
				return 365 * (b - c) / float64(len(idx))
			}
			if b == 0 {
				return 0
			}
			return 1 - c/b
		}
	}
	if prefix, ok := strings.CutPrefix(metric, "model_share:"); ok {
		return ratio(func(m *sim.Metrics) float64 {
			var k int64
			for name, v := range m.Models {
				if strings.HasPrefix(name, prefix) {
					k += v
				}
			}
			return float64(k)
		}, func(m *sim.Metrics) float64 { return float64(m.Upstream) }, 1)
	}
	panic("analysis: unknown claim metric " + metric)
}

// shapleyStat returns the statistic of strategy i's Shapley saving (USD per day) over a set of
// days: Shapley values are linear in the savings, so each day has its own, and a set of days has
// their mean.
func shapleyStat(names []string, i int, base []sim.Metrics, days func(on []string) []sim.Metrics) func(idx []int) float64 {
	n := len(names)
	nd := len(base)
	perDay := make([]float64, nd)
	nf := new(big.Int).MulRange(1, int64(max(n, 1)))
	fact := func(k int) *big.Int { return new(big.Int).MulRange(1, int64(max(k, 1))) }
	for mask := 0; mask < 1<<n; mask++ {
		if mask&(1<<i) != 0 {
			continue
		}
		s := bits.OnesCount(uint(mask))
		w, _ := new(big.Rat).SetFrac(new(big.Int).Mul(fact(s), fact(n-s-1)), nf).Float64()
		without, with := days(maskSubset(names, mask)), days(maskSubset(names, mask|1<<i))
		for d := range nd {
			// v(S∪i) − v(S) = cost(S) − cost(S∪i)
			perDay[d] += w * float64(without[d].Cost.Total()-with[d].Cost.Total()) / float64(money.Dollar)
		}
	}
	return func(idx []int) float64 {
		var s float64
		for _, d := range idx {
			s += perDay[d]
		}
		return s / float64(len(idx))
	}
}

// ArithmeticCheck is one check of a plan's figures against each other: what follows from some of
// them, beside what the plan states.
type ArithmeticCheck struct {
	Name       string  `json:"name"`
	Derivation string  `json:"derivation"`
	Derived    float64 `json:"derived"`
	Stated     float64 `json:"stated"`
	// Consistent is whether the derived figure is within 2% (relative) of the stated one.
	Consistent bool `json:"consistent"`
}

// CheckArithmetic checks a plan's figures against each other; book prices the routing claim
// (the price ratio of the plan's cheap and strong models on the plan's date). Checks whose figures
// the claims file leaves at zero are skipped.
func CheckArithmetic(pc *PlanClaims, book *pricing.Book) []ArithmeticCheck {
	f := pc.Figures
	var out []ArithmeticCheck
	add := func(name, derivation string, derived, stated float64) {
		if stated == 0 && derived == 0 {
			return
		}
		ok := math.Abs(derived-stated) <= 0.02*max(math.Abs(stated), math.Abs(derived))
		out = append(out, ArithmeticCheck{Name: name, Derivation: derivation, Derived: derived, Stated: stated, Consistent: ok})
	}
	if f.BaselineDailyUSD > 0 && f.BaselineDailyUSDCostAnalysis > 0 {
		add("the two baselines", "the cost analysis's daily baseline against the index's", f.BaselineDailyUSDCostAnalysis, f.BaselineDailyUSD)
	}
	if f.BaselineMonthlyUSD > 0 && f.BaselineDailyUSD > 0 {
		add("monthly baseline from the daily one", "daily baseline × 30", 30*f.BaselineDailyUSD, f.BaselineMonthlyUSD)
	}
	base := pc.BaselineUSDPerDay
	if base > 0 && f.HeadlineReduction > 0 && f.TargetDailyLowUSD > 0 {
		add("headline daily cost", "baseline × (1 − headline reduction)", base*(1-f.HeadlineReduction), f.TargetDailyLowUSD)
	}
	if base > 0 && len(pc.StrategySavingsUSDPerDay) > 0 && f.HeadlineReduction > 0 {
		var sum float64
		for _, k := range slices.Sorted(maps.Keys(pc.StrategySavingsUSDPerDay)) {
			sum += pc.StrategySavingsUSDPerDay[k]
		}
		add("per-strategy savings against the headline", "sum of the per-strategy savings / baseline", sum/base, f.HeadlineReduction)
	}
	if f.BaselineDailyUSD > 0 && f.TargetReductionLow > 0 && f.TargetDailyHighUSD > 0 {
		add("daily target, high end", "baseline × (1 − low end of the reduction range)", f.BaselineDailyUSD*(1-f.TargetReductionLow), f.TargetDailyHighUSD)
	}
	if f.BaselineDailyUSD > 0 && f.TargetReductionHigh > 0 && f.TargetDailyLowUSD > 0 {
		add("daily target, low end", "baseline × (1 − high end of the reduction range)", f.BaselineDailyUSD*(1-f.TargetReductionHigh), f.TargetDailyLowUSD)
	}
	if f.TargetDailyLowUSD > 0 && f.TargetMonthlyLowUSD > 0 {
		add("monthly target, low end", "daily target low × 30", 30*f.TargetDailyLowUSD, f.TargetMonthlyLowUSD)
	}
	if f.TargetDailyHighUSD > 0 && f.TargetMonthlyHighUSD > 0 {
		add("monthly target, high end", "daily target high × 30", 30*f.TargetDailyHighUSD, f.TargetMonthlyHighUSD)
	}
	if base > 0 && f.TargetDailyLowUSD > 0 && f.AnnualSavingUSD > 0 {
		add("annual saving", "(baseline − headline daily cost) × 365", 365*(base-f.TargetDailyLowUSD), f.AnnualSavingUSD)
	}
	if len(f.TTLHitRates) > 0 && f.TTLHitRateAverage > 0 {
		var s float64
		for _, k := range slices.Sorted(maps.Keys(f.TTLHitRates)) {
			s += f.TTLHitRates[k]
		}
		add("average of the per-type hit rates", "plain mean of the hit rates by query type (the plan gives no weights)", s/float64(len(f.TTLHitRates)), f.TTLHitRateAverage)
	}
	if f.TTLHitRateAverage > 0 && f.CacheHitRateTarget > 0 {
		add("cache hit rate: TTL plan against target", "the TTL plan's average hit rate", f.TTLHitRateAverage, f.CacheHitRateTarget)
	}
	if book != nil && f.RoutingShare > 0 && f.RoutingModelSaving > 0 {
		at := time.Date(2026, 2, 13, 0, 0, 0, 0, time.UTC) // the plan's baseline date
		cheap, err1 := book.Lookup("claude-haiku-4-5", at)
		strong, err2 := book.Lookup("claude-sonnet-4-5", at)
		if err1 == nil && err2 == nil && strong.Rates.Output != 0 {
			ratio := float64(cheap.Rates.Output) / float64(strong.Rates.Output)
			add("routing saving from the routed share", fmt.Sprintf("routed share × (1 − Haiku/Sonnet price ratio %.3f), calls of equal size", ratio),
				f.RoutingShare*(1-ratio), f.RoutingModelSaving)
		}
	}
	return out
}
