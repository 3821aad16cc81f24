package benchmarks

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/gen"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/sim"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

var (
	recsOnce sync.Once
	recsMem  []traces.Record

	denseOnce sync.Once
	denseMem  []traces.Record
	denseMeta traces.Meta
	denseErr  error
)

// denseInMemory returns a million calls of testdata/tars-dense.json (tars-baseline at 100,000
// calls a day): ten days, as a busy deployment's million calls span, where the sparse corpus
// spreads its million over twelve years of days.
func denseInMemory(b *testing.B) ([]traces.Record, traces.Meta) {
	denseOnce.Do(func() {
		p, err := gen.LoadProfile("testdata/tars-dense.json")
		if err != nil {
			denseErr = err
			return
		}
		g, err := gen.New(p, gen.Options{Days: 10, Seed: 1})
		if err != nil {
			denseErr = err
			return
		}
		denseMeta = g.Meta()
		denseMem = make([]traces.Record, 0, corpusRecords+1000)
		_, denseErr = g.Generate(func(r *traces.Record) error { denseMem = append(denseMem, r.Clone()); return nil })
	})
	if denseErr != nil {
		b.Fatal(denseErr)
	}
	return denseMem, denseMeta
}

// corpus returns the in-memory records of a named corpus: sparse (the codec corpus, 234 calls a
// day) or dense (100,000 calls a day).
func corpusNamed(b *testing.B, name string) ([]traces.Record, traces.Meta) {
	if name == "dense" {
		return denseInMemory(b)
	}
	return corpusInMemory(b)
}

// corpusInMemory returns the million corpus records, decoded once from the Arrow file.
func corpusInMemory(b *testing.B) ([]traces.Record, traces.Meta) {
	c := getCorpus(b)
	recsOnce.Do(func() {
		s, err := traces.Open(c.files["arrow"], traces.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		recsMem = make([]traces.Record, 0, corpusRecords)
		var r traces.Record
		for s.Read(&r) == nil {
			recsMem = append(recsMem, r.Clone())
		}
	})
	if len(recsMem) != corpusRecords {
		b.Fatalf("corpus has %d records in memory", len(recsMem))
	}
	return recsMem, c.meta
}

// stackConfig returns the configuration of a named stack: none (the baseline), default (the seed
// plan), all (every strategy on, the provider's prompt cache included) or a strategy's name (that
// strategy alone, with its default settings).
func stackConfig(b *testing.B, name string) *config.Config {
	c := config.Default()
	switch name {
	case "none":
		c.Only()
	case "default":
	case "all":
		if err := c.Set("strategies.promptcache.enabled=true"); err != nil {
			b.Fatal(err)
		}
		if len(c.Enabled()) != len(strategies.Names()) {
			b.Fatalf("stack all enables %v", c.Enabled())
		}
	default:
		if !slices.Contains(strategies.Names(), name) {
			b.Fatalf("no stack %q", name)
		}
		c.Only(name)
		if got := c.Enabled(); len(got) != 1 {
			b.Fatalf("stack %s enables %v", name, got)
		}
	}
	return c
}

// replayOnce replays recs through the stack c configures and returns the number of calls.
func replayOnce(b *testing.B, recs []traces.Record, meta traces.Meta, c *config.Config) int64 {
	env := strategies.Env{Book: pricing.Default(), Upstream: c.Upstream, BlockSize: meta.BlockSize, Seed: c.Seed}
	stack, err := c.Stack(env)
	if err != nil {
		b.Fatal(err)
	}
	res, err := sim.Run(context.Background(), sim.NewRecords(recs), stack,
		sim.Options{Book: env.Book, Upstream: c.Upstream, Seed: c.Seed, Start: meta.Start, End: meta.End})
	if err != nil {
		b.Fatal(err)
	}
	return res.Total.Calls
}

// bareLoop sums the tokens of every record: the floor a replay is measured against.
//
//go:noinline
func bareLoop(recs []traces.Record) int64 {
	var sum int64
	for i := range recs {
		sum += recs[i].TotalTokens()
	}
	return sum
}

// BenchmarkReplay replays the million-record corpus in memory through no strategy, each strategy
// alone, the seed plan and every strategy, beside the bare loop, and reports time and allocations
// per call: a strategy's cost is its stack's time less stack=none's.
func BenchmarkReplay(b *testing.B) {
	for _, corpus := range []string{"sparse", "dense"} {
		recs, meta := corpusNamed(b, corpus)
		b.Run(fmt.Sprintf("corpus=%s/loop=bare/records=%d", corpus, len(recs)), func(b *testing.B) {
			var sink int64
			for b.Loop() {
				sink += bareLoop(recs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(recs)), "ns/call")
			if sink == 0 {
				b.Fatal("no tokens")
			}
		})
		for _, name := range append(append([]string{"none"}, strategies.Names()...), "default", "all") {
			b.Run(fmt.Sprintf("corpus=%s/stack=%s/records=%d", corpus, name, len(recs)), func(b *testing.B) {
				b.ReportAllocs()
				c := stackConfig(b, name)
				var ms0, ms1 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms0)
				for b.Loop() {
					if n := replayOnce(b, recs, meta, c); n != int64(len(recs)) {
						b.Fatalf("replayed %d calls", n)
					}
				}
				runtime.ReadMemStats(&ms1)
				calls := float64(b.N) * float64(len(recs))
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/calls, "ns/call")
				b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/calls, "allocs/call")
			})
		}
	}
}

// BenchmarkReplayRatio times the bare loop, the replay with every strategy on and the floor of
// BenchmarkReplayFloor (its pieces but the bare loop) over the same million records in the same
// run, in turn, and reports the median ratios of the replay's time to the bare loop's
// (replay-x-bare, the target at most 20, which the floor alone reaches) and to the
// floor's (replay-x-floor: how far the replay is from the least any replay must do), and the
// replay's allocations per call (target at most 1), on each corpus. Run it with -benchtime 5x or
// more.
func BenchmarkReplayRatio(b *testing.B) {
	for _, corpus := range []string{"sparse", "dense"} {
		recs, meta := corpusNamed(b, corpus)
		c := stackConfig(b, "all")
		pieces, _ := floorPieces(recs)
		b.Run("corpus="+corpus, func(b *testing.B) {
			var ratios, overFloor []float64
			var mallocs uint64
			var ms0, ms1 runtime.MemStats
			for b.Loop() {
				runtime.GC()
				t0 := time.Now()
				if bareLoop(recs) == 0 {
					b.Fatal("no tokens")
				}
				tBare := time.Since(t0)
				runtime.GC()
				runtime.ReadMemStats(&ms0)
				t0 = time.Now()
				replayOnce(b, recs, meta, c)
				tReplay := time.Since(t0)
				runtime.ReadMemStats(&ms1)
				mallocs += ms1.Mallocs - ms0.Mallocs
				ratios = append(ratios, float64(tReplay)/float64(tBare))
				var tFloor time.Duration
				for _, p := range pieces[1:] {
					runtime.GC()
					t0 = time.Now()
					if p.run() == 0 {
						b.Fatalf("floor piece %s did nothing", p.name)
					}
					tFloor += time.Since(t0)
				}
				overFloor = append(overFloor, float64(tReplay)/float64(tFloor))
			}
			b.ReportMetric(median(ratios), "replay-x-bare")
			b.ReportMetric(median(overFloor), "replay-x-floor")
			b.ReportMetric(float64(mallocs)/float64(b.N)/float64(len(recs)), "allocs/call")
		})
	}
}
