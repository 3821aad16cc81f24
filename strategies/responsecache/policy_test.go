package responsecache

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tarsopt/tarsopt/strategies"
)

// The workloads of the eviction policy comparison. The generated ones are the seed plan's agent
// (tars-baseline) as `tarsopt gen --profile tars-baseline --days 30|90 --seed 1` writes it (the
// agentic-coding profile has no cacheable calls); the synthetic ones draw 200,000 requests from a
// Zipf(0.9) popularity over 20,000 keys, one with a scan of 5,000 one-time keys every 20,000
// requests, with a TTL long enough never to expire.
var workloads = []workload{
	{name: "tars-baseline-30d", recs: generated("tars-baseline", 30)},
	{name: "tars-baseline-90d", recs: generated("tars-baseline", 90)},
	{name: "zipf0.9-scans", recs: zipfScan(200000, 20000, 0.9, 20000, 5000), ttl: map[string]float64{"code_pattern": 1e8}},
	{name: "zipf0.9", recs: zipfScan(200000, 20000, 0.9, 0, 0), ttl: map[string]float64{"code_pattern": 1e8}},
}

var shares = []float64{0.01, 0.05, 0.20}

// TestPolicyComparison replays every workload at capacities of 1%, 5% and 20% of its distinct
// keys under each policy, logs the table of hit rates (go test -run PolicyComparison -v), and
// checks that the default policy hits at least as often as LRU on the synthetic workloads and
// within half a point of LRU on the generated agent traces (whose repeats follow recency, LRU's
// best case).
func TestPolicyComparison(t *testing.T) {
	if testing.Short() {
		t.Skip("replays generated traces")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-20s %6s %8s", "workload", "share", "entries")
	for _, p := range policies {
		fmt.Fprintf(&b, " %8s", p)
	}
	b.WriteString("\n")
	for _, w := range workloads {
		for _, share := range shares {
			rates := map[string]float64{}
			var capacity int
			for _, p := range policies {
				rates[p], capacity = hitRatio(t, w, p, share)
			}
			fmt.Fprintf(&b, "%-20s %5.0f%% %8d", w.name, share*100, capacity)
			for _, p := range policies {
				fmt.Fprintf(&b, " %7.2f%%", 100*rates[p])
			}
			b.WriteString("\n")
			slack := 0.0
			if w.ttl == nil {
				slack = 0.005
			}
			if rates[DefaultPolicy] < rates[PolicyLRU]-slack {
				t.Errorf("%s at %.0f%%: default policy %s hits %.4f, below LRU's %.4f", w.name, share*100, DefaultPolicy, rates[DefaultPolicy], rates[PolicyLRU])
			}
		}
	}
	t.Log(b.String())
}

// BenchmarkPolicies reports the hit rate (hit/op: hits per cacheable call) of each policy on each
// workload and capacity, for benchstat.
func BenchmarkPolicies(b *testing.B) {
	for _, w := range workloads {
		for _, share := range shares {
			for _, p := range policies {
				b.Run(fmt.Sprintf("workload=%s/cap=%.0f%%/policy=%s", w.name, share*100, p), func(b *testing.B) {
					var rate float64
					for b.Loop() {
						rate, _ = hitRatio(b, w, p, share)
					}
					b.ReportMetric(rate, "hit/op")
				})
			}
		}
	}
}

// Two replays of the same workload give the same counters, whatever the policy.
func TestDeterministic(t *testing.T) {
	recs := zipfScan(20000, 2000, 0.9, 5000, 500)(t)
	for _, p := range policies {
		var runs [2][]strategies.Count
		for i := range runs {
			s := Defaults()
			s.Policy, s.MaxEntries = p, 100
			st, err := New(s)
			if err != nil {
				t.Fatal(err)
			}
			replay(t, st, recs)
			runs[i] = st.Counters()
		}
		if diff := cmp.Diff(runs[0], runs[1]); diff != "" {
			t.Errorf("%s: counters differ between runs:\n%s", p, diff)
		}
		if runs[0][0].Value == 0 {
			t.Errorf("%s: no hits", p)
		}
	}
}
