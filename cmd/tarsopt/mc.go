package main

import (
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
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
	"github.com/tarsopt/tarsopt/traces/arrowtrace"
)

func init() {
	register(&command{
		name:    "mc",
		summary: "Monte Carlo: the distribution of the reduction under uncertain inputs, and P(reduction >= x)",
		usage: `Usage: tarsopt mc --trace TRACE [--config FILE] [--set PATH=VALUE]... [--samples N] [--seed S]
          [--bootstrap days|sessions|none] [--json] [--out FILE.csv|FILE.parquet] [--workers N]

Replays the trace --samples times. Each sample draws the uncertain inputs the configuration
declares under "uncertainty" (quality curves, error rate, batch turnaround, any numeric setting;
price change, traffic growth and repeat rate; see docs/config.md), resamples the trace (whole days
or whole sessions, with replacement), and replays it twice with its own random numbers: every
strategy off, and the configured strategies. It prints the distribution of the daily cost, the
reduction, the quality score and the p95 latency (mean, standard deviation, percentiles), the
probability that the reduction reaches each of the configuration's thresholds (the plan's 25%,
30%, 33%, 40%, 42% and 42.2%), and how the estimates settle as samples are added (the standard
error of the mean reduction after 10, 20, 50, ... samples).

Samples run in parallel; sample i draws from the seed and i alone, so the output is the same
bytes whatever the number of workers. Ctrl-C stops the run and prints the samples completed so far.

Examples:
  tarsopt mc --trace base.parquet --samples 1000 --seed 1
  tarsopt mc --trace base.parquet --samples 200 --bootstrap sessions --json
  tarsopt mc --trace base.parquet --set 'uncertainty.price_change={"dist": "uniform", "min": -0.2, "max": 0}' --out samples.parquet`,
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) error {
			var af analysisFlags
			af.define(fs, "mc", true)
			samples := fs.Int("samples", 1000, "samples to run")
			seed := fs.Uint64("seed", 1, "seed of the samples' draws")
			bootstrap := fs.String("bootstrap", "", "days, sessions or none (default: the configuration's uncertainty.bootstrap)")
			asJSON := fs.Bool("json", false, "print JSON")
			out := fs.String("out", "", "also write every sample to FILE.csv or FILE.parquet")
			return func(args []string, stdout, stderr io.Writer) error {
				if err := af.check(args); err != nil {
					return err
				}
				if *samples < 1 || *samples > 10_000_000 {
					return usagef("--samples: want 1 to 10,000,000, got %d", *samples)
				}
				if ext := strings.ToLower(filepath.Ext(*out)); *out != "" && ext != ".csv" && ext != ".parquet" {
					return usagef("--out %s: want a .csv or .parquet file", *out)
				}
				cfg, err := af.config()
				if err != nil {
					return err
				}
				u := cfg.Uncertainty
				if u == nil {
					u = &config.Uncertainty{Bootstrap: "days", Thresholds: []float64{0.30, 0.40}}
				}
				if *bootstrap != "" {
					if !slices.Contains(config.BootstrapModes, *bootstrap) {
						return usagef("--bootstrap: want one of %s, got %q", strings.Join(config.BootstrapModes, ", "), *bootstrap)
					}
					u.Bootstrap = *bootstrap
				}
				book, err := af.book()
				if err != nil {
					return err
				}
				tr, err := af.load(stderr)
				if err != nil {
					return err
				}
				if u.Bootstrap == "days" && tr.NumDays() < 5 {
					fmt.Fprintf(stderr, "warning: %s covers only %d day(s): resampling days varies little or nothing; --bootstrap sessions resamples its sessions\n", af.trace, tr.NumDays())
				}
				ctx, stop := interruptible()
				defer stop()
				prog := startCountProgress(stderr, "mc", "samples", int64(*samples))
				rn := af.runner(book, prog)
				names := u.DrawnNames()
				mc := analysis.MonteCarlo{Samples: *samples, Seed: *seed, Bootstrap: u.Bootstrap, Thresholds: u.Thresholds,
					Draw: func(i int, rng *rand.Rand) (analysis.Draw, error) { return drawSample(cfg, u, rng) }}
				res, err := rn.MonteCarlo(ctx, tr, mc)
				prog.Done()
				if err != nil {
					return fmt.Errorf("mc: %w", err)
				}
				fmt.Fprintf(stderr, "mc: %d samples, %d replays of %s calls\n", len(res.Samples), res.Replays, textfmt.Thousands(float64(len(tr.Records)), 0))
				if n := res.Empty(); n > 0 {
					fmt.Fprintf(stderr, "warning: %d of %d samples resampled only days without calls: their costs count (as zero), their reduction, quality and latency are left out\n", n, len(res.Samples))
				}
				rep := newMCReport(af.trace, cfg, u, *seed, names, res)
				oracle, err := analysis.ComputeOracle(tr, oracleOptions(cfg, book, rn.ZeroUnknown))
				if err != nil {
					return err
				}
				baseSc := scenarioOf(cfg, nil)
				baseRes, err := rn.Replay(ctx, tr, &baseSc)
				if err != nil {
					return err
				}
				b0 := baseRes.Total.Cost.Total()
				rep.Oracle = newOracleRow(oracle, b0)
				var shares []float64
				for _, s := range res.Samples {
					if s.Calls == 0 || b0 == 0 {
						continue
					}
					bound := oracle.PerDay() * s.BaselinePerDay / (float64(b0) / float64(money.Dollar) / float64(baseRes.NumDays()))
					share := 0.0
					if d := s.BaselinePerDay - bound; d > 0 {
						share = (s.BaselinePerDay - s.CostPerDay) / d
					}
					shares = append(shares, share)
				}
				rep.ShareOfAchievable = analysis.StatsOf(shares)
				if *out != "" {
					if err := writeSamples(*out, names, res); err != nil {
						return err
					}
				}
				if *asJSON {
					enc := json.NewEncoder(stdout)
					enc.SetIndent("", "  ")
					if err := enc.Encode(rep); err != nil {
						return err
					}
				} else {
					rep.writeTable(stdout)
				}
				if res.Interrupted {
					return fmt.Errorf("mc: interrupted after %d of %d samples; the results above are over those", len(res.Samples), *samples)
				}
				return nil
			}
		},
	})
}

// drawSample draws sample i's settings and builds its scenarios.
func drawSample(cfg *config.Config, u *config.Uncertainty, rng *rand.Rand) (analysis.Draw, error) {
	dr, err := u.Draw(cfg, rng)
	if err != nil {
		return analysis.Draw{}, err
	}
	c := dr.Config
	return analysis.Draw{Baseline: analysis.Scenario{Name: "baseline", Upstream: c.Upstream},
		Configured: analysis.Scenario{Name: c.Name, Stages: c.Stack, Upstream: c.Upstream},
		CostFactor: dr.CostFactor, RepeatRate: dr.RepeatRate, Values: dr.Values}, nil
}

// mcReport is what tarsopt mc prints.
type mcReport struct {
	Trace       string             `json:"trace"`
	Config      string             `json:"config"`
	Seed        uint64             `json:"seed"`
	Samples     int                `json:"samples"`
	Empty       int                `json:"samples_without_calls"`
	Replays     int                `json:"replays"`
	Interrupted bool               `json:"interrupted"`
	Bootstrap   string             `json:"bootstrap"`
	Order       []string           `json:"order"`
	Inputs      []mcInput          `json:"inputs"`
	Baseline    analysis.Stats     `json:"baseline_daily_cost_usd"`
	DailyCost   analysis.Stats     `json:"daily_cost_usd"`
	Saving      analysis.Stats     `json:"saving_usd_per_day"`
	Reduction   analysis.Stats     `json:"reduction"`
	Quality     analysis.Stats     `json:"quality_score"`
	P95         analysis.Stats     `json:"latency_p95_ms"`
	PGE         map[string]float64 `json:"p_reduction_ge"`
	// Oracle is the bound on the trace as recorded, with the configuration's own settings;
	// ShareOfAchievable is each sample's saving over the achievable saving, the bound scaled by
	// the sample's baseline cost over the recorded baseline's (an approximation: the bound is not
	// recomputed for every resample and draw).
	Oracle            *oracleRow            `json:"oracle"`
	ShareOfAchievable analysis.Stats        `json:"share_of_achievable"`
	PGESE             map[string]float64    `json:"p_reduction_ge_se"`
	Convergence       []analysis.Checkpoint `json:"convergence"`
}

type mcInput struct {
	Name  string         `json:"name"`
	Dist  *config.Dist   `json:"dist"`
	Drawn analysis.Stats `json:"drawn"`
}

func newMCReport(trace string, cfg *config.Config, u *config.Uncertainty, seed uint64, names []string, res *analysis.MCResult) *mcReport {
	rep := &mcReport{Trace: trace, Config: cfg.Name, Seed: seed, Samples: len(res.Samples), Empty: res.Empty(), Replays: res.Replays,
		Interrupted: res.Interrupted, Bootstrap: u.Bootstrap, Order: cfg.Enabled(), Inputs: []mcInput{},
		Baseline: analysis.StatsOf(res.Field("baseline_daily_cost_usd")), DailyCost: analysis.StatsOf(res.Field("daily_cost_usd")),
		Saving: analysis.StatsOf(res.Field("saving_usd_per_day")), Reduction: analysis.StatsOf(res.Field("reduction")),
		Quality: analysis.StatsOf(res.Field("quality_score")), P95: analysis.StatsOf(res.Field("latency_p95_ms")),
		PGE: res.PReductionGE(len(res.Samples)), PGESE: map[string]float64{}, Convergence: res.Convergence()}
	if rep.Order == nil {
		rep.Order = []string{}
	}
	for k, p := range rep.PGE {
		rep.PGESE[k] = math.Sqrt(p * (1 - p) / float64(max(len(res.Samples), 1)))
	}
	dists := u.Dists()
	for j, name := range names {
		vals := make([]float64, len(res.Samples))
		for i, s := range res.Samples {
			vals[i] = s.Values[j]
		}
		rep.Inputs = append(rep.Inputs, mcInput{Name: name, Dist: dists[j], Drawn: analysis.StatsOf(vals)})
	}
	return rep
}

func (rep *mcReport) writeTable(w io.Writer) {
	fmt.Fprintf(w, "Monte Carlo on %s: %d samples (seed %d, %s bootstrap), %d replays; config %q: %s\n\n", rep.Trace, rep.Samples,
		rep.Seed, rep.Bootstrap, rep.Replays, rep.Config, strings.Join(rep.Order, " → "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tmean\tsd\tp5\tp25\tp50\tp75\tp95\t")
	row := func(name string, s analysis.Stats, f func(float64) string) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, f(s.Mean), f(s.SD), f(s.P5), f(s.P25), f(s.P50), f(s.P75), f(s.P95))
	}
	usd := func(v float64) string { return fmt.Sprintf("$%.2f", v) }
	row("baseline $/day", rep.Baseline, usd)
	row("configured $/day", rep.DailyCost, usd)
	row("saving $/day", rep.Saving, usd)
	row("reduction", rep.Reduction, textfmt.Percent)
	row("quality score", rep.Quality, func(v float64) string { return fmt.Sprintf("%.4f", v) })
	row("latency p95", rep.P95, ms)
	row("share of achievable", rep.ShareOfAchievable, textfmt.Percent)
	tw.Flush()
	fmt.Fprintln(w, "\nP(reduction ≥ x):")
	keys := make([]string, 0, len(rep.PGE))
	for k := range rep.PGE {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		x, _ := strconv.ParseFloat(a, 64)
		y, _ := strconv.ParseFloat(b, 64)
		return int(math.Copysign(1, x-y))
	})
	for _, k := range keys {
		x, _ := strconv.ParseFloat(k, 64)
		fmt.Fprintf(w, "  %6s  %s (± %s)\n", textfmt.Percent(x), textfmt.Percent(rep.PGE[k]), textfmt.Percent(rep.PGESE[k]))
	}
	if len(rep.Inputs) > 0 {
		fmt.Fprintln(w, "\ninputs drawn (p5 .. p95):")
		for _, in := range rep.Inputs {
			fmt.Fprintf(w, "  %-45s %s  %.4g .. %.4g\n", in.Name, in.Dist.Kind, in.Drawn.P5, in.Drawn.P95)
		}
	}
	fmt.Fprintln(w, "\nconvergence (mean reduction ± its standard error):")
	for _, c := range rep.Convergence {
		fmt.Fprintf(w, "  %7d samples  %s ± %s\n", c.Samples, textfmt.Percent(c.ReductionMean), textfmt.Percent(c.ReductionSE))
	}
}

// sampleOutputs are the per-sample columns of --out; reduction, quality and latency are NaN for a
// sample without calls.
var sampleOutputs = []string{"calls", "baseline_daily_cost_usd", "daily_cost_usd", "reduction", "quality_score", "latency_p95_ms"}

func sampleRow(s *analysis.Sample) []float64 {
	red, q, p95 := s.Reduction, s.Quality, s.P95MS
	if s.Calls == 0 {
		red, q, p95 = math.NaN(), math.NaN(), math.NaN()
	}
	return []float64{float64(s.Calls), s.BaselinePerDay, s.CostPerDay, red, q, p95}
}

// writeSamples writes one row per sample: its drawn inputs and outcomes.
func writeSamples(name string, names []string, res *analysis.MCResult) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if strings.EqualFold(filepath.Ext(name), ".csv") {
		cw := csv.NewWriter(f)
		cw.Write(append(append([]string{"sample"}, names...), sampleOutputs...))
		for i := range res.Samples {
			s := &res.Samples[i]
			row := []string{strconv.Itoa(i)}
			for _, v := range append(slices.Clone(s.Values), sampleRow(s)...) {
				row = append(row, strconv.FormatFloat(v, 'g', -1, 64))
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
	cols := []arrowtrace.Column{{Name: "sample", Int: make([]int64, len(res.Samples))}}
	for i := range res.Samples {
		cols[0].Int[i] = int64(i)
	}
	for j, n := range names {
		c := arrowtrace.Column{Name: n, Float: make([]float64, len(res.Samples))}
		for i, s := range res.Samples {
			c.Float[i] = s.Values[j]
		}
		cols = append(cols, c)
	}
	for j, o := range sampleOutputs {
		c := arrowtrace.Column{Name: o, Float: make([]float64, len(res.Samples))}
		for i := range res.Samples {
			c.Float[i] = sampleRow(&res.Samples[i])[j]
		}
		cols = append(cols, c)
	}
	if err := arrowtrace.WriteParquetTable(f, cols); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
