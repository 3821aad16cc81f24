package main

import (
	"encoding/json"
	"time"

	"github.com/tarsopt/tarsopt/analysis"
	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/sim"
)

// oracleOptions returns the oracle's setup for cfg: the router's models (whether or not the
// router is on: the bound is what any routing could reach) and the batcher's least delay.
func oracleOptions(cfg *config.Config, book *pricing.Book) analysis.OracleOptions {
	var router struct {
		Bands []struct {
			Model string `json:"model"`
		} `json:"bands"`
	}
	var batcher struct {
		MinMaxDelayS float64 `json:"min_max_delay_s"`
	}
	if b, err := json.Marshal(cfg.Strategies.Get("router")); err == nil {
		json.Unmarshal(b, &router)
	}
	if b, err := json.Marshal(cfg.Strategies.Get("batcher")); err == nil {
		json.Unmarshal(b, &batcher)
	}
	var models []string
	for _, b := range router.Bands {
		models = append(models, b.Model)
	}
	return analysis.OracleOptions{Book: book, Upstream: cfg.Upstream, Seed: cfg.Seed, Models: analysis.OracleModels(models...),
		BatchMinDelay: time.Duration(batcher.MinMaxDelayS * float64(time.Second))}
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
