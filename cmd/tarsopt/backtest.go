package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/tarsopt/tarsopt/analysis"
	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/internal/textfmt"
	"github.com/tarsopt/tarsopt/money"
)

func init() {
	register(&command{
		name:    "backtest",
		summary: "calibrate on the first part of a trace, predict the rest, and check the 90% intervals",
		usage: `Usage: tarsopt backtest --trace TRACE [--config FILE] [--set PATH=VALUE]... [--splits 0.5,0.6,0.7,0.8]
                [--samples N] [--seed S] [--calibrate PATH=LO:HI[:STEP] --target METRIC=VALUE] [--json]

For each split, the trace's days before it are the past and the days after it the future. On the
past, it calibrates the --calibrate setting to the --target (as tarsopt sweep --target does; for
example the router threshold that sends 45% of calls to Haiku), then runs the Monte Carlo of
tarsopt mc (the configuration's declared uncertainty, past days resampled) to predict the
reduction and the daily cost, with a 90% interval (p5 to p95). It then replays the future with the
calibrated configuration and reports whether each interval covered what happened. Over several
splits, the share of intervals that covered is the check: near 90% means the intervals can be
trusted; much less means they are too narrow for this traffic.

Examples:
  tarsopt backtest --trace base.parquet
  tarsopt backtest --trace base.parquet --calibrate strategies.router.bands[1].max=26:74:1 --target cheap_share=0.45 --json`,
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) error {
			var af analysisFlags
			af.define(fs, "backtest", true)
			splitsFlag := fs.String("splits", "0.5,0.6,0.7,0.8", "where the past ends, as shares of the trace's days")
			samples := fs.Int("samples", 200, "Monte Carlo samples per split")
			seed := fs.Uint64("seed", 1, "seed of the Monte Carlo draws")
			calibrate := fs.String("calibrate", "", "a setting to calibrate on the past: PATH=LO:HI[:STEP] (needs --target)")
			target := fs.String("target", "", "what --calibrate aims at: METRIC=VALUE, such as cheap_share=0.45")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(args []string, stdout, stderr io.Writer) error {
				if err := af.check(args); err != nil {
					return err
				}
				if (*calibrate == "") != (*target == "") {
					return usagef("backtest: --calibrate and --target go together")
				}
				if *samples < 2 {
					return usagef("--samples: want at least 2, got %d", *samples)
				}
				var splits []float64
				for _, s := range strings.Split(*splitsFlag, ",") {
					v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
					if err != nil || !(v > 0 && v < 1) {
						return usagef("--splits: want shares between 0 and 1, got %q", s)
					}
					splits = append(splits, v)
				}
				cfg, err := af.config()
				if err != nil {
					return err
				}
				u := cfg.Uncertainty
				if u == nil {
					u = &config.Uncertainty{Bootstrap: "days"}
				}
				var cal *sweeper
				if *calibrate != "" {
					p, err := analysis.ParseParam(*calibrate)
					if err != nil || !p.IsRange {
						return usagef("--calibrate %q: want PATH=LO:HI[:STEP]", *calibrate)
					}
					name, val, ok := strings.Cut(*target, "=")
					v, err := strconv.ParseFloat(val, 64)
					if !ok || err != nil || !slices.Contains(sweepMetrics, name) {
						return usagef("--target %q: want METRIC=VALUE, METRIC one of %s", *target, strings.Join(sweepMetrics, ", "))
					}
					cal = &sweeper{params: []analysis.Param{p}, targetMetric: name, targetValue: v}
				}
				book, err := af.book()
				if err != nil {
					return err
				}
				tr, err := af.load(stderr)
				if err != nil {
					return err
				}
				days := tr.NumDays()
				ctx, stop := interruptible()
				defer stop()
				rn := af.runner(book, nil)
				rep := &backtestReport{Trace: af.trace, Config: cfg.Name, Samples: *samples, Seed: *seed, Level: 0.90, Splits: []backtestSplit{}}
				prog := startCountProgress(stderr, "backtest", "splits", int64(len(splits)))
				defer prog.Done()
				for si, share := range splits {
					k := int(share*float64(days) + 0.5)
					if k < 2 || days-k < 1 {
						return fmt.Errorf("backtest: split %g of %d days leaves %d past and %d future days; the past needs 2 and the future 1", share, days, k, days-k)
					}
					past, future := tr.SliceDays(0, k), tr.SliceDays(k, days)
					if len(past.Records) == 0 || len(future.Records) == 0 {
						return fmt.Errorf("backtest: split %g: no calls before or after day %d", share, k)
					}
					sp := backtestSplit{Share: share, PastDays: k, FutureDays: days - k}
					c := cfg
					if cal != nil {
						cal.cfg = cfg
						if cal.oracle, err = analysis.ComputeOracle(past, oracleOptions(cfg, book, rn.ZeroUnknown)); err != nil {
							return err
						}
						r, err := cal.calibrate(ctx, rn, past, 24, io.Discard)
						if err != nil {
							return fmt.Errorf("backtest: split %g: %w", share, err)
						}
						sp.Calibrated = r.Calibration
						if c, err = cal.configAt([]string{r.Calibration.Value}); err != nil {
							return err
						}
					}
					mc := analysis.MonteCarlo{Samples: *samples, Seed: *seed + uint64(si), Bootstrap: u.Bootstrap,
						Draw: func(i int, rng *rand.Rand) (analysis.Draw, error) { return drawSample(c, u, rng) }}
					res, err := rn.MonteCarlo(ctx, past, mc)
					if err != nil {
						return fmt.Errorf("backtest: split %g: %w", share, err)
					}
					if res.Interrupted {
						return fmt.Errorf("backtest: interrupted in split %g", share)
					}
					sp.Predicted.Reduction = analysis.StatsOf(res.Field("reduction"))
					sp.Predicted.DailyCost = analysis.StatsOf(res.Field("daily_cost_usd"))
					base := scenarioOf(c, nil)
					conf := scenarioOf(c, c.Enabled())
					rb, err := rn.Replay(ctx, future, &base)
					if err != nil {
						return err
					}
					rc, err := rn.Replay(ctx, future, &conf)
					if err != nil {
						return err
					}
					sp.Actual.DailyCost = float64(rc.Total.Cost.Total()) / float64(money.Dollar) / float64(rc.NumDays())
					if b := rb.Total.Cost.Total(); b != 0 {
						sp.Actual.Reduction = 1 - float64(rc.Total.Cost.Total())/float64(b)
					}
					sp.Covered.Reduction = sp.Actual.Reduction >= sp.Predicted.Reduction.P5 && sp.Actual.Reduction <= sp.Predicted.Reduction.P95
					sp.Covered.DailyCost = sp.Actual.DailyCost >= sp.Predicted.DailyCost.P5 && sp.Actual.DailyCost <= sp.Predicted.DailyCost.P95
					rep.Splits = append(rep.Splits, sp)
					rep.Replays += res.Replays + 2
					prog.Set(int64(si + 1))
				}
				for _, sp := range rep.Splits {
					if sp.Covered.Reduction {
						rep.Coverage.Reduction++
					}
					if sp.Covered.DailyCost {
						rep.Coverage.DailyCost++
					}
				}
				rep.Coverage.Reduction /= float64(len(rep.Splits))
				rep.Coverage.DailyCost /= float64(len(rep.Splits))
				prog.Done()
				fmt.Fprintf(stderr, "backtest: %d splits, %d replays\n", len(rep.Splits), rep.Replays)
				if *asJSON {
					enc := json.NewEncoder(stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(rep)
				}
				rep.writeTable(stdout)
				return nil
			}
		},
	})
}

// backtestReport is what tarsopt backtest prints.
type backtestReport struct {
	Trace    string          `json:"trace"`
	Config   string          `json:"config"`
	Samples  int             `json:"samples"`
	Seed     uint64          `json:"seed"`
	Level    float64         `json:"level"`
	Replays  int             `json:"replays"`
	Splits   []backtestSplit `json:"splits"`
	Coverage struct {
		Reduction float64 `json:"reduction"`
		DailyCost float64 `json:"daily_cost_usd"`
	} `json:"coverage"`
}

type backtestSplit struct {
	Share      float64      `json:"share"`
	PastDays   int          `json:"past_days"`
	FutureDays int          `json:"future_days"`
	Calibrated *calibration `json:"calibrated,omitempty"`
	Predicted  struct {
		Reduction analysis.Stats `json:"reduction"`
		DailyCost analysis.Stats `json:"daily_cost_usd"`
	} `json:"predicted"`
	Actual struct {
		Reduction float64 `json:"reduction"`
		DailyCost float64 `json:"daily_cost_usd"`
	} `json:"actual"`
	Covered struct {
		Reduction bool `json:"reduction"`
		DailyCost bool `json:"daily_cost_usd"`
	} `json:"covered"`
}

func (rep *backtestReport) writeTable(w io.Writer) {
	fmt.Fprintf(w, "backtest on %s, config %q: %d Monte Carlo samples per split, 90%% intervals (p5 to p95)\n\n", rep.Trace, rep.Config, rep.Samples)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "past days\tfuture days\tcalibrated\treduction predicted\tactual\tcovered\t$/day predicted\tactual\tcovered\t")
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "NO"
	}
	for _, s := range rep.Splits {
		cal := "-"
		if s.Calibrated != nil {
			cal = s.Calibrated.Value
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s .. %s\t%s\t%s\t$%.2f .. $%.2f\t$%.2f\t%s\t\n", s.PastDays, s.FutureDays, cal,
			textfmt.Percent(s.Predicted.Reduction.P5), textfmt.Percent(s.Predicted.Reduction.P95), textfmt.Percent(s.Actual.Reduction), yes(s.Covered.Reduction),
			s.Predicted.DailyCost.P5, s.Predicted.DailyCost.P95, s.Actual.DailyCost, yes(s.Covered.DailyCost))
	}
	tw.Flush()
	fmt.Fprintf(w, "\ncoverage: the reduction's interval covered %s of the splits, the daily cost's %s (90%% is what they claim)\n",
		textfmt.Percent(rep.Coverage.Reduction), textfmt.Percent(rep.Coverage.DailyCost))
}
