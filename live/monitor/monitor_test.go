package monitor

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/internal/jsonscan"
	"github.com/tarsopt/tarsopt/money"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func f64(v float64) *float64 { return &v }

func usd(s string) money.Amount {
	a, err := money.ParseAmount(s)
	if err != nil {
		panic(err)
	}
	return a
}

func newMon(t testing.TB, o Options) *Monitor {
	t.Helper()
	if o.Now == nil {
		c := &clock{t: t0}
		o.Now = c.now
	}
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func ok200(done time.Time) *Event {
	return &Event{
		ID: "c", Time: done.Add(-time.Second), Done: done, Tenant: "t1",
		Model: "claude-sonnet-4-5", OrigModel: "claude-sonnet-4-5", Status: 200,
		Input: 1000, Output: 100, Cost: usd("0.0045"), BaselineCost: usd("0.0045"),
		Latency: 2 * time.Second, TTFT: time.Second, BaselineTTFT: time.Second, Quality: 0.97,
	}
}

func TestWindowMetrics(t *testing.T) {
	clk := &clock{t: t0}
	m := newMon(t, Options{Now: clk.now})
	evs := []*Event{
		{Done: t0, Status: 200, Cost: usd("0.003"), BaselineCost: usd("0.01"), Quality: 0.9,
			TTFT: time.Second, BaselineTTFT: 2 * time.Second, Cacheable: true},
		{Done: t0.Add(time.Second), Status: 200, CacheHit: true, Cacheable: true, BaselineCost: usd("0.01"),
			Quality: 1, TTFT: 20 * time.Millisecond, BaselineTTFT: 2 * time.Second},
		{Done: t0.Add(2 * time.Second), Status: 200, Batched: true, Cost: usd("0.005"), BaselineCost: usd("0.01"),
			Quality: 0.95, TTFT: 100 * time.Second, BaselineTTFT: 2 * time.Second}, // batched: not in response time
		{Done: t0.Add(3 * time.Second), Status: 529, Error: "overloaded_error", BaselineCost: usd("0.01"),
			Quality: 0.2, TTFT: 0, BaselineTTFT: 2 * time.Second}, // failed: not in quality or response time
	}
	for _, e := range evs {
		if f := m.Record(e); f != nil {
			t.Fatalf("unexpected firing %v", f)
		}
	}
	want := map[string]float64{
		"cost_reduction":       0.8,    // 1 − 0.008/0.04
		"quality_score":        0.95,   // (0.9+1+0.95)/3
		"response_time_s":      0.51,   // (1 + 0.02)/2
		"response_time_change": -0.745, // 1.02/4 − 1
		"error_rate":           0.25,
		"cache_hit_rate":       0.5,
		"batched_share":        0.25,
		"deferred_share":       0,
		"calls":                4,
	}
	if got := m.Window(); !mapsEqual(got, want) {
		t.Errorf("Window = %v\nwant     %v", got, want)
	}

	// 15 minutes after the third call, the first three leave the window.
	m.Record(&Event{Done: t0.Add(15*time.Minute + 2*time.Second), Status: 200, Cost: usd("1"), BaselineCost: usd("2"),
		Quality: 0.5, TTFT: 3 * time.Second, BaselineTTFT: 2 * time.Second})
	want = map[string]float64{
		"cost_reduction":       1.01 / 2.01, // (2.01 − 1)/2.01: the failed call's baseline counts
		"quality_score":        0.5,
		"response_time_s":      3,
		"response_time_change": 0.5,
		"error_rate":           0.5,
		"batched_share":        0,
		"deferred_share":       0,
		"calls":                2,
	}
	if got := m.Window(); !mapsEqual(got, want) {
		t.Errorf("after eviction Window = %v\nwant     %v", got, want)
	}

	// A call done before the window's start counts in the totals only.
	m.Record(&Event{Done: t0, Status: 500})
	if got := m.Window()["calls"]; got != 2 {
		t.Errorf("late call entered the window: calls = %v", got)
	}

	// The clock moves the window when traffic stops.
	clk.set(t0.Add(time.Hour))
	if got := m.Window(); !mapsEqual(got, map[string]float64{"calls": 0}) {
		t.Errorf("idle Window = %v, want only calls 0", got)
	}
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestWindowOutOfOrder checks that calls recorded out of Done order give the same sums.
func TestWindowOutOfOrder(t *testing.T) {
	a := newMon(t, Options{})
	b := newMon(t, Options{})
	var evs []*Event
	for i := range 50 {
		e := ok200(t0.Add(time.Duration(i) * 700 * time.Millisecond))
		e.Cost = money.Amount(i * 1_000_003)
		e.Quality = float64(i%7) / 7
		evs = append(evs, e)
	}
	for _, e := range evs {
		a.Record(e)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		b.Record(evs[i])
	}
	if wa, wb := a.Window(), b.Window(); !mapsEqual(wa, wb) {
		t.Errorf("in order %v\nreversed %v", wa, wb)
	}
}

func TestTriggerFiresOnce(t *testing.T) {
	m := newMon(t, Options{
		MinCalls:   10,
		Strategies: []string{"router", "pruner"},
		Triggers: []config.Trigger{
			{Metric: "error_rate", Above: f64(0.03), Disable: []string{"pruner"}},
			{Metric: "cost_reduction", Below: f64(0.1), Disable: []string{"router"}},
		},
	})
	done := t0
	fail := func() []Firing {
		done = done.Add(time.Second)
		// Saves half the cost: the cost trigger never fires.
		return m.Record(&Event{Done: done, Status: 529, Cost: usd("0.5"), BaselineCost: usd("1")})
	}
	for i := 1; i < 10; i++ {
		if f := fail(); f != nil {
			t.Fatalf("call %d: fired before MinCalls: %+v", i, f)
		}
	}
	f := fail()
	if len(f) != 1 {
		t.Fatalf("10th call: firings %+v, want 1", f)
	}
	if f[0].Trigger.Metric != "error_rate" || f[0].Value != 1 || f[0].Calls != 10 || !slices.Equal(f[0].Disable, []string{"pruner"}) || !f[0].Time.Equal(done) {
		t.Errorf("firing = %+v", f[0])
	}
	for i := range 20 {
		if f := fail(); f != nil {
			t.Fatalf("fired again (call %d after): %+v", i, f)
		}
	}
	m.SetEnabled("pruner", false, "rollback")
	if f := fail(); f != nil {
		t.Fatalf("fired while pruner off: %+v", f)
	}
	// Switching pruner back on rearms its trigger, which waits for MinCalls new calls.
	m.SetEnabled("pruner", true, "admin")
	for i := 1; i < 10; i++ {
		if f := fail(); f != nil {
			t.Fatalf("rearmed trigger fired on call %d: %+v", i, f)
		}
	}
	if f := fail(); len(f) != 1 || f[0].Trigger.Metric != "error_rate" {
		t.Fatalf("rearmed trigger: firings %+v, want error_rate", f)
	}
	// Switching on an unrelated strategy rearms nothing.
	m.SetEnabled("router", true, "sighup")
	if f := fail(); f != nil {
		t.Fatalf("fired after unrelated SetEnabled: %+v", f)
	}
}

// TestTriggerBelowThreshold checks a below trigger on the exact boundary: 0.1 is not below 0.1.
func TestTriggerBelowThreshold(t *testing.T) {
	m := newMon(t, Options{
		MinCalls:   3,
		Strategies: []string{"router"},
		Triggers:   []config.Trigger{{Metric: "cost_reduction", Below: f64(0.1), Disable: []string{"router"}}},
	})
	for i := range 5 {
		if f := m.Record(&Event{Done: t0.Add(time.Duration(i) * time.Second), Status: 200, Cost: usd("0.9"), BaselineCost: usd("1")}); f != nil {
			t.Fatalf("fired at exactly 0.1: %+v", f)
		}
	}
	f := m.Record(&Event{Done: t0.Add(6 * time.Second), Status: 200, Cost: usd("1"), BaselineCost: usd("1")})
	if len(f) != 1 || f[0].Value != float64(5e8)/float64(6e9) {
		t.Fatalf("firings %+v, want cost_reduction 0.5/6", f)
	}
}

func TestAllExpands(t *testing.T) {
	m := newMon(t, Options{
		MinCalls:   1,
		Strategies: []string{"responsecache", "router", "pruner"},
		Triggers: []config.Trigger{
			{Metric: "error_rate", Above: f64(0.03), Disable: []string{"all"}},
			{Metric: "quality_score", Below: f64(0.92), Disable: []string{"pruner", "all"}},
		},
	})
	m.SetEnabled("batcher", true, "sighup") // a strategy named later is part of "all"
	f := m.Record(&Event{Done: t0, Status: 500})
	want := []string{"responsecache", "router", "pruner", "batcher"}
	if len(f) != 1 || !slices.Equal(f[0].Disable, want) {
		t.Fatalf("firings %+v, want Disable %v", f, want)
	}
	f = m.Record(&Event{Done: t0.Add(time.Second), Status: 200, Quality: 0.5})
	want = []string{"pruner", "responsecache", "router", "batcher"}
	if len(f) != 1 || !slices.Equal(f[0].Disable, want) {
		t.Fatalf("firings %+v, want Disable %v", f, want)
	}
}

func TestNewRejects(t *testing.T) {
	for _, tr := range []config.Trigger{
		{Metric: "latency_p95_ms", Above: f64(1000), Disable: []string{"all"}},
		{Metric: "error_rate", Disable: []string{"all"}},
	} {
		if _, err := New(Options{Triggers: []config.Trigger{tr}}); err == nil {
			t.Errorf("New accepted %+v", tr)
		}
	}
	// The seed plan's triggers are all accepted.
	m, err := New(Options{Triggers: config.Default().RollbackTriggers})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
}

func scrape(t *testing.T, m *Monitor) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := scrapeErr(m)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func scrapeErr(m *Monitor) (map[string]*dto.MetricFamily, error) {
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		return nil, fmt.Errorf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		return nil, fmt.Errorf("content type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing exposition: %v", err)
	}
	return fams, nil
}

// value returns the value of the sample of family name whose labels include labels (name=value
// pairs), and how many samples matched.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, int) {
	f := fams[name]
	if f == nil {
		return 0, 0
	}
	var v float64
	n := 0
outer:
	for _, mt := range f.GetMetric() {
		for i := 0; i < len(labels); i += 2 {
			found := false
			for _, lp := range mt.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue outer
			}
		}
		n++
		switch {
		case mt.Counter != nil:
			v = mt.GetCounter().GetValue()
		case mt.Gauge != nil:
			v = mt.GetGauge().GetValue()
		case mt.Histogram != nil:
			v = float64(mt.GetHistogram().GetSampleCount())
		}
	}
	return v, n
}

func TestHandler(t *testing.T) {
	m := newMon(t, Options{
		MinCalls:   1,
		Strategies: []string{"router", "pruner"},
		Triggers:   []config.Trigger{{Metric: "error_rate", Above: f64(0.5), Disable: []string{"all"}}},
	})
	for i := range 3 {
		e := ok200(t0.Add(time.Duration(i) * time.Second))
		e.Model = "claude-haiku-4-5"
		e.Routed = true
		e.PrunedTokens = 100
		e.CacheWrite5m, e.CacheWrite1h, e.CacheRead = 10, 5, 7
		e.Cost = usd("0.1")
		e.BaselineCost = usd("0.3")
		m.Record(e)
	}
	hit := ok200(t0.Add(4 * time.Second))
	hit.Cacheable, hit.CacheHit, hit.Input, hit.Output, hit.Cost = true, true, 0, 0, 0
	m.Record(hit)
	deferred := ok200(t0.Add(5 * time.Second))
	deferred.Deferred, deferred.Batched, deferred.DeferredFor = true, true, 30*time.Minute
	deferred.Latency = 40 * time.Minute
	m.Record(deferred)
	for i := range 6 {
		fs := m.Record(&Event{Done: t0.Add(time.Duration(6+i) * time.Second), Model: "claude-sonnet-4-5", OrigModel: "claude-sonnet-4-5", Status: 529})
		if len(fs) > 0 {
			for _, f := range fs {
				for _, s := range f.Disable {
					m.SetEnabled(s, false, "rollback")
				}
			}
		}
	}

	fams := scrape(t, m)
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tarsopt_requests_total", []string{"model", "claude-haiku-4-5", "orig_model", "claude-sonnet-4-5", "status", "200", "cache", "none"}, 3},
		{"tarsopt_requests_total", []string{"model", "claude-sonnet-4-5", "status", "200", "cache", "hit"}, 1},
		{"tarsopt_requests_total", []string{"model", "claude-sonnet-4-5", "status", "529", "cache", "none"}, 6},
		{"tarsopt_tokens_total", []string{"kind", "input"}, 4000},
		{"tarsopt_tokens_total", []string{"kind", "cache_write"}, 45},
		{"tarsopt_tokens_total", []string{"kind", "cache_read"}, 21},
		{"tarsopt_tokens_total", []string{"kind", "output"}, 400},
		{"tarsopt_cost_usd_total", nil, 0.3045},
		{"tarsopt_baseline_cost_usd_total", nil, 0.909},
		{"tarsopt_cache_hits_total", nil, 1},
		{"tarsopt_routed_total", []string{"from", "claude-sonnet-4-5", "to", "claude-haiku-4-5"}, 3},
		{"tarsopt_pruned_tokens_total", nil, 300},
		{"tarsopt_batched_total", nil, 1},
		{"tarsopt_deferred_total", nil, 1},
		{"tarsopt_rollbacks_total", []string{"strategy", "router", "metric", "error_rate"}, 1},
		{"tarsopt_rollbacks_total", []string{"strategy", "pruner", "metric", "error_rate"}, 1},
		{"tarsopt_strategy_enabled", []string{"strategy", "router"}, 0},
		{"tarsopt_latency_seconds", []string{"class", "interactive"}, 10},
		{"tarsopt_latency_seconds", []string{"class", "batched"}, 1},
		{"tarsopt_ttft_seconds", []string{"class", "interactive"}, 4},
		{"tarsopt_window_metric", []string{"metric", "calls"}, 11},
		{"tarsopt_window_metric", []string{"metric", "cache_hit_rate"}, 1},
	}
	for _, c := range checks {
		got, n := value(fams, c.name, c.labels...)
		if n != 1 || got != c.want {
			t.Errorf("%s%v = %v (%d samples), want %v", c.name, c.labels, got, n, c.want)
		}
	}
	for name := range fams {
		if strings.Contains(name, "tenant") {
			t.Errorf("tenant in metric %s", name)
		}
	}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if lp.GetName() == "tenant" || lp.GetName() == "id" {
					t.Errorf("%s has label %s", f.GetName(), lp.GetName())
				}
			}
		}
	}
}

// TestModelLabelsBounded checks that arbitrary model names from clients do not grow the labels.
func TestModelLabelsBounded(t *testing.T) {
	m := newMon(t, Options{})
	for i := range 500 {
		e := ok200(t0.Add(time.Duration(i) * time.Millisecond))
		e.OrigModel = fmt.Sprintf("junk-%d", i)
		m.Record(e)
	}
	f := scrape(t, m)["tarsopt_requests_total"]
	if n := len(f.GetMetric()); n > maxModels+2 {
		t.Errorf("%d request series for 500 model names", n)
	}
	if v, n := value(scrape(t, m), "tarsopt_requests_total", "orig_model", "other"); n != 1 || v != float64(500-maxModels+1) {
		t.Errorf("other = %v (%d series)", v, n)
	}
}

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var v map[string]any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s:%d: %v: %s", filepath.Base(path), n, err, sc.Bytes())
		}
		ts, ok := v["time"].(string)
		if !ok {
			t.Fatalf("%s:%d: no time", filepath.Base(path), n)
		}
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || !strings.HasSuffix(ts, "Z") || len(ts) != len("2006-01-02T15:04:05.000000000Z") || tm.IsZero() {
			t.Fatalf("%s:%d: time %q: %v", filepath.Base(path), n, ts, err)
		}
		if ev, _ := v["event"].(string); ev == "" {
			t.Fatalf("%s:%d: no event", filepath.Base(path), n)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func count(lines []map[string]any, event string) int {
	n := 0
	for _, l := range lines {
		if l["event"] == event {
			n++
		}
	}
	return n
}

func TestLogs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "monitoring")
	m, err := New(Options{
		Dir: dir, Now: (&clock{t: t0}).now, MinCalls: 5, Strategies: []string{"router", "pruner", "deferral"},
		Triggers: []config.Trigger{{Metric: "error_rate", Above: f64(0.01), Disable: []string{"all"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1200
	var routed, cacheable, batch, firings int
	for i := range n {
		e := ok200(t0.Add(time.Duration(i) * 10 * time.Millisecond))
		e.ID = fmt.Sprintf("msg_%d \"quoted\"\n\x01\xff", i) // hostile bytes stay valid JSON
		switch i % 5 {
		case 0:
			e.Routed, e.Model = true, "claude-haiku-4-5"
			routed++
		case 1:
			e.Cacheable, e.CacheHit, e.QueryType = true, i%2 == 0, "fact_lookup"
			cacheable++
		case 2:
			e.Deferred, e.DeferredFor = true, 20*time.Minute
			batch++
		case 3:
			e.Batched = true
			batch++
		}
		if i == 600 {
			for range 10 {
				if fs := m.Record(&Event{Done: e.Done, Status: 529, Error: "overloaded_error"}); len(fs) > 0 {
					firings++
					for _, s := range fs[0].Disable {
						m.SetEnabled(s, false, "rollback: error_rate")
					}
				}
			}
		}
		m.Record(e)
	}
	if firings != 1 {
		t.Errorf("%d firings, want 1", firings)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	m.Record(ok200(t0)) // after Close: no panic, no write

	if l := readLines(t, filepath.Join(dir, RoutingLog)); len(l) != routed || count(l, "route") != routed || l[0]["to"] != "claude-haiku-4-5" {
		t.Errorf("routing log: %d lines, want %d; first %v", len(l), routed, l[0])
	}
	l := readLines(t, filepath.Join(dir, CacheLog))
	if count(l, "lookup") != cacheable || count(l, "summary") < cacheable/100 {
		t.Errorf("cache log: %d lookups (want %d), %d summaries", count(l, "lookup"), cacheable, count(l, "summary"))
	}
	if l := readLines(t, filepath.Join(dir, BatchLog)); len(l) != batch {
		t.Errorf("batch log: %d lines, want %d", len(l), batch)
	} else if l[0]["waited_s"] != 1200.0 {
		t.Errorf("batch log: first line %v", l[0])
	}
	ql := readLines(t, filepath.Join(dir, QualityLog))
	if len(ql) != n+10 || ql[0]["id"] != "msg_0 \"quoted\"\n\x01\ufffd" || ql[0]["cost_usd"] != "0.0045" {
		t.Errorf("quality log: %d lines (want %d), first %v", len(ql), n+10, ql[0])
	}
	ol := readLines(t, filepath.Join(dir, MetricsLog))
	if count(ol, "start") != 1 || count(ol, "stop") != 1 || count(ol, "rollback") != 1 || count(ol, "strategy") != 3 || count(ol, "window") < 1 {
		t.Errorf("optimization log events: start %d, stop %d, rollback %d, strategy %d, window %d",
			count(ol, "start"), count(ol, "stop"), count(ol, "rollback"), count(ol, "strategy"), count(ol, "window"))
	}
	last := ol[len(ol)-1]
	if last["event"] != "stop" || last["total_calls"] != float64(n+10) || last["total_cost_usd"] != "5.4" {
		t.Errorf("stop line %v", last)
	}
	for _, name := range []string{RoutingLog, CacheLog, BatchLog, QualityLog, MetricsLog} {
		data, _ := os.ReadFile(filepath.Join(dir, name))
		if strings.Contains(string(data), "sk-ant") {
			t.Errorf("%s holds something like a key", name)
		}
	}
}

func readCosts(t *testing.T, dir string) CostsJSON {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, CostsFile))
	if err != nil {
		t.Fatal(err)
	}
	var c CostsJSON
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCostsFile(t *testing.T) {
	dir := t.TempDir()
	m := newMon(t, Options{Dir: dir})
	day1 := time.Date(2026, 11, 26, 23, 59, 59, 999_999_999, time.UTC)
	day2 := day1.Add(time.Nanosecond)
	// Ten calls at $0.1: float64 dollars would sum to 0.9999999999999999.
	for i := range 10 {
		e := ok200(day1.Add(-time.Duration(i) * time.Second))
		e.Cost, e.BaselineCost = usd("0.1"), usd("0.3")
		if i%2 == 0 {
			e.Model = "claude-haiku-4-5"
		}
		m.Record(e)
	}
	e := ok200(day2)
	e.Cost, e.BaselineCost = usd("0.000000001"), usd("0.000000003")
	m.Record(e)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	got := readCosts(t, dir)
	want := CostsJSON{Days: []DayJSON{
		{Date: "2026-11-26", Calls: 10, CostUSD: "1", Baseline: "3", SavingUSD: "2", Reduction: 2.0 / 3,
			ByModel: map[string]ModelJSON{"claude-haiku-4-5": {5, "0.5"}, "claude-sonnet-4-5": {5, "0.5"}}},
		{Date: "2026-11-27", Calls: 1, CostUSD: "0.000000001", Baseline: "0.000000003", SavingUSD: "0.000000002", Reduction: 2.0 / 3,
			ByModel: map[string]ModelJSON{"claude-sonnet-4-5": {1, "0.000000001"}}},
	}}
	if !costsEqual(got, want) {
		t.Fatalf("costs.json = %+v\nwant %+v", got, want)
	}

	// A restart: days accumulate.
	m2 := newMon(t, Options{Dir: dir})
	e = ok200(day2.Add(time.Hour))
	e.Cost, e.BaselineCost = usd("0.25"), usd("0.25")
	m2.Record(e)
	e = ok200(day2.Add(24 * time.Hour))
	e.Cost, e.BaselineCost = usd("2"), usd("4")
	m2.Record(e)
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	got = readCosts(t, dir)
	want.Days[1] = DayJSON{Date: "2026-11-27", Calls: 2, CostUSD: "0.250000001", Baseline: "0.250000003", SavingUSD: "0.000000002",
		Reduction: 2.0 / 250000003, ByModel: map[string]ModelJSON{"claude-sonnet-4-5": {2, "0.250000001"}}}
	want.Days = append(want.Days, DayJSON{Date: "2026-11-28", Calls: 1, CostUSD: "2", Baseline: "4", SavingUSD: "2", Reduction: 0.5,
		ByModel: map[string]ModelJSON{"claude-sonnet-4-5": {1, "2"}}})
	if !costsEqual(got, want) {
		t.Fatalf("after restart costs.json = %+v\nwant %+v", got, want)
	}
	if ents, _ := os.ReadDir(dir); slices.ContainsFunc(ents, func(e os.DirEntry) bool { return strings.Contains(e.Name(), ".tmp") }) {
		t.Error("temporary file left behind")
	}

	// A damaged costs.json stops New rather than being overwritten.
	os.WriteFile(filepath.Join(dir, CostsFile), []byte(`{"days":[{"date":"2026-11-26","cost_usd":"x"}]}`), 0o644)
	if _, err := New(Options{Dir: dir}); err == nil {
		t.Error("New accepted a damaged costs.json")
	}
}

func costsEqual(a, b CostsJSON) bool {
	if len(a.Days) != len(b.Days) {
		return false
	}
	for i := range a.Days {
		x, y := a.Days[i], b.Days[i]
		if x.Date != y.Date || x.Calls != y.Calls || x.CostUSD != y.CostUSD || x.Baseline != y.Baseline ||
			x.SavingUSD != y.SavingUSD || x.Reduction != y.Reduction || len(x.ByModel) != len(y.ByModel) {
			return false
		}
		for k, v := range x.ByModel {
			if y.ByModel[k] != v {
				return false
			}
		}
	}
	return true
}

func TestNoDir(t *testing.T) {
	m := newMon(t, Options{Strategies: []string{"router"}})
	m.Record(ok200(t0))
	m.SetEnabled("router", false, "test")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Reopen(); err != nil {
		t.Fatal(err)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	m := newMon(t, Options{Dir: dir})
	m.Record(ok200(t0))
	path := filepath.Join(dir, QualityLog)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := m.Reopen(); err != nil {
		t.Fatal(err)
	}
	m.Record(ok200(t0.Add(time.Second)))
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if a, b := readLines(t, path+".1"), readLines(t, path); len(a) != 1 || len(b) != 1 {
		t.Errorf("rotated %d lines, new %d lines; want 1 and 1", len(a), len(b))
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\`, "nl\n\r\t\x00\x1f", "é ✓ 😀", "bad\xff\xfe", "\u2028"} {
		b := jsonscan.AppendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("%q: %s: %v", s, b, err)
			continue
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if s == "bad\xff\xfe" {
			want = "bad\ufffd\ufffd"
		}
		if got != want {
			t.Errorf("%q round-trips as %q", s, got)
		}
	}
}

func TestConcurrentRecord(t *testing.T) {
	dir := t.TempDir()
	m := newMon(t, Options{
		Dir: dir, MinCalls: 10, Strategies: []string{"router", "pruner"},
		Triggers: config.Default().RollbackTriggers,
	})
	const g, per = 8, 500
	var wg sync.WaitGroup
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				e := ok200(t0.Add(time.Duration(i) * time.Millisecond))
				e.ID = fmt.Sprintf("%d-%d", w, i)
				e.Cacheable, e.CacheHit = i%3 == 0, i%6 == 0
				e.Routed = i%4 == 0
				if i%50 == 0 {
					e.Status = 500
				}
				for _, f := range m.Record(e) {
					for _, s := range f.Disable {
						m.SetEnabled(s, false, "rollback")
					}
				}
			}
		}()
	}
	stop := make(chan struct{})
	var rd sync.WaitGroup
	rd.Add(1)
	go func() {
		defer rd.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := scrapeErr(m); err != nil {
				t.Error(err)
				return
			}
			m.Window()
			m.SetEnabled("router", true, "admin")
		}
	}()
	wg.Wait()
	close(stop)
	rd.Wait()
	if got := m.Window()["calls"]; got != g*per {
		t.Errorf("window calls = %v, want %d", got, g*per)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if l := readLines(t, filepath.Join(dir, QualityLog)); len(l) != g*per {
		t.Errorf("quality log: %d lines, want %d", len(l), g*per)
	}
	if c := readCosts(t, dir); len(c.Days) != 1 || c.Days[0].Calls != g*per || c.Days[0].CostUSD != "18" {
		t.Errorf("costs.json %+v", c)
	}
}

func benchEvents() []*Event {
	var evs []*Event
	for i := range 64 {
		e := ok200(t0)
		e.ID = fmt.Sprintf("msg_%024d", i)
		e.Tenant = "3f2a9c1b"
		e.Cacheable, e.CacheHit, e.QueryType = i%3 == 0, i%6 == 0, "research"
		e.Routed = i%2 == 0
		if e.Routed {
			e.Model = "claude-haiku-4-5"
		}
		e.Batched = i%8 == 1
		e.Deferred = i%16 == 3
		e.PrunedTokens = int64(i * 10)
		if i%40 == 7 {
			e.Status, e.Error = 529, "overloaded_error"
		}
		evs = append(evs, e)
	}
	return evs
}

func BenchmarkRecord(b *testing.B) {
	m, err := New(Options{
		Dir: b.TempDir(), Strategies: []string{"responsecache", "router", "pruner", "deferral", "batcher"},
		Triggers: config.Default().RollbackTriggers,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	evs := benchEvents()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e := evs[i%len(evs)]
		e.Done = t0.Add(time.Duration(i) * 10 * time.Millisecond)
		m.Record(e)
		i++
	}
}

func BenchmarkRecordParallel(b *testing.B) {
	m, err := New(Options{
		Dir: b.TempDir(), Strategies: []string{"responsecache", "router", "pruner", "deferral", "batcher"},
		Triggers: config.Default().RollbackTriggers,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		evs := benchEvents()
		i := 0
		for pb.Next() {
			e := evs[i%len(evs)]
			e.Done = time.Now()
			m.Record(e)
			i++
		}
	})
}

func TestAppendTime(t *testing.T) {
	for _, tm := range []time.Time{t0, time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)), time.Unix(0, 999_999_999), time.Date(12345, 1, 1, 0, 0, 0, 0, time.UTC)} {
		want := tm.UTC().Format("2006-01-02T15:04:05.000000000Z07:00")
		if got := string(appendTime(nil, tm)); got != want {
			t.Errorf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}
