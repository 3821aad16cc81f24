package sim_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tarsopt/tarsopt/gen"
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/sim"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

var upstream = &strategies.Upstream{
	Models:         map[string]strategies.Speed{"claude-haiku": {TTFT: 0.5, TokensPerS: 100}},
	DefaultSpeed:   strategies.Speed{TTFT: 1, TokensPerS: 50},
	DefaultQuality: strategies.Curve{Easy: 0.99, Hard: 0.9, Shape: 2},
	ErrorRate:      0.01,
}

func options() sim.Options {
	return sim.Options{Book: pricing.Default(), Upstream: upstream, Seed: 7}
}

var (
	genMu    sync.Mutex
	genCache = map[string][]traces.Record{}
	genMeta  = map[string]traces.Meta{}
)

// generated returns a generated trace (memoised per test binary: calibration takes seconds).
func generated(t testing.TB, profile string, days int, seed uint64) ([]traces.Record, traces.Meta) {
	t.Helper()
	genMu.Lock()
	defer genMu.Unlock()
	key := strings.Join([]string{profile, time.Duration(days).String(), time.Duration(seed).String()}, "/")
	if recs, ok := genCache[key]; ok {
		return recs, genMeta[key]
	}
	p, err := gen.LoadProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gen.New(p, gen.Options{Days: days, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	var recs []traces.Record
	if _, err := g.Generate(func(r *traces.Record) error { recs = append(recs, r.Clone()); return nil }); err != nil {
		t.Fatal(err)
	}
	genCache[key], genMeta[key] = recs, g.Meta()
	return recs, g.Meta()
}

func run(t *testing.T, recs []traces.Record, stages []strategies.Stage, opts sim.Options) *sim.Result {
	t.Helper()
	res, err := sim.Run(context.Background(), sim.NewRecords(recs), stages, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// With no strategy, a replay costs exactly what pricing each recorded call costs, day by day.
func TestBaselineCostIsPricedTrace(t *testing.T) {
	for _, prof := range []string{"tars-baseline", "agentic-coding"} {
		t.Run("profile="+prof, func(t *testing.T) {
			recs, meta := generated(t, prof, 3, 11)
			opts := options()
			opts.Start, opts.End = meta.Start, meta.End
			res := run(t, recs, nil, opts)
			ledger := pricing.NewLedger(time.UTC)
			var tokens int64
			for i := range recs {
				b, err := pricing.Default().Cost(&recs[i])
				if err != nil {
					t.Fatal(err)
				}
				ledger.Add(&recs[i], b)
				tokens += recs[i].TotalTokens()
			}
			if got, want := res.Total.Cost, ledger.All.Cost; got != want {
				t.Errorf("cost %v, want %v (by kind: %+v vs %+v)", got.Total(), want.Total(), got, want)
			}
			for _, d := range res.Days {
				day := d.Date.Format(time.DateOnly)
				if got, want := d.Cost.Total(), ledger.Days[day].Cost.Total(); got != want {
					t.Errorf("%s: cost %v, want %v", day, got, want)
				}
			}
			if res.Total.Calls != int64(len(recs)) || res.Total.Upstream != int64(len(recs)) || res.Total.Tokens() != tokens {
				t.Errorf("calls %d, upstream %d, tokens %d; want %d, %d, %d", res.Total.Calls, res.Total.Upstream, res.Total.Tokens(), len(recs), len(recs), tokens)
			}
			if n := res.NumDays(); n != 3 {
				t.Errorf("days = %d, want 3", n)
			}
		})
	}
}

// holdFor holds every call for a fixed time.
type holdFor struct{ d int64 }

func (h holdFor) Name() string { return "hold" }
func (h holdFor) Handle(now int64, c *strategies.Call) strategies.Decision {
	return strategies.Decision{Action: strategies.Hold, Until: now + h.d}
}

func record(at time.Time, model string, in, out int64) traces.Record {
	var r traces.Record
	r.Time, r.Model = at, model
	r.SetTokens(in, out)
	r.Status = 200
	r.Set(traces.FieldStatus)
	return r
}

// A held call is priced when it is sent, at the time-of-day rates then in force.
func TestPricedAtSendTime(t *testing.T) {
	at := time.Date(2025, 6, 1, 16, 0, 0, 0, time.UTC) // DeepSeek's off-peak starts 16:30 UTC
	recs := []traces.Record{record(at, "deepseek-chat", 1_000_000, 1_000_000)}
	p, err := pricing.Default().Lookup("deepseek-chat", at)
	if err != nil {
		t.Fatal(err)
	}
	c := pricing.CallOf(&recs[0])
	peak := p.Cost(c).Total()
	c.At = at.Add(45 * time.Minute)
	offPeak := p.Cost(c).Total()
	if offPeak >= peak {
		t.Fatalf("test premise: off-peak %v not below peak %v", offPeak, peak)
	}
	if got := run(t, recs, nil, options()).Total.Cost.Total(); got != peak {
		t.Errorf("sent at once: cost %v, want %v", got, peak)
	}
	res := run(t, recs, []strategies.Stage{holdFor{int64(45 * time.Minute)}}, options())
	if got := res.Total.Cost.Total(); got != offPeak {
		t.Errorf("held 45 minutes: cost %v, want the off-peak %v", got, offPeak)
	}
}

// groups holds calls with Hold(0) and releases them in threes, or after 10 s.
type groups struct {
	held  []*strategies.Call
	since int64
}

const groupWindow = int64(10 * time.Second)

func (g *groups) Name() string { return "groups" }
func (g *groups) Handle(now int64, c *strategies.Call) strategies.Decision {
	if len(g.held) == 0 {
		g.since = now
	}
	g.held = append(g.held, c)
	return strategies.Decision{Action: strategies.Hold}
}
func (g *groups) Due() (int64, bool) {
	switch {
	case len(g.held) == 0:
		return 0, false
	case len(g.held) >= 3:
		return 0, true // now
	}
	return g.since + groupWindow, true
}
func (g *groups) Flush(now int64, release func(*strategies.Call)) {
	for _, c := range g.held {
		c.Batched = true
		release(c)
	}
	g.held = g.held[:0]
}

func TestFlusherReleasesBySizeAndWindow(t *testing.T) {
	t0 := time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC)
	var recs []traces.Record
	for _, s := range []int{0, 1, 2, 5} {
		r := record(t0.Add(time.Duration(s)*time.Second), "claude-sonnet-4-5", 100, 10)
		r.ID = string(rune('a' + s))
		recs = append(recs, r)
	}
	sent := map[string]time.Duration{}
	opts := options()
	opts.OnDone = func(now int64, c *strategies.Call, o *strategies.Outcome) {
		sent[c.Rec.ID] = time.Duration(c.Send - t0.UnixNano())
	}
	res := run(t, recs, []strategies.Stage{&groups{}}, opts)
	want := map[string]time.Duration{"a": 2 * time.Second, "b": 2 * time.Second, "c": 2 * time.Second, "f": 15 * time.Second}
	if diff := cmp.Diff(want, sent); diff != "" {
		t.Errorf("send times (-want +got):\n%s", diff)
	}
	if res.Total.Batched != 4 || res.Total.Upstream != 4 {
		t.Errorf("batched %d upstream %d, want 4 and 4", res.Total.Batched, res.Total.Upstream)
	}
}

// coalesce holds the first call of each model for a minute and makes later ones its followers.
type coalesce struct{ leader map[string]*strategies.Call }

func (s *coalesce) Name() string { return "coalesce" }
func (s *coalesce) Handle(now int64, c *strategies.Call) strategies.Decision {
	if l, ok := s.leader[c.Rec.Model]; ok {
		c.Follow(l, "coalesce")
		return strategies.Decision{Action: strategies.Serve}
	}
	s.leader[c.Rec.Model] = c
	return strategies.Decision{Action: strategies.Hold, Until: now + int64(time.Minute)}
}

func TestFollowersCompleteWithLeader(t *testing.T) {
	t0 := time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC)
	recs := []traces.Record{
		record(t0, "claude-sonnet-4-5", 1000, 100),
		record(t0.Add(10*time.Second), "claude-sonnet-4-5", 1000, 100),
		record(t0.Add(20*time.Second), "claude-sonnet-4-5", 1000, 100),
	}
	for i := range recs {
		recs[i].MaxDelay = time.Hour
	}
	var done []int64
	opts := options()
	opts.OnDone = func(now int64, c *strategies.Call, o *strategies.Outcome) { done = append(done, now) }
	res := run(t, recs, []strategies.Stage{&coalesce{leader: map[string]*strategies.Call{}}}, opts)
	if res.Total.Upstream != 1 || res.Total.Served != 2 || res.Total.Calls != 3 || res.Total.Answered != 3 {
		t.Errorf("upstream %d served %d calls %d answered %d, want 1, 2, 3, 3", res.Total.Upstream, res.Total.Served, res.Total.Calls, res.Total.Answered)
	}
	if len(done) != 3 || done[0] != done[1] || done[1] != done[2] {
		t.Errorf("completion times %v: want all three at the leader's", done)
	}
	single, _ := pricing.Default().Cost(&recs[0])
	if got := res.Total.Cost.Total(); got != single.Total() {
		t.Errorf("cost %v, want one call's %v", got, single.Total())
	}
}

// escalate asks for a retry on Sonnet for every answer from Haiku.
type escalate struct{}

func (escalate) Name() string { return "escalate" }
func (escalate) Handle(now int64, c *strategies.Call) strategies.Decision {
	return strategies.Decision{}
}
func (escalate) Observe(now int64, c *strategies.Call, o *strategies.Outcome) {
	if c.Rec.Model == "claude-haiku-4-5" {
		o.RetryWith = "claude-sonnet-4-5"
	}
}

func TestRetryPaysForBothAttempts(t *testing.T) {
	t0 := time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC)
	recs := []traces.Record{record(t0, "claude-haiku-4-5", 10_000, 1_000)}
	var haiku, sonnet money.Amount
	for _, m := range []string{"claude-haiku-4-5", "claude-sonnet-4-5"} {
		r := recs[0]
		r.Model = m
		b, _ := pricing.Default().Cost(&r)
		if m == "claude-haiku-4-5" {
			haiku = b.Total()
		} else {
			sonnet = b.Total()
		}
	}
	var model string
	opts := options()
	opts.OnDone = func(now int64, c *strategies.Call, o *strategies.Outcome) { model = c.Rec.Model }
	res := run(t, recs, []strategies.Stage{escalate{}}, opts)
	if got, want := res.Total.Cost.Total(), haiku+sonnet; got != want {
		t.Errorf("cost %v, want %v + %v", got, haiku, sonnet)
	}
	if res.Total.Upstream != 2 || res.Total.Retries != 1 || res.Total.Calls != 1 || model != "claude-sonnet-4-5" {
		t.Errorf("upstream %d retries %d calls %d final model %q", res.Total.Upstream, res.Total.Retries, res.Total.Calls, model)
	}
	if got := res.Total.Models; !cmp.Equal(got, map[string]int64{"claude-haiku-4-5": 1, "claude-sonnet-4-5": 1}) {
		t.Errorf("model mix %v", got)
	}
}

func TestOutOfOrderTraceIsAnError(t *testing.T) {
	t0 := time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC)
	recs := []traces.Record{record(t0, "claude-sonnet-4-5", 1, 1), record(t0.Add(-time.Second), "claude-sonnet-4-5", 1, 1)}
	recs[0].Pos = traces.Pos{File: "t.jsonl", Line: 2}
	recs[1].Pos = traces.Pos{File: "t.jsonl", Line: 3}
	_, err := sim.Run(context.Background(), sim.NewRecords(recs), nil, options())
	if err == nil || !strings.Contains(err.Error(), "t.jsonl:3") || !strings.Contains(err.Error(), "--sort") {
		t.Errorf("err = %v, want the position t.jsonl:3 and a hint to sort", err)
	}
}

// loser holds calls with Hold(0) but never releases them: a broken stage.
type loser struct{}

func (loser) Name() string { return "loser" }
func (loser) Handle(now int64, c *strategies.Call) strategies.Decision {
	return strategies.Decision{Action: strategies.Hold}
}

func TestLostCallsAreAnError(t *testing.T) {
	recs := []traces.Record{record(time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC), "claude-sonnet-4-5", 1, 1)}
	_, err := sim.Run(context.Background(), sim.NewRecords(recs), []strategies.Stage{loser{}}, options())
	if err == nil || !strings.Contains(err.Error(), "1 calls never completed") {
		t.Errorf("err = %v, want the count of lost calls", err)
	}
}

func TestUnknownModel(t *testing.T) {
	recs := []traces.Record{record(time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC), "no-such-model", 1, 1)}
	recs[0].Pos = traces.Pos{File: "t.jsonl", Line: 9}
	_, err := sim.Run(context.Background(), sim.NewRecords(recs), nil, options())
	if err == nil || !strings.Contains(err.Error(), "t.jsonl:9") || !strings.Contains(err.Error(), "no-such-model") {
		t.Errorf("err = %v, want the position and the model", err)
	}
	opts := options()
	opts.ZeroUnknown = true
	res := run(t, recs, nil, opts)
	if res.Unpriced["no-such-model"] != 1 || res.Total.Cost.Total() != 0 {
		t.Errorf("unpriced %v cost %v", res.Unpriced, res.Total.Cost.Total())
	}
}

// A recorded error is the call's outcome at its recorded model; calls without a status fail at
// the configured rate, by common random numbers.
func TestErrors(t *testing.T) {
	t0 := time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC)
	var recs []traces.Record
	for i := range 20000 {
		r := record(t0.Add(time.Duration(i)*time.Second), "claude-sonnet-4-5", 10, 10)
		r.Unset(traces.FieldStatus)
		if i%100 == 0 {
			r.Status, r.Error = 529, "overloaded_error"
			r.Set(traces.FieldStatus)
		}
		recs = append(recs, r)
	}
	res := run(t, recs, nil, options())
	// 200 recorded errors plus about 1% of the other 19,800.
	if f := res.Total.Failed; f < 200+120 || f > 200+280 {
		t.Errorf("failed %d, want 200 recorded plus about 198 drawn", f)
	}
	again := run(t, recs, nil, options())
	if again.Total.Failed != res.Total.Failed {
		t.Errorf("failures differ between identical runs: %d vs %d", res.Total.Failed, again.Total.Failed)
	}
}

// counting counts the calls it sees.
type counting struct{ n float64 }

func (s *counting) Name() string { return "counting" }
func (s *counting) Handle(now int64, c *strategies.Call) strategies.Decision {
	s.n++
	return strategies.Decision{}
}
func (s *counting) Counters() []strategies.Count {
	return []strategies.Count{{Name: "seen", Value: s.n}}
}

// Each day carries the stages' counters as they stood at its last arrival.
func TestPerDayCounters(t *testing.T) {
	t0 := time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC)
	var recs []traces.Record
	for d, n := range []int{2, 0, 3} {
		for i := range n {
			recs = append(recs, record(t0.Add(time.Duration(d)*24*time.Hour+time.Duration(i)*time.Minute), "claude-sonnet-4-5", 10, 10))
		}
	}
	res := run(t, recs, []strategies.Stage{&counting{}}, options())
	var got []float64
	for _, d := range res.Days {
		v := -1.0
		if len(d.Strategies) == 1 {
			v = d.Strategies[0].Counters[0].Value
		}
		got = append(got, v)
	}
	if want := []float64{2, -1, 5}; !cmp.Equal(got, want) {
		t.Errorf("per-day counters %v, want %v", got, want)
	}
	if s := res.Summary(true); s.PerDay[2].Strategies["counting"]["seen"] != 5 || s.Strategies["counting"]["seen"] != 5 {
		t.Errorf("summary: %+v", s.PerDay[2].Strategies)
	}
}
