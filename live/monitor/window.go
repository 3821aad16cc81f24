package monitor

import (
	"math"

	"github.com/tarsopt/tarsopt/money"
)

// Metric names the window computes, for Window, the window_metric gauge and rollback triggers.
const (
	MetricCostReduction      = "cost_reduction"       // 1 − Σcost/Σbaseline cost
	MetricQualityScore       = "quality_score"        // mean Quality of answered calls
	MetricResponseTime       = "response_time_s"      // mean TTFT of interactive calls (answered, neither deferred nor batched), seconds
	MetricResponseTimeChange = "response_time_change" // that mean / mean baseline TTFT − 1
	MetricErrorRate          = "error_rate"           // share of calls with a status other than 200
	MetricCacheHitRate       = "cache_hit_rate"       // response-cache hits / cacheable calls
	MetricBatchedShare       = "batched_share"        // share of calls sent through the Batch API
	MetricDeferredShare      = "deferred_share"       // share of calls held for the off-peak window
	MetricCalls              = "calls"                // calls in the window
)

// Metrics lists the window metrics in the order logs and the gauge show them. A rollback trigger
// may name any of them; New rejects a trigger on another metric (the simulator's cost_usd,
// latency_p95_ms and the like have no sliding-window form here).
var Metrics = []string{
	MetricCostReduction, MetricQualityScore, MetricResponseTime, MetricResponseTimeChange,
	MetricErrorRate, MetricCacheHitRate, MetricBatchedShare, MetricDeferredShare, MetricCalls,
}

// numMetrics is len(Metrics).
const numMetrics = 9

func metricIndex(name string) int {
	for i, n := range Metrics {
		if n == name {
			return i
		}
	}
	return -1
}

// sums is what the window adds up, all in integers so that adding and removing calls is exact in
// any order: money in nano-dollars, quality in billionths, times in nanoseconds.
type sums struct {
	calls, answered, errors int64
	cacheable, hits         int64
	interactive             int64 // answered, neither deferred nor batched
	batched, deferred       int64
	cost, baseline          money.Amount
	quality                 int64 // Σ Quality×1e9 over answered calls
	ttft, baselineTTFT      int64 // Σ nanoseconds over interactive calls
}

func (s *sums) add(o *sums) {
	s.calls += o.calls
	s.answered += o.answered
	s.errors += o.errors
	s.cacheable += o.cacheable
	s.hits += o.hits
	s.interactive += o.interactive
	s.batched += o.batched
	s.deferred += o.deferred
	s.cost += o.cost
	s.baseline += o.baseline
	s.quality += o.quality
	s.ttft += o.ttft
	s.baselineTTFT += o.baselineTTFT
}

func (s *sums) sub(o *sums) {
	s.calls -= o.calls
	s.answered -= o.answered
	s.errors -= o.errors
	s.cacheable -= o.cacheable
	s.hits -= o.hits
	s.interactive -= o.interactive
	s.batched -= o.batched
	s.deferred -= o.deferred
	s.cost -= o.cost
	s.baseline -= o.baseline
	s.quality -= o.quality
	s.ttft -= o.ttft
	s.baselineTTFT -= o.baselineTTFT
}

// ratio divides two exact integers with a single rounding, so that hand-computed expectations
// compare equal.
func ratio(a, b int64) float64 { return float64(a) / float64(b) }

// metric returns metric i (an index into Metrics) and whether it is defined: a metric whose
// denominator is zero (no answered call, no cacheable call, no baseline cost) is not.
func (s *sums) metric(i int) (float64, bool) {
	switch Metrics[i] {
	case MetricCostReduction:
		if s.baseline == 0 {
			return 0, false
		}
		return ratio(int64(s.baseline-s.cost), int64(s.baseline)), true
	case MetricQualityScore:
		if s.answered == 0 {
			return 0, false
		}
		return float64(s.quality) / (1e9 * float64(s.answered)), true
	case MetricResponseTime:
		if s.interactive == 0 {
			return 0, false
		}
		return float64(s.ttft) / (1e9 * float64(s.interactive)), true
	case MetricResponseTimeChange:
		if s.interactive == 0 || s.baselineTTFT == 0 {
			return 0, false
		}
		return ratio(s.ttft-s.baselineTTFT, s.baselineTTFT), true
	case MetricErrorRate:
		if s.calls == 0 {
			return 0, false
		}
		return ratio(s.errors, s.calls), true
	case MetricCacheHitRate:
		if s.cacheable == 0 {
			return 0, false
		}
		return ratio(s.hits, s.cacheable), true
	case MetricBatchedShare:
		if s.calls == 0 {
			return 0, false
		}
		return ratio(s.batched, s.calls), true
	case MetricDeferredShare:
		if s.calls == 0 {
			return 0, false
		}
		return ratio(s.deferred, s.calls), true
	case MetricCalls:
		return float64(s.calls), true
	}
	return 0, false
}

// numBuckets is how many slices of Done time the window is cut into: the window moves in steps
// of Window/numBuckets (1 s for the default 15 minutes) and its memory does not grow with traffic.
const numBuckets = 900

type bucket struct {
	k int64 // bucket number: Done in nanoseconds / width
	s sums
}

// window holds the sums of the calls whose Done falls in the last n buckets, and, for each
// trigger, the sums of those calls that came after the trigger was (re)armed.
type window struct {
	width   int64 // nanoseconds per bucket
	n       int64
	buckets []bucket
	latest  int64 // number of the newest bucket; the window is (latest−n, latest]
	started bool
	total   sums     // the whole window
	armed   []*armed // triggers' views
}

// armed is a trigger's view of the window: only buckets after since.
type armed struct {
	since int64
	s     sums
}

func newWindow(span int64) *window {
	w := &window{width: max(span/numBuckets, 1)}
	w.n = max(span/w.width, 1)
	w.buckets = make([]bucket, w.n)
	for i := range w.buckets {
		w.buckets[i].k = math.MinInt64
	}
	return w
}

func (w *window) bucketOf(ns int64) int64 {
	k := ns / w.width
	if ns < 0 && ns%w.width != 0 {
		k--
	}
	return k
}

func (w *window) slot(k int64) *bucket {
	i := k % w.n
	if i < 0 {
		i += w.n
	}
	return &w.buckets[i]
}

// advance moves the newest bucket to k (if later), dropping the buckets that leave the window.
func (w *window) advance(k int64) {
	if !w.started {
		w.started, w.latest = true, k
		return
	}
	if k <= w.latest {
		return
	}
	if k-w.latest >= w.n {
		for i := range w.buckets {
			w.buckets[i] = bucket{k: math.MinInt64}
		}
		w.total = sums{}
		for _, a := range w.armed {
			a.s = sums{}
		}
		w.latest = k
		return
	}
	for old := w.latest - w.n + 1; old <= k-w.n; old++ {
		b := w.slot(old)
		if b.k != old {
			continue
		}
		w.total.sub(&b.s)
		for _, a := range w.armed {
			if old > a.since {
				a.s.sub(&b.s)
			}
		}
		*b = bucket{k: math.MinInt64}
	}
	w.latest = k
}

// add counts one call done at ns (Unix nanoseconds). A call older than the window counts nowhere.
func (w *window) add(ns int64, c *sums) {
	k := w.bucketOf(ns)
	w.advance(k)
	if k <= w.latest-w.n {
		return
	}
	b := w.slot(k)
	if b.k != k {
		*b = bucket{k: k}
	}
	b.s.add(c)
	w.total.add(c)
	for _, a := range w.armed {
		if k > a.since {
			a.s.add(c)
		}
	}
}

// rearm makes a see only calls in buckets after the newest one.
func (w *window) rearm(a *armed) {
	if w.started {
		a.since = w.latest
	}
	a.s = sums{}
}
