package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/tarsopt/tarsopt/analysis"
	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/internal/textfmt"
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/sim"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

func init() {
	register(&command{
		name:    "replay",
		summary: "replay a trace through the configured strategies, beside the baseline",
		usage: `Usage: tarsopt replay --trace TRACE [--config FILE] [--set PATH=VALUE]... [--json]

Replays the trace twice in a discrete-event simulation: as the baseline, with every strategy off
(the calls as recorded, priced exactly as tarsopt cost prices them), and with the configured
strategies (the built-in seed plan unless --config names a file; --set overrides any setting). It
prints both side by side: cost, calls and tokens sent upstream, cache hit rate, batched and
deferred shares, model mix, latency, quality and errors, each strategy's counters, and the success
criteria of the configuration checked against the configured run. The reduction is
1 - configured cost / baseline cost.

Both runs draw their random numbers (errors, answer quality, batch turnaround) per call from the
configuration's seed, so they differ only by what the strategies do, and two runs of the same
command print the same bytes.

Examples:
  tarsopt replay --trace base.parquet
  tarsopt replay --trace base.parquet --set strategies.router.bands[1].max=40 --json
  tarsopt replay --trace cc.parquet --set strategies.promptcache.enabled=true --set strategies.promptcache.ttl=1h`,
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) error {
			trace := fs.String("trace", "", "the trace to replay (required)")
			cfgPath := fs.String("config", "", "performance configuration file (default: the built-in seed plan; see tarsopt config default)")
			var sets setFlags
			fs.Var(&sets, "set", "override a setting: PATH=VALUE, such as strategies.router.enabled=false (repeatable)")
			asJSON := fs.Bool("json", false, "print JSON")
			perDay := fs.Bool("per-day", false, "add each day's figures (JSON: per_day; table: a daily cost table)")
			prices := fs.String("prices", "", "price book file (tarsopt JSON or LiteLLM's model_prices_and_context_window.json); default: the built-in book")
			unknown := fs.String("unknown-model", "error", "what to do with a model the price book does not know: error, or zero (price it at $0 with a warning)")
			var rf readFlags
			rf.define(fs)
			return func(args []string, stdout, stderr io.Writer) error {
				if len(args) > 0 {
					return usagef("replay: unexpected argument %q (name the trace with --trace)", args[0])
				}
				if *trace == "" {
					return usagef("replay: name the trace with --trace")
				}
				if *trace == "-" {
					return usagef("replay: --trace - is not supported: the trace is read twice; write it to a file first")
				}
				if *unknown != "error" && *unknown != "zero" {
					return usagef("--unknown-model: want error or zero, got %q", *unknown)
				}
				if err := rf.check(); err != nil {
					return err
				}
				cfg, err := loadConfig(*cfgPath, sets)
				if err != nil {
					return err
				}
				book := pricing.Default()
				if *prices != "" {
					if book, err = pricing.Load(*prices); err != nil {
						return err
					}
				}
				rep, err := replay(*trace, cfg, book, *unknown == "zero", &rf, *perDay, stderr)
				if err != nil {
					return err
				}
				for _, m := range slices.Sorted(maps.Keys(rep.Configured.Unpriced)) {
					fmt.Fprintf(stderr, "warning: model %q is not in the price book: %d calls priced at $0\n", m, rep.Configured.Unpriced[m])
				}
				if *asJSON {
					enc := json.NewEncoder(stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(rep)
				}
				rep.writeTable(stdout, *perDay)
				return nil
			}
		},
	})
}

// replayReport is what tarsopt replay prints.
type replayReport struct {
	Trace      string      `json:"trace"`
	Calls      int64       `json:"calls"`
	Config     string      `json:"config"`
	Seed       uint64      `json:"seed"`
	Prices     string      `json:"prices"`
	Order      []string    `json:"order"` // the enabled strategies, in stack order
	Baseline   sim.Summary `json:"baseline"`
	Configured sim.Summary `json:"configured"`
	Reduction  float64     `json:"reduction"` // 1 - configured.cost_usd / baseline.cost_usd
	// Oracle is the least the trace could have cost (see analysis.Oracle), and ShareOfAchievable
	// the share of the baseline-to-oracle saving the configuration reaches.
	Oracle            *oracleRow     `json:"oracle"`
	ShareOfAchievable float64        `json:"share_of_achievable"`
	Criteria          []criterionRes `json:"success_criteria"`
	Triggers          []triggerRes   `json:"rollback_triggers"`
}

type criterionRes struct {
	Metric string   `json:"metric"`
	Value  float64  `json:"value"`
	Min    *float64 `json:"min,omitempty"`
	Max    *float64 `json:"max,omitempty"`
	Pass   bool     `json:"pass"`
}

type triggerRes struct {
	Metric  string   `json:"metric"`
	Value   float64  `json:"value"`
	Below   *float64 `json:"below,omitempty"`
	Above   *float64 `json:"above,omitempty"`
	Disable []string `json:"disable"`
	Fires   bool     `json:"fires"`
}

// replay runs the baseline and the configured stack over the trace, in parallel.
func replay(trace string, cfg *config.Config, book *pricing.Book, zeroUnknown bool, rf *readFlags, perDay bool, stderr io.Writer) (*replayReport, error) {
	var results [2]*sim.Result
	var errs [3]error
	var oracle *analysis.Oracle
	var meta traces.Meta
	var stats traces.Stats
	prog := startProgress(stderr, "replaying")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		src, err := traces.Open(trace, rf.options(os.Stdin))
		if err != nil {
			errs[2] = err
			return
		}
		defer src.Close()
		oracle, errs[2] = analysis.OracleOf(src, src.Meta(), oracleOptions(cfg, book, zeroUnknown))
	}()
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src, err := traces.Open(trace, rf.options(os.Stdin))
			if err != nil {
				errs[i] = err
				return
			}
			defer src.Close()
			env := strategies.Env{Book: book, Upstream: cfg.Upstream, BlockSize: src.Meta().BlockSize, Seed: cfg.Seed}
			var stack []strategies.Stage
			if i == 1 {
				if stack, err = cfg.Stack(env); err != nil {
					errs[i] = err
					return
				}
			}
			m := src.Meta()
			opts := sim.Options{Book: book, Upstream: cfg.Upstream, Seed: cfg.Seed, ZeroUnknown: zeroUnknown, Start: m.Start, End: m.End}
			if i == 1 {
				var last int64
				opts.Progress = func(n int64) { prog.Add(n - last); last = n }
				meta = m
			}
			res, err := sim.Run(context.Background(), src, stack, opts)
			if err == nil && i == 1 {
				stats = src.Stats()
			}
			results[i], errs[i] = res, err
		}()
	}
	wg.Wait()
	prog.Done()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	stats.WriteSummary(stderr, trace)
	_ = meta
	rep := &replayReport{Trace: trace, Config: cfg.Name, Seed: cfg.Seed, Prices: book.Source, Order: cfg.Enabled(),
		Baseline: results[0].Summary(perDay), Configured: results[1].Summary(perDay)}
	if rep.Order == nil {
		rep.Order = []string{}
	}
	rep.Calls = rep.Baseline.Calls
	if b := money.Amount(rep.Baseline.CostUSD); b != 0 {
		rep.Reduction = 1 - float64(rep.Configured.CostUSD)/float64(b)
	}
	rep.Oracle = newOracleRow(oracle, money.Amount(rep.Baseline.CostUSD))
	rep.ShareOfAchievable = oracle.ShareOfAchievable(money.Amount(rep.Baseline.CostUSD), money.Amount(rep.Configured.CostUSD))
	for _, m := range slices.Sorted(maps.Keys(cfg.SuccessCriteria)) {
		b := cfg.SuccessCriteria[m]
		v, _ := metricValue(m, &rep.Baseline, &rep.Configured)
		rep.Criteria = append(rep.Criteria, criterionRes{Metric: m, Value: v, Min: b.Min, Max: b.Max, Pass: b.Contains(v)})
	}
	for _, t := range cfg.RollbackTriggers {
		v, _ := metricValue(t.Metric, &rep.Baseline, &rep.Configured)
		rep.Triggers = append(rep.Triggers, triggerRes{Metric: t.Metric, Value: v, Below: t.Below, Above: t.Above, Disable: t.Disable, Fires: t.Fires(v)})
	}
	return rep, nil
}

// metricValue returns the value of a metric named in config.Metrics for the configured run.
func metricValue(name string, base, s *sim.Summary) (float64, bool) {
	rel := func(x, b float64) float64 {
		if b == 0 {
			return 0
		}
		return x/b - 1
	}
	switch name {
	case "cost_reduction":
		if base.CostUSD == 0 {
			return 0, true
		}
		return 1 - float64(s.CostUSD)/float64(base.CostUSD), true
	case "cost_usd":
		return money.Amount(s.CostUSD).Dollars(), true
	case "cost_per_day_usd":
		return money.Amount(s.CostPerDayUSD).Dollars(), true
	case "monthly_cost_usd":
		return money.Amount(s.MonthlyCostUSD).Dollars(), true
	case "calls_upstream_per_day":
		return s.CallsUpstreamPerDay, true
	case "tokens_per_day":
		return s.TokensPerDay, true
	case "response_time_s":
		return s.ResponseTimeS, true
	case "response_time_change":
		return rel(s.ResponseTimeS, base.ResponseTimeS), true
	case "latency_p50_ms":
		return s.LatencyP50MS, true
	case "latency_p95_ms":
		return s.LatencyP95MS, true
	case "latency_p99_ms":
		return s.LatencyP99MS, true
	case "error_rate":
		return s.ErrorRate, true
	case "quality_score":
		return s.QualityScore, true
	case "cache_hit_rate":
		return s.CacheHitRate, true
	case "batched_share":
		return s.BatchedShare, true
	case "deferred_share":
		return s.DeferredShare, true
	}
	return 0, false
}

func (rep *replayReport) writeTable(w io.Writer, perDay bool) {
	b, c := &rep.Baseline, &rep.Configured
	order := "no strategy enabled"
	if len(rep.Order) > 0 {
		order = strings.Join(rep.Order, " → ")
	}
	fmt.Fprintf(w, "replay of %s: %s calls over %d days; config %q (seed %d): %s\n\n", rep.Trace,
		textfmt.Thousands(float64(rep.Calls), 0), b.Days, rep.Config, rep.Seed, order)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name, bv, cv, ch string) { fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", name, bv, cv, ch) }
	pct := textfmt.Percent
	change := func(x, y float64) string {
		if x == 0 {
			return ""
		}
		return fmt.Sprintf("%+.1f%%", 100*(y/x-1))
	}
	usdChange := func(x, y sim.USD) string { return change(float64(x), float64(y)) }
	dollars := func(a sim.USD) string { return "$" + dollars(a) }
	num := func(v float64) string { return textfmt.Thousands(v, 0) }
	row("", "baseline", "configured", "change")
	row("cost", dollars(b.CostUSD), dollars(c.CostUSD), usdChange(b.CostUSD, c.CostUSD))
	row("cost per day", dollars(b.CostPerDayUSD), dollars(c.CostPerDayUSD), usdChange(b.CostPerDayUSD, c.CostPerDayUSD))
	row("monthly (30 days)", dollars(b.MonthlyCostUSD), dollars(c.MonthlyCostUSD), usdChange(b.MonthlyCostUSD, c.MonthlyCostUSD))
	row("calls upstream per day", fmt.Sprintf("%.1f", b.CallsUpstreamPerDay), fmt.Sprintf("%.1f", c.CallsUpstreamPerDay), change(b.CallsUpstreamPerDay, c.CallsUpstreamPerDay))
	row("tokens per day", num(b.TokensPerDay), num(c.TokensPerDay), change(b.TokensPerDay, c.TokensPerDay))
	row("response cache hit rate", pct(b.CacheHitRate), pct(c.CacheHitRate), "")
	row("prompt read from cache", pct(b.PromptCacheReadShare), pct(c.PromptCacheReadShare), "")
	row("batched share", pct(b.BatchedShare), pct(c.BatchedShare), "")
	row("deferred share", pct(b.DeferredShare), pct(c.DeferredShare), "")
	row("routed share", pct(b.RoutedShare), pct(c.RoutedShare), "")
	row("response time (TTFT)", fmt.Sprintf("%.2f s", b.ResponseTimeS), fmt.Sprintf("%.2f s", c.ResponseTimeS), change(b.ResponseTimeS, c.ResponseTimeS))
	row("latency p50", ms(b.LatencyP50MS), ms(c.LatencyP50MS), change(b.LatencyP50MS, c.LatencyP50MS))
	row("latency p95", ms(b.LatencyP95MS), ms(c.LatencyP95MS), change(b.LatencyP95MS, c.LatencyP95MS))
	row("latency p99", ms(b.LatencyP99MS), ms(c.LatencyP99MS), change(b.LatencyP99MS, c.LatencyP99MS))
	row("quality score", fmt.Sprintf("%.4f", b.QualityScore), fmt.Sprintf("%.4f", c.QualityScore), fmt.Sprintf("%+.4f", c.QualityScore-b.QualityScore))
	row("error rate", pct(b.ErrorRate), pct(c.ErrorRate), "")
	models := map[string]bool{}
	for m := range b.ModelMix {
		models[m] = true
	}
	for m := range c.ModelMix {
		models[m] = true
	}
	for _, m := range slices.Sorted(maps.Keys(models)) {
		row("calls on "+m, pct(b.ModelMix[m]), pct(c.ModelMix[m]), "")
	}
	tw.Flush()
	fmt.Fprintf(w, "\ncost reduction: %s\n", pct(rep.Reduction))
	if o := rep.Oracle; o != nil {
		fmt.Fprintf(w, "oracle bound: $%.4f/day (every repeat cached, every call on the cheapest model that answers it, every wait at its cheapest price); this configuration reaches %s of the achievable saving\n",
			o.CostPerDayUSD, pct(rep.ShareOfAchievable))
	}
	if len(c.Strategies) > 0 {
		fmt.Fprintf(w, "\nstrategies (configured run):\n")
		for _, name := range rep.Order {
			cs := c.Strategies[name]
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(cs)) {
				parts = append(parts, k+" "+counter(cs[k]))
			}
			fmt.Fprintf(w, "  %-14s %s\n", name, strings.Join(parts, ", "))
		}
	}
	if len(rep.Criteria) > 0 {
		fmt.Fprintf(w, "\nsuccess criteria (%q, configured run):\n", rep.Config)
		for _, cr := range rep.Criteria {
			verdict := "FAIL"
			if cr.Pass {
				verdict = "pass"
			}
			fmt.Fprintf(w, "  %-4s %-22s %s (want %s)\n", verdict, cr.Metric, counter(cr.Value), bounds(cr.Min, cr.Max))
		}
	}
	for _, t := range rep.Triggers {
		if t.Fires {
			fmt.Fprintf(w, "  rollback trigger: %s is %s: disable %s\n", t.Metric, counter(t.Value), strings.Join(t.Disable, ", "))
		}
	}
	if perDay {
		fmt.Fprintf(w, "\nper day:\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "date\tbaseline\tconfigured\tcalls\tupstream\t\n")
		for i := range c.PerDay {
			d := c.PerDay[i]
			var bc sim.USD
			if i < len(b.PerDay) {
				bc = b.PerDay[i].CostUSD
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t\n", d.Date, dollars(bc), dollars(d.CostUSD), d.Calls, d.CallsUpstream)
		}
		tw.Flush()
	}
}

func ms(v float64) string { return textfmt.Thousands(v, 0) + " ms" }

// counter formats a counter or metric value: integers without decimals, others with four
// significant decimals.
func counter(v float64) string {
	if v == float64(int64(v)) {
		return textfmt.Thousands(v, 0)
	}
	return fmt.Sprintf("%.4g", v)
}

func bounds(lo, hi *float64) string {
	switch {
	case lo != nil && hi != nil:
		return fmt.Sprintf("%g to %g", *lo, *hi)
	case lo != nil:
		return fmt.Sprintf("≥ %g", *lo)
	case hi != nil:
		return fmt.Sprintf("≤ %g", *hi)
	}
	return "any"
}
