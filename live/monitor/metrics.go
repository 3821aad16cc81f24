package monitor

import (
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tarsopt/tarsopt/money"
)

const namespace = "tarsopt"

// maxModels bounds the distinct model names the metrics, routing counters and costs.json keep;
// later names count as "other". A client can put anything in its request's model field, and a
// label value per distinct string would let it grow the exposition without bound.
const maxModels = 64

// Latency buckets, in seconds: 10 ms to 10 minutes.
var latencyBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600}

// Call classes, the label of the latency histograms.
const (
	classInteractive = iota
	classDeferred
	classBatched
)

var classNames = [...]string{"interactive", "deferred", "batched"}

type reqKey struct {
	model, orig string
	status      int
	cache       uint8 // 0 none, 1 miss, 2 hit
}

var cacheLabels = [...]string{"none", "miss", "hit"}

type routeKey struct{ from, to string }

// metrics holds the Prometheus side of a Monitor. Everything but the atomics is guarded by the
// Monitor's mutex.
type metrics struct {
	reg *prometheus.Registry

	requests   *prometheus.CounterVec
	reqCache   map[reqKey]prometheus.Counter
	tokens     [4]prometheus.Counter // input, cache_write, cache_read, output
	cacheHits  prometheus.Counter
	routed     *prometheus.CounterVec
	routeCache map[routeKey]prometheus.Counter
	pruned     prometheus.Counter
	batched    prometheus.Counter
	deferred   prometheus.Counter
	rollbacks  *prometheus.CounterVec
	latency    [3]prometheus.Observer
	ttft       [3]prometheus.Observer
	enabled    *prometheus.GaugeVec
	logErrors  prometheus.Counter

	cost, baseline atomic.Int64 // exact totals in nano-dollars

	models map[string]string // interned, bounded model names
}

func newMetrics(m *Monitor) *metrics {
	x := &metrics{
		reg:        prometheus.NewRegistry(),
		reqCache:   map[reqKey]prometheus.Counter{},
		routeCache: map[routeKey]prometheus.Counter{},
		models:     map[string]string{},
	}
	x.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "requests_total",
		Help: "Calls the proxy finished, by model sent to, model asked for, HTTP status answered and response-cache outcome (hit, miss, none for a call that was not cacheable).",
	}, []string{"model", "orig_model", "status", "cache"})
	tokens := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "tokens_total",
		Help: "Tokens billed upstream, by kind (cache_write adds the 5-minute and 1-hour writes).",
	}, []string{"kind"})
	for i, k := range []string{"input", "cache_write", "cache_read", "output"} {
		x.tokens[i] = tokens.WithLabelValues(k)
	}
	cost := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: namespace, Name: "cost_usd_total",
		Help: "What the calls cost, in US dollars (kept exact inside; a float here).",
	}, func() float64 { return money.Amount(x.cost.Load()).Dollars() })
	baseline := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: namespace, Name: "baseline_cost_usd_total",
		Help: "What the clients' requests would have cost with no strategy (model asked for, unpruned, no cache), in US dollars.",
	}, func() float64 { return money.Amount(x.baseline.Load()).Dollars() })
	x.cacheHits = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "cache_hits_total",
		Help: "Calls answered from the response cache.",
	})
	x.routed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "routed_total",
		Help: "Calls the router sent to another model than the one asked for.",
	}, []string{"from", "to"})
	x.pruned = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "pruned_tokens_total",
		Help: "History tokens the pruner removed from requests.",
	})
	x.batched = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "batched_total",
		Help: "Calls sent through the Batch API.",
	})
	x.deferred = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "deferred_total",
		Help: "Calls held for the off-peak window.",
	})
	x.rollbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "rollbacks_total",
		Help: "Strategies a rollback trigger asked to disable, by strategy and by the metric that crossed its threshold.",
	}, []string{"strategy", "metric"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "latency_seconds", Buckets: latencyBuckets,
		Help: "Time from a call's arrival to its last byte, as the client saw it, by class (interactive, deferred, batched).",
	}, []string{"class"})
	ttft := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "ttft_seconds", Buckets: latencyBuckets,
		Help: "Time from a call's arrival to its first token, as the client saw it, by class; answered calls only.",
	}, []string{"class"})
	for i, c := range classNames {
		x.latency[i] = latency.WithLabelValues(c)
		x.ttft[i] = ttft.WithLabelValues(c)
	}
	x.enabled = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "strategy_enabled",
		Help: "1 while a strategy is switched on, 0 while it is off.",
	}, []string{"strategy"})
	x.logErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "monitor_write_errors_total",
		Help: "Failed writes of the monitoring logs and costs.json.",
	})
	x.reg.MustRegister(x.requests, tokens, cost, baseline, x.cacheHits, x.routed, x.pruned,
		x.batched, x.deferred, x.rollbacks, latency, ttft, x.enabled, x.logErrors,
		&windowCollector{m: m, desc: prometheus.NewDesc(namespace+"_window_metric",
			"The rollback triggers' sliding-window metrics (cost_reduction, quality_score, response_time_s, ...); a metric without data is absent.",
			[]string{"metric"}, nil)},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return x
}

// model returns name as a bounded label value: the same string for the same name, "other" once
// maxModels names are known, "unknown" for an empty name.
func (x *metrics) model(name string) string {
	if v, ok := x.models[name]; ok {
		return v
	}
	v := "other"
	switch {
	case name == "":
		v = "unknown"
	case len(x.models) < maxModels && len(name) <= 128 && utf8.ValidString(name):
		v = strings.Clone(name) // never keep a request's buffer alive
		x.models[v] = v
		return v
	}
	if len(x.models) < maxModels+8 && len(name) <= 128 { // a few refused names, remembered
		x.models[strings.Clone(name)] = v
	}
	return v
}

func statusLabel(s int) string {
	if s >= 100 && s <= 599 {
		return strconv.Itoa(s)
	}
	return "other"
}

func (x *metrics) request(model, orig string, status int, cache uint8) prometheus.Counter {
	if status < 100 || status > 599 {
		status = 0
	}
	k := reqKey{model, orig, status, cache}
	c, ok := x.reqCache[k]
	if !ok {
		c = x.requests.WithLabelValues(model, orig, statusLabel(status), cacheLabels[cache])
		x.reqCache[k] = c
	}
	return c
}

func (x *metrics) route(from, to string) prometheus.Counter {
	k := routeKey{from, to}
	c, ok := x.routeCache[k]
	if !ok {
		c = x.routed.WithLabelValues(from, to)
		x.routeCache[k] = c
	}
	return c
}

// windowCollector exposes the window metrics, computed at scrape time.
type windowCollector struct {
	m    *Monitor
	desc *prometheus.Desc
}

func (c *windowCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *windowCollector) Collect(ch chan<- prometheus.Metric) {
	vals := c.m.windowValues()
	for i, name := range Metrics {
		if vals.ok[i] {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, vals.v[i], name)
		}
	}
}
