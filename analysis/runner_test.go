package analysis_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tarsopt/tarsopt/analysis"
	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/gen"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/traces"
)

func trace(t *testing.T) *analysis.Trace {
	t.Helper()
	p, err := gen.LoadProfile("tars-baseline")
	if err != nil {
		t.Fatal(err)
	}
	g, err := gen.New(p, gen.Options{Days: 6, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	tr := &analysis.Trace{Name: "generated", Meta: g.Meta()}
	if _, err := g.Generate(func(r *traces.Record) error { tr.Records = append(tr.Records, r.Clone()); return nil }); err != nil {
		t.Fatal(err)
	}
	return tr
}

func scenario(c *config.Config, on []string) analysis.Scenario {
	c = c.Clone()
	c.Only(on...)
	return analysis.Scenario{Name: c.Name, Stages: c.Stack, Upstream: c.Upstream, Seed: c.Seed}
}

// The attribution's parts add up to its whole, and its extreme subsets are the baseline and the
// configured replay, run on their own.
func TestAttributeAddsUp(t *testing.T) {
	tr := trace(t)
	cfg := config.Default()
	if err := cfg.Set("strategies.promptcache.enabled=true"); err != nil {
		t.Fatal(err)
	}
	names := cfg.Enabled()
	rn := &analysis.Runner{Book: pricing.Default()}
	a, err := rn.Attribute(context.Background(), tr, names, func(on []string) analysis.Scenario { return scenario(cfg, on) })
	if err != nil {
		t.Fatal(err)
	}
	if a.Replays != 1<<len(names) {
		t.Fatalf("%d replays for %d strategies", a.Replays, len(names))
	}
	sum := 0.0
	for _, v := range a.Shapley {
		sum += v
	}
	if math.Abs(sum-a.Total()) > 1e-9 {
		t.Errorf("Shapley values sum to %.12f, total saving %.12f", sum, a.Total())
	}
	if a.Total() <= 0 {
		t.Errorf("the seed plan saves %v $/day on its own baseline trace", a.Total())
	}
	full := scenario(cfg, names)
	res, err := rn.Replay(context.Background(), tr, &full)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Total.Cost.Total(); got != a.Cost[len(a.Cost)-1] {
		t.Errorf("full subset cost %v, configured replay %v", a.Cost[len(a.Cost)-1], got)
	}
	base := scenario(cfg, nil)
	if res, err = rn.Replay(context.Background(), tr, &base); err != nil {
		t.Fatal(err)
	}
	if got := res.Total.Cost.Total(); got != a.Cost[0] {
		t.Errorf("empty subset cost %v, baseline replay %v", a.Cost[0], got)
	}
}

// Results do not depend on how many replays run at once.
func TestRunIsDeterministicAcrossWorkers(t *testing.T) {
	tr := trace(t)
	cfg := config.Default()
	scs := []analysis.Scenario{scenario(cfg, nil), scenario(cfg, cfg.Enabled()), scenario(cfg, []string{"router"}), scenario(cfg, []string{"batcher", "deferral"})}
	var outs []string
	for _, workers := range []int{1, 3} {
		rn := &analysis.Runner{Book: pricing.Default(), Workers: workers}
		res, err := rn.Run(context.Background(), tr, scs)
		if err != nil {
			t.Fatal(err)
		}
		var all []any
		for _, r := range res {
			all = append(all, r.Summary(true))
		}
		b, err := json.Marshal(all)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(b))
	}
	if outs[0] != outs[1] {
		t.Error("1 worker and 3 workers give different results")
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	tr := trace(t)
	cfg := config.Default()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rn := &analysis.Runner{Book: pricing.Default()}
	if _, err := rn.Run(ctx, tr, []analysis.Scenario{scenario(cfg, nil)}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: %v, want context.Canceled", err)
	}
}

// Monte Carlo samples are the same whatever the number of workers, and a sample that draws
// nothing and resamples nothing is the plain pair of replays with the sample's seed.
func TestMonteCarlo(t *testing.T) {
	tr := trace(t)
	cfg := config.Default()
	draw := func(i int, rng *rand.Rand) (analysis.Draw, error) {
		c := cfg.Clone()
		v := 0.5 + 0.2*rng.Float64()
		if err := c.Set(fmt.Sprintf("upstream.quality.claude-haiku.hard=%g", v)); err != nil {
			return analysis.Draw{}, err
		}
		return analysis.Draw{Baseline: scenario(c, nil), Configured: scenario(c, c.Enabled()), CostFactor: 1.1, RepeatRate: 1, Values: []float64{v}}, nil
	}
	var runs []*analysis.MCResult
	for _, w := range []int{1, 3} {
		rn := &analysis.Runner{Book: pricing.Default(), Workers: w}
		res, err := rn.MonteCarlo(context.Background(), tr, analysis.MonteCarlo{Samples: 12, Seed: 5, Bootstrap: "days", Thresholds: []float64{0.3}, Draw: draw})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, res)
	}
	if !cmp.Equal(runs[0], runs[1]) {
		t.Errorf("1 and 3 workers differ: %s", cmp.Diff(runs[0], runs[1]))
	}
	if len(runs[0].Samples) != 12 || runs[0].Replays != 24 || runs[0].Interrupted {
		t.Errorf("%d samples, %d replays", len(runs[0].Samples), runs[0].Replays)
	}
	if p := runs[0].PReductionGE(12)["0.30"]; p < 0 || p > 1 {
		t.Errorf("P(reduction ≥ 0.30) = %v", p)
	}

	// No bootstrap, no repeat change: the sample is the two plain replays at the sample's seed.
	rn := &analysis.Runner{Book: pricing.Default()}
	plain := func(i int, rng *rand.Rand) (analysis.Draw, error) {
		return analysis.Draw{Baseline: scenario(cfg, nil), Configured: scenario(cfg, cfg.Enabled()), CostFactor: 1, RepeatRate: 1}, nil
	}
	res, err := rn.MonteCarlo(context.Background(), tr, analysis.MonteCarlo{Samples: 2, Seed: 8, Bootstrap: "none", Draw: plain})
	if err != nil {
		t.Fatal(err)
	}
	seed := rand.New(rand.NewPCG(8, 1)).Uint64() // sample 1's seed
	b, c := scenario(cfg, nil), scenario(cfg, cfg.Enabled())
	b.Seed, c.Seed = seed, seed
	rb, err := rn.Replay(context.Background(), tr, &b)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rn.Replay(context.Background(), tr, &c)
	if err != nil {
		t.Fatal(err)
	}
	want := 1 - float64(rc.Total.Cost.Total())/float64(rb.Total.Cost.Total())
	if got := res.Samples[1].Reduction; got != want {
		t.Errorf("sample 1 reduction %v, direct replays %v", got, want)
	}
}

// Interrupted, a Monte Carlo keeps the samples completed before the first one missing, and they
// are the samples a full run has.
func TestMonteCarloInterrupted(t *testing.T) {
	tr := trace(t)
	cfg := config.Default()
	draw := func(i int, rng *rand.Rand) (analysis.Draw, error) {
		return analysis.Draw{Baseline: scenario(cfg, nil), Configured: scenario(cfg, cfg.Enabled()), CostFactor: 1, RepeatRate: 1}, nil
	}
	mc := analysis.MonteCarlo{Samples: 40, Seed: 3, Bootstrap: "days", Draw: draw}
	full, err := (&analysis.Runner{Book: pricing.Default(), Workers: 1}).MonteCarlo(context.Background(), tr, mc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rn := &analysis.Runner{Book: pricing.Default(), Workers: 1, Progress: func(done, total int) {
		if done == 6 {
			cancel()
		}
	}}
	part, err := rn.MonteCarlo(ctx, tr, mc)
	if err != nil {
		t.Fatal(err)
	}
	if !part.Interrupted || len(part.Samples) != 6 || part.Replays != 12 {
		t.Fatalf("interrupted %v, %d samples, %d replays; want 6 samples", part.Interrupted, len(part.Samples), part.Replays)
	}
	if !cmp.Equal(part.Samples, full.Samples[:6]) {
		t.Error("the partial samples differ from a full run's first six")
	}
}

// A trace whose calls sit on one day of a long window: most day resamples draw only empty days.
// The run must not fail; those samples count, with zero costs, and leave the reduction's
// statistics alone.
func TestMonteCarloEmptyResamples(t *testing.T) {
	tr := trace(t)
	one := tr.SliceDays(0, 1)
	one.Meta.End = one.Meta.Start.AddDate(0, 0, 40)
	cfg := config.Default()
	draw := func(i int, rng *rand.Rand) (analysis.Draw, error) {
		return analysis.Draw{Baseline: scenario(cfg, nil), Configured: scenario(cfg, cfg.Enabled()), CostFactor: 1, RepeatRate: 1.2}, nil
	}
	res, err := (&analysis.Runner{Book: pricing.Default()}).MonteCarlo(context.Background(), one, analysis.MonteCarlo{Samples: 30, Seed: 1, Bootstrap: "days", Thresholds: []float64{0.3}, Draw: draw})
	if err != nil {
		t.Fatal(err)
	}
	empty := res.Empty()
	if empty == 0 || empty == 30 {
		t.Fatalf("%d of 30 samples empty; want some, not all", empty)
	}
	if n := len(res.Field("reduction")); n != 30-empty {
		t.Errorf("%d reductions for %d samples with calls", n, 30-empty)
	}
	if n := len(res.Field("daily_cost_usd")); n != 30 {
		t.Errorf("%d daily costs for 30 samples", n)
	}
	for _, s := range res.Samples {
		if s.Calls == 0 && (s.BaselinePerDay != 0 || s.CostPerDay != 0) {
			t.Errorf("an empty sample costs %v and %v", s.BaselinePerDay, s.CostPerDay)
		}
	}
}
