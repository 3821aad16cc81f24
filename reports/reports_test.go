package reports_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarsopt/tarsopt/analysis"
	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/gen"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/reports"
	"github.com/tarsopt/tarsopt/traces"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// report builds a small report from real replays of a generated trace: three phases, each with
// its attribution and Monte Carlo, the claims, a sweep and a tornado.
func report(t *testing.T) *reports.Report {
	t.Helper()
	p, err := gen.LoadProfile("tars-baseline")
	if err != nil {
		t.Fatal(err)
	}
	g, err := gen.New(p, gen.Options{Days: 6, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	tr := &analysis.Trace{Name: "tars-baseline, 6 days", Meta: g.Meta()}
	if _, err := g.Generate(func(r *traces.Record) error { tr.Records = append(tr.Records, r.Clone()); return nil }); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	rn := &analysis.Runner{Book: pricing.Default()}
	scenario := func(on []string) analysis.Scenario {
		c := cfg.Clone()
		c.Only(on...)
		return analysis.Scenario{Stages: c.Stack, Upstream: c.Upstream, Seed: c.Seed}
	}
	ctx := context.Background()
	base, err := rn.Replay(ctx, tr, &analysis.Scenario{Upstream: cfg.Upstream, Seed: cfg.Seed})
	if err != nil {
		t.Fatal(err)
	}
	oracle, err := analysis.ComputeOracle(tr, analysis.OracleOptions{Book: rn.Book, Upstream: cfg.Upstream, Seed: cfg.Seed, Models: []string{"claude-haiku-4-5", "claude-sonnet-4-5"}})
	if err != nil {
		t.Fatal(err)
	}
	pc := analysis.SeedPlanClaims()
	rep := &reports.Report{Trace: tr.Name, Calls: int64(len(tr.Records)), Days: base.NumDays(), Config: cfg.Name, Seed: cfg.Seed,
		Baseline: base.Summary(false), BaselineResult: base, Oracle: oracle, ClaimsSource: pc.Source,
		PlanSavings: pc.StrategySavingsUSDPerDay, PlanBaseline: pc.BaselineUSDPerDay, Thresholds: []float64{0.3, 0.4, 0.422}, Level: 0.95}
	for i, ph := range cfg.Phases {
		sc := scenario(ph.Strategies)
		r, err := rn.Replay(ctx, tr, &sc)
		if err != nil {
			t.Fatal(err)
		}
		a, err := rn.Attribute(ctx, tr, ph.Strategies, scenario)
		if err != nil {
			t.Fatal(err)
		}
		mc, err := rn.MonteCarlo(ctx, tr, analysis.MonteCarlo{Samples: 30, Seed: uint64(i), Bootstrap: "days", Thresholds: rep.Thresholds,
			Draw: func(int, *rand.Rand) (analysis.Draw, error) {
				return analysis.Draw{Baseline: scenario(nil), Configured: scenario(ph.Strategies), CostFactor: 1, RepeatRate: 1}, nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		rep.Phases = append(rep.Phases, reports.Phase{Name: ph.Name, File: ph.Report, Strategies: ph.Strategies, TargetReduction: ph.TargetReduction,
			TargetDailyCost: ph.TargetDailyCostUSD, Result: r, Summary: r.Summary(false),
			Reduction:         1 - float64(r.Total.Cost.Total())/float64(base.Total.Cost.Total()),
			ShareOfAchievable: oracle.ShareOfAchievable(base.Total.Cost.Total(), r.Total.Cost.Total()),
			Criteria:          []reports.Check{{Metric: "quality_score", Value: 0.95, Rule: "at least 0.94", Pass: true}},
			Triggers:          []reports.Check{{Metric: "error_rate", Value: 0.01, Rule: "above 0.03: disable all", Pass: true}},
			Attribution:       a, MC: mc})
	}
	final := cfg.Phases[len(cfg.Phases)-1].Strategies
	if rep.Claims, err = rn.Validate(ctx, tr, pc, final, scenario, analysis.DefaultBootstrap); err != nil {
		t.Fatal(err)
	}
	rep.Sweep = &reports.Sweep{Param: "strategies.router.bands[1].max", MinQuality: 0.94, Constraints: "quality_score at least 0.94", Best: 1, Points: []reports.SweepPoint{
		{Value: "30", CostPerDay: 4.6, Quality: 0.961, Pareto: true, Feasible: true},
		{Value: "50", CostPerDay: 4.1, Quality: 0.952, Pareto: true, Feasible: true},
		{Value: "70", CostPerDay: 3.2, Quality: 0.931, Pareto: true}}}
	rep.Tornado = []reports.Sensitivity{{Name: "repeat_rate", Low: 0.8, High: 1.2, ReductionLow: 0.49, ReductionHigh: 0.525, Base: 0.52}}
	return rep
}

// Two writes of the same report give byte-identical markdown, and every chart the markdown
// references exists, as PNG and SVG, and is not blank.
func TestWriteIsDeterministicAndComplete(t *testing.T) {
	rep := report(t)
	a, b := t.TempDir(), t.TempDir()
	files, err := reports.Write(a, rep)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reports.Write(b, rep); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"PHASE_1_BENCHMARK.md", "PHASE_2_BENCHMARK.md", "FINAL_BENCHMARK.md", "README.md"} {
		x, err := os.ReadFile(filepath.Join(a, f))
		if err != nil {
			t.Fatal(err)
		}
		y, _ := os.ReadFile(filepath.Join(b, f))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two writes", f)
		}
		for _, line := range strings.Split(string(x), "\n") {
			if i := strings.Index(line, "](charts/"); i >= 0 {
				src := line[i+2 : strings.Index(line[i:], ")")+i]
				checkPNG(t, filepath.Join(a, src))
				if _, err := os.Stat(filepath.Join(a, strings.TrimSuffix(src, ".png")+".svg")); err != nil {
					t.Errorf("%s: no SVG beside %s", f, src)
				}
			}
		}
		if strings.Contains(string(x), "<no value>") || strings.Contains(string(x), "NaN") {
			t.Errorf("%s holds a missing value", f)
		}
	}
	pngs := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".png") {
			pngs++
		}
	}
	if pngs < 8 {
		t.Errorf("%d PNG charts, want at least 8", pngs)
	}
	page, err := os.ReadFile(filepath.Join(a, "index.html"))
	if err != nil || !bytes.Contains(page, []byte("data:image/png;base64,")) || bytes.Contains(page, []byte(`src="charts/`)) {
		t.Errorf("index.html does not inline its charts (%v)", err)
	}
}

// checkPNG decodes a chart and fails if it is one flat colour.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Errorf("chart %s: %v", path, err)
		return
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Errorf("chart %s: %v", path, err)
		return
	}
	if blank(img) {
		t.Errorf("chart %s is blank", path)
	}
}

func blank(img image.Image) bool {
	b := img.Bounds()
	r0, g0, b0, _ := img.At(b.Min.X, b.Min.Y).RGBA()
	distinct := 0
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bb, _ := img.At(x, y).RGBA()
			if r != r0 || g != g0 || bb != b0 {
				distinct++
			}
		}
	}
	return distinct < 200
}

// The final report matches its golden file (-update rewrites it), so that a change to any
// figure or to the layout shows in review.
func TestMarkdownGolden(t *testing.T) {
	rep := report(t)
	dir := t.TempDir()
	if _, err := reports.Write(dir, rep); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"FINAL_BENCHMARK.md", "PHASE_1_BENCHMARK.md", "README.md"} {
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", f)
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			os.WriteFile(golden+".got", got, 0o644)
			t.Errorf("%s differs from testdata/%s; the new one is in testdata/%s.got (diff them, or -update)", f, f, f)
		}
	}
}

// The charts match their golden images within a tolerance (fonts and anti-aliasing may move a
// few pixels between platforms); -update rewrites them.
func TestChartsMatchGolden(t *testing.T) {
	rep := report(t)
	dir := t.TempDir()
	if _, err := reports.Write(dir, rep); err != nil {
		t.Fatal(err)
	}
	for _, stem := range []string{"model-mix", "waterfall-phase-3", "tornado"} {
		got, err := os.ReadFile(filepath.Join(dir, "charts", stem+".png"))
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", stem+".png")
		if *update {
			os.MkdirAll("testdata", 0o755)
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if frac, err := differingPixels(got, want); err != nil || frac > 0.02 {
			os.WriteFile(filepath.Join("testdata", stem+".got.png"), got, 0o644)
			t.Errorf("%s.png differs from its golden image (%.1f%% of pixels, %v; tolerance 2%%); see testdata/%s.got.png", stem, 100*frac, err, stem)
		}
	}
}

// The HTML page renders in headless Chromium to a screenshot that is not blank.
func TestHTMLRendersInChromium(t *testing.T) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("Chromium is not installed (Debian: apt-get install chromium); the HTML page is not rendered")
	}
	rep := report(t)
	dir := t.TempDir()
	if _, err := reports.Write(dir, rep); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "shot.png")
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,2400",
		"--screenshot="+shot, "file://"+filepath.Join(dir, "index.html"))
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	checkPNG(t, shot)
}

// differingPixels returns the share of pixels whose colour differs noticeably between two PNGs of
// the same size.
func differingPixels(a, b []byte) (float64, error) {
	ia, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		return 1, err
	}
	ib, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return 1, err
	}
	if ia.Bounds() != ib.Bounds() {
		return 1, fmt.Errorf("sizes %v and %v", ia.Bounds(), ib.Bounds())
	}
	r := ia.Bounds()
	diff := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := ia.At(x, y).RGBA()
			r2, g2, b2, _ := ib.At(x, y).RGBA()
			if absDiff(r1, r2)+absDiff(g1, g2)+absDiff(b1, b2) > 3*0x1000 {
				diff++
			}
		}
	}
	return float64(diff) / float64(r.Dx()*r.Dy()), nil
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}
