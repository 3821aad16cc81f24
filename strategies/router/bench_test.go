package router

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// benchRecords returns n calls spread over a day, mostly Sonnet, some Haiku, Opus and an unknown
// model, half with a recorded complexity.
func benchRecords(n int) []traces.Record {
	rng := rand.New(rand.NewPCG(3, 4))
	models := []string{"claude-sonnet-4-5", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "claude-haiku-4-5", "claude-opus-4-1", "local-llama"}
	t0 := time.Date(2026, 2, 13, 0, 0, 0, 0, time.UTC)
	out := make([]traces.Record, n)
	for i := range out {
		r := traces.Record{Time: t0.Add(time.Duration(i) * 20 * time.Second), Model: models[rng.IntN(len(models))]}
		r.SetTokens(500+rng.Int64N(20000), 50+rng.Int64N(2000))
		if i%2 == 0 {
			r.Complexity = rng.Float64() * 100
			r.Set(traces.FieldComplexity)
		} else {
			r.QueryType = traces.QueryType(1 + rng.IntN(8))
		}
		out[i] = r
	}
	return out
}

func BenchmarkHandle(b *testing.B) {
	recs := benchRecords(4096)
	eight := &Settings{Cascade: Cascade{On: true, MaxRetries: 1}}
	for i, m := range []string{"claude-3-haiku", "claude-3-5-haiku", "claude-haiku-4-5", "claude-haiku-4-5",
		"claude-sonnet-4-5", "claude-sonnet-4-5", "claude-opus-4-5", "claude-opus-4-1"} {
		eight.Bands = append(eight.Bands, Band{float64(i+1) * 12.5, m})
	}
	casc := Defaults()
	casc.Cascade.On = true
	for _, bc := range []struct {
		name string
		s    *Settings
	}{
		{"bands=default", Defaults()},
		{"bands=8", eight},
		{"bands=default,cascade=on", casc},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rt := build(b, bc.s)
			var c strategies.Call
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := &recs[i&(len(recs)-1)]
				i++
				c.Reset(r, uint64(i))
				now := r.Time.UnixNano()
				rt.Handle(now, &c)
				o := strategies.Outcome{OK: i%3 != 0}
				rt.Observe(now, &c, &o)
			}
		})
	}
}
