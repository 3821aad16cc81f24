package deferral

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// at returns 2026-02-13 (a Friday) at the clock time hh:mm UTC, plus days.
func at(clock string, days int) time.Time {
	t, err := time.Parse(time.RFC3339, "2026-02-13T"+clock+":00Z")
	if err != nil {
		panic(err)
	}
	return t.AddDate(0, 0, days)
}

type rec struct {
	at       time.Time
	prio     traces.Priority
	maxDelay time.Duration
	noDelay  bool // max_delay absent
	tenant   string
	fp       uint64
	noFP     bool // fingerprint absent
	model    string
}

var keys uint64

func (r rec) call() *strategies.Call {
	x := traces.Record{Time: r.at, Model: r.model, Tenant: r.tenant, Priority: r.prio}
	if x.Model == "" {
		x.Model = "claude-sonnet-4-5"
	}
	if x.Tenant == "" {
		x.Tenant = "t1"
	}
	if !r.noDelay {
		x.MaxDelay = r.maxDelay
		x.Set(traces.FieldMaxDelay)
	}
	if !r.noFP {
		x.Fingerprint = r.fp
		x.Set(traces.FieldFingerprint)
	}
	x.SetTokens(1000, 100)
	keys++
	c := &strategies.Call{}
	c.Reset(&x, keys)
	return c
}

func counters(s strategies.Counting) map[string]float64 {
	m := map[string]float64{}
	for _, c := range s.Counters() {
		m[c.Name] = c.Value
	}
	return m
}

func zeroCounters() map[string]float64 {
	return map[string]float64{"deferred": 0, "deferred_share": 0, "coalesced": 0, "not_eligible": 0, "too_far": 0,
		"in_window": 0, "delay_s_total": 0, "delay_s_max": 0}
}

func newStage(t *testing.T, edit func(*Settings)) *Stage {
	t.Helper()
	s := Defaults()
	s.SetEnabled(true)
	if edit != nil {
		edit(s)
	}
	st, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestHandle(t *testing.T) {
	h := time.Hour
	cross := func(s *Settings) { s.Window = Window{Start: "22:00", End: "02:00"} }
	tests := []struct {
		name    string
		edit    func(*Settings)
		rec     rec
		late    time.Duration // now - arrival
		want    strategies.Action
		until   time.Time
		counter string
	}{
		{name: "23:30 with 1h is held to 00:00", rec: rec{at: at("23:30", 0), prio: traces.PriorityNormal, maxDelay: h},
			want: strategies.Hold, until: at("00:00", 1), counter: "deferred"},
		{name: "low priority is eligible", rec: rec{at: at("23:45", 0), prio: traces.PriorityLow, maxDelay: 8 * h},
			want: strategies.Hold, until: at("00:00", 1), counter: "deferred"},
		{name: "exactly max_delay away", rec: rec{at: at("23:00", 0), prio: traces.PriorityNormal, maxDelay: h},
			want: strategies.Hold, until: at("00:00", 1), counter: "deferred"},
		{name: "22:00 is too far for max_deferral", rec: rec{at: at("22:00", 0), prio: traces.PriorityNormal, maxDelay: 4 * h},
			want: strategies.Next, counter: "too_far"},
		{name: "max_delay 10m at 23:30 is too far", rec: rec{at: at("23:30", 0), prio: traces.PriorityNormal, maxDelay: 10 * time.Minute},
			want: strategies.Next, counter: "too_far"},
		{name: "03:00 is in the window", rec: rec{at: at("03:00", 0), prio: traces.PriorityNormal, maxDelay: h},
			want: strategies.Next, counter: "in_window"},
		{name: "00:00 is in the window", rec: rec{at: at("00:00", 0), prio: traces.PriorityNormal, maxDelay: h},
			want: strategies.Next, counter: "in_window"},
		{name: "06:00 is after the window (end exclusive)", rec: rec{at: at("06:00", 0), prio: traces.PriorityNormal, maxDelay: 48 * h},
			want: strategies.Next, counter: "too_far"},
		{name: "urgent is not eligible", rec: rec{at: at("23:30", 0), prio: traces.PriorityUrgent, maxDelay: h},
			want: strategies.Next, counter: "not_eligible"},
		{name: "absent priority is not eligible", rec: rec{at: at("23:30", 0), maxDelay: h},
			want: strategies.Next, counter: "not_eligible"},
		{name: "max_delay 0 is interactive", rec: rec{at: at("23:30", 0), prio: traces.PriorityLow},
			want: strategies.Next, counter: "not_eligible"},
		{name: "absent max_delay is interactive", rec: rec{at: at("23:30", 0), prio: traces.PriorityLow, noDelay: true},
			want: strategies.Next, counter: "not_eligible"},
		{name: "urgent is eligible when configured", edit: func(s *Settings) { s.Priorities = []string{"urgent"} },
			rec:  rec{at: at("23:30", 0), prio: traces.PriorityUrgent, maxDelay: h},
			want: strategies.Hold, until: at("00:00", 1), counter: "deferred"},
		{name: "normal not eligible when only low", edit: func(s *Settings) { s.Priorities = []string{"low"} },
			rec:  rec{at: at("23:30", 0), prio: traces.PriorityNormal, maxDelay: h},
			want: strategies.Next, counter: "not_eligible"},
		{name: "bound counts from arrival: reached late but within", rec: rec{at: at("23:00", 0), prio: traces.PriorityNormal, maxDelay: h},
			late: 20 * time.Minute, want: strategies.Hold, until: at("00:00", 1), counter: "deferred"},
		{name: "bound counts from arrival: reached late and past", rec: rec{at: at("22:50", 0), prio: traces.PriorityNormal, maxDelay: h},
			late: 20 * time.Minute, want: strategies.Next, counter: "too_far"},
		{name: "longer max_deferral", edit: func(s *Settings) { s.MaxDeferralS = 8 * 3600 },
			rec:  rec{at: at("18:00", 0), prio: traces.PriorityNormal, maxDelay: 12 * h},
			want: strategies.Hold, until: at("00:00", 1), counter: "deferred"},
		{name: "window across midnight: 21:30 held to 22:00", edit: cross,
			rec:  rec{at: at("21:30", 0), prio: traces.PriorityNormal, maxDelay: h},
			want: strategies.Hold, until: at("22:00", 0), counter: "deferred"},
		{name: "window across midnight: 23:00 in window", edit: cross,
			rec:  rec{at: at("23:00", 0), prio: traces.PriorityNormal, maxDelay: h},
			want: strategies.Next, counter: "in_window"},
		{name: "window across midnight: 01:59 in window", edit: cross,
			rec:  rec{at: at("01:59", 0), prio: traces.PriorityNormal, maxDelay: h},
			want: strategies.Next, counter: "in_window"},
		{name: "window across midnight: 02:00 out", edit: cross,
			rec:  rec{at: at("02:00", 0), prio: traces.PriorityNormal, maxDelay: h},
			want: strategies.Next, counter: "too_far"},
		{name: "window ending at midnight", edit: func(s *Settings) { s.Window = Window{Start: "18:30", End: "00:00"} },
			rec:  rec{at: at("18:00", 0), prio: traces.PriorityNormal, maxDelay: h},
			want: strategies.Hold, until: at("18:30", 0), counter: "deferred"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStage(t, tt.edit)
			c := tt.rec.call()
			now := c.Arrival + int64(tt.late)
			d := s.Handle(now, c)
			want := strategies.Decision{Action: tt.want}
			if !tt.until.IsZero() {
				want.Until = tt.until.UnixNano()
			}
			if d != want {
				t.Fatalf("decision %+v (until %v), want %+v (until %v)", d, strategies.Time(d.Until), want, tt.until)
			}
			if c.Deferred != (tt.want == strategies.Hold) {
				t.Errorf("Deferred = %v", c.Deferred)
			}
			if c.Served || c.Leader != nil {
				t.Errorf("a lone call was served: %+v", c)
			}
			wc := zeroCounters()
			wc[tt.counter] = 1
			if tt.counter == "deferred" {
				wc["deferred_share"] = 1
				delay := float64(want.Until-now) / 1e9
				wc["delay_s_total"], wc["delay_s_max"] = delay, delay
			}
			if diff := cmp.Diff(wc, counters(s)); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCoalesce(t *testing.T) {
	s := newStage(t, nil)
	base := rec{prio: traces.PriorityNormal, maxDelay: time.Hour, fp: 42}
	mk := func(clock string, days int, edit func(*rec)) *strategies.Call {
		r := base
		r.at = at(clock, days)
		if edit != nil {
			edit(&r)
		}
		return r.call()
	}
	ws := at("00:00", 1).UnixNano()
	hold := strategies.Decision{Action: strategies.Hold, Until: ws}
	serve := strategies.Decision{Action: strategies.Serve}

	leader := mk("23:10", 0, nil)
	if d := s.Handle(leader.Arrival, leader); d != hold {
		t.Fatalf("leader: %+v", d)
	}
	f1 := mk("23:20", 0, func(r *rec) { r.prio = traces.PriorityLow }) // priority is not part of identity
	f2 := mk("23:30", 0, nil)
	for _, f := range []*strategies.Call{f1, f2} {
		if d := s.Handle(f.Arrival, f); d != serve {
			t.Fatalf("follower: %+v", d)
		}
		if !f.Served || f.ServedBy != Name || f.Leader != leader || !f.Deferred {
			t.Errorf("follower fields: served %v by %q leader %p (want %p) deferred %v", f.Served, f.ServedBy, f.Leader, leader, f.Deferred)
		}
	}
	if len(leader.Followers) != 2 || leader.Followers[0] != f1 || leader.Followers[1] != f2 {
		t.Errorf("leader followers %v", leader.Followers)
	}
	if leader.Served || leader.Leader != nil {
		t.Errorf("leader was served")
	}
	// Not identical: other tenant, other fingerprint, other model, no fingerprint. Each is held.
	for name, edit := range map[string]func(*rec){
		"tenant":         func(r *rec) { r.tenant = "t2" },
		"fingerprint":    func(r *rec) { r.fp = 43 },
		"model":          func(r *rec) { r.model = "claude-haiku-4-5" },
		"no fingerprint": func(r *rec) { r.noFP = true },
	} {
		c := mk("23:40", 0, edit)
		if d := s.Handle(c.Arrival, c); d != hold || c.Served {
			t.Errorf("%s: %+v served %v", name, d, c.Served)
		}
	}
	// A second call without fingerprint is not coalesced with the first either.
	c := mk("23:41", 0, func(r *rec) { r.noFP = true })
	if d := s.Handle(c.Arrival, c); d != hold {
		t.Errorf("no fingerprint again: %+v", d)
	}
	got := counters(s)
	want := map[string]float64{"deferred": 8, "deferred_share": 1, "coalesced": 2, "not_eligible": 0, "too_far": 0, "in_window": 0,
		"delay_s_total": (50 + 40 + 30 + 4*20 + 19) * 60, "delay_s_max": 50 * 60}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}

	// At the window start the map is emptied (the leader is released now and may be reused).
	c = mk("00:00", 1, nil)
	if d := s.Handle(c.Arrival, c); d.Action != strategies.Next {
		t.Fatalf("in window: %+v", d)
	}
	if len(s.leaders) != 0 {
		t.Errorf("%d leaders kept past their release time", len(s.leaders))
	}
	// The next evening an identical call leads again.
	c = mk("23:30", 1, nil)
	if d := s.Handle(c.Arrival, c); d.Action != strategies.Hold || d.Until != at("00:00", 2).UnixNano() || c.Served {
		t.Errorf("next day: %+v served %v", d, c.Served)
	}
	if len(leader.Followers) != 2 {
		t.Errorf("old leader got followers: %d", len(leader.Followers))
	}
}

func TestCoalesceMapClearedWithoutWindowArrival(t *testing.T) {
	// No call arrives inside the window: the map still never holds entries of a past release time.
	s := newStage(t, func(s *Settings) { s.MaxDeferralS = 24 * 3600 })
	a := rec{at: at("23:30", 0), prio: traces.PriorityNormal, maxDelay: time.Hour, fp: 7}.call()
	s.Handle(a.Arrival, a)
	b := rec{at: at("12:00", 1), prio: traces.PriorityNormal, maxDelay: 13 * time.Hour, fp: 7}.call()
	if d := s.Handle(b.Arrival, b); d.Action != strategies.Hold || b.Served {
		t.Fatalf("second day: %+v, served %v (coalesced into a call released a day earlier)", d, b.Served)
	}
	if len(s.leaders) != 1 || s.leaders[leaderKey{"t1", "claude-sonnet-4-5", 7}] != b {
		t.Errorf("leaders %v", s.leaders)
	}
}

func TestCoalesceOff(t *testing.T) {
	s := newStage(t, func(s *Settings) { s.Coalesce = false })
	for i := range 3 {
		c := rec{at: at("23:30", 0).Add(time.Duration(i) * time.Second), prio: traces.PriorityNormal, maxDelay: time.Hour, fp: 1}.call()
		if d := s.Handle(c.Arrival, c); d.Action != strategies.Hold || c.Served {
			t.Fatalf("call %d: %+v", i, d)
		}
	}
	if got := counters(s)["coalesced"]; got != 0 {
		t.Errorf("coalesced %g", got)
	}
}

// TestProperty checks random calls against an oracle built on package time: a held call is held
// to the first window start after now, within its max_delay and max_deferral of its arrival, and
// a call passed on outside the window could not have been held.
func TestProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		sm, em := rng.IntN(24*60), rng.IntN(24*60)
		if sm == em {
			continue
		}
		set := Defaults()
		set.Window = Window{Start: clock(sm), End: clock(em)}
		set.MaxDeferralS = float64(60 + rng.IntN(30*3600))
		set.Coalesce = rng.IntN(2) == 0
		s, err := New(set)
		if err != nil {
			t.Fatal(err)
		}
		arrival := at("00:00", rng.IntN(400)).Add(time.Duration(rng.Int64N(int64(24 * time.Hour))))
		late := time.Duration(rng.Int64N(int64(2 * time.Hour)))
		now := arrival.Add(late)
		maxDelay := time.Duration(rng.Int64N(int64(48 * time.Hour)))
		c := rec{at: arrival, prio: traces.PriorityLow, maxDelay: maxDelay}.call()
		d := s.Handle(now.UnixNano(), c)

		m := now.Hour()*60 + now.Minute()
		inWindow := (sm < em && m >= sm && m < em) || (sm > em && (m >= sm || m < em))
		ws := time.Date(now.Year(), now.Month(), now.Day(), sm/60, sm%60, 0, 0, time.UTC)
		if !ws.After(now) {
			ws = ws.AddDate(0, 0, 1)
		}
		limit := min(maxDelay, time.Duration(set.MaxDeferralS*1e9))
		fits := maxDelay > 0 && ws.Sub(arrival) <= limit
		switch {
		case inWindow:
			if d.Action != strategies.Next {
				t.Fatalf("case %d: in window %s-%s at %v: %+v", i, set.Window.Start, set.Window.End, now, d)
			}
		case fits:
			u := strategies.Time(d.Until)
			if d.Action != strategies.Hold || !u.Equal(ws) {
				t.Fatalf("case %d: window %s-%s now %v arrival %v max_delay %v max_deferral %gs: %+v (%v), want hold to %v",
					i, set.Window.Start, set.Window.End, now, arrival, maxDelay, set.MaxDeferralS, d, u, ws)
			}
			if u.Sub(arrival) > maxDelay || u.Sub(arrival) > time.Duration(set.MaxDeferralS*1e9) || !u.After(now) {
				t.Fatalf("case %d: held to %v: past a bound", i, u)
			}
			um := u.Hour()*60 + u.Minute()
			if !((sm < em && um >= sm && um < em) || (sm > em && (um >= sm || um < em))) {
				t.Fatalf("case %d: held to %v, outside the window", i, u)
			}
		default:
			if d.Action != strategies.Next {
				t.Fatalf("case %d: window %s-%s now %v arrival %v max_delay %v: %+v, want Next", i, set.Window.Start, set.Window.End, now, arrival, maxDelay, d)
			}
		}
	}
}

func clock(m int) string {
	return strconv.Itoa(m/600) + strconv.Itoa(m/60%10) + ":" + strconv.Itoa(m%60/10) + strconv.Itoa(m%10)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		edit func(*Settings)
		want string // prefix of the error; "" for none
	}{
		{func(*Settings) {}, ""},
		{func(s *Settings) { s.Window.Start = "24:00" }, "window.start: "},
		{func(s *Settings) { s.Window.Start = "1:00" }, "window.start: "},
		{func(s *Settings) { s.Window.Start = "" }, "window.start: "},
		{func(s *Settings) { s.Window.End = "06:60" }, "window.end: "},
		{func(s *Settings) { s.Window.End = "06-00" }, "window.end: "},
		{func(s *Settings) { s.Window.End = "00:00" }, "window.end: must differ from window.start"},
		{func(s *Settings) { s.Window = Window{"23:59", "00:00"} }, ""},
		{func(s *Settings) { s.MaxDeferralS = 0 }, "max_deferral_s: "},
		{func(s *Settings) { s.MaxDeferralS = -1 }, "max_deferral_s: "},
		{func(s *Settings) { s.MaxDeferralS = 1e12 }, "max_deferral_s: "},
		{func(s *Settings) { s.Priorities = nil }, "priorities: "},
		{func(s *Settings) { s.Priorities = []string{"low", "high"} }, `priorities[1]: unknown priority "high"`},
		{func(s *Settings) { s.Priorities = []string{"urgent"} }, ""},
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
			if _, err := New(s); err == nil {
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
	want := `{"enabled":false,"window":{"start":"00:00","end":"06:00"},"max_deferral_s":3600,"priorities":["low","normal"],"coalesce":true}`
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
	st, err := def.Build(set, strategies.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Name() != Name {
		t.Errorf("name %q", st.Name())
	}
	if _, ok := st.(strategies.Counting); !ok {
		t.Error("not Counting")
	}
	if _, err := def.Build(&struct{ Settings }{}, strategies.Env{}); err == nil {
		t.Error("built from settings of another type")
	}
}

func BenchmarkHandle(b *testing.B) {
	// arrivals spread over a whole day (most calls pass) or over the hour before the window (most
	// calls are deferred, and coalesced when identical).
	for _, spread := range []time.Duration{24 * time.Hour, time.Hour} {
		for _, coalesce := range []bool{false, true} {
			b.Run("spread="+spread.String()+"/coalesce="+strconv.FormatBool(coalesce), func(b *testing.B) {
				set := Defaults()
				set.Coalesce = coalesce
				s, err := New(set)
				if err != nil {
					b.Fatal(err)
				}
				const n = 4096
				rng := rand.New(rand.NewPCG(3, 4))
				calls := make([]*strategies.Call, n)
				arrivals := make([]int64, n)
				start := at("00:00", 1).Add(-spread)
				for i := range calls {
					r := rec{at: start.Add(spread * time.Duration(i) / n), maxDelay: time.Duration(1+rng.IntN(3)) * time.Hour,
						prio: traces.Priorities[rng.IntN(3)], fp: uint64(rng.IntN(200)), tenant: "t" + strconv.Itoa(rng.IntN(3))}
					calls[i] = r.call()
					arrivals[i] = calls[i].Arrival
				}
				const round = int64(24 * time.Hour)
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					c := calls[i%n]
					c.Served, c.Leader, c.Deferred = false, nil, false
					c.Followers = c.Followers[:0]
					c.Arrival = arrivals[i%n] + int64(i/n)*round
					s.Handle(c.Arrival, c)
				}
				b.StopTimer()
				m := counters(s)
				b.ReportMetric(m["deferred_share"], "deferred/call")
				b.ReportMetric(m["coalesced"]/float64(b.N), "coalesced/call")
			})
		}
	}
}
