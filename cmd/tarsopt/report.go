package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/tarsopt/tarsopt/analysis"
	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/reports"
	"github.com/tarsopt/tarsopt/sim"
)

func init() {
	register(&command{
		name:    "report",
		summary: "write the phase reports (PHASE_1/PHASE_2/FINAL_BENCHMARK.md) with charts and an HTML page",
		usage: `Usage: tarsopt report --trace TRACE --out DIR [--config FILE] [--set PATH=VALUE]... [--samples N]
                [--sweep PATH=LO:HI:STEP]

Writes, into DIR, one markdown report per phase of the configuration's phase plan (the seed plan's:
PHASE_1_BENCHMARK.md, PHASE_2_BENCHMARK.md, FINAL_BENCHMARK.md), each phase switching on its
strategies over the whole trace: the baseline against the phase (cost per day and month, calls and
tokens per day, model mix, cache hit rate, batched and deferred shares, latency, quality, errors),
the phase's targets, the success criteria and rollback triggers evaluated, the plan's claims
against the replay with intervals, the Shapley split of the saving beside the plan's per-strategy
figures, the Monte Carlo distribution of the reduction, and what to do next (the best setting of
--sweep under the quality criterion, with its share of the achievable saving). Charts (PNG and
SVG) go to DIR/charts; DIR/README.md indexes everything and DIR/index.html is one self-contained
page of it all. The same inputs write the same bytes.

Examples:
  tarsopt report --trace base.parquet --out reports
  tarsopt report --trace claude.parquet --out reports/claude-code --samples 100`,
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) error {
			var af analysisFlags
			af.define(fs, "report", true)
			out := fs.String("out", "", "the folder to write the reports into (required)")
			samples := fs.Int("samples", 300, "Monte Carlo samples per phase")
			seed := fs.Uint64("seed", 1, "seed of the Monte Carlo")
			sweepFlag := fs.String("sweep", "strategies.router.bands[1].max=30:70:5", "the setting to sweep for 'what to do next' (PATH=LO:HI:STEP or a list; empty: none)")
			var related setFlags
			fs.Var(&related, "related", "link another report set from the index: TITLE=DIR, DIR relative to --out (repeatable)")
			return func(args []string, stdout, stderr io.Writer) error {
				if err := af.check(args); err != nil {
					return err
				}
				if *out == "" {
					return usagef("report: name the trace with --trace and the folder with --out")
				}
				if *samples < 2 {
					return usagef("--samples: want at least 2, got %d", *samples)
				}
				cfg, err := af.config()
				if err != nil {
					return err
				}
				book, err := af.book()
				if err != nil {
					return err
				}
				tr, err := af.load(stderr)
				if err != nil {
					return err
				}
				ctx, stop := interruptible()
				defer stop()
				rn := af.runner(book, nil)
				rep, err := buildReport(ctx, rn, tr, af.trace, cfg, book, *samples, *seed, *sweepFlag, stderr)
				if err != nil {
					return err
				}
				for _, r := range related {
					title, dir, ok := strings.Cut(r, "=")
					if !ok || title == "" || dir == "" {
						return usagef("--related %q: want TITLE=DIR", r)
					}
					rep.Related = append(rep.Related, reports.Link{Title: title, Dir: dir})
				}
				files, err := reports.Write(*out, rep)
				if err != nil {
					return err
				}
				fmt.Fprintf(stderr, "report: wrote %d files into %s: %s\n", len(files), *out, strings.Join(files[:min(len(files), len(rep.Phases)+2)], ", "))
				fmt.Fprintf(stdout, "%s\n", strings.TrimSuffix(*out, "/")+"/index.html")
				return nil
			}
		},
	})
}

// phaseStrategies returns the strategies of a phase in the configuration's stack order.
func phaseStrategies(cfg *config.Config, on []string) []string {
	var out []string
	for _, n := range cfg.Order {
		if slices.Contains(on, n) {
			out = append(out, n)
		}
	}
	return out
}

// buildReport runs everything the reports show.
func buildReport(ctx context.Context, rn *analysis.Runner, tr *analysis.Trace, name string, cfg *config.Config, book *pricing.Book,
	samples int, seed uint64, sweepSpec string, stderr io.Writer) (*reports.Report, error) {
	type phaseDef struct {
		config.Phase
		on []string
	}
	var defs []phaseDef
	for _, p := range cfg.Phases {
		defs = append(defs, phaseDef{p, phaseStrategies(cfg, p.Strategies)})
	}
	if len(defs) == 0 {
		defs = append(defs, phaseDef{config.Phase{Name: "Final", Report: "FINAL_BENCHMARK.md"}, cfg.Enabled()})
	}
	final := defs[len(defs)-1].on
	step := func(what string) { fmt.Fprintf(stderr, "report: %s\n", what) }

	step("replaying the baseline and each phase")
	scs := []analysis.Scenario{scenarioOf(cfg, nil)}
	for _, d := range defs {
		scs = append(scs, scenarioOf(cfg, d.on))
	}
	res, err := rn.Run(ctx, tr, scs)
	if err != nil {
		return nil, err
	}
	base := res[0].Summary(false)
	baseCost := res[0].Total.Cost.Total()
	oracle, err := analysis.ComputeOracle(tr, oracleOptions(cfg, book, rn.ZeroUnknown))
	if err != nil {
		return nil, err
	}
	pc := analysis.SeedPlanClaims()
	rep := &reports.Report{Trace: name, Calls: base.Calls, Days: base.Days, Config: cfg.Name, Seed: cfg.Seed,
		Baseline: base, BaselineResult: res[0], Oracle: oracle, ClaimsSource: pc.Source, PlanSavings: pc.StrategySavingsUSDPerDay,
		PlanBaseline: pc.BaselineUSDPerDay, Level: analysis.DefaultBootstrap.Level}
	u := cfg.Uncertainty
	if u == nil {
		u = &config.Uncertainty{Bootstrap: "days", Thresholds: []float64{0.30, 0.40, 0.422}}
	}
	rep.Thresholds = u.Thresholds
	for i, d := range defs {
		r := res[i+1]
		s := r.Summary(false)
		ph := reports.Phase{Name: d.Name, File: d.Report, Strategies: d.on, Note: d.Note, TargetReduction: d.TargetReduction,
			TargetDailyCost: d.TargetDailyCostUSD, Result: r, Summary: s,
			ShareOfAchievable: oracle.ShareOfAchievable(baseCost, r.Total.Cost.Total())}
		if baseCost != 0 {
			ph.Reduction = 1 - float64(r.Total.Cost.Total())/float64(baseCost)
		}
		for _, m := range slices.Sorted(maps.Keys(cfg.SuccessCriteria)) {
			b := cfg.SuccessCriteria[m]
			v, _ := metricValue(m, &base, &s)
			ph.Criteria = append(ph.Criteria, reports.Check{Metric: m, Value: v, Rule: boundRule(b.Min, b.Max), Pass: b.Contains(v)})
		}
		for _, t := range cfg.RollbackTriggers {
			v, _ := metricValue(t.Metric, &base, &s)
			rule := ""
			if t.Below != nil {
				rule = "below " + strconv.FormatFloat(*t.Below, 'g', -1, 64)
			} else if t.Above != nil {
				rule = "above " + strconv.FormatFloat(*t.Above, 'g', -1, 64)
			}
			ph.Triggers = append(ph.Triggers, reports.Check{Metric: t.Metric, Value: v, Rule: rule + ": disable " + strings.Join(t.Disable, ", "), Pass: !t.Fires(v)})
		}
		if len(d.on) > 0 && len(d.on) <= analysis.MaxAttributed {
			step(fmt.Sprintf("%s: attribution over %d subsets", d.Name, 1<<len(d.on)))
			a, err := rn.Attribute(ctx, tr, d.on, func(on []string) analysis.Scenario { return scenarioOf(cfg, on) })
			if err != nil {
				return nil, err
			}
			ph.Attribution = a
		}
		step(fmt.Sprintf("%s: Monte Carlo, %d samples", d.Name, samples))
		pcfg := cfg.Clone()
		pcfg.Only(d.on...)
		mc := analysis.MonteCarlo{Samples: samples, Seed: seed, Bootstrap: u.Bootstrap, Thresholds: u.Thresholds,
			Draw: func(i int, rng *rand.Rand) (analysis.Draw, error) { return drawSample(pcfg, u, rng) }}
		if tr.NumDays() < 5 && u.Bootstrap == "days" {
			mc.Bootstrap = "sessions"
		}
		ph.MC, err = rn.MonteCarlo(ctx, tr, mc)
		if err != nil {
			return nil, err
		}
		rep.Phases = append(rep.Phases, ph)
	}
	step("checking the plan's claims")
	rep.Claims, err = rn.Validate(ctx, tr, pc, final, func(on []string) analysis.Scenario { return scenarioOf(cfg, on) }, analysis.DefaultBootstrap)
	if err != nil {
		return nil, err
	}
	fcfg := cfg.Clone()
	fcfg.Only(final...)
	if sweepSpec != "" {
		step("sweeping " + sweepSpec)
		if rep.Sweep, err = reportSweep(ctx, rn, tr, fcfg, sweepSpec, base, baseCost, oracle); err != nil {
			return nil, err
		}
	}
	step("sensitivity of the final phase to each uncertain input")
	if rep.Tornado, err = tornado(ctx, rn, tr, fcfg, u); err != nil {
		return nil, err
	}
	return rep, nil
}

func boundRule(lo, hi *float64) string {
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	switch {
	case lo != nil && hi != nil:
		return "between " + g(*lo) + " and " + g(*hi)
	case lo != nil:
		return "at least " + g(*lo)
	case hi != nil:
		return "at most " + g(*hi)
	}
	return ""
}

// reportSweep sweeps one setting of the final configuration, under its quality criterion.
func reportSweep(ctx context.Context, rn *analysis.Runner, tr *analysis.Trace, cfg *config.Config, spec string, base sim.Summary, baseCost money.Amount, oracle *analysis.Oracle) (*reports.Sweep, error) {
	p, err := analysis.ParseParam(spec)
	if err != nil {
		return nil, err
	}
	points, err := analysis.Design([]analysis.Param{p}, analysis.DesignGrid, 0, 0)
	if err != nil {
		return nil, err
	}
	sw := &reports.Sweep{Param: p.Path, Best: -1}
	if b, ok := cfg.SuccessCriteria["quality_score"]; ok && b.Min != nil {
		sw.MinQuality = *b.Min
	}
	// The quality and latency criteria decide which points are feasible.
	var cons []string
	for _, m := range []string{"quality_score", "response_time_s", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms"} {
		if b, ok := cfg.SuccessCriteria[m]; ok {
			cons = append(cons, m+" "+boundRule(b.Min, b.Max))
		}
	}
	sw.Constraints = strings.Join(cons, ", ")
	if sw.Constraints == "" {
		sw.Constraints = "none set"
	}
	feasible := func(s *sim.Summary) bool {
		for _, m := range []string{"quality_score", "response_time_s", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms"} {
			if b, ok := cfg.SuccessCriteria[m]; ok {
				if v, _ := metricValue(m, &base, s); !b.Contains(v) {
					return false
				}
			}
		}
		return true
	}
	var scs []analysis.Scenario
	var cfgs []*config.Config
	for _, pt := range points {
		c := cfg.Clone()
		if err := c.Set(p.Path + "=" + pt[0]); err != nil {
			continue // a setting the configuration cannot take (a band below the one before it)
		}
		cfgs = append(cfgs, c)
		scs = append(scs, scenarioOf(c, c.Enabled()))
		sw.Points = append(sw.Points, reports.SweepPoint{Value: pt[0]})
	}
	res, err := rn.Run(ctx, tr, scs)
	if err != nil {
		return nil, err
	}
	var objs []analysis.Objectives
	for i, r := range res {
		s := r.Summary(false)
		m := metricsOf(&s, &base, cheapModel(cfgs[i]))
		pt := &sw.Points[i]
		pt.CostPerDay, pt.Reduction, pt.Quality, pt.P95MS, pt.CheapShare = float64(s.CostPerDayUSD)/1e9, m.Reduction, s.QualityScore, s.LatencyP95MS, m.CheapShare
		pt.ShareOfAchievable = oracle.ShareOfAchievable(baseCost, r.Total.Cost.Total())
		pt.Feasible = feasible(&s)
		objs = append(objs, analysis.Objectives{Cost: pt.CostPerDay, Quality: pt.Quality, P95: pt.P95MS})
		if pt.Feasible && (sw.Best < 0 || pt.CostPerDay < sw.Points[sw.Best].CostPerDay) {
			sw.Best = i
		}
	}
	for _, k := range analysis.Pareto(objs) {
		sw.Points[k].Pareto = true
	}
	return sw, nil
}

// tornado replays the final configuration with each uncertain input at its 5th and 95th
// percentile (the others as configured).
func tornado(ctx context.Context, rn *analysis.Runner, tr *analysis.Trace, cfg *config.Config, u *config.Uncertainty) ([]reports.Sensitivity, error) {
	pair := func(c *config.Config, repeat float64) (float64, error) {
		d := analysis.Draw{Baseline: analysis.Scenario{Upstream: c.Upstream, Seed: c.Seed},
			Configured: analysis.Scenario{Stages: c.Stack, Upstream: c.Upstream, Seed: c.Seed}, CostFactor: 1, RepeatRate: repeat}
		s, err := rn.Pair(ctx, tr, d, c.Seed)
		if err != nil {
			return 0, err
		}
		return s.Reduction, nil
	}
	baseRed, err := pair(cfg, 1)
	if err != nil {
		return nil, err
	}
	// The 5th and 95th percentiles of a distribution, from 4,001 seeded draws.
	pcts := func(d *config.Dist) (float64, float64) {
		rng := rand.New(rand.NewPCG(7, 7))
		xs := make([]float64, 4001)
		for i := range xs {
			xs[i] = d.Draw(rng)
		}
		s := analysis.StatsOf(xs)
		return s.P5, s.P95
	}
	var out []reports.Sensitivity
	for _, in := range u.Inputs {
		lo, hi := pcts(&in.Dist)
		s := reports.Sensitivity{Name: in.Path, Low: lo, High: hi, Base: baseRed}
		for k, v := range []float64{lo, hi} {
			c := cfg.Clone()
			if err := c.Set(in.Path + "=" + strconv.FormatFloat(v, 'g', -1, 64)); err != nil {
				return nil, fmt.Errorf("tornado: %s=%g: %w", in.Path, v, err)
			}
			r, err := pair(c, 1)
			if err != nil {
				return nil, err
			}
			if k == 0 {
				s.ReductionLow = r
			} else {
				s.ReductionHigh = r
			}
		}
		out = append(out, s)
	}
	if u.RepeatRate != nil {
		lo, hi := pcts(u.RepeatRate)
		s := reports.Sensitivity{Name: "repeat_rate", Low: lo, High: hi, Base: baseRed}
		if s.ReductionLow, err = pair(cfg, lo); err != nil {
			return nil, err
		}
		if s.ReductionHigh, err = pair(cfg, hi); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
