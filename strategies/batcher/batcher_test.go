package batcher

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

var t0 = time.Date(2026, 2, 13, 10, 0, 0, 0, time.UTC)

const sec = int64(time.Second)

// rec describes a hand-built call.
type rec struct {
	at       time.Duration // after t0
	prio     traces.Priority
	maxDelay time.Duration
	noDelay  bool
	tenant   string
	model    string
	qt       traces.QueryType
	input    int64
	read     int64 // cache read tokens
	output   int64
	sys      int64 // system tokens; absent when 0
	hist     int64 // history tokens; history and new absent when both 0
	newT     int64
	prefix   []uint64
	key      uint64
}

var nextKey uint64 = 1000

func (r rec) record() traces.Record {
	x := traces.Record{Time: t0.Add(r.at), Model: r.model, Tenant: r.tenant, Priority: r.prio, QueryType: r.qt,
		Prefix: r.prefix}
	if x.Model == "" {
		x.Model = "claude-sonnet-4-5"
	}
	if x.Tenant == "" {
		x.Tenant = "t1"
	}
	if x.Priority == 0 {
		x.Priority = traces.PriorityNormal
	}
	if !r.noDelay {
		x.MaxDelay = r.maxDelay
		if r.maxDelay == 0 {
			x.MaxDelay = time.Hour
		}
		x.Set(traces.FieldMaxDelay)
	}
	x.SetTokens(r.input, r.output)
	if r.read > 0 {
		x.CacheRead = r.read
		x.Set(traces.FieldCacheRead)
	}
	if r.sys > 0 {
		x.SystemTokens = r.sys
		x.Set(traces.FieldSystemTokens)
	}
	if r.hist > 0 || r.newT > 0 {
		x.HistoryTokens, x.NewTokens = r.hist, r.newT
		x.Set(traces.FieldHistoryTokens)
		x.Set(traces.FieldNewTokens)
	}
	x.Fingerprint = 99
	x.Set(traces.FieldFingerprint)
	x.Latency = 2 * time.Second
	x.Set(traces.FieldLatency)
	return x
}

func (r rec) call() *strategies.Call {
	x := r.record()
	key := r.key
	if key == 0 {
		nextKey++
		key = nextKey
	}
	c := &strategies.Call{}
	c.Reset(&x, key)
	return c
}

func counters(s strategies.Counting) map[string]float64 {
	m := map[string]float64{}
	for _, c := range s.Counters() {
		m[c.Name] = c.Value
	}
	return m
}

func newStage(t testing.TB, env strategies.Env, edit func(*Settings)) *Stage {
	t.Helper()
	s := Defaults()
	s.SetEnabled(true)
	if edit != nil {
		edit(s)
	}
	st, err := New(s, env)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

var bookEnv = strategies.Env{Book: pricing.Default(), Seed: 7, BlockSize: 100}

var hold = strategies.Decision{Action: strategies.Hold}

func mustHold(t *testing.T, s *Stage, now int64, c *strategies.Call) {
	t.Helper()
	if d := s.Handle(now, c); d != hold {
		t.Fatalf("call %d at %v: %+v, want hold", c.Key, strategies.Time(now), d)
	}
}

func due(t *testing.T, s *Stage) int64 {
	t.Helper()
	d, ok := s.Due()
	if !ok {
		t.Fatal("Due: nothing held")
	}
	return d
}

func flush(s *Stage, now int64) []*strategies.Call {
	var out []*strategies.Call
	s.Flush(now, func(c *strategies.Call) { out = append(out, c) })
	return out
}

// diffCalls reports whether got holds the very calls of want in order, by their keys.
func diffCalls(want, got []*strategies.Call) string {
	key := func(cs []*strategies.Call) []uint64 {
		out := make([]uint64, len(cs))
		for i, c := range cs {
			out[i] = c.Key
		}
		return out
	}
	if d := cmp.Diff(key(want), key(got)); d != "" {
		return d
	}
	for i := range want {
		if want[i] != got[i] {
			return "call " + strconv.Itoa(i) + ": same key, another call"
		}
	}
	return ""
}

func wantTurnaround(seed, key uint64, median, sigma, maxS float64) int64 {
	z := strategies.Normal(strategies.Draw(seed, key, strategies.DrawTurnaround))
	return int64(math.Min(median*math.Exp(sigma*z), maxS) * 1e9)
}

func TestFlushBySize(t *testing.T) {
	s := newStage(t, bookEnv, func(s *Settings) { s.MaxSize = 3 })
	base := t0.UnixNano()
	calls := []*strategies.Call{rec{}.call(), rec{at: time.Second}.call(), rec{at: 2 * time.Second}.call()}
	mustHold(t, s, calls[0].Arrival, calls[0])
	mustHold(t, s, calls[1].Arrival, calls[1])
	if got := due(t, s); got != base+300*sec {
		t.Fatalf("due %v, want first hold + window", strategies.Time(got))
	}
	mustHold(t, s, calls[2].Arrival, calls[2])
	now := calls[2].Arrival
	if got := due(t, s); got != now {
		t.Fatalf("due %v after the queue filled, want now %v", strategies.Time(got), strategies.Time(now))
	}
	// A call at the same instant, before the driver flushes, opens a new queue: batches never
	// exceed max_size.
	extra := rec{at: 2 * time.Second}.call()
	mustHold(t, s, now, extra)
	got := flush(s, now)
	if diff := diffCalls(calls, got); diff != "" {
		t.Fatalf("released (-want +got):\n%s", diff)
	}
	for _, c := range got {
		if !c.Batched || c.Rec.ServiceTier != traces.TierBatch || c.Served || c.Merged != 0 {
			t.Errorf("call %d: batched %v tier %v served %v", c.Key, c.Batched, c.Rec.ServiceTier, c.Served)
		}
		if want := wantTurnaround(7, c.Key, 120, 1, 86400); c.Turnaround != want || want <= 0 {
			t.Errorf("call %d: turnaround %d, want %d", c.Key, c.Turnaround, want)
		}
	}
	if extra.Batched {
		t.Error("the call of the next queue was released")
	}
	if got := due(t, s); got != now+300*sec {
		t.Errorf("next queue due %v", strategies.Time(got))
	}
	want := map[string]float64{"batched": 3, "batched_share": 0.75, "batches": 1, "mean_batch_size": 3, "late": 0, "no_batch_price": 0,
		"not_eligible": 0, "not_mergeable": 0, "merged_calls": 0, "merges": 0, "unmerged": 0, "tokens_saved": 0}
	if diff := cmp.Diff(want, counters(s)); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

func TestFlushByWindow(t *testing.T) {
	s := newStage(t, bookEnv, nil)
	a, b := rec{}.call(), rec{at: 100 * time.Second}.call()
	mustHold(t, s, a.Arrival, a)
	mustHold(t, s, b.Arrival, b)
	d := due(t, s)
	if d != a.Arrival+300*sec {
		t.Fatalf("due %v, want first hold + window_s", strategies.Time(d))
	}
	if got := flush(s, d-1); len(got) != 0 {
		t.Fatalf("released %d calls before due", len(got))
	}
	if got := flush(s, d); len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("released %v", got)
	}
	if _, ok := s.Due(); ok {
		t.Error("still due after the flush")
	}
	if got := flush(s, d+1000*sec); len(got) != 0 {
		t.Errorf("released %d calls from an empty stage", len(got))
	}
}

func TestFlushOrder(t *testing.T) {
	// One queue per tenant; Flush releases queues in order of due time, then creation.
	s := newStage(t, bookEnv, nil)
	a1 := rec{tenant: "a"}.call()
	b1 := rec{tenant: "b", at: 10 * time.Second}.call()
	c1 := rec{tenant: "c", at: 10 * time.Second}.call()
	a2 := rec{tenant: "a", at: 20 * time.Second}.call()
	for _, c := range []*strategies.Call{a1, b1, c1, a2} {
		mustHold(t, s, c.Arrival, c)
	}
	got := flush(s, t0.UnixNano()+1000*sec)
	if diff := diffCalls([]*strategies.Call{a1, a2, b1, c1}, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if m := counters(s); m["batches"] != 3 || m["batched"] != 4 {
		t.Errorf("counters %v", m)
	}
	// Same due time: creation order, whichever tenant filled.
	s = newStage(t, bookEnv, func(s *Settings) { s.MaxSize = 2 })
	x1, y1, y2, x2 := rec{tenant: "x"}.call(), rec{tenant: "y"}.call(), rec{tenant: "y"}.call(), rec{tenant: "x"}.call()
	for _, c := range []*strategies.Call{x1, y1, y2, x2} {
		mustHold(t, s, c.Arrival, c)
	}
	got = flush(s, t0.UnixNano())
	if diff := diffCalls([]*strategies.Call{x1, x2, y1, y2}, got); diff != "" {
		t.Errorf("order at equal due (-want +got):\n%s", diff)
	}
}

func TestTurnaround(t *testing.T) {
	run := func(seed uint64, edit func(*Settings), keys ...uint64) []int64 {
		env := bookEnv
		env.Seed = seed
		s := newStage(t, env, edit)
		for _, k := range keys {
			c := rec{key: k}.call()
			mustHold(t, s, c.Arrival, c)
		}
		var out []int64
		for _, c := range flush(s, due(t, s)) {
			out = append(out, c.Turnaround)
		}
		return out
	}
	a := run(7, nil, 1, 2, 3)
	b := run(7, nil, 3, 1, 2)
	if a[0] != b[1] || a[1] != b[2] || a[2] != b[0] {
		t.Errorf("same key, different draws: %v vs %v", a, b)
	}
	if a[0] == a[1] || a[1] == a[2] {
		t.Errorf("different keys, same draws: %v", a)
	}
	if c := run(8, nil, 1); c[0] == a[0] {
		t.Errorf("another seed gave the same draw %d", c[0])
	}
	if c := run(7, func(s *Settings) { s.Turnaround.Sigma = 0 }, 1, 2); c[0] != 120*sec || c[1] != 120*sec {
		t.Errorf("sigma 0: %v, want the median", c)
	}
	keys := make([]uint64, 200)
	for i := range keys {
		keys[i] = uint64(i + 1)
	}
	capped := 0
	for _, d := range run(7, func(s *Settings) { s.Turnaround = Turnaround{MedianS: 120, Sigma: 2, MaxS: 150}; s.MaxSize = 1000 }, keys...) {
		if d > 150*sec || d <= 0 {
			t.Fatalf("turnaround %d outside (0, max_s]", d)
		}
		if d == 150*sec {
			capped++
		}
	}
	if capped < 50 || capped > 150 {
		t.Errorf("%d of 200 draws capped at max_s, want about 90", capped)
	}
}

func TestEligibility(t *testing.T) {
	tests := []struct {
		name    string
		env     *strategies.Env
		rec     rec
		late    time.Duration
		counter string // "" when held
	}{
		{name: "normal, 1h, sonnet (batch factor)", rec: rec{}},
		{name: "low", rec: rec{prio: traces.PriorityLow}},
		{name: "gpt-4.1 has explicit batch rates", rec: rec{model: "gpt-4.1"}},
		{name: "exactly min_max_delay_s left", rec: rec{maxDelay: 900 * time.Second}},
		{name: "urgent", rec: rec{prio: traces.PriorityUrgent}, counter: "not_eligible"},
		{name: "max_delay below min", rec: rec{maxDelay: 10 * time.Minute}, counter: "not_eligible"},
		{name: "absent max_delay", rec: rec{noDelay: true}, counter: "not_eligible"},
		{name: "too little delay left (deferred)", rec: rec{maxDelay: time.Hour}, late: 50 * time.Minute, counter: "not_eligible"},
		{name: "enough delay left", rec: rec{maxDelay: time.Hour}, late: 45 * time.Minute},
		{name: "deepseek has no batch price", rec: rec{model: "deepseek-chat"}, counter: "no_batch_price"},
		{name: "unknown model", rec: rec{model: "no-such-model"}, counter: "no_batch_price"},
		{name: "no book: every model batchable", env: &strategies.Env{}, rec: rec{model: "no-such-model"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := bookEnv
			if tt.env != nil {
				env = *tt.env
			}
			s := newStage(t, env, nil)
			c := tt.rec.call()
			d := s.Handle(c.Arrival+int64(tt.late), c)
			m := counters(s)
			if tt.counter == "" {
				if d != hold {
					t.Fatalf("%+v, want hold (counters %v)", d, m)
				}
				return
			}
			if d.Action != strategies.Next || m[tt.counter] != 1 {
				t.Fatalf("%+v, counters %v; want Next and %s 1", d, m, tt.counter)
			}
			if _, ok := s.Due(); ok {
				t.Error("holds a call it passed on")
			}
		})
	}
	// Absent priority is never eligible.
	s := newStage(t, bookEnv, func(s *Settings) { s.Priorities = []string{"urgent", "normal", "low"} })
	x := rec{}.record()
	x.Priority = 0
	c := &strategies.Call{}
	c.Reset(&x, 1)
	if d := s.Handle(c.Arrival, c); d.Action != strategies.Next {
		t.Errorf("absent priority: %+v", d)
	}
}

func TestLate(t *testing.T) {
	s := newStage(t, bookEnv, func(s *Settings) { s.Turnaround = Turnaround{MedianS: 800, Sigma: 0, MaxS: 800} })
	late := rec{maxDelay: 1000 * time.Second}.call()   // 300 s held + 800 s > 1000 s
	onTime := rec{maxDelay: 1100 * time.Second}.call() // 300 + 800 = 1100: not later than the deadline
	mustHold(t, s, late.Arrival, late)
	mustHold(t, s, onTime.Arrival, onTime)
	flush(s, due(t, s))
	if got := counters(s)["late"]; got != 1 {
		t.Errorf("late %g, want 1", got)
	}
}

// template builds a merge-mode call: block size 100, system prompt of sys tokens whose prefix
// blocks are h (a hash per block), then blocks of its own.
func template(at time.Duration, sys int64, h []uint64, own ...uint64) rec {
	return rec{at: at, qt: traces.QueryTemplate, sys: sys, prefix: append(append([]uint64(nil), h...), own...)}
}

func TestMerge(t *testing.T) {
	s := newStage(t, bookEnv, func(s *Settings) { s.Mode = ModeMerge; s.MaxCalls = 3 })
	sysH := []uint64{11, 12}
	r1 := template(0, 250, sysH, 13, 14, 15, 16)
	r1.input, r1.read, r1.output, r1.hist, r1.newT = 400, 250, 50, 100, 300
	r2 := template(time.Second, 250, sysH, 23, 24)
	r2.input, r2.output, r2.hist, r2.newT = 600, 70, 200, 150
	r2.prio = traces.PriorityLow
	r3 := template(2*time.Second, 260, sysH, 33)
	r3.input, r3.output = 500, 30
	leader, f2, f3 := r1.call(), r2.call(), r3.call()
	mustHold(t, s, leader.Arrival, leader)
	mustHold(t, s, f2.Arrival, f2)
	if got := due(t, s); got != leader.Arrival+300*sec {
		t.Fatalf("due %v", strategies.Time(got))
	}
	mustHold(t, s, f3.Arrival, f3)
	if got := due(t, s); got != f3.Arrival {
		t.Fatalf("due %v after max_calls, want now", strategies.Time(got))
	}
	got := flush(s, f3.Arrival)
	if diff := diffCalls([]*strategies.Call{leader, f2, f3}, got); diff != "" {
		t.Fatalf("release order (-want +got):\n%s", diff)
	}
	// The leader carries the system prompt once, every member's own prompt tokens (as uncached
	// input) and the sum of the outputs.
	want := r1.record()
	want.Input = 400 + (600 - 250) + (500 - 260)
	want.Output = 50 + 70 + 30
	want.HistoryTokens = 100 + 200
	want.NewTokens = 300 + 150 + 240
	want.Prefix = []uint64{11, 12}
	want.Unset(traces.FieldFingerprint)
	want.Unset(traces.FieldLatency)
	if diff := cmp.Diff(want, leader.Rec, cmp.AllowUnexported(traces.Record{}, traces.Pos{})); diff != "" {
		t.Errorf("leader record (-want +got):\n%s", diff)
	}
	if p := leader.Rec.PromptTokens(); p != leader.Rec.SystemTokens+leader.Rec.HistoryTokens+leader.Rec.NewTokens {
		t.Errorf("prompt %d no longer adds up", p)
	}
	if leader.Merged != 3 || leader.Served || leader.Leader != nil || leader.Batched {
		t.Errorf("leader: merged %d served %v batched %v", leader.Merged, leader.Served, leader.Batched)
	}
	if diff := diffCalls([]*strategies.Call{f2, f3}, leader.Followers); diff != "" {
		t.Errorf("followers (-want +got):\n%s", diff)
	}
	for _, f := range []*strategies.Call{f2, f3} {
		if !f.Served || f.ServedBy != Name || f.Leader != leader || f.Merged != 0 {
			t.Errorf("follower %d: served %v by %q leader %p merged %d", f.Key, f.Served, f.ServedBy, f.Leader, f.Merged)
		}
	}
	for _, c := range got {
		if math.Abs(c.Quality-0.97) > 1e-12 {
			t.Errorf("call %d quality %g, want 0.97", c.Key, c.Quality)
		}
	}
	if f2.Rec.Input != 600 || len(f2.Rec.Prefix) != 4 {
		t.Errorf("follower record changed: %+v", f2.Rec)
	}
	wantC := map[string]float64{"batched": 3, "batched_share": 1, "batches": 1, "mean_batch_size": 3, "late": 0, "no_batch_price": 0,
		"not_eligible": 0, "not_mergeable": 0, "merged_calls": 3, "merges": 1, "unmerged": 0, "tokens_saved": 250 + 260}
	if diff := cmp.Diff(wantC, counters(s)); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

func TestMergeTemplatesApart(t *testing.T) {
	s := newStage(t, bookEnv, func(s *Settings) { s.Mode = ModeMerge })
	h := []uint64{11, 12, 13}
	base := template(0, 250, h, 1)
	base.input, base.output = 500, 10
	variants := []func(*rec){
		func(r *rec) {},
		func(r *rec) { r.tenant = "t2" },
		func(r *rec) { r.model = "claude-haiku-4-5" },
		func(r *rec) { r.qt = traces.QueryResearch },
		func(r *rec) { r.prefix = []uint64{11, 99, 13, 1} }, // another system prompt
		func(r *rec) { r.sys = 350 },                        // a longer one: the boundary is block 3
	}
	var calls []*strategies.Call
	for i, v := range variants {
		r := base
		r.at = time.Duration(i) * time.Second
		v(&r)
		c := r.call()
		mustHold(t, s, c.Arrival, c)
		calls = append(calls, c)
	}
	if got := due(t, s); got != calls[0].Arrival+300*sec {
		t.Fatalf("due %v", strategies.Time(got))
	}
	got := flush(s, calls[len(calls)-1].Arrival+300*sec)
	if diff := diffCalls(calls, got); diff != "" {
		t.Fatalf("release order (-want +got):\n%s", diff)
	}
	for _, c := range got {
		if c.Served || c.Merged != 0 || c.Quality != 1 || c.Rec.Input != 500 || c.Rec.Output != 10 || len(c.Rec.Prefix) != 4 ||
			!c.Rec.Has(traces.FieldFingerprint) {
			t.Errorf("call %d changed: served %v merged %d quality %g rec %+v", c.Key, c.Served, c.Merged, c.Quality, c.Rec)
		}
	}
	m := counters(s)
	if m["unmerged"] != 6 || m["merges"] != 0 || m["batched"] != 0 || m["tokens_saved"] != 0 {
		t.Errorf("counters %v", m)
	}
}

func TestNotMergeable(t *testing.T) {
	h := []uint64{11, 12}
	tests := []struct {
		name  string
		block int
		rec   rec
	}{
		{"no system tokens", 100, rec{qt: traces.QueryTemplate, prefix: h}},
		{"system prompt shorter than a block", 100, template(0, 99, h)},
		{"prefix shorter than the system prompt", 100, template(0, 300, h)},
		{"no prefix", 100, template(0, 200, nil)},
		{"trace without block size", 0, template(0, 200, h)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := bookEnv
			env.BlockSize = tt.block
			s := newStage(t, env, func(s *Settings) { s.Mode = ModeMerge })
			c := tt.rec.call()
			if d := s.Handle(c.Arrival, c); d.Action != strategies.Next {
				t.Fatalf("%+v", d)
			}
			if got := counters(s)["not_mergeable"]; got != 1 {
				t.Errorf("not_mergeable %g", got)
			}
		})
	}
}

// driver runs a stage the way the simulator does: before each arrival it flushes every due time up
// to it, and after each Handle it flushes at once when the stage is due now.
type driver struct {
	s        *Stage
	now      int64
	held     map[*strategies.Call]int64
	released []*strategies.Call
	rel      func(*strategies.Call)
	check    func(c *strategies.Call, held, now int64)
}

func newDriver(s *Stage, check func(c *strategies.Call, held, now int64)) *driver {
	d := &driver{s: s, held: map[*strategies.Call]int64{}, check: check}
	d.rel = func(c *strategies.Call) {
		h, ok := d.held[c]
		if !ok {
			panic("released a call that is not held")
		}
		delete(d.held, c)
		if d.check != nil {
			d.check(c, h, d.now)
		}
		d.released = append(d.released, c)
	}
	return d
}

func (d *driver) until(t int64) {
	for {
		due, ok := d.s.Due()
		if !ok || due > t {
			return
		}
		if due < d.now {
			panic("due in the past")
		}
		d.now = due
		d.s.Flush(due, d.rel)
	}
}

func (d *driver) handle(t int64, c *strategies.Call) strategies.Decision {
	d.until(t)
	d.now = t
	dec := d.s.Handle(t, c)
	if dec.Action == strategies.Hold {
		if d.held != nil {
			d.held[c] = t
		}
		d.until(t)
	}
	return dec
}

// TestPropertyWindow replays random traffic in both modes: every held call is released once, no
// later than window_s after it was held, queues never exceed their size, and calls of one queue
// come out in hold order.
func TestPropertyWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 40 {
		mode := []string{ModeBatchAPI, ModeMerge}[round%2]
		window := time.Duration(1+rng.IntN(600)) * time.Second
		size := 1 + rng.IntN(8)
		s := newStage(t, bookEnv, func(s *Settings) {
			s.Mode, s.WindowS, s.MaxSize, s.MaxCalls, s.MinMaxDelayS = mode, window.Seconds(), size, max(size, 2), 60
		})
		var fail string
		d := newDriver(s, func(c *strategies.Call, held, now int64) {
			if now-held > int64(window) || now < held {
				fail = "call " + strconv.FormatUint(c.Key, 10) + " held " + time.Duration(now-held).String() + ", window " + window.String()
			}
		})
		at := time.Duration(0)
		holds := 0
		for range 2000 {
			at += time.Duration(rng.Int64N(int64(window) / 4))
			r := template(at, 200, []uint64{uint64(rng.IntN(3)), uint64(rng.IntN(3))})
			r.tenant = "t" + strconv.Itoa(rng.IntN(3))
			r.maxDelay = time.Duration(rng.IntN(7200)) * time.Second
			r.prio = traces.Priorities[rng.IntN(3)]
			c := r.call()
			if d.handle(c.Arrival, c).Action == strategies.Hold {
				holds++
			}
			if fail != "" {
				t.Fatalf("round %d (%s): %s", round, mode, fail)
			}
		}
		d.until(math.MaxInt64)
		if fail != "" {
			t.Fatalf("round %d (%s): %s", round, mode, fail)
		}
		if len(d.held) != 0 || len(d.released) != holds || holds < 100 {
			t.Fatalf("round %d: %d held, %d released of %d holds", round, len(d.held), len(d.released), holds)
		}
		m := counters(s)
		if mode == ModeBatchAPI && m["mean_batch_size"] > float64(size) {
			t.Errorf("round %d: mean batch size %g > %d", round, m["mean_batch_size"], size)
		}
		if mode == ModeMerge {
			for _, c := range d.released {
				if c.Merged > max(size, 2) {
					t.Errorf("round %d: merged %d calls, max %d", round, c.Merged, size)
				}
			}
			if m["merged_calls"]+m["unmerged"] != float64(holds) {
				t.Errorf("round %d: merged %g + unmerged %g != %d held", round, m["merged_calls"], m["unmerged"], holds)
			}
		}
		open := 0
		for k, gi := range s.index {
			if s.groups[gi].key != k {
				t.Errorf("round %d: index names group %d for a key it does not hold", round, gi)
			}
			if s.groups[gi].open {
				open++
			}
		}
		if open != 0 || len(s.heap) != 0 || len(s.index) > len(s.groups) {
			t.Errorf("round %d: %d open groups indexed (%d entries for %d slots), %d in the heap after the last flush",
				round, open, len(s.index), len(s.groups), len(s.heap))
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		edit func(*Settings)
		want string // prefix of the error; "" for none
	}{
		{func(*Settings) {}, ""},
		{func(s *Settings) { s.Mode = ModeMerge }, ""},
		{func(s *Settings) { s.Mode = "" }, "mode: "},
		{func(s *Settings) { s.Mode = "batch" }, `mode: want "batch_api" or "merge", got "batch"`},
		{func(s *Settings) { s.Priorities = nil }, "priorities: "},
		{func(s *Settings) { s.Priorities = []string{"normal", "Low"} }, `priorities[1]: unknown priority "Low"`},
		{func(s *Settings) { s.MinMaxDelayS = -1 }, "min_max_delay_s: "},
		{func(s *Settings) { s.MinMaxDelayS = 0 }, ""},
		{func(s *Settings) { s.MinMaxDelayS = math.NaN() }, "min_max_delay_s: "},
		{func(s *Settings) { s.MaxSize = 0 }, "max_size: "},
		{func(s *Settings) { s.WindowS = 0 }, "window_s: "},
		{func(s *Settings) { s.WindowS = math.Inf(1) }, "window_s: "},
		{func(s *Settings) { s.Turnaround.MedianS = 0 }, "turnaround.median_s: "},
		{func(s *Settings) { s.Turnaround.Sigma = -0.1 }, "turnaround.sigma: "},
		{func(s *Settings) { s.Turnaround.MaxS = 60 }, "turnaround.max_s: must be at least turnaround.median_s (120)"},
		{func(s *Settings) { s.MaxCalls = 1 }, "max_calls: "},
		{func(s *Settings) { s.MergePenalty = 1.5 }, "merge_penalty: "},
		{func(s *Settings) { s.MergePenalty = -0.01 }, "merge_penalty: "},
	}
	for i, tt := range tests {
		s := Defaults()
		tt.edit(s)
		err := s.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%d: unexpected error %v", i, err)
		case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
			t.Errorf("%d: error %v, want prefix %q", i, err, tt.want)
		}
		if tt.want != "" {
			if _, err := New(s, bookEnv); err == nil {
				t.Errorf("%d: New accepted invalid settings", i)
			}
		}
	}
}

func TestSettingsJSON(t *testing.T) {
	d := Defaults()
	if d.Enabled() {
		t.Error("defaults are enabled")
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"enabled":false,"mode":"batch_api","priorities":["low","normal"],"min_max_delay_s":900,"max_size":100,"window_s":300,` +
		`"turnaround":{"median_s":120,"sigma":1,"max_s":86400},"max_calls":5,"merge_penalty":0.03}`
	if string(b) != want {
		t.Errorf("json %s\nwant %s", b, want)
	}
	var back Settings
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d, &back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestRegistered(t *testing.T) {
	def, ok := strategies.Lookup(Name)
	if !ok {
		t.Fatal("not registered")
	}
	set := def.Defaults()
	set.SetEnabled(true)
	st, err := def.Build(set, bookEnv)
	if err != nil {
		t.Fatal(err)
	}
	if st.Name() != Name {
		t.Errorf("name %q", st.Name())
	}
	if _, ok := st.(strategies.Flusher); !ok {
		t.Error("not a Flusher")
	}
	if _, ok := st.(strategies.Counting); !ok {
		t.Error("not Counting")
	}
	if _, err := def.Build(&struct{ Settings }{}, bookEnv); err == nil {
		t.Error("built from settings of another type")
	}
}

func BenchmarkHandle(b *testing.B) {
	for _, mode := range []string{ModeBatchAPI, ModeMerge} {
		b.Run("mode="+mode, func(b *testing.B) {
			s := newStage(b, bookEnv, func(s *Settings) { s.Mode = mode; s.MaxSize = 20 })
			const n = 4096
			rng := rand.New(rand.NewPCG(7, 8))
			recs := make([]traces.Record, n)
			calls := make([]*strategies.Call, n)
			models := []string{"claude-sonnet-4-5", "claude-haiku-4-5", "deepseek-chat"}
			for i := range recs {
				r := template(time.Duration(i)*2*time.Second, 200+int64(rng.IntN(100)), []uint64{uint64(rng.IntN(4)), uint64(rng.IntN(4))}, 5, 6, 7)
				r.input, r.output = 2000, 300
				r.tenant = "t" + strconv.Itoa(rng.IntN(3))
				r.model = models[rng.IntN(len(models))]
				r.maxDelay = time.Duration(rng.IntN(4)) * time.Hour
				r.prio = traces.Priorities[rng.IntN(3)]
				recs[i] = r.record()
				calls[i] = &strategies.Call{}
			}
			span := int64(n) * 2 * sec
			d := newDriver(s, nil)
			d.held = nil
			d.rel = func(*strategies.Call) {}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				c := calls[i%n]
				c.Reset(&recs[i%n], uint64(i))
				shift := int64(i/n) * span
				c.Arrival += shift
				d.handle(c.Arrival, c)
			}
			b.StopTimer()
			m := counters(s)
			b.ReportMetric(m["batched_share"], "batched/call")
		})
	}
}
