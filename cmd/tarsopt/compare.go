package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tarsopt/tarsopt/analysis"
	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/internal/textfmt"
	"github.com/tarsopt/tarsopt/sim"
)

// configFlags collects repeated --config values, each with the --set assignments that follow it
// (before the next --config); assignments before the first --config apply to every one.
type configFlags struct {
	paths  []string
	sets   []setFlags // per path
	common setFlags
}

func (c *configFlags) String() string { return strings.Join(c.paths, ",") }

func (c *configFlags) Set(v string) error {
	c.paths = append(c.paths, v)
	c.sets = append(c.sets, nil)
	return nil
}

// setValue is the --set flag of compare: it attaches to the latest --config.
type setValue struct{ c *configFlags }

func (s setValue) String() string { return "" }

func (s setValue) Set(v string) error {
	if n := len(s.c.paths); n > 0 {
		s.c.sets[n-1] = append(s.c.sets[n-1], v)
	} else {
		s.c.common = append(s.c.common, v)
	}
	return nil
}

// setsOf returns the assignments for configuration i: the common ones, then its own.
func (c *configFlags) setsOf(i int) setFlags {
	return append(append(setFlags(nil), c.common...), c.sets[i]...)
}

func init() {
	register(&command{
		name:    "compare",
		summary: "replay a trace through several configurations, side by side, with confidence intervals",
		usage: `Usage: tarsopt compare --trace TRACE --config A [--set PATH=VALUE]... [--config B [--set PATH=VALUE]...]... [--json] [--per-day]

Replays the trace with every strategy off (the baseline) and through each configuration (a file,
or "default" for the built-in seed plan; a --set applies to the --config before it, or to every one
when it comes before the first), in parallel, and prints them
side by side. Each configuration is compared with the baseline, and, with two or more, with the
first, day by day: the saving per day and the reduction, each with a 95% bootstrap confidence
interval over the trace's days (resampled whole, paired: the same days for both), the change in
quality score, and the number of days on which it was cheaper.

Every replay draws the same random numbers per call (common random numbers), so the per-day
differences hold only what the configurations do; the intervals say how much the saving varies
from day to day, which is what a shorter or different stretch of traffic would show.

Examples:
  tarsopt compare --trace base.parquet --config default --config cheap.json
  tarsopt compare --trace base.parquet --config default --config default --set strategies.router.enabled=false --json
  tarsopt compare --trace base.parquet --config default --config default --set strategies.router.bands[1].max=40`,
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) error {
			var af analysisFlags
			af.define(fs, "compare", false)
			var cfgs configFlags
			fs.Var(&cfgs, "config", `a configuration file, or "default" for the built-in seed plan (repeatable; at least one)`)
			fs.Var(setValue{&cfgs}, "set", "override a setting of the --config before it (of every one when it comes first): PATH=VALUE (repeatable)")
			asJSON := fs.Bool("json", false, "print JSON")
			perDay := fs.Bool("per-day", false, "add each day's saving against the baseline")
			resamples := fs.Int("resamples", analysis.DefaultBootstrap.Resamples, "bootstrap resamples for the intervals")
			level := fs.Float64("level", analysis.DefaultBootstrap.Level, "confidence level of the intervals")
			seed := fs.Uint64("seed", analysis.DefaultBootstrap.Seed, "seed of the bootstrap")
			return func(args []string, stdout, stderr io.Writer) error {
				if err := af.check(args); err != nil {
					return err
				}
				if len(cfgs.paths) == 0 {
					return usagef(`compare: name at least one configuration with --config (a file, or "default")`)
				}
				if !(*level > 0 && *level < 1) {
					return usagef("--level: want a confidence level between 0 and 1, got %g", *level)
				}
				if *resamples < 1 {
					return usagef("--resamples: want at least 1, got %d", *resamples)
				}
				var configs []*config.Config
				for i, path := range cfgs.paths {
					p := path
					if p == "default" {
						p = ""
					}
					c, err := loadConfig(p, cfgs.setsOf(i))
					if err != nil {
						return err
					}
					configs = append(configs, c)
				}
				book, err := af.book()
				if err != nil {
					return err
				}
				tr, err := af.load(stderr)
				if err != nil {
					return err
				}
				if tr.NumDays() < 2 {
					fmt.Fprintf(stderr, "warning: %s covers one day: the intervals, a bootstrap over days, are single points\n", af.trace)
				}
				scs := []analysis.Scenario{scenarioOf(configs[0], nil)}
				scs[0].Name = "baseline"
				for i, c := range configs {
					sc := scenarioOf(c, c.Enabled())
					sc.Name = cfgs.paths[i]
					if own := cfgs.sets[i]; len(own) > 0 {
						sc.Name += " " + strings.Join(own, " ")
					}
					scs = append(scs, sc)
				}
				ctx, stop := interruptible()
				defer stop()
				prog := startCountProgress(stderr, "compare", "replays", int64(len(scs)))
				rn := af.runner(book, prog)
				res, err := rn.Run(ctx, tr, scs)
				prog.Done()
				if err != nil {
					if ctx.Err() != nil {
						return fmt.Errorf("compare: interrupted after %d of %d replays", prog.Count(), len(scs))
					}
					return err
				}
				fmt.Fprintf(stderr, "compare: %d replays of %s calls\n", len(scs), textfmt.Thousands(float64(len(tr.Records)), 0))
				bs := analysis.Bootstrap{Level: *level, Resamples: *resamples, Seed: *seed}
				oracle, err := analysis.ComputeOracle(tr, oracleOptions(configs[0], book, rn.ZeroUnknown))
				if err != nil {
					return err
				}
				rep := newCompareReport(af.trace, scs, configs, res, bs, *perDay, oracle)
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

// compareReport is what tarsopt compare prints.
type compareReport struct {
	Trace      string            `json:"trace"`
	Calls      int64             `json:"calls"`
	Level      float64           `json:"level"`
	Resamples  int               `json:"resamples"`
	Baseline   sim.Summary       `json:"baseline"`
	Configs    []compareConfig   `json:"configs"`
	VsBaseline []analysis.Paired `json:"vs_baseline"`
	VsFirst    []analysis.Paired `json:"vs_first,omitempty"`
	Oracle     *oracleRow        `json:"oracle"` // with the first configuration's models and quality curves
	PerDay     []compareDay      `json:"per_day,omitempty"`
}

type compareConfig struct {
	Name    string      `json:"name"`
	Order   []string    `json:"order"`
	Seed    uint64      `json:"seed"`
	Summary sim.Summary `json:"summary"`
	// ShareOfAchievable is the share of the saving the oracle bound allows that this reaches.
	ShareOfAchievable float64 `json:"share_of_achievable"`
}

// compareDay is one day's saving of each configuration against the baseline, in USD.
type compareDay struct {
	Date   string    `json:"date"`
	Saving []float64 `json:"saving_usd"`
}

func newCompareReport(trace string, scs []analysis.Scenario, configs []*config.Config, res []*sim.Result, bs analysis.Bootstrap, perDay bool, oracle *analysis.Oracle) *compareReport {
	rep := &compareReport{Trace: trace, Level: bs.Level, Resamples: bs.Resamples, Baseline: res[0].Summary(false)}
	baseCost := res[0].Total.Cost.Total()
	rep.Oracle = newOracleRow(oracle, baseCost)
	rep.Calls = rep.Baseline.Calls
	for i, c := range configs {
		order := c.Enabled()
		if order == nil {
			order = []string{}
		}
		rep.Configs = append(rep.Configs, compareConfig{Name: scs[i+1].Name, Order: order, Seed: c.Seed, Summary: res[i+1].Summary(false),
			ShareOfAchievable: oracle.ShareOfAchievable(baseCost, res[i+1].Total.Cost.Total())})
		rep.VsBaseline = append(rep.VsBaseline, analysis.Compare("baseline", res[0], scs[i+1].Name, res[i+1], bs))
		if i > 0 {
			rep.VsFirst = append(rep.VsFirst, analysis.Compare(scs[1].Name, res[1], scs[i+1].Name, res[i+1], bs))
		}
	}
	if perDay && len(rep.VsBaseline) > 0 {
		for d, date := range rep.VsBaseline[0].Dates {
			row := compareDay{Date: date.Format("2006-01-02")}
			for _, p := range rep.VsBaseline {
				row.Saving = append(row.Saving, p.PerDay[d])
			}
			rep.PerDay = append(rep.PerDay, row)
		}
	}
	return rep
}

func (rep *compareReport) writeTable(w io.Writer) {
	fmt.Fprintf(w, "compare on %s: %s calls over %d days; intervals: %s bootstrap over days (%d resamples)\n\n",
		rep.Trace, textfmt.Thousands(float64(rep.Calls), 0), rep.Baseline.Days, textfmt.Percent(rep.Level), rep.Resamples)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "\tbaseline\t"
	for i := range rep.Configs {
		head += fmt.Sprintf("[%d]\t", i+1)
	}
	fmt.Fprintln(tw, head)
	row := func(name string, f func(s *sim.Summary) string) {
		line := name + "\t" + f(&rep.Baseline) + "\t"
		for i := range rep.Configs {
			line += f(&rep.Configs[i].Summary) + "\t"
		}
		fmt.Fprintln(tw, line)
	}
	row("cost per day", func(s *sim.Summary) string { return "$" + dollars(s.CostPerDayUSD) })
	row("monthly (30 days)", func(s *sim.Summary) string { return "$" + dollars(s.MonthlyCostUSD) })
	row("calls upstream per day", func(s *sim.Summary) string { return fmt.Sprintf("%.1f", s.CallsUpstreamPerDay) })
	row("tokens per day", func(s *sim.Summary) string { return textfmt.Thousands(s.TokensPerDay, 0) })
	row("response cache hit rate", func(s *sim.Summary) string { return textfmt.Percent(s.CacheHitRate) })
	row("batched share", func(s *sim.Summary) string { return textfmt.Percent(s.BatchedShare) })
	row("deferred share", func(s *sim.Summary) string { return textfmt.Percent(s.DeferredShare) })
	row("latency p95", func(s *sim.Summary) string { return ms(s.LatencyP95MS) })
	row("quality score", func(s *sim.Summary) string { return fmt.Sprintf("%.4f", s.QualityScore) })
	row("error rate", func(s *sim.Summary) string { return textfmt.Percent(s.ErrorRate) })
	line := "share of the achievable saving\t\t"
	for _, c := range rep.Configs {
		line += textfmt.Percent(c.ShareOfAchievable) + "\t"
	}
	fmt.Fprintln(tw, line)
	tw.Flush()
	fmt.Fprintf(w, "(the oracle bound, the least the trace could cost without losing an acceptable answer: $%.4f/day)\n", rep.Oracle.CostPerDayUSD)
	fmt.Fprintln(w)
	for i, c := range rep.Configs {
		order := "no strategy"
		if len(c.Order) > 0 {
			order = strings.Join(c.Order, " → ")
		}
		fmt.Fprintf(w, "[%d] %s: %s\n", i+1, c.Name, order)
	}
	paired := func(title string, ps []analysis.Paired) {
		if len(ps) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s\n", title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\tsaving $/day\tinterval\treduction\tinterval\tquality change\tdays cheaper\t")
		for _, p := range ps {
			fmt.Fprintf(tw, "%s vs %s\t%.4f\t[%.4f, %.4f]\t%s\t[%s, %s]\t%+.4f\t%d of %d\t\n", p.B, p.A,
				p.SavingUSDPerDay.Est, p.SavingUSDPerDay.Lo, p.SavingUSDPerDay.Hi,
				textfmt.Percent(p.Reduction.Est), textfmt.Percent(p.Reduction.Lo), textfmt.Percent(p.Reduction.Hi),
				p.QualityDelta.Est, p.DaysCheaper, p.Days)
		}
		tw.Flush()
	}
	paired("against the baseline (paired by day)", rep.VsBaseline)
	paired("against [1] (paired by day)", rep.VsFirst)
	if len(rep.PerDay) > 0 {
		fmt.Fprintln(w, "\nsaving against the baseline per day, USD")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		for _, d := range rep.PerDay {
			line := d.Date + "\t"
			for _, s := range d.Saving {
				line += fmt.Sprintf("%.4f\t", s)
			}
			fmt.Fprintln(tw, line)
		}
		tw.Flush()
	}
}
