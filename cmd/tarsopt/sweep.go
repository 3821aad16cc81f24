package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/tarsopt/tarsopt/analysis"
	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/internal/textfmt"
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/sim"
	"github.com/tarsopt/tarsopt/strategies/router"
	"github.com/tarsopt/tarsopt/traces/arrowtrace"
)

// paramFlags collects repeated --param values.
type paramFlags []string

func (p *paramFlags) String() string     { return strings.Join(*p, " ") }
func (p *paramFlags) Set(v string) error { *p = append(*p, v); return nil }

func init() {
	register(&command{
		name:    "sweep",
		summary: "replay a trace over a grid or sample of settings: Pareto front, best point, calibration",
		usage: `Usage: tarsopt sweep --trace TRACE [--config FILE] [--set PATH=VALUE]... --param PATH=SPEC...
             [--design grid|random|lhs] [--samples N] [--seed S]
             [--min-quality Q] [--max-p95 MS] [--json] [--out FILE.csv|FILE.parquet]
       tarsopt sweep --trace TRACE [--config FILE] --param PATH=LO:HI[:STEP] --target METRIC=VALUE

Replays the trace with each setting of the swept parameters (SPEC is lo:hi:step, or a list
v1,v2,...; PATH is any setting --set takes), in parallel, and reports for each point its cost,
reduction, quality, p95 latency, cache hit rate, batched and deferred shares and cheap_share (the
share of upstream calls on the model of the router's first band). A grid takes every combination;
random and lhs (Latin hypercube) designs draw --samples points from --seed (ranges given as lo:hi
are then continuous). A point is feasible when its quality score is at least --min-quality and its
p95 latency at most --max-p95; the Pareto front (cost and p95 lower, quality higher) is over all
points, and the best point is the cheapest feasible one.

With --target METRIC=VALUE (such as cheap_share=0.45), it calibrates the one parameter instead: it
bisects its range (on the step's grid when there is one) until METRIC reaches VALUE, assuming
METRIC moves one way as the parameter grows.

Every replay draws the same random numbers per call, so points differ only by their settings, and
two runs print the same bytes whatever the number of workers.

Examples:
  tarsopt sweep --trace base.parquet --param strategies.router.bands[1].max=30:70:10
  tarsopt sweep --trace base.parquet --param strategies.router.bands[1].max=30:70 --param strategies.responsecache.stale_penalty=0:0.2 --design lhs --samples 50 --min-quality 0.95 --out points.parquet
  tarsopt sweep --trace base.parquet --param strategies.router.bands[1].max=20:80:1 --target cheap_share=0.45`,
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) error {
			var af analysisFlags
			af.define(fs, "sweep", true)
			var params paramFlags
			fs.Var(&params, "param", "a swept setting: PATH=lo:hi:step, PATH=lo:hi (random, lhs) or PATH=v1,v2,... (repeatable)")
			design := fs.String("design", analysis.DesignGrid, "grid, random or lhs")
			samples := fs.Int("samples", 0, "points to draw (random and lhs designs)")
			seed := fs.Uint64("seed", 1, "seed of the random and lhs designs")
			minQuality := fs.Float64("min-quality", 0, "feasible points have at least this quality score")
			maxP95 := fs.Float64("max-p95", 0, "feasible points have at most this p95 latency, ms (0: no limit)")
			target := fs.String("target", "", "calibrate the one --param so that METRIC=VALUE (by bisection)")
			iters := fs.Int("iterations", 24, "most replays for --target")
			asJSON := fs.Bool("json", false, "print JSON")
			out := fs.String("out", "", "also write the points to FILE.csv or FILE.parquet")
			return func(args []string, stdout, stderr io.Writer) error {
				if err := af.check(args); err != nil {
					return err
				}
				if len(params) == 0 {
					return usagef("sweep: name at least one --param PATH=SPEC")
				}
				if ext := strings.ToLower(filepath.Ext(*out)); *out != "" && ext != ".csv" && ext != ".parquet" {
					return usagef("--out %s: want a .csv or .parquet file", *out)
				}
				var ps []analysis.Param
				for _, s := range params {
					p, err := analysis.ParseParam(s)
					if err != nil {
						return usagef("%v", err)
					}
					ps = append(ps, p)
				}
				cfg, err := af.config()
				if err != nil {
					return err
				}
				book, err := af.book()
				if err != nil {
					return err
				}
				sw := &sweeper{cfg: cfg, params: ps, minQuality: *minQuality, maxP95: *maxP95}
				var points [][]string
				if *target != "" {
					if len(ps) != 1 || !ps[0].IsRange {
						return usagef("--target: calibrate exactly one --param given as a range lo:hi[:step]")
					}
					name, val, ok := strings.Cut(*target, "=")
					v, err := strconv.ParseFloat(val, 64)
					if !ok || err != nil || !slices.Contains(sweepMetrics, name) {
						return usagef("--target %q: want METRIC=VALUE, METRIC one of %s", *target, strings.Join(sweepMetrics, ", "))
					}
					sw.targetMetric, sw.targetValue = name, v
				} else {
					if points, err = analysis.Design(ps, *design, *samples, *seed); err != nil {
						return usagef("%v", err)
					}
					// Every point's configuration must be valid before anything runs.
					for _, pt := range points {
						if _, err := sw.configAt(pt); err != nil {
							return err
						}
					}
				}
				tr, err := af.load(stderr)
				if err != nil {
					return err
				}
				ctx, stop := interruptible()
				defer stop()
				rn := af.runner(book, nil)
				if sw.oracle, err = analysis.ComputeOracle(tr, oracleOptions(cfg, book, rn.ZeroUnknown)); err != nil {
					return err
				}
				var rep *sweepReport
				if sw.targetMetric != "" {
					rep, err = sw.calibrate(ctx, rn, tr, *iters, stderr)
				} else {
					rep, err = sw.run(ctx, rn, tr, points, stderr)
				}
				if rep == nil {
					return err
				}
				rep.Trace, rep.Design = af.trace, *design
				if sw.targetMetric != "" {
					rep.Design = "bisection"
				}
				if *out != "" {
					if werr := rep.writeFile(*out); werr != nil {
						return werr
					}
				}
				if *asJSON {
					enc := json.NewEncoder(stdout)
					enc.SetIndent("", "  ")
					if jerr := enc.Encode(rep); jerr != nil {
						return jerr
					}
				} else {
					rep.writeTable(stdout)
				}
				if err != nil {
					return fmt.Errorf("sweep: interrupted after %d replays; the points so far are above", rep.Replays)
				}
				return nil
			}
		},
	})
}

// sweepMetrics are the metrics of a point (and the --target metrics).
var sweepMetrics = []string{"cost_usd", "cost_per_day_usd", "reduction", "quality_score", "latency_p95_ms",
	"cache_hit_rate", "batched_share", "deferred_share", "cheap_share", "error_rate", "share_of_achievable"}

type sweeper struct {
	oracle       *analysis.Oracle
	cfg          *config.Config
	params       []analysis.Param
	minQuality   float64
	maxP95       float64
	targetMetric string
	targetValue  float64
}

// configAt returns the configuration with the point's settings.
func (sw *sweeper) configAt(pt []string) (*config.Config, error) {
	c := sw.cfg.Clone()
	for i, p := range sw.params {
		if err := c.Set(p.Path + "=" + pt[i]); err != nil {
			return nil, fmt.Errorf("--param %s=%s: %w", p.Path, pt[i], err)
		}
	}
	return c, nil
}

// sweepReport is what tarsopt sweep prints.
type sweepReport struct {
	Trace       string        `json:"trace"`
	Config      string        `json:"config"`
	Design      string        `json:"design"`
	Params      []string      `json:"params"`
	Replays     int           `json:"replays"`
	MinQuality  float64       `json:"min_quality"`
	MaxP95MS    float64       `json:"max_p95_ms"`
	Baseline    pointMetrics  `json:"baseline"`
	Points      []sweepPoint  `json:"points"`
	Pareto      []sweepPoint  `json:"pareto"`
	Best        *sweepPoint   `json:"best"`
	Calibration *calibration  `json:"calibration,omitempty"`
	Oracle      *oracleRow    `json:"oracle"`
	summaries   []sim.Summary // per point
}

type pointMetrics struct {
	CostUSD       sim.USD `json:"cost_usd"`
	CostPerDayUSD sim.USD `json:"cost_per_day_usd"`
	Reduction     float64 `json:"reduction"`
	QualityScore  float64 `json:"quality_score"`
	LatencyP95MS  float64 `json:"latency_p95_ms"`
	CacheHitRate  float64 `json:"cache_hit_rate"`
	BatchedShare  float64 `json:"batched_share"`
	DeferredShare float64 `json:"deferred_share"`
	CheapShare    float64 `json:"cheap_share"`
	ErrorRate     float64 `json:"error_rate"`
	// ShareOfAchievable is the share of the saving the oracle bound allows that the point reaches.
	ShareOfAchievable float64 `json:"share_of_achievable"`
}

type sweepPoint struct {
	Index  int               `json:"index"`
	Params map[string]string `json:"params"`
	pointMetrics
	Feasible bool     `json:"feasible"`
	OnPareto bool     `json:"on_pareto"`
	values   []string // in the order of the params
}

type calibration struct {
	Param       string       `json:"param"`
	Metric      string       `json:"metric"`
	Target      float64      `json:"target"`
	Value       string       `json:"value"`
	Achieved    float64      `json:"achieved"`
	Evaluations []evaluation `json:"evaluations"`
}

type evaluation struct {
	Value  string  `json:"value"`
	Metric float64 `json:"metric"`
}

func (m *pointMetrics) get(name string) float64 {
	switch name {
	case "cost_usd":
		return float64(m.CostUSD) / 1e9
	case "cost_per_day_usd":
		return float64(m.CostPerDayUSD) / 1e9
	case "reduction":
		return m.Reduction
	case "quality_score":
		return m.QualityScore
	case "latency_p95_ms":
		return m.LatencyP95MS
	case "cache_hit_rate":
		return m.CacheHitRate
	case "batched_share":
		return m.BatchedShare
	case "deferred_share":
		return m.DeferredShare
	case "cheap_share":
		return m.CheapShare
	case "error_rate":
		return m.ErrorRate
	case "share_of_achievable":
		return m.ShareOfAchievable
	}
	return math.NaN()
}

// metricsOf returns a point's metrics from its replay, against the baseline's; cheapModel is the
// model of the router's first band in the point's configuration.
func metricsOf(s, base *sim.Summary, cheapModel string) pointMetrics {
	m := pointMetrics{CostUSD: s.CostUSD, CostPerDayUSD: s.CostPerDayUSD, QualityScore: s.QualityScore,
		LatencyP95MS: s.LatencyP95MS, CacheHitRate: s.CacheHitRate, BatchedShare: s.BatchedShare,
		DeferredShare: s.DeferredShare, CheapShare: s.ModelMix[cheapModel], ErrorRate: s.ErrorRate}
	if base.CostUSD != 0 {
		m.Reduction = 1 - float64(s.CostUSD)/float64(base.CostUSD)
	}
	return m
}

// cheapModel returns the model of the router's first band.
func cheapModel(c *config.Config) string {
	if m := routerModels(c); len(m) > 0 {
		return m[0]
	}
	return ""
}

// routerModels returns the models of the router's bands, in band order.
func routerModels(c *config.Config) []string {
	rs, _ := c.Strategies.Get(router.Name).(*router.Settings)
	if rs == nil {
		return nil
	}
	out := make([]string, len(rs.Bands))
	for i, b := range rs.Bands {
		out[i] = b.Model
	}
	return out
}

func (sw *sweeper) feasible(m *pointMetrics) bool {
	return m.QualityScore >= sw.minQuality && (sw.maxP95 <= 0 || m.LatencyP95MS <= sw.maxP95)
}

func (sw *sweeper) newReport(base *sim.Summary) *sweepReport {
	rep := &sweepReport{Config: sw.cfg.Name, MinQuality: sw.minQuality, MaxP95MS: sw.maxP95, Points: []sweepPoint{}, Pareto: []sweepPoint{},
		Oracle: newOracleRow(sw.oracle, money.Amount(base.CostUSD))}
	for _, p := range sw.params {
		rep.Params = append(rep.Params, p.Path)
	}
	return rep
}

func (sw *sweeper) point(i int, pt []string, s, base *sim.Summary, c *config.Config) sweepPoint {
	p := sweepPoint{Index: i, Params: map[string]string{}, values: pt, pointMetrics: metricsOf(s, base, cheapModel(c))}
	p.ShareOfAchievable = sw.oracle.ShareOfAchievable(money.Amount(base.CostUSD), money.Amount(s.CostUSD))
	for j, par := range sw.params {
		p.Params[par.Path] = pt[j]
	}
	p.Feasible = sw.feasible(&p.pointMetrics)
	return p
}

// run replays the baseline and every point.
func (sw *sweeper) run(ctx context.Context, rn *analysis.Runner, tr *analysis.Trace, points [][]string, stderr io.Writer) (*sweepReport, error) {
	cfgs := make([]*config.Config, len(points))
	scs := []analysis.Scenario{scenarioOf(sw.cfg, nil)}
	for i, pt := range points {
		c, err := sw.configAt(pt)
		if err != nil {
			return nil, err
		}
		cfgs[i] = c
		scs = append(scs, scenarioOf(c, c.Enabled()))
	}
	prog := startCountProgress(stderr, "sweep", "replays", int64(len(scs)))
	rn.Progress = func(done, total int) { prog.Set(int64(done)) }
	res, err := rn.Run(ctx, tr, scs)
	prog.Done()
	if res == nil || res[0] == nil {
		if err == nil {
			err = fmt.Errorf("sweep: no result")
		}
		return nil, err
	}
	base := res[0].Summary(false)
	rep := sw.newReport(&base)
	rep.Baseline = metricsOf(&base, &base, cheapModel(sw.cfg))
	rep.Replays = 1
	var objs []analysis.Objectives
	for i, r := range res[1:] {
		if r == nil {
			continue // interrupted before this point ran
		}
		rep.Replays++
		s := r.Summary(false)
		p := sw.point(i, points[i], &s, &base, cfgs[i])
		rep.Points = append(rep.Points, p)
		objs = append(objs, analysis.Objectives{Cost: float64(p.CostUSD), Quality: p.QualityScore, P95: p.LatencyP95MS})
	}
	for _, k := range analysis.Pareto(objs) {
		rep.Points[k].OnPareto = true
		rep.Pareto = append(rep.Pareto, rep.Points[k])
	}
	for k := range rep.Points {
		p := &rep.Points[k]
		if !p.Feasible {
			continue
		}
		if b := rep.Best; b == nil || p.CostUSD < b.CostUSD || (p.CostUSD == b.CostUSD && p.QualityScore > b.QualityScore) {
			rep.Best = p
		}
	}
	if rep.Best != nil {
		best := *rep.Best
		rep.Best = &best
	}
	fmt.Fprintf(stderr, "sweep: %d replays of %s calls\n", rep.Replays, textfmt.Thousands(float64(len(tr.Records)), 0))
	return rep, err
}

// calibrate bisects the one parameter's range for the target.
func (sw *sweeper) calibrate(ctx context.Context, rn *analysis.Runner, tr *analysis.Trace, iters int, stderr io.Writer) (*sweepReport, error) {
	p := sw.params[0]
	baseSc := scenarioOf(sw.cfg, nil)
	baseRes, err := rn.Replay(ctx, tr, &baseSc)
	if err != nil {
		return nil, err
	}
	base := baseRes.Summary(false)
	rep := sw.newReport(&base)
	rep.Baseline = metricsOf(&base, &base, cheapModel(sw.cfg))
	rep.Replays = 1
	f := func(x float64) (float64, error) {
		v := analysis.FormatValue(x)
		c, err := sw.configAt([]string{v})
		if err != nil {
			return 0, err
		}
		sc := scenarioOf(c, c.Enabled())
		r, err := rn.Replay(ctx, tr, &sc)
		if err != nil {
			return 0, err
		}
		rep.Replays++
		s := r.Summary(false)
		pt := sw.point(len(rep.Points), []string{v}, &s, &base, c)
		rep.Points = append(rep.Points, pt)
		fmt.Fprintf(stderr, "sweep: %s=%s gives %s %.4f\n", p.Path, v, sw.targetMetric, pt.get(sw.targetMetric))
		return pt.get(sw.targetMetric), nil
	}
	x, fx, evals, err := analysis.Bisect(f, p.Lo, p.Hi, p.Step, sw.targetValue, iters)
	cal := &calibration{Param: p.Path, Metric: sw.targetMetric, Target: sw.targetValue}
	for _, e := range evals {
		cal.Evaluations = append(cal.Evaluations, evaluation{Value: analysis.FormatValue(e[0]), Metric: e[1]})
	}
	if err != nil {
		if ctx.Err() != nil {
			rep.Calibration = cal
			return rep, err
		}
		return nil, fmt.Errorf("sweep: --target %s=%g over %s: %w", sw.targetMetric, sw.targetValue, p.Path, err)
	}
	cal.Value, cal.Achieved = analysis.FormatValue(x), fx
	rep.Calibration = cal
	return rep, nil
}

func (rep *sweepReport) writeTable(w io.Writer) {
	fmt.Fprintf(w, "sweep of %s on %s (%s design): %d points, %d replays\n", strings.Join(rep.Params, ", "), rep.Trace, rep.Design, len(rep.Points), rep.Replays)
	fmt.Fprintf(w, "baseline: $%s/day, quality %.4f, p95 %s\n\n", dollars(rep.Baseline.CostPerDayUSD), rep.Baseline.QualityScore, ms(rep.Baseline.LatencyP95MS))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "#\t"
	for _, p := range rep.Params {
		head += p + "\t"
	}
	fmt.Fprintln(tw, head+"$/day\treduction\tquality\tp95\tcache hits\tbatched\tcheap share\t\t")
	for _, p := range rep.Points {
		line := fmt.Sprintf("%d\t", p.Index)
		for _, v := range p.values {
			line += v + "\t"
		}
		mark := ""
		if p.OnPareto {
			mark += "pareto "
		}
		if !p.Feasible {
			mark += "infeasible"
		}
		if rep.Best != nil && rep.Best.Index == p.Index {
			mark += "best"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%.4f\t%s\t%s\t%s\t%s\t%s\t\n", line, dollars(p.CostPerDayUSD), textfmt.Percent(p.Reduction), p.QualityScore,
			ms(p.LatencyP95MS), textfmt.Percent(p.CacheHitRate), textfmt.Percent(p.BatchedShare), textfmt.Percent(p.CheapShare), strings.TrimSpace(mark))
	}
	tw.Flush()
	if c := rep.Calibration; c != nil && c.Value != "" {
		fmt.Fprintf(w, "\ncalibrated: %s = %s gives %s %.4f (target %g)\n", c.Param, c.Value, c.Metric, c.Achieved, c.Target)
	}
	if rep.Best != nil {
		fmt.Fprintf(w, "\nbest feasible point: #%d, $%s/day (%s less than the baseline, %s of the saving the oracle bound allows), quality %.4f, p95 %s\n", rep.Best.Index,
			dollars(rep.Best.CostPerDayUSD), textfmt.Percent(rep.Best.Reduction), textfmt.Percent(rep.Best.ShareOfAchievable), rep.Best.QualityScore, ms(rep.Best.LatencyP95MS))
	} else if rep.Calibration == nil {
		fmt.Fprintln(w, "\nno feasible point: loosen --min-quality or --max-p95")
	}
}

// writeFile writes the points as CSV or Parquet, one row per point.
func (rep *sweepReport) writeFile(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if strings.EqualFold(filepath.Ext(name), ".csv") {
		cw := csv.NewWriter(f)
		head := append([]string{"index"}, rep.Params...)
		cw.Write(append(head, sweepMetrics...))
		for _, p := range rep.Points {
			row := append([]string{strconv.Itoa(p.Index)}, p.values...)
			for _, m := range sweepMetrics {
				row = append(row, strconv.FormatFloat(p.get(m), 'g', -1, 64))
			}
			cw.Write(row)
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	cols := []arrowtrace.Column{{Name: "index", Int: make([]int64, len(rep.Points))}}
	for j, name := range rep.Params {
		// A parameter whose values are all numbers is a number column.
		fl, st := make([]float64, len(rep.Points)), make([]string, len(rep.Points))
		numeric := true
		for i, p := range rep.Points {
			st[i] = p.values[j]
			v, err := strconv.ParseFloat(p.values[j], 64)
			fl[i], numeric = v, numeric && err == nil
		}
		if numeric {
			cols = append(cols, arrowtrace.Column{Name: name, Float: fl})
		} else {
			cols = append(cols, arrowtrace.Column{Name: name, String: st})
		}
	}
	for _, m := range sweepMetrics {
		c := arrowtrace.Column{Name: m, Float: make([]float64, len(rep.Points))}
		for i := range rep.Points {
			c.Float[i] = rep.Points[i].get(m)
		}
		cols = append(cols, c)
	}
	feas := arrowtrace.Column{Name: "feasible", Bool: make([]bool, len(rep.Points))}
	par := arrowtrace.Column{Name: "on_pareto", Bool: make([]bool, len(rep.Points))}
	for i, p := range rep.Points {
		cols[0].Int[i] = int64(p.Index)
		feas.Bool[i], par.Bool[i] = p.Feasible, p.OnPareto
	}
	if err := arrowtrace.WriteParquetTable(f, append(cols, feas, par)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
