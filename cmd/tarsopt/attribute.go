package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"

	"github.com/tarsopt/tarsopt/analysis"
	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/internal/textfmt"
)

func init() {
	register(&command{
		name:    "attribute",
		summary: "split a configuration's saving among its strategies (exact Shapley values)",
		usage: `Usage: tarsopt attribute --trace TRACE [--config FILE] [--set PATH=VALUE]... [--json] [--workers N]

Replays the trace with every subset of the configuration's enabled strategies switched on (2^n
replays for n strategies, in parallel) and splits the configuration's saving against the baseline
(every strategy off) among the strategies by their exact Shapley values: each strategy's marginal
saving averaged over every order in which the strategies could be switched on. The parts add up to
the whole. Beside each value it prints what the strategy saves alone and what switching it on last
adds, the plan's own additive claim for it, and each pair's interaction (negative: the two save on
the same calls, so their savings do not add up).

All replays draw the same random numbers per call (common random numbers), so the differences
between subsets are what the strategies do, not noise.

Examples:
  tarsopt attribute --trace base.parquet
  tarsopt attribute --trace base.parquet --set strategies.promptcache.enabled=true --json`,
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) error {
			var af analysisFlags
			af.define(fs, "attribute", true)
			asJSON := fs.Bool("json", false, "print JSON")
			return func(args []string, stdout, stderr io.Writer) error {
				if err := af.check(args); err != nil {
					return err
				}
				cfg, err := af.config()
				if err != nil {
					return err
				}
				book, err := af.book()
				if err != nil {
					return err
				}
				names := cfg.Enabled()
				if len(names) == 0 {
					return fmt.Errorf("attribute: the configuration enables no strategy: nothing to attribute")
				}
				if len(names) > analysis.MaxAttributed {
					return fmt.Errorf("attribute: %d strategies enabled; at most %d (2^n replays)", len(names), analysis.MaxAttributed)
				}
				tr, err := af.load(stderr)
				if err != nil {
					return err
				}
				ctx, stop := interruptible()
				defer stop()
				prog := startCountProgress(stderr, "attribute", "replays", 1<<len(names))
				rn := af.runner(book, prog)
				a, err := rn.Attribute(ctx, tr, names, func(on []string) analysis.Scenario { return scenarioOf(cfg, on) })
				prog.Done()
				if err != nil {
					if ctx.Err() != nil {
						return fmt.Errorf("attribute: interrupted after %d of %d replays; an attribution needs every subset, so there is no partial result", prog.Count(), 1<<len(names))
					}
					return err
				}
				fmt.Fprintf(stderr, "attribute: %d replays of %s calls\n", a.Replays, textfmt.Thousands(float64(len(tr.Records)), 0))
				rep := newAttributeReport(af.trace, cfg, a, analysis.SeedPlanClaims())
				oracle, err := analysis.ComputeOracle(tr, oracleOptions(cfg, book, rn.ZeroUnknown))
				if err != nil {
					return err
				}
				rep.Oracle = newOracleRow(oracle, a.Cost[0])
				rep.ShareOfAchievable = oracle.ShareOfAchievable(a.Cost[0], a.Cost[len(a.Cost)-1])
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

// scenarioOf returns the scenario of cfg with only the strategies on enabled, in cfg's order.
func scenarioOf(cfg *config.Config, on []string) analysis.Scenario {
	c := cfg.Clone()
	c.Only(on...)
	return analysis.Scenario{Name: cfg.Name, Stages: c.Stack, Upstream: c.Upstream, Seed: c.Seed}
}

// attributeReport is what tarsopt attribute prints.
type attributeReport struct {
	Trace    string   `json:"trace"`
	Config   string   `json:"config"`
	Seed     uint64   `json:"seed"`
	Days     int      `json:"days"`
	Replays  int      `json:"replays"`
	Order    []string `json:"order"`
	Baseline float64  `json:"baseline_cost_usd_per_day"`
	Full     float64  `json:"configured_cost_usd_per_day"`
	// Strategies maps each strategy to its Shapley share of the saving, USD per day.
	Strategies   map[string]float64 `json:"strategies"`
	TotalSaving  float64            `json:"total_saving_usd_per_day"`
	Reduction    float64            `json:"reduction"`
	Detail       []attributeRow     `json:"detail"`
	Interactions []interactionRow   `json:"interactions"`
	Claims       claimsRow          `json:"plan_claims"`
	Oracle       *oracleRow         `json:"oracle"`
	// ShareOfAchievable is the share of the saving the oracle bound allows that the configuration reaches.
	ShareOfAchievable float64 `json:"share_of_achievable"`
}

type attributeRow struct {
	Name          string   `json:"name"`
	Shapley       float64  `json:"saving_usd_per_day"`
	Share         float64  `json:"share_of_saving"`
	Alone         float64  `json:"alone_usd_per_day"`
	Last          float64  `json:"last_usd_per_day"`
	QualityAlone  float64  `json:"quality_alone"`
	Claimed       *float64 `json:"claimed_usd_per_day,omitempty"`
	ClaimedShare  *float64 `json:"claimed_share_of_baseline,omitempty"`
	MeasuredShare float64  `json:"measured_share_of_baseline"`
}

type interactionRow struct {
	A         string  `json:"a"`
	B         string  `json:"b"`
	USDPerDay float64 `json:"usd_per_day"`
}

type claimsRow struct {
	Source      string  `json:"source"`
	Baseline    float64 `json:"baseline_usd_per_day"`
	TotalClaim  float64 `json:"total_claimed_usd_per_day"`
	ClaimedPart float64 `json:"claimed_reduction"` // the claimed savings over the plan's baseline
}

func newAttributeReport(trace string, cfg *config.Config, a *analysis.Attribution, pc *analysis.PlanClaims) *attributeReport {
	rep := &attributeReport{Trace: trace, Config: cfg.Name, Seed: cfg.Seed, Days: a.Days, Replays: a.Replays,
		Order: a.Strategies, Baseline: a.BaselinePerDay(), Full: a.FullPerDay(), Strategies: map[string]float64{},
		TotalSaving: a.Total(), Interactions: []interactionRow{}}
	if rep.Baseline != 0 {
		rep.Reduction = rep.TotalSaving / rep.Baseline
	}
	rep.Claims = claimsRow{Source: pc.Source, Baseline: pc.BaselineUSDPerDay}
	for _, k := range slices.Sorted(maps.Keys(pc.StrategySavingsUSDPerDay)) { // a fixed order: float sums depend on it
		rep.Claims.TotalClaim += pc.StrategySavingsUSDPerDay[k]
	}
	if pc.BaselineUSDPerDay != 0 {
		rep.Claims.ClaimedPart = rep.Claims.TotalClaim / pc.BaselineUSDPerDay
	}
	for i, name := range a.Strategies {
		rep.Strategies[name] = a.Shapley[i]
		row := attributeRow{Name: name, Shapley: a.Shapley[i], Alone: a.Alone[i], Last: a.Last[i], QualityAlone: a.Quality[1<<i]}
		if rep.TotalSaving != 0 {
			row.Share = a.Shapley[i] / rep.TotalSaving
		}
		if rep.Baseline != 0 {
			row.MeasuredShare = a.Shapley[i] / rep.Baseline
		}
		if v, ok := pc.StrategySavingsUSDPerDay[name]; ok {
			row.Claimed = &v
			if pc.BaselineUSDPerDay != 0 {
				s := v / pc.BaselineUSDPerDay
				row.ClaimedShare = &s
			}
		}
		rep.Detail = append(rep.Detail, row)
	}
	for _, in := range a.Interactions {
		rep.Interactions = append(rep.Interactions, interactionRow{A: in.A, B: in.B, USDPerDay: in.USDPerDay})
	}
	return rep
}

func (rep *attributeReport) writeTable(w io.Writer) {
	fmt.Fprintf(w, "trace %s, config %s, %d days, %d replays\n", rep.Trace, rep.Config, rep.Days, rep.Replays)
	fmt.Fprintf(w, "baseline $%.4f/day, configured $%.4f/day: saving $%.4f/day (%s)\n\n",
		rep.Baseline, rep.Full, rep.TotalSaving, pctString(rep.Reduction))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "strategy\tShapley $/day\tshare of saving\tof baseline\talone $/day\tlast $/day\tplan claims $/day\tplan: of baseline\t")
	for _, r := range rep.Detail {
		claimed, cshare := "-", "-"
		if r.Claimed != nil {
			claimed = fmt.Sprintf("%.2f", *r.Claimed)
		}
		if r.ClaimedShare != nil {
			cshare = pctString(*r.ClaimedShare)
		}
		fmt.Fprintf(tw, "%s\t%.4f\t%s\t%s\t%.4f\t%.4f\t%s\t%s\t\n", r.Name, r.Shapley, pctString(r.Share), pctString(r.MeasuredShare), r.Alone, r.Last, claimed, cshare)
	}
	fmt.Fprintf(tw, "total\t%.4f\t%s\t%s\t\t\t%.2f\t%s\t\n", rep.TotalSaving, pctString(1), pctString(rep.Reduction), rep.Claims.TotalClaim, pctString(rep.Claims.ClaimedPart))
	tw.Flush()
	if len(rep.Interactions) > 0 {
		fmt.Fprintln(w, "\npairwise interactions (Shapley interaction index, $/day; negative: the two save on the same calls)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		for _, in := range rep.Interactions {
			fmt.Fprintf(tw, "%s + %s\t%+.4f\t\n", in.A, in.B, in.USDPerDay)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nplan claims: %s (against $%.2f/day)\n", rep.Claims.Source, rep.Claims.Baseline)
	if rep.Oracle != nil {
		fmt.Fprintf(w, "oracle bound: $%.4f/day; the configuration reaches %s of the achievable saving\n", rep.Oracle.CostPerDayUSD, pctString(rep.ShareOfAchievable))
	}
}
