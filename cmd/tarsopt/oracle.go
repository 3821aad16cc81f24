package main

import (
	"time"

	"github.com/tarsopt/tarsopt/analysis"
	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/sim"
	"github.com/tarsopt/tarsopt/strategies/batcher"
)

// oracleOptions returns the oracle's setup for cfg: the router's models (whether or not the
// router is on: the bound is what any routing could reach) and the batcher's least delay.
func oracleOptions(cfg *config.Config, book *pricing.Book, zeroUnknown bool) analysis.OracleOptions {
	var minDelay time.Duration
	if bs, _ := cfg.Strategies.Get(batcher.Name).(*batcher.Settings); bs != nil {
		minDelay = time.Duration(bs.MinMaxDelayS * float64(time.Second))
	}
	return analysis.OracleOptions{Book: book, Upstream: cfg.Upstream, Seed: cfg.Seed,
		Models: analysis.OracleModels(routerModels(cfg)...), BatchMinDelay: minDelay, ZeroUnknown: zeroUnknown}
}

// oracleRow is the oracle bound as the commands print it.
type oracleRow struct {
	CostUSD         sim.USD `json:"cost_usd"`
	CostPerDayUSD   float64 `json:"cost_per_day_usd"`
	AchievableSaved float64 `json:"achievable_saving_usd_per_day"` // baseline less the oracle, per day
	Repeats         int64   `json:"repeats_served"`
	Moved           int64   `json:"calls_moved"`
	Waited          int64   `json:"calls_waited"`
}

func newOracleRow(o *analysis.Oracle, baseline money.Amount) *oracleRow {
	return &oracleRow{CostUSD: sim.USD(o.Cost), CostPerDayUSD: o.PerDay(),
		AchievableSaved: float64(baseline-o.Cost) / float64(money.Dollar) / float64(max(o.Days, 1)),
		Repeats:         o.Repeats, Moved: o.Moved, Waited: o.Waited}
}
