package benchmarks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/analysis"
	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/gen"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/traces"
)

var (
	baseOnce  sync.Once
	baseTrace *analysis.Trace
	baseErr   error
)

// baselineTrace returns the seed plan's 30-day tars-baseline trace (seed 1, as make demo
// generates it), in memory.
func baselineTrace(b *testing.B) *analysis.Trace {
	baseOnce.Do(func() {
		p, err := gen.LoadProfile("tars-baseline")
		if err != nil {
			baseErr = err
			return
		}
		g, err := gen.New(p, gen.Options{Days: 30, Seed: 1})
		if err != nil {
			baseErr = err
			return
		}
		baseTrace = &analysis.Trace{Name: "tars-baseline", Meta: g.Meta()}
		_, baseErr = g.Generate(func(r *traces.Record) error { baseTrace.Records = append(baseTrace.Records, r.Clone()); return nil })
	})
	if baseErr != nil {
		b.Fatal(baseErr)
	}
	return baseTrace
}

// mcSamples is the number of samples of the Monte Carlo benchmarks: 10,000 (the figure),
// or TARSOPT_MC_SAMPLES.
func mcSamples() int {
	if n, err := strconv.Atoi(os.Getenv("TARSOPT_MC_SAMPLES")); err == nil && n > 0 {
		return n
	}
	return 10_000
}

func runMC(b *testing.B, tr *analysis.Trace, samples, workers int) *analysis.MCResult {
	cfg := config.Default()
	u := cfg.Uncertainty
	rn := &analysis.Runner{Book: pricing.Default(), Workers: workers}
	res, err := rn.MonteCarlo(context.Background(), tr, analysis.MonteCarlo{Samples: samples, Seed: 1, Bootstrap: u.Bootstrap, Thresholds: u.Thresholds,
		Draw: func(i int, rng *rand.Rand) (analysis.Draw, error) {
			dr, err := u.Draw(cfg, rng)
			if err != nil {
				return analysis.Draw{}, err
			}
			c := dr.Config
			return analysis.Draw{Baseline: analysis.Scenario{Upstream: c.Upstream},
				Configured: analysis.Scenario{Stages: c.Stack, Upstream: c.Upstream},
				CostFactor: dr.CostFactor, RepeatRate: dr.RepeatRate, Values: dr.Values}, nil
		}})
	if err != nil {
		b.Fatal(err)
	}
	if len(res.Samples) != samples {
		b.Fatalf("%d samples of %d", len(res.Samples), samples)
	}
	return res
}

// BenchmarkMonteCarlo runs the default configuration's Monte Carlo (the seed plan's declared
// uncertainty, days resampled) over the 30-day baseline trace on one worker and on two, and
// reports the time per sample and per replayed call.
func BenchmarkMonteCarlo(b *testing.B) {
	tr := baselineTrace(b)
	n := mcSamples()
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprintf("samples=%d/workers=%d", n, w), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				runMC(b, tr, n, w)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/sample")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n)/float64(2*len(tr.Records)), "ns/call")
		})
	}
}

// BenchmarkMonteCarloEfficiency times the same Monte Carlo on one worker and on two, alternately,
// and reports the parallel efficiency (one-worker time over two-worker time, halved; target at
// least 0.8) and whether the two gave the same result.
func BenchmarkMonteCarloEfficiency(b *testing.B) {
	tr := baselineTrace(b)
	n := mcSamples()
	var t1, t2 time.Duration
	for b.Loop() {
		start := time.Now()
		r1 := runMC(b, tr, n, 1)
		t1 += time.Since(start)
		start = time.Now()
		r2 := runMC(b, tr, n, 2)
		t2 += time.Since(start)
		if s1, s2 := analysis.StatsOf(r1.Field("reduction")), analysis.StatsOf(r2.Field("reduction")); s1 != s2 {
			b.Fatalf("one worker and two differ: %+v and %+v", s1, s2)
		}
	}
	b.ReportMetric(float64(t1)/float64(t2)/2, "efficiency")
	b.ReportMetric(t1.Seconds()/float64(b.N), "s-1-worker")
	b.ReportMetric(t2.Seconds()/float64(b.N), "s-2-workers")
}
