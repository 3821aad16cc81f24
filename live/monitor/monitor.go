// Package monitor keeps the live proxy's monitoring: Prometheus metrics, the seed plan's JSONL
// monitoring logs, the daily costs file, and the rollback triggers evaluated on a sliding window.
//
// The proxy makes one Monitor with New, calls Record once for every call it finishes (from any
// number of goroutines), switches strategies off when Record returns a Firing and tells the
// Monitor with SetEnabled, serves Handler on its metrics endpoint, and calls Close on shutdown.
//
// Nothing the Monitor receives, logs or exposes holds an API key: Event has no field for one, the
// tenant is a hash computed by the proxy, and Prometheus labels carry only model names, HTTP
// statuses, strategy and metric names.
//
// # Window
//
// The rollback triggers and the window_metric gauge see the calls whose Done falls within
// Options.Window of the latest Done recorded. The window is kept as 900 slices of Done time with exact integer sums (money in nano-dollars, quality in billionths, times in
// nanoseconds), so Record is O(1), memory does not grow with traffic, and calls recorded out of
// Done order land in the right slice; the window's edge moves in steps of Window/900 (1 s for the
// default 15 minutes). Window and a scrape also move the window forward to the clock, so the
// gauges drain when traffic stops; triggers are evaluated only by Record.
//
// # Triggers
//
// A trigger fires when its metric crosses its threshold over the calls it sees, once at least
// Options.MinCalls of them are in the window. It fires once; it is rearmed when one of the
// strategies it disables is switched back on (SetEnabled with on true). A rearmed trigger, and
// every trigger naming a strategy that goes from off to on, sees only the calls done after that
// moment, so the calls made while the strategy was off (or that made it fire) cannot fire it
// again at once; it waits for MinCalls new calls.
package monitor

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/money"
)

// Event is one call the proxy finished: answered from the response cache, answered upstream, or
// failed. It holds no API key and no request or response content. Record reads it and does not
// keep it; the caller may reuse it.
type Event struct {
	ID     string    // the proxy's id for the call (a request id; not secret)
	Time   time.Time // arrival at the proxy
	Done   time.Time // when the proxy finished answering; the window, the logs and the day of costs.json go by it (zero: now)
	Tenant string    // a hash identifying the client, never a key; logged in quality-tracking.log, never a label

	Model     string // the model the call was sent to, after routing (for a cache hit, the model that made the answer)
	OrigModel string // the model the client asked for
	QueryType string // the response cache's query type ("research", "fact_lookup", ...), or ""

	Status int    // HTTP status the client got; anything but 200 counts as an error
	Error  string // error type when Status is not 200 ("overloaded_error", "timeout", ...)

	Cacheable bool // the response cache could answer such a request (a hit is cacheable too)
	CacheHit  bool // answered from the response cache
	Stale     bool // the cached answer was past its TTL (served while revalidating)

	Routed       bool  // Model differs from OrigModel because the router chose it
	PrunedTokens int64 // history tokens the pruner removed

	Batched     bool          // sent through the Batch API
	Deferred    bool          // held for the off-peak window
	DeferredFor time.Duration // how long it was held
	Streamed    bool          // answered as a server-sent event stream

	// Tokens as billed upstream, by kind; all 0 for a cache hit.
	Input, CacheWrite5m, CacheWrite1h, CacheRead, Output int64

	// Cost is what the call cost (0 for a cache hit). BaselineCost is what the client's request
	// would have cost with no strategy: asked model, unpruned, no cache, no batch discount. For a
	// failed call give what was billed, usually 0 for both: a baseline cost on a failure counts
	// as a saving in cost_reduction.
	Cost, BaselineCost money.Amount

	Latency      time.Duration // arrival to last byte, as the client saw it
	TTFT         time.Duration // arrival to first token, as the client saw it
	BaselineTTFT time.Duration // modelled time to first token of the asked model without strategies

	Quality float64 // expected probability that the answer is acceptable, 0..1 (NaN counts as 0); read for Status 200 only
}

// Options configures a Monitor. The zero value works: no files, no triggers, the defaults below.
type Options struct {
	// Dir is where the five logs and costs.json go; it is created if missing. Logs are appended
	// to across restarts. "" writes no file at all (metrics and triggers only).
	Dir string
	// Triggers are the rollback triggers (config.Config.RollbackTriggers). Each must name one of
	// Metrics and have a threshold. New copies them.
	Triggers []config.Trigger
	// Window is the span of Done time the triggers and the window_metric gauge see (default 15m).
	Window time.Duration
	// MinCalls is how many calls a trigger must see in the window before it may fire (default 50).
	MinCalls int
	// Strategies names the strategies the proxy runs, each switched on at start (gauge 1);
	// "all" in a trigger means these (and any later named in SetEnabled).
	Strategies []string
	// Now is the clock; default time.Now. Tests set it.
	Now func() time.Time
}

// Firing is a rollback trigger that fired on a Record.
type Firing struct {
	Trigger config.Trigger // as configured (a copy)
	Value   float64        // the metric's value that crossed the threshold
	Calls   int64          // calls the trigger saw in the window
	Time    time.Time      // Done of the call that made it fire
	// Disable is the strategies to switch off: the trigger's list with "all" expanded to every
	// strategy the Monitor knows (Options.Strategies and SetEnabled's), in order, without
	// duplicates. The Monitor does not switch anything itself: the proxy does, then calls
	// SetEnabled for each.
	Disable []string
}

// Monitor is the live proxy's monitoring. Its methods are safe for concurrent use.
type Monitor struct {
	mu       sync.Mutex
	now      func() time.Time
	dir      string
	span     time.Duration
	minCalls int64

	win      *window
	triggers []*trigger
	known    []string        // strategies, in the order first named
	enabled  map[string]bool // their state
	x        *metrics

	routing, cache, batch, quality, optim *logFile
	ln                                    line

	tot                  sums // since New
	totRouted, totPruned int64
	lastWindowLog        time.Time
	sinceWindowLog       int
	lastCacheSummary     time.Time
	sinceCacheSummary    int
	days                 map[int64]*day
	curDayK              int64
	curDay               *day
	costsDirty           bool

	err    error // first write error
	closed bool

	stop, done chan struct{}
	kick       chan struct{} // a log's pending lines passed flushBytes
	// wmu serialises the writing of taken lines to the files (the flusher, Reopen, Close), so
	// that chunks reach a file in the order they were taken; it is taken before mu.
	wmu       sync.Mutex
	closeOnce sync.Once
	closeErr  error
}

type trigger struct {
	t      config.Trigger
	metric int
	fired  bool
	view   *armed
}

// names reports whether the trigger disables strategy s.
func (t *trigger) names(s string) bool {
	return slices.Contains(t.t.Disable, s) || slices.Contains(t.t.Disable, "all")
}

func cloneTrigger(t config.Trigger) config.Trigger {
	c := config.Trigger{Metric: t.Metric, Disable: slices.Clone(t.Disable)}
	if t.Below != nil {
		v := *t.Below
		c.Below = &v
	}
	if t.Above != nil {
		v := *t.Above
		c.Above = &v
	}
	return c
}

func describe(t config.Trigger) string {
	var b strings.Builder
	b.WriteString(t.Metric)
	if t.Below != nil {
		b.WriteString(" < ")
		b.WriteString(strconv.FormatFloat(*t.Below, 'g', -1, 64))
	}
	if t.Above != nil {
		if t.Below != nil {
			b.WriteString(" or")
		}
		b.WriteString(" > ")
		b.WriteString(strconv.FormatFloat(*t.Above, 'g', -1, 64))
	}
	b.WriteString(": disable ")
	b.WriteString(strings.Join(t.Disable, ", "))
	return b.String()
}

// New makes a Monitor: it checks the triggers, creates Dir, opens the logs for appending, loads
// Dir's costs.json if there is one (so days accumulate across restarts), and starts the goroutine
// that flushes the logs every second and rewrites costs.json at most once a minute. Call Close to
// stop it.
func New(o Options) (*Monitor, error) {
	if o.Window <= 0 {
		o.Window = 15 * time.Minute
	}
	if o.MinCalls <= 0 {
		o.MinCalls = 50
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Monitor{
		now:      o.Now,
		dir:      o.Dir,
		span:     o.Window,
		minCalls: int64(o.MinCalls),
		win:      newWindow(int64(o.Window)),
		enabled:  map[string]bool{},
		days:     map[int64]*day{},
		curDayK:  math.MinInt64,
	}
	for i, t := range o.Triggers {
		k := metricIndex(t.Metric)
		if k < 0 {
			return nil, fmt.Errorf("monitor: rollback_triggers[%d]: metric %q has no live window form (one of %s)", i, t.Metric, strings.Join(Metrics, ", "))
		}
		if t.Below == nil && t.Above == nil {
			return nil, fmt.Errorf("monitor: rollback_triggers[%d] (%s): no below or above threshold", i, t.Metric)
		}
		tr := &trigger{t: cloneTrigger(t), metric: k, view: &armed{since: math.MinInt64}}
		m.triggers = append(m.triggers, tr)
		m.win.armed = append(m.win.armed, tr.view)
	}
	m.x = newMetrics(m)
	for _, s := range o.Strategies {
		if _, ok := m.enabled[s]; !ok && s != "all" {
			m.known = append(m.known, s)
			m.enabled[s] = true
			m.x.enabled.WithLabelValues(s).Set(1)
		}
	}
	if m.dir != "" {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return nil, fmt.Errorf("monitor: %w", err)
		}
		if err := loadCosts(filepath.Join(m.dir, CostsFile), m.days); err != nil {
			return nil, fmt.Errorf("monitor: %w", err)
		}
		for _, p := range []struct {
			l    **logFile
			name string
		}{{&m.routing, RoutingLog}, {&m.cache, CacheLog}, {&m.batch, BatchLog}, {&m.quality, QualityLog}, {&m.optim, MetricsLog}} {
			l, err := openLog(m.dir, p.name)
			if err != nil {
				m.closeLogs()
				return nil, fmt.Errorf("monitor: %w", err)
			}
			*p.l = l
		}
		m.kick = make(chan struct{}, 1)
		for _, l := range m.logs() {
			l.kick = m.kick
		}
		ln := &m.ln
		ln.start(m.now(), "start")
		ln.float("window_s", o.Window.Seconds())
		ln.int("min_calls", int64(o.MinCalls))
		ln.strs("strategies", m.known)
		ds := make([]string, len(m.triggers))
		for i, t := range m.triggers {
			ds[i] = describe(t.t)
		}
		ln.strs("triggers", ds)
		m.write(m.optim, ln.end())
		m.stop, m.done = make(chan struct{}), make(chan struct{})
		go m.flusher()
	}
	return m, nil
}

func (m *Monitor) closeLogs() error {
	var err error
	for _, l := range m.logs() {
		if cerr := l.close(); err == nil {
			err = cerr
		}
	}
	return err
}

func (m *Monitor) logs() []*logFile {
	if m.routing == nil {
		return nil
	}
	return []*logFile{m.routing, m.cache, m.batch, m.quality, m.optim}
}

// write appends b to l, noting the first error. m.mu must be held.
func (m *Monitor) write(l *logFile, b []byte) {
	if m.closed {
		return
	}
	m.noteErr(l.write(b))
}

func (m *Monitor) noteErr(err error) {
	if err == nil {
		return
	}
	m.x.logErrors.Inc()
	if m.err == nil {
		m.err = err
	}
}

func qualityNanos(q float64) int64 {
	if !(q > 0) { // NaN too
		return 0
	}
	if q >= 1 {
		return 1e9
	}
	return int64(math.Round(q * 1e9))
}

func nonneg(d time.Duration) int64 { return int64(max(d, 0)) }

// Record counts a finished call in the metrics, the logs, the daily costs and the window, and
// evaluates the rollback triggers. It returns the triggers that fired on this call (usually
// none, nil); the caller switches their strategies off. Record is safe for concurrent use and
// does not keep e. After Close it still counts the call in the metrics and the window but
// writes nothing.
func (m *Monitor) Record(e *Event) []Firing {
	if e == nil {
		return nil
	}
	done := e.Done
	var c sums
	c.calls = 1
	ok := e.Status == 200
	if ok {
		c.answered = 1
		c.quality = qualityNanos(e.Quality)
	} else {
		c.errors = 1
	}
	var cache uint8
	if e.Cacheable || e.CacheHit {
		c.cacheable, cache = 1, 1
		if e.CacheHit {
			c.hits, cache = 1, 2
		}
	}
	class := classInteractive
	switch {
	case e.Batched:
		class = classBatched
	case e.Deferred:
		class = classDeferred
	}
	if e.Batched {
		c.batched = 1
	}
	if e.Deferred {
		c.deferred = 1
	}
	if ok && class == classInteractive {
		c.interactive = 1
		c.ttft = nonneg(e.TTFT)
		c.baselineTTFT = nonneg(e.BaselineTTFT)
	}
	c.cost, c.baseline = e.Cost, e.BaselineCost

	m.mu.Lock()
	defer m.mu.Unlock()
	if done.IsZero() {
		done = m.now()
	}

	x := m.x
	model, orig := x.model(e.Model), x.model(e.OrigModel)
	x.request(model, orig, e.Status, cache).Inc()
	if v := e.Input; v > 0 {
		x.tokens[0].Add(float64(v))
	}
	if v := max(e.CacheWrite5m, 0) + max(e.CacheWrite1h, 0); v > 0 {
		x.tokens[1].Add(float64(v))
	}
	if v := e.CacheRead; v > 0 {
		x.tokens[2].Add(float64(v))
	}
	if v := e.Output; v > 0 {
		x.tokens[3].Add(float64(v))
	}
	x.cost.Add(int64(e.Cost))
	x.baseline.Add(int64(e.BaselineCost))
	if e.CacheHit {
		x.cacheHits.Inc()
	}
	if e.Routed {
		x.route(orig, model).Inc()
		m.totRouted++
	}
	if e.PrunedTokens > 0 {
		x.pruned.Add(float64(e.PrunedTokens))
		m.totPruned += e.PrunedTokens
	}
	if e.Batched {
		x.batched.Inc()
	}
	if e.Deferred {
		x.deferred.Inc()
	}
	x.latency[class].Observe(max(e.Latency, 0).Seconds())
	if ok && e.TTFT > 0 {
		x.ttft[class].Observe(e.TTFT.Seconds())
	}

	m.tot.add(&c)
	m.win.add(done.UnixNano(), &c)
	m.addCost(done, model, e.Cost, e.BaselineCost)

	if m.dir != "" && !m.closed {
		m.logCall(e, done)
		if c.cacheable == 1 {
			if m.lastCacheSummary.IsZero() {
				m.lastCacheSummary = done
			}
			m.sinceCacheSummary++
			if m.sinceCacheSummary >= 100 || done.Sub(m.lastCacheSummary) >= time.Minute {
				m.logCacheSummary(done)
			}
		}
	}

	var fired []Firing
	for _, t := range m.triggers {
		s := &t.view.s
		if t.fired || s.calls < m.minCalls {
			continue
		}
		v, ok := s.metric(t.metric)
		if !ok || !t.t.Fires(v) {
			continue
		}
		t.fired = true
		f := Firing{Trigger: cloneTrigger(t.t), Value: v, Calls: s.calls, Time: done, Disable: m.expand(t.t.Disable)}
		for _, name := range f.Disable {
			x.rollbacks.WithLabelValues(name, t.t.Metric).Inc()
		}
		if m.dir != "" {
			ln := &m.ln
			ln.start(done, "rollback")
			ln.str("metric", t.t.Metric)
			ln.float("value", v)
			if t.t.Below != nil {
				ln.float("below", *t.t.Below)
			}
			if t.t.Above != nil {
				ln.float("above", *t.t.Above)
			}
			ln.int("calls", s.calls)
			ln.strs("disable", f.Disable)
			m.write(m.optim, ln.end())
		}
		fired = append(fired, f)
	}

	if m.dir != "" && !m.closed {
		if m.lastWindowLog.IsZero() {
			m.lastWindowLog = done
		}
		m.sinceWindowLog++
		if m.sinceWindowLog >= 1000 || done.Sub(m.lastWindowLog) >= time.Minute {
			m.logWindow(done, "window")
		}
	}
	return fired
}

// expand returns names with "all" replaced by every known strategy, without duplicates.
func (m *Monitor) expand(names []string) []string {
	out := make([]string, 0, len(names)+len(m.known))
	for _, n := range names {
		if n == "all" {
			for _, k := range m.known {
				if !slices.Contains(out, k) {
					out = append(out, k)
				}
			}
		} else if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func (m *Monitor) addCost(done time.Time, model string, cost, baseline money.Amount) {
	k := dayOf(done)
	if k != m.curDayK || m.curDay == nil {
		d, ok := m.days[k]
		if !ok {
			d = &day{byModel: map[string]*modelDay{}}
			m.days[k] = d
		}
		m.curDayK, m.curDay = k, d
	}
	d := m.curDay
	d.calls++
	d.cost += cost
	d.baseline += baseline
	md, ok := d.byModel[model]
	if !ok {
		md = &modelDay{}
		d.byModel[model] = md
	}
	md.calls++
	md.cost += cost
	m.costsDirty = true
}

func (m *Monitor) logCall(e *Event, done time.Time) {
	ln := &m.ln
	if e.Routed {
		ln.start(done, "route")
		ln.str("id", e.ID)
		ln.str("from", e.OrigModel)
		ln.str("to", e.Model)
		m.write(m.routing, ln.end())
	}
	if e.Cacheable || e.CacheHit {
		ln.start(done, "lookup")
		ln.str("id", e.ID)
		ln.bool("hit", e.CacheHit)
		ln.bool("stale", e.Stale)
		ln.str("query_type", e.QueryType)
		m.write(m.cache, ln.end())
	}
	if e.Batched || e.Deferred {
		ln.start(done, "batch")
		ln.str("id", e.ID)
		ln.bool("batched", e.Batched)
		ln.bool("deferred", e.Deferred)
		ln.seconds("waited_s", max(e.DeferredFor, 0))
		ln.seconds("latency_s", max(e.Latency, 0))
		m.write(m.batch, ln.end())
	}
	ln.start(done, "call")
	ln.str("id", e.ID)
	ln.str("tenant", e.Tenant)
	ln.str("model", e.Model)
	ln.str("orig_model", e.OrigModel)
	ln.str("query_type", e.QueryType)
	ln.int("status", int64(e.Status))
	ln.str("error", e.Error)
	if e.Status == 200 {
		ln.float("quality", float64(qualityNanos(e.Quality))/1e9)
	}
	ln.bool("cache_hit", e.CacheHit)
	ln.bool("streamed", e.Streamed)
	ln.seconds("latency_s", max(e.Latency, 0))
	ln.seconds("ttft_s", max(e.TTFT, 0))
	ln.amount("cost_usd", e.Cost)
	ln.amount("baseline_cost_usd", e.BaselineCost)
	m.write(m.quality, ln.end())
}

func (m *Monitor) logCacheSummary(t time.Time) {
	s := &m.win.total
	ln := &m.ln
	ln.start(t, "summary")
	ln.int("window_cacheable", s.cacheable)
	ln.int("window_hits", s.hits)
	if v, ok := s.metric(metricIndex(MetricCacheHitRate)); ok {
		ln.float("window_hit_rate", v)
	}
	ln.int("total_cacheable", m.tot.cacheable)
	ln.int("total_hits", m.tot.hits)
	if m.tot.cacheable > 0 {
		ln.float("total_hit_rate", ratio(m.tot.hits, m.tot.cacheable))
	}
	m.write(m.cache, ln.end())
	m.lastCacheSummary, m.sinceCacheSummary = t, 0
}

// logWindow writes the window metrics and the totals since New to optimization-metrics.log.
func (m *Monitor) logWindow(t time.Time, event string) {
	ln := &m.ln
	ln.start(t, event)
	ln.float("window_s", m.span.Seconds())
	s := &m.win.total
	for i, name := range Metrics {
		if v, ok := s.metric(i); ok {
			ln.float(name, v)
		}
	}
	ln.amount("window_cost_usd", s.cost)
	ln.amount("window_baseline_cost_usd", s.baseline)
	tot := &m.tot
	ln.int("total_calls", tot.calls)
	ln.int("total_errors", tot.errors)
	ln.amount("total_cost_usd", tot.cost)
	ln.amount("total_baseline_cost_usd", tot.baseline)
	ln.amount("total_saving_usd", tot.baseline-tot.cost)
	if tot.baseline != 0 {
		ln.float("total_reduction", ratio(int64(tot.baseline-tot.cost), int64(tot.baseline)))
	}
	ln.int("total_cache_hits", tot.hits)
	ln.int("total_routed", m.totRouted)
	ln.int("total_pruned_tokens", m.totPruned)
	ln.int("total_batched", tot.batched)
	ln.int("total_deferred", tot.deferred)
	var on []string
	for _, k := range m.known {
		if m.enabled[k] {
			on = append(on, k)
		}
	}
	ln.strs("enabled", on)
	m.write(m.optim, ln.end())
	m.lastWindowLog, m.sinceWindowLog = t, 0
}

// SetEnabled records that the proxy switched strategy on or off (after a Firing, an admin call
// or a SIGHUP reload; reason says which, for the log). It sets the gauge
// tarsopt_strategy_enabled{strategy} and writes a "strategy" line to optimization-metrics.log.
// Switching a strategy on rearms the triggers that disable it: a fired one may fire again, and
// each of them then sees only calls done from now on (see the package documentation). Switching
// on a strategy that is already on rearms only fired triggers.
func (m *Monitor) SetEnabled(strategy string, on bool, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	was, known := m.enabled[strategy]
	if !known {
		m.known = append(m.known, strategy)
		was = true
	}
	m.enabled[strategy] = on
	g := 0.0
	if on {
		g = 1
	}
	m.x.enabled.WithLabelValues(strategy).Set(g)
	if m.dir != "" {
		ln := &m.ln
		ln.start(m.now(), "strategy")
		ln.str("strategy", strategy)
		ln.bool("enabled", on)
		ln.bool("was_enabled", was)
		ln.str("reason", reason)
		m.write(m.optim, ln.end())
	}
	if !on {
		return
	}
	for _, t := range m.triggers {
		if t.names(strategy) && (t.fired || !was) {
			t.fired = false
			m.win.rearm(t.view)
		}
	}
}

type windowVals struct {
	v  [numMetrics]float64
	ok [numMetrics]bool
}

func (m *Monitor) windowValues() windowVals {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.win.started {
		m.win.advance(m.win.bucketOf(m.now().UnixNano()))
	}
	var w windowVals
	for i := range Metrics {
		w.v[i], w.ok[i] = m.win.total.metric(i)
	}
	return w
}

// Window returns the current window metrics by name (see Metrics): shares and rates in 0..1,
// response_time_s in seconds, response_time_change relative (0.5 = 50% slower than the
// baseline), calls a count. A metric without data in the window (no cacheable call for
// cache_hit_rate, no interactive answered call for the response times, no baseline cost for
// cost_reduction) is absent. The window first moves forward to the clock if it is later than the
// latest Done. The map is the caller's.
func (m *Monitor) Window() map[string]float64 {
	w := m.windowValues()
	out := make(map[string]float64, len(Metrics))
	for i, name := range Metrics {
		if w.ok[i] {
			out[name] = w.v[i]
		}
	}
	return out
}

// Handler serves the Monitor's own Prometheus registry (not the global one) in the text
// exposition format, or another format the scraper asks for.
func (m *Monitor) Handler() http.Handler {
	return promhttp.HandlerFor(m.x.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry returns the Monitor's Prometheus registry, for the proxy to register its own
// collectors (in-flight calls, queue lengths) so that Handler serves them too.
func (m *Monitor) Registry() *prometheus.Registry { return m.x.reg }

// Reopen closes and reopens the log files at their paths, for log rotation (after the files were
// moved away, typically on SIGHUP). Nothing is lost: buffered lines are flushed first.
func (m *Monitor) Reopen() error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	var err error
	for _, l := range m.logs() {
		if rerr := l.reopen(); err == nil {
			err = rerr
		}
	}
	return err
}

func (m *Monitor) flusher() {
	defer close(m.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastCosts := time.Now()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
		case <-m.kick:
		}
		m.wmu.Lock()
		m.mu.Lock()
		logs := m.logs()
		chunks := make([][]byte, len(logs))
		for i, l := range logs {
			chunks[i] = l.take()
		}
		var snap *CostsJSON
		if m.costsDirty && time.Since(lastCosts) >= time.Minute {
			s := snapshotCosts(m.days)
			snap = &s
			m.costsDirty = false
		}
		m.mu.Unlock()
		for i, l := range logs {
			if err := l.writeOut(chunks[i]); err != nil {
				m.mu.Lock()
				m.noteErr(err)
				m.mu.Unlock()
			}
		}
		m.wmu.Unlock()
		if snap != nil {
			lastCosts = time.Now()
			if err := writeCosts(filepath.Join(m.dir, CostsFile), *snap); err != nil {
				m.mu.Lock()
				m.noteErr(err)
				m.costsDirty = true
				m.mu.Unlock()
			}
		}
	}
}

// Close writes a last window line and a "stop" line, flushes and closes the logs, and rewrites
// costs.json. It returns the first error any write met since New (a failed log write does not
// stop Record; it counts in tarsopt_monitor_write_errors_total). Close is idempotent: later calls
// return the same result.
func (m *Monitor) Close() error {
	m.closeOnce.Do(func() {
		if m.stop != nil {
			close(m.stop)
			<-m.done
		}
		m.mu.Lock()
		var snap CostsJSON
		if m.dir != "" {
			m.logWindow(m.now(), "stop")
			snap = snapshotCosts(m.days)
			m.costsDirty = false
		}
		m.noteErr(m.closeLogs())
		m.closed = true
		m.mu.Unlock()
		if m.dir != "" {
			if err := writeCosts(filepath.Join(m.dir, CostsFile), snap); err != nil {
				m.mu.Lock()
				m.noteErr(err)
				m.mu.Unlock()
			}
		}
		m.mu.Lock()
		m.closeErr = m.err
		m.mu.Unlock()
		if m.closeErr != nil {
			m.closeErr = fmt.Errorf("monitor: %w", m.closeErr)
		}
	})
	return m.closeErr
}
