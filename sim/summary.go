package sim

import (
	"maps"
	"slices"
	"time"

	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/pricing"
)

// USD is an exact amount of money that encodes in JSON as a decimal number of dollars with up to
// nine decimals (nano-dollars), so that sums printed by different commands compare as text.
type USD money.Amount

// MarshalJSON encodes the amount as a JSON number of dollars.
func (u USD) MarshalJSON() ([]byte, error) { return money.Amount(u).AppendDecimal(nil), nil }

// Summary is a run's metrics in the units people read: dollars, shares, milliseconds. It is the
// JSON that tarsopt replay prints for each configuration.
type Summary struct {
	Days  int   `json:"days"`  // calendar days the trace covers
	Calls int64 `json:"calls"` // client calls

	CostUSD        USD       `json:"cost_usd"`         // total, exact
	CostPerDayUSD  USD       `json:"cost_per_day_usd"` // total / days
	MonthlyCostUSD USD       `json:"monthly_cost_usd"` // cost per day × 30
	Cost           CostParts `json:"cost"`             // by token kind

	CallsUpstream       int64   `json:"calls_upstream"` // calls sent to the provider, retries included
	CallsUpstreamPerDay float64 `json:"calls_upstream_per_day"`
	Retries             int64   `json:"retries"`
	Tokens              Tokens  `json:"tokens"` // sent upstream
	TokensPerDay        float64 `json:"tokens_per_day"`

	CacheHitRate float64 `json:"cache_hit_rate"` // share of calls served by the response cache
	// PromptCacheReadShare is the share of prompt tokens sent upstream that the provider's prompt
	// cache served (cache reads over input, cache writes and cache reads).
	PromptCacheReadShare float64            `json:"prompt_cache_read_share"`
	ServedShare          float64            `json:"served_share"`   // share of calls answered without their own upstream call
	BatchedShare         float64            `json:"batched_share"`  // share of calls sent through the Batch API
	MergedShare          float64            `json:"merged_share"`   // share of calls merged into another's request
	DeferredShare        float64            `json:"deferred_share"` // share of calls held into the off-peak window
	RoutedShare          float64            `json:"routed_share"`   // share of calls sent to another model
	PrunedShare          float64            `json:"pruned_share"`   // share of calls whose history was pruned
	PrunedTokens         int64              `json:"pruned_tokens"`  // history tokens removed
	ModelMix             map[string]float64 `json:"model_mix"`      // model → share of upstream calls

	InteractiveCalls  int64   `json:"interactive_calls"` // calls with no max_delay
	ResponseTimeS     float64 `json:"response_time_s"`   // interactive: mean time to the first token
	LatencyP50MS      float64 `json:"latency_p50_ms"`    // interactive: arrival to last token
	LatencyP95MS      float64 `json:"latency_p95_ms"`
	LatencyP99MS      float64 `json:"latency_p99_ms"`
	LatencyMeanMS     float64 `json:"latency_mean_ms"`
	DeferralDelayP50S float64 `json:"deferral_delay_p50_s"` // deferred calls: arrival to sending
	DeferralDelayMaxS float64 `json:"deferral_delay_max_s"`
	LateCalls         int64   `json:"late_calls"` // non-interactive calls answered after their max_delay

	QualityScore   float64 `json:"quality_score"`   // mean probability that an answer was acceptable
	AcceptableRate float64 `json:"acceptable_rate"` // share of answers drawn acceptable
	ErrorRate      float64 `json:"error_rate"`      // share of calls that ended in an error

	Strategies map[string]map[string]float64 `json:"strategies,omitempty"` // each stage's counters
	Unpriced   map[string]int64              `json:"unpriced_calls,omitempty"`
	PerDay     []DaySummary                  `json:"per_day,omitempty"`
}

// CostParts is a cost by token kind.
type CostParts struct {
	Input        USD `json:"input"`
	CacheWrite5m USD `json:"cache_write_5m"`
	CacheWrite1h USD `json:"cache_write_1h"`
	CacheRead    USD `json:"cache_read"`
	Output       USD `json:"output"`
}

// Tokens counts tokens by kind.
type Tokens struct {
	Input        int64 `json:"input"`
	CacheWrite5m int64 `json:"cache_write_5m"`
	CacheWrite1h int64 `json:"cache_write_1h"`
	CacheRead    int64 `json:"cache_read"`
	Output       int64 `json:"output"`
}

// DaySummary is one day's headline metrics.
type DaySummary struct {
	Date          string             `json:"date"` // YYYY-MM-DD, UTC
	Calls         int64              `json:"calls"`
	CostUSD       USD                `json:"cost_usd"`
	CallsUpstream int64              `json:"calls_upstream"`
	Tokens        int64              `json:"tokens"`
	CacheHitRate  float64            `json:"cache_hit_rate"`
	BatchedShare  float64            `json:"batched_share"`
	DeferredShare float64            `json:"deferred_share"`
	LatencyP95MS  float64            `json:"latency_p95_ms"`
	QualityScore  float64            `json:"quality_score"`
	ErrorRate     float64            `json:"error_rate"`
	Cost          CostParts          `json:"cost"`      // by token kind, of the calls sent that day
	ModelMix      map[string]float64 `json:"model_mix"` // model → share of the day's upstream calls
	// Strategies holds each strategy's counters as they stood at the day's last arrival,
	// cumulative since the start of the replay.
	Strategies map[string]map[string]float64 `json:"strategies,omitempty"`
}

func share(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

func parts(b pricing.Breakdown) CostParts {
	return CostParts{USD(b.Input), USD(b.CacheWrite5m), USD(b.CacheWrite1h), USD(b.CacheRead), USD(b.Output)}
}

// LatencyQuantile returns the q-quantile (0 < q ≤ 1) of the interactive calls' latency over the
// run, from arrival to the last token, in milliseconds (0 without interactive calls).
func (res *Result) LatencyQuantile(q float64) float64 { return res.Total.latency.quantile(q) }

// NumDays returns the number of calendar days the run covers (at least 1).
func (res *Result) NumDays() int {
	if !res.Start.IsZero() && res.End.After(res.Start) {
		d := res.End.Sub(res.Start)
		n := int(d / (24 * time.Hour))
		if d%(24*time.Hour) != 0 {
			n++
		}
		return max(n, 1)
	}
	return max(len(res.Days), 1)
}

// Summary computes the summary of the run; perDay adds the per-day list.
func (res *Result) Summary(perDay bool) Summary {
	m := &res.Total
	days := res.NumDays()
	total := m.Cost.Total()
	perDayCost := money.Amount((int64(total) + int64(days)/2) / int64(days))
	s := Summary{
		Days: days, Calls: m.Calls,
		CostUSD: USD(total), CostPerDayUSD: USD(perDayCost), MonthlyCostUSD: USD(perDayCost * 30),
		Cost:          parts(m.Cost),
		CallsUpstream: m.Upstream, CallsUpstreamPerDay: float64(m.Upstream) / float64(days), Retries: m.Retries,
		Tokens:       Tokens{m.Input, m.CacheWrite5m, m.CacheWrite1h, m.CacheRead, m.Output},
		TokensPerDay: float64(m.Tokens()) / float64(days),
		CacheHitRate: share(m.CacheHits, m.Calls), ServedShare: share(m.Served, m.Calls),
		PromptCacheReadShare: share(m.CacheRead, m.Input+m.CacheWrite5m+m.CacheWrite1h+m.CacheRead),
		BatchedShare:         share(m.Batched, m.Calls), MergedShare: share(m.Merged, m.Calls),
		DeferredShare: share(m.Deferred, m.Calls), RoutedShare: share(m.Routed, m.Calls),
		PrunedShare: share(m.Pruned, m.Calls), PrunedTokens: m.PrunedTokens,
		ModelMix:          map[string]float64{},
		InteractiveCalls:  m.Interactive,
		ResponseTimeS:     float64(m.TTFTSum) / 1e6 / float64(max(m.Interactive, 1)),
		LatencyP50MS:      m.latency.quantile(0.50),
		LatencyP95MS:      m.latency.quantile(0.95),
		LatencyP99MS:      m.latency.quantile(0.99),
		LatencyMeanMS:     m.latency.mean(),
		DeferralDelayP50S: res.deferDelay.quantile(0.5) / 1000,
		DeferralDelayMaxS: res.deferDelay.quantile(1) / 1000,
		LateCalls:         m.Late,
		AcceptableRate:    share(m.Acceptable, m.Answered),
		ErrorRate:         share(m.Failed, m.Calls),
	}
	if m.Answered > 0 {
		s.QualityScore = m.QualitySum / float64(m.Answered)
	}
	for _, k := range slices.Sorted(maps.Keys(m.Models)) {
		s.ModelMix[k] = share(m.Models[k], m.Upstream)
	}
	s.Strategies = counterMap(res.Strategies)
	if len(res.Unpriced) > 0 {
		s.Unpriced = res.Unpriced
	}
	if perDay {
		for i := range res.Days {
			d := &res.Days[i]
			ds := DaySummary{Date: d.Date.Format(time.DateOnly), Calls: d.Calls, CostUSD: USD(d.Cost.Total()),
				CallsUpstream: d.Upstream, Tokens: d.Tokens(),
				CacheHitRate: share(d.CacheHits, d.Calls), BatchedShare: share(d.Batched, d.Calls),
				DeferredShare: share(d.Deferred, d.Calls), LatencyP95MS: d.latency.quantile(0.95),
				ErrorRate: share(d.Failed, d.Calls)}
			if d.Answered > 0 {
				ds.QualityScore = d.QualitySum / float64(d.Answered)
			}
			ds.Cost = parts(d.Cost)
			ds.ModelMix = map[string]float64{}
			for k, v := range d.Models {
				ds.ModelMix[k] = share(v, d.Upstream)
			}
			ds.Strategies = counterMap(d.Strategies)
			s.PerDay = append(s.PerDay, ds)
		}
	}
	return s
}

// counterMap turns stage counters into name → counter → value; nil when there are none.
func counterMap(sc []StageCounters) map[string]map[string]float64 {
	if len(sc) == 0 {
		return nil
	}
	out := map[string]map[string]float64{}
	for _, st := range sc {
		cs := map[string]float64{}
		for _, c := range st.Counters {
			cs[c.Name] = c.Value
		}
		out[st.Name] = cs
	}
	return out
}
