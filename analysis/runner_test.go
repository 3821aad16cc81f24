package analysis_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"

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
