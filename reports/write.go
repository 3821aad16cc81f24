package reports

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tarsopt/tarsopt/analysis"
	"github.com/tarsopt/tarsopt/internal/textfmt"
)

// Write writes the phase reports, their charts (in dir/charts), the index (README.md) and the HTML
// page (index.html) into dir, and returns the files written, relative to dir, in order.
func Write(dir string, rep *Report) ([]string, error) {
	if len(rep.Phases) == 0 {
		return nil, fmt.Errorf("reports: no phase to report")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	charts, err := writeCharts(rep, filepath.Join(dir, "charts"))
	if err != nil {
		return nil, err
	}
	var files []string
	pages := map[string][]byte{}
	for i := range rep.Phases {
		v := view(rep, i, charts)
		md, err := writeMarkdown(v)
		if err != nil {
			return nil, fmt.Errorf("reports: %s: %w", rep.Phases[i].File, err)
		}
		if err := os.WriteFile(filepath.Join(dir, rep.Phases[i].File), md, 0o644); err != nil {
			return nil, err
		}
		pages[rep.Phases[i].File] = md
		files = append(files, rep.Phases[i].File)
	}
	index := indexMarkdown(rep, charts)
	if err := os.WriteFile(filepath.Join(dir, "README.md"), index, 0o644); err != nil {
		return nil, err
	}
	files = append(files, "README.md")
	page, err := htmlPage(rep, dir, index, pages)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), page, 0o644); err != nil {
		return nil, err
	}
	files = append(files, "index.html")
	for _, k := range slices.Sorted(maps.Keys(charts)) {
		files = append(files, "charts/"+charts[k].Stem+".png", "charts/"+charts[k].Stem+".svg")
	}
	return files, nil
}

// view prepares phase i's template data.
func view(rep *Report, i int, charts map[string]chart) *phaseView {
	p := &rep.Phases[i]
	v := &phaseView{R: rep, P: p, Index: i, Final: i == len(rep.Phases)-1, Charts: charts}
	models := map[string]bool{}
	for m := range rep.Baseline.ModelMix {
		models[m] = true
	}
	for m := range p.Summary.ModelMix {
		models[m] = true
	}
	v.Models = slices.Sorted(maps.Keys(models))
	if rep.Claims != nil {
		key := analysis.SubsetKey(p.Strategies)
		for _, c := range rep.Claims.Claims {
			switch {
			case v.Final, c.Run == "baseline", len(c.Strategies) > 0 && analysis.SubsetKey(c.Strategies) == key:
				v.Claims = append(v.Claims, c)
			}
		}
	}
	if p.TargetReduction > 0 {
		v.Targets = append(v.Targets, targetRow{What: "Reduction", Target: textfmt.Percent(p.TargetReduction),
			Measured: textfmt.Percent(p.Reduction), Met: p.Reduction >= p.TargetReduction})
	}
	if p.TargetDailyCost > 0 {
		d := float64(p.Summary.CostPerDayUSD) / 1e9
		v.Targets = append(v.Targets, targetRow{What: "Daily cost (the plan's target, for its own traffic)", Target: fmt.Sprintf("$%.2f", p.TargetDailyCost),
			Measured: usd(d), Met: d <= p.TargetDailyCost})
	}
	v.Next = nextSteps(p)
	return v
}

// advice says where to look when a criterion fails, by metric.
var advice = map[string]string{
	"cache_hit_rate":         "the response cache's TTLs by query type, and the share of requests that are deterministic (temperature 0), decide it",
	"cost_reduction":         "the criterion's range is the plan's own; a reduction above it means the plan undersold this traffic, below it that a strategy saves less than claimed (see where the saving comes from)",
	"monthly_cost_usd":       "it follows the daily cost; see the cost reduction",
	"cost_per_day_usd":       "see the cost reduction",
	"quality_score":          "the router's bands (fewer calls to the cheap model), the pruner's budget and the cache's staleness cost quality",
	"error_rate":             "errors come from the upstream model's error rate and the recorded failures; strategies do not cause them",
	"batched_share":          "only calls whose priority and max_delay allow it are batched",
	"deferred_share":         "only calls outside the off-peak window with room in their max_delay are deferred",
	"response_time_s":        "batching and deferral delay non-interactive calls only; the router's model choice sets the time to first token",
	"latency_p95_ms":         "the router's model choice and the cache set interactive latency",
	"tokens_per_day":         "the pruner's budget sets how many history tokens go upstream",
	"calls_upstream_per_day": "cache hits, coalesced and merged calls are the calls not sent",
}

// nextSteps lists the phase's failed criteria and firing triggers, each with where to look.
func nextSteps(p *Phase) []string {
	var out []string
	for _, c := range p.Criteria {
		if c.Pass {
			continue
		}
		s := fmt.Sprintf("The criterion %s (%s) fails at %s", c.Metric, c.Rule, fmtClaim(c.Value))
		if a, ok := advice[c.Metric]; ok {
			s += ": " + a
		}
		out = append(out, s+".")
	}
	for _, c := range p.Triggers {
		if !c.Pass {
			out = append(out, fmt.Sprintf("The rollback trigger on %s (%s) fires at %s.", c.Metric, c.Rule, fmtClaim(c.Value)))
		}
	}
	return out
}

// indexMarkdown is reports/README.md: what each report holds, the phases at a glance, every chart.
func indexMarkdown(rep *Report, charts map[string]chart) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# tarsopt benchmark reports: %s\n\n", rep.Trace)
	days := fmt.Sprintf("%d days", rep.Days)
	if rep.Days == 1 {
		days = "1 day"
	}
	fmt.Fprintf(&b, "%s calls over %s, replayed with configuration `%s` (seed %d). Open [index.html](index.html) for all of it on one page.\n\n",
		textfmt.Thousands(float64(rep.Calls), 0), days, rep.Config, rep.Seed)
	b.WriteString("| report | strategies | cost per day | reduction | target | share of achievable | quality |\n|---|---|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| baseline | none | %s | | | | %.4f |\n", usd(float64(rep.Baseline.CostPerDayUSD)/1e9), rep.Baseline.QualityScore)
	for _, p := range rep.Phases {
		target := ""
		if p.TargetReduction > 0 {
			target = textfmt.Percent(p.TargetReduction)
		}
		fmt.Fprintf(&b, "| [%s](%s) | %s | %s | %s | %s | %s | %.4f |\n", p.Name, p.File, strings.Join(p.Strategies, " + "),
			usd(float64(p.Summary.CostPerDayUSD)/1e9), textfmt.Percent(p.Reduction), target, textfmt.Percent(p.ShareOfAchievable), p.Summary.QualityScore)
	}
	if rep.Oracle != nil {
		fmt.Fprintf(&b, "| oracle bound | | $%.4f | %s | | 100%% | |\n", rep.Oracle.PerDay(),
			textfmt.Percent(1-rep.Oracle.PerDay()/(float64(rep.Baseline.CostPerDayUSD)/1e9)))
	}
	if rep.Claims != nil {
		counts := map[string]int{}
		for _, c := range rep.Claims.Claims {
			counts[c.Verdict]++
		}
		fmt.Fprintf(&b, "\nThe plan's %d claims against the replay: %d hold, %d plausible, %d fail (measured above), %d fail (measured below); see the final report.\n",
			len(rep.Claims.Claims), counts[analysis.VerdictHolds], counts[analysis.VerdictPlausible], counts[analysis.VerdictAbove], counts[analysis.VerdictBelow])
	}
	if len(rep.Related) > 0 {
		b.WriteString("\n## The same reports on other traces\n\n")
		for _, l := range rep.Related {
			fmt.Fprintf(&b, "- %s: [reports](%s/README.md), [one page](%s/index.html)\n", l.Title, l.Dir, l.Dir)
		}
	}
	b.WriteString("\n## Charts\n\nEach as PNG (shown) and SVG (for print).\n\n")
	for _, k := range slices.Sorted(maps.Keys(charts)) {
		c := charts[k]
		fmt.Fprintf(&b, "- [%s](charts/%s.png) ([SVG](charts/%s.svg))\n", c.Caption, c.Stem, c.Stem)
	}
	return []byte(b.String())
}
