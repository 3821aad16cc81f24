package reports

import (
	"fmt"
	"image/color"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/sim"
)

// Chart size: wide enough for a report column, the same for every chart.
const (
	chartW = 8 * vg.Inch
	chartH = 4.5 * vg.Inch
)

// chart is one figure: its file stem (without extension) and what it shows, for alt text.
type chart struct {
	Stem    string
	Caption string
}

var baselineColor = color.RGBA{90, 90, 90, 255}

func phaseColor(i int) color.Color { return plotutil.Color(i) }

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = font.Length(14)
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

// save writes p as STEM.png and STEM.svg in dir.
func save(p *plot.Plot, dir, stem string) error {
	for _, ext := range []string{".png", ".svg"} {
		if err := p.Save(chartW, chartH, filepath.Join(dir, stem+ext)); err != nil {
			return fmt.Errorf("reports: chart %s%s: %w", stem, ext, err)
		}
	}
	return nil
}

// dayTicks labels day numbers with dates, about six of them.
type dayTicks struct{ start time.Time }

func (t dayTicks) Ticks(min, max float64) []plot.Tick {
	var out []plot.Tick
	step := math.Max(1, math.Round((max-min)/6))
	for v := math.Ceil(min); v <= max; v++ {
		label := ""
		if int(v-math.Ceil(min))%int(step) == 0 {
			label = t.start.AddDate(0, 0, int(v)).Format("Jan 2")
		}
		out = append(out, plot.Tick{Value: v, Label: label})
	}
	return out
}

// dailyXY returns f of each day of r's window (a day past it, which only holds calls deferred
// beyond the trace's end, is left out).
func dailyXY(r *sim.Result, f func(d *sim.Day) (float64, bool)) plotter.XYs {
	var xy plotter.XYs
	for i := range min(len(r.Days), r.NumDays()) {
		if v, ok := f(&r.Days[i]); ok {
			xy = append(xy, plotter.XY{X: float64(i), Y: v})
		}
	}
	return xy
}

func addLine(p *plot.Plot, xy plotter.XYs, c color.Color, width vg.Length, dashed bool, name string) error {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return err
	}
	l.Color, l.Width = c, width
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	p.Add(l)
	if name != "" {
		p.Legend.Add(name, l)
	}
	return nil
}

// addSeries adds a day-by-day line, marking each point when there are few (a short trace), or a
// one-day line would not show at all.
func addSeries(p *plot.Plot, xy plotter.XYs, c color.Color, width vg.Length, dashed bool, name string) error {
	if len(xy) > 10 {
		return addLine(p, xy, c, width, dashed, name)
	}
	if err := addLine(p, xy, c, width, dashed, ""); err != nil {
		return err
	}
	sc, err := plotter.NewScatter(xy)
	if err != nil {
		return err
	}
	sc.GlyphStyle.Color, sc.GlyphStyle.Radius, sc.GlyphStyle.Shape = c, vg.Points(4), draw.CircleGlyph{}
	p.Add(sc)
	if name != "" {
		p.Legend.Add(name, sc)
	}
	return nil
}

func start(r *sim.Result) time.Time {
	if len(r.Days) > 0 {
		return r.Days[0].Date
	}
	return r.Start
}

// chartDailyCost draws each day's cost, baseline and phases.
func chartDailyCost(rep *Report, dir string) (chart, error) {
	p := newPlot("Daily cost: baseline and each phase", "day", "cost (USD per day)")
	cost := func(d *sim.Day) (float64, bool) { return float64(d.Cost.Total()) / float64(money.Dollar), true }
	if err := addSeries(p, dailyXY(rep.BaselineResult, cost), baselineColor, vg.Points(2), true, "baseline"); err != nil {
		return chart{}, err
	}
	for i, ph := range rep.Phases {
		if err := addSeries(p, dailyXY(ph.Result, cost), phaseColor(i), vg.Points(2), false, ph.Name); err != nil {
			return chart{}, err
		}
	}
	p.Y.Min = 0
	p.X.Tick.Marker = dayTicks{start(rep.BaselineResult)}
	return chart{"daily-cost", "Daily cost of the baseline and of each phase"}, save(p, dir, "daily-cost")
}

// chartCacheHitRate draws each day's response-cache hit rate per phase.
func chartCacheHitRate(rep *Report, dir string) (chart, error) {
	p := newPlot("Response cache hit rate per day", "day", "hit rate (% of calls)")
	rate := func(d *sim.Day) (float64, bool) {
		if d.Calls == 0 {
			return 0, false
		}
		return 100 * float64(d.CacheHits) / float64(d.Calls), true
	}
	for i, ph := range rep.Phases {
		if err := addSeries(p, dailyXY(ph.Result, rate), phaseColor(i), vg.Points(2), false, ph.Name); err != nil {
			return chart{}, err
		}
	}
	p.Y.Min = 0
	p.X.Tick.Marker = dayTicks{start(rep.BaselineResult)}
	return chart{"cache-hit-rate", "Share of calls the response cache answered, day by day"}, save(p, dir, "cache-hit-rate")
}

// chartModelMix draws the share of upstream calls on each model, stacked, per run.
func chartModelMix(rep *Report, dir string) (chart, error) {
	runs := []sim.Summary{rep.Baseline}
	names := []string{"baseline"}
	for _, ph := range rep.Phases {
		runs = append(runs, ph.Summary)
		names = append(names, ph.Name)
	}
	models := map[string]bool{}
	for _, s := range runs {
		for m := range s.ModelMix {
			models[m] = true
		}
	}
	p := newPlot("Model mix: share of calls sent upstream", "", "share of upstream calls (%)")
	w := vg.Points(70)
	var prev *plotter.BarChart
	for i, m := range slices.Sorted(maps.Keys(models)) {
		vals := make(plotter.Values, len(runs))
		for j, s := range runs {
			vals[j] = 100 * s.ModelMix[m]
		}
		b, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return chart{}, err
		}
		b.Color, b.LineStyle.Width = phaseColor(i), 0
		if prev != nil {
			b.StackOn(prev)
		}
		p.Add(b)
		p.Legend.Add(m, b)
		prev = b
	}
	p.NominalX(names...)
	p.Y.Min, p.Y.Max = 0, 100+10*float64(len(models)) // room above the bars for the legend
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 25, Label: "25"}, {Value: 50, Label: "50"}, {Value: 75, Label: "75"}, {Value: 100, Label: "100"}})
	p.Legend.Top, p.Legend.Left = true, false
	return chart{"model-mix", "Share of upstream calls by model, baseline and each phase"}, save(p, dir, "model-mix")
}

// rect returns a filled rectangle.
func rect(x0, x1, y0, y1 float64, c color.Color) (*plotter.Polygon, error) {
	pg, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
	if err != nil {
		return nil, err
	}
	pg.Color = c
	pg.LineStyle.Width = 0
	return pg, nil
}

// chartWaterfall draws the baseline's daily cost stepping down by each strategy's Shapley saving to
// the phase's cost.
func chartWaterfall(rep *Report, i int, dir string) (chart, error) {
	ph := &rep.Phases[i]
	a := ph.Attribution
	stem := fmt.Sprintf("waterfall-phase-%d", i+1)
	p := newPlot(fmt.Sprintf("%s: where the saving comes from (Shapley values)", ph.Name), "", "cost (USD per day)")
	labels := []string{"baseline"}
	level := a.BaselinePerDay()
	add := func(x, y0, y1 float64, c color.Color) error {
		r, err := rect(x-0.35, x+0.35, math.Min(y0, y1), math.Max(y0, y1), c)
		if err == nil {
			p.Add(r)
		}
		return err
	}
	if err := add(0, 0, level, baselineColor); err != nil {
		return chart{}, err
	}
	saving := color.RGBA{46, 139, 87, 255}
	dearer := color.RGBA{200, 60, 60, 255}
	for j, name := range a.Strategies {
		c := saving
		if a.Shapley[j] < 0 {
			c = dearer
		}
		if err := add(float64(j+1), level, level-a.Shapley[j], c); err != nil {
			return chart{}, err
		}
		level -= a.Shapley[j]
		labels = append(labels, "− "+name)
	}
	if err := add(float64(len(a.Strategies)+1), 0, a.FullPerDay(), phaseColor(i)); err != nil {
		return chart{}, err
	}
	labels = append(labels, ph.Name)
	p.NominalX(labels...)
	p.X.Min, p.X.Max = -0.6, float64(len(labels))-0.4
	p.Y.Min = 0
	return chart{stem, fmt.Sprintf("%s: the baseline's daily cost, each strategy's Shapley saving, and the phase's cost", ph.Name)}, save(p, dir, stem)
}

// chartMC draws the Monte Carlo histogram of the reduction, with lines at 30%, 40% and 42.2%.
func chartMC(rep *Report, i int, dir string) (chart, error) {
	ph := &rep.Phases[i]
	stem := fmt.Sprintf("mc-phase-%d", i+1)
	red := ph.MC.Field("reduction")
	vals := make(plotter.Values, len(red))
	for j, v := range red {
		vals[j] = 100 * v
	}
	p := newPlot(fmt.Sprintf("%s: Monte Carlo distribution of the cost reduction (%d samples)", ph.Name, len(red)), "cost reduction (%)", "samples")
	h, err := plotter.NewHist(vals, 30)
	if err != nil {
		return chart{}, err
	}
	h.FillColor = color.RGBA{120, 160, 210, 255}
	h.LineStyle.Width = vg.Points(0.5)
	p.Add(h)
	lo, hi := h.Bins[0].Min, h.Bins[len(h.Bins)-1].Max
	top := 0.0
	for _, b := range h.Bins {
		top = math.Max(top, b.Weight)
	}
	for k, ref := range []struct {
		x    float64
		name string
	}{{30, "30% (plan's range, low)"}, {40, "40% (plan's range, high)"}, {42.2, "42.2% (plan's headline)"}} {
		if err := addLine(p, plotter.XYs{{X: ref.x, Y: 0}, {X: ref.x, Y: top * 1.05}}, plotutil.Color(k+3), vg.Points(1.5), true, ref.name); err != nil {
			return chart{}, err
		}
		lo, hi = math.Min(lo, ref.x-1), math.Max(hi, ref.x+1)
	}
	p.X.Min, p.X.Max = lo, hi
	p.Legend.Left = true
	return chart{stem, fmt.Sprintf("%s: distribution of the cost reduction over the Monte Carlo samples, against the plan's 30%%, 40%% and 42.2%%", ph.Name)}, save(p, dir, stem)
}

// chartPareto draws the sweep's points: daily cost against quality, the Pareto front joined.
func chartPareto(rep *Report, dir string) (chart, error) {
	sw := rep.Sweep
	p := newPlot(fmt.Sprintf("Sweep of %s: cost against quality", sw.Param), "cost (USD per day)", "quality score")
	var all, front plotter.XYs
	var labels []string
	for _, pt := range sw.Points {
		xy := plotter.XY{X: pt.CostPerDay, Y: pt.Quality}
		all = append(all, xy)
		labels = append(labels, pt.Value)
		if pt.Pareto {
			front = append(front, xy)
		}
	}
	sc, err := plotter.NewScatter(all)
	if err != nil {
		return chart{}, err
	}
	sc.GlyphStyle.Radius, sc.GlyphStyle.Color, sc.GlyphStyle.Shape = vg.Points(3), baselineColor, draw.CircleGlyph{}
	p.Add(sc)
	p.Legend.Add("setting", sc)
	slices.SortFunc(front, func(a, b plotter.XY) int { return int(math.Copysign(1, a.X-b.X)) })
	if len(front) > 1 {
		if err := addLine(p, front, plotutil.Color(0), vg.Points(1.5), false, "Pareto front (cost, quality, p95)"); err != nil {
			return chart{}, err
		}
	}
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: all, Labels: labels})
	if err != nil {
		return chart{}, err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].Font.Size = font.Length(8)
	}
	lb.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(2)}
	p.Add(lb)
	if sw.Best >= 0 {
		b := sw.Points[sw.Best]
		bs, err := plotter.NewScatter(plotter.XYs{{X: b.CostPerDay, Y: b.Quality}})
		if err != nil {
			return chart{}, err
		}
		bs.GlyphStyle.Radius, bs.GlyphStyle.Color, bs.GlyphStyle.Shape = vg.Points(7), plotutil.Color(1), draw.RingGlyph{}
		bs.GlyphStyle.Color = color.RGBA{0, 140, 60, 255}
		p.Add(bs)
		p.Legend.Add(fmt.Sprintf("best with quality ≥ %.2f", sw.MinQuality), bs)
	}
	if sw.MinQuality > 0 {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, pt := range sw.Points {
			lo, hi = math.Min(lo, pt.CostPerDay), math.Max(hi, pt.CostPerDay)
		}
		if err := addLine(p, plotter.XYs{{X: lo, Y: sw.MinQuality}, {X: hi, Y: sw.MinQuality}}, plotutil.Color(4), vg.Points(1), true, "quality floor"); err != nil {
			return chart{}, err
		}
	}
	p.Legend.Top, p.Legend.Left = false, false
	return chart{"pareto", "Each setting swept: daily cost against quality score, with the Pareto front"}, save(p, dir, "pareto")
}

// chartTornado draws the reduction's swing as each uncertain input goes from its p5 to its p95.
func chartTornado(rep *Report, dir string) (chart, error) {
	t := slices.Clone(rep.Tornado)
	slices.SortStableFunc(t, func(a, b Sensitivity) int {
		return int(math.Copysign(1, math.Abs(a.ReductionHigh-a.ReductionLow)-math.Abs(b.ReductionHigh-b.ReductionLow)))
	})
	p := newPlot("Sensitivity of the cost reduction (final phase)", "cost reduction (%)", "")
	var names []string
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, s := range t {
		a, b := 100*s.ReductionLow, 100*s.ReductionHigh
		r, err := rect(math.Min(a, b), math.Max(a, b), float64(i)-0.35, float64(i)+0.35, plotutil.Color(0))
		if err != nil {
			return chart{}, err
		}
		p.Add(r)
		names = append(names, fmt.Sprintf("%s (%.3g .. %.3g)", s.Name, s.Low, s.High))
		lo, hi = math.Min(lo, math.Min(a, b)), math.Max(hi, math.Max(a, b))
	}
	if len(t) > 0 {
		base := 100 * t[0].Base
		if err := addLine(p, plotter.XYs{{X: base, Y: -0.6}, {X: base, Y: float64(len(t)) - 0.4}}, baselineColor, vg.Points(1.5), true, "all inputs at their centre"); err != nil {
			return chart{}, err
		}
		lo, hi = math.Min(lo, base), math.Max(hi, base)
	}
	p.NominalY(names...)
	pad := math.Max(0.5, (hi-lo)*0.1)
	p.X.Min, p.X.Max = lo-pad, hi+pad
	p.Legend.Top = false
	return chart{"tornado", "The cost reduction with each uncertain input at its 5th and 95th percentile, the others at their centre"}, save(p, dir, "tornado")
}

// chartLatencyCDF draws the distribution of interactive latency, baseline and phases.
func chartLatencyCDF(rep *Report, dir string) (chart, error) {
	p := newPlot("Interactive latency: cumulative distribution", "latency, arrival to last token (s, log scale)", "share of interactive calls (%)")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	curve := func(r *sim.Result) plotter.XYs {
		var xy plotter.XYs
		for q := 1; q <= 99; q++ {
			if v := r.LatencyQuantile(float64(q) / 100); v > 0 {
				xy = append(xy, plotter.XY{X: v / 1000, Y: float64(q)})
			}
		}
		return xy
	}
	if xy := curve(rep.BaselineResult); len(xy) > 1 {
		if err := addLine(p, xy, baselineColor, vg.Points(2), true, "baseline"); err != nil {
			return chart{}, err
		}
	}
	for i, ph := range rep.Phases {
		if xy := curve(ph.Result); len(xy) > 1 {
			if err := addLine(p, xy, phaseColor(i), vg.Points(2), false, ph.Name); err != nil {
				return chart{}, err
			}
		}
	}
	p.Y.Min, p.Y.Max = 0, 100
	p.Legend.Top, p.Legend.Left = false, false
	return chart{"latency-cdf", "Share of interactive calls answered within each latency, baseline and each phase"}, save(p, dir, "latency-cdf")
}

// writeCharts draws every chart into dir and returns them by name.
func writeCharts(rep *Report, dir string) (map[string]chart, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	out := map[string]chart{}
	add := func(key string, c chart, err error) error {
		if err != nil {
			return err
		}
		out[key] = c
		return nil
	}
	c, err := chartDailyCost(rep, dir)
	if err := add("daily-cost", c, err); err != nil {
		return nil, err
	}
	c, err = chartCacheHitRate(rep, dir)
	if err := add("cache-hit-rate", c, err); err != nil {
		return nil, err
	}
	c, err = chartModelMix(rep, dir)
	if err := add("model-mix", c, err); err != nil {
		return nil, err
	}
	c, err = chartLatencyCDF(rep, dir)
	if err := add("latency-cdf", c, err); err != nil {
		return nil, err
	}
	for i := range rep.Phases {
		if rep.Phases[i].Attribution != nil {
			c, err := chartWaterfall(rep, i, dir)
			if err := add(c.Stem, c, err); err != nil {
				return nil, err
			}
		}
		if rep.Phases[i].MC != nil && len(rep.Phases[i].MC.Samples) > 1 {
			c, err := chartMC(rep, i, dir)
			if err := add(c.Stem, c, err); err != nil {
				return nil, err
			}
		}
	}
	if rep.Sweep != nil && len(rep.Sweep.Points) > 0 {
		c, err := chartPareto(rep, dir)
		if err := add("pareto", c, err); err != nil {
			return nil, err
		}
	}
	if len(rep.Tornado) > 0 {
		c, err := chartTornado(rep, dir)
		if err := add("tornado", c, err); err != nil {
			return nil, err
		}
	}
	return out, nil
}
