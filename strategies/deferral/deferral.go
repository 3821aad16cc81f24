// Package deferral is the "lazy loading" strategy of the seed plan: calls that may wait are held
// into an off-peak window of the day, and identical calls deferred to the same window are sent
// once.
//
// A call is eligible when its priority is one of the configured ones (a call without a priority
// is not eligible) and it may wait (its max_delay is present and positive; 0 means interactive).
// An eligible call that arrives at the stage outside the window is held until the next start of
// the window, but only when that start is within both its own max_delay and max_deferral_s of its
// arrival (c.Arrival, so time spent before this stage counts); otherwise it goes on unchanged.
// Calls that arrive inside the window go on at once.
//
// The stage itself saves nothing: the call is priced when it is sent (the simulator prices at
// send time, so a time-of-day discount in the price book applies to it), and when the batcher
// stands after this stage in the configured order, deferred calls reach it at the window start and
// may go to the Batch API (with their remaining delay shortened by the wait). Coalescing saves
// directly: an eligible call identical to one already deferred to the same window start (same
// tenant, same fingerprint, same model asked for) is served by that call's answer.
package deferral

import (
	"fmt"
	"strconv"
	"time"

	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// Name is the strategy's registered name.
const Name = "deferral"

const day = int64(24 * time.Hour)

// maxLeaders bounds the coalescing map: once it holds this many deferred calls for one window
// start, further deferred calls are still held but cannot be coalesced into.
const maxLeaders = 1 << 18

// maxSeconds bounds durations in settings (about three years), so that nanoseconds fit an int64.
const maxSeconds = 1e8

func init() {
	strategies.Register(strategies.Def{
		Name:     Name,
		Summary:  "lazy loading: hold calls that may wait into an off-peak window; coalesce identical deferred calls",
		Defaults: func() strategies.Settings { return Defaults() },
		Build:    build,
	})
}

// Window is a daily period in UTC clock times, "HH:MM"; End is exclusive and may be before Start
// for a window across midnight ("22:00" to "02:00").
type Window struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// Settings configures the deferral stage (the object under strategies.deferral).
type Settings struct {
	strategies.Common
	// Window is the off-peak window calls are held into.
	Window Window `json:"window"`
	// MaxDeferralS is the longest a call may be held, in seconds from its arrival, whatever its
	// own max_delay.
	MaxDeferralS float64 `json:"max_deferral_s"`
	// Priorities are the priorities (traces.Priority names: "urgent", "normal", "low") of the calls
	// that may be deferred; calls without a priority never are.
	Priorities []string `json:"priorities"`
	// Coalesce serves an eligible call identical to one already deferred to the same window start
	// (same tenant, fingerprint and model asked for; the fingerprint must be present) with that
	// call's answer.
	Coalesce bool `json:"coalesce"`
}

// Defaults returns the seed plan's settings, disabled: window 00:00 to 06:00 UTC, at most one hour
// of deferral, low and normal priorities, coalescing on.
func Defaults() *Settings {
	return &Settings{
		Window:       Window{Start: "00:00", End: "06:00"},
		MaxDeferralS: 3600,
		Priorities:   []string{"low", "normal"},
		Coalesce:     true,
	}
}

// Validate returns the first problem of s, its message starting with the JSON path of the key.
func (s *Settings) Validate() error {
	start, ok := parseClock(s.Window.Start)
	if !ok {
		return strategies.Errorf("window.start", "want a UTC clock time HH:MM (00:00 to 23:59), got %q", s.Window.Start)
	}
	end, ok := parseClock(s.Window.End)
	if !ok {
		return strategies.Errorf("window.end", "want a UTC clock time HH:MM (00:00 to 23:59), got %q", s.Window.End)
	}
	if start == end {
		return strategies.Errorf("window.end", "must differ from window.start (%s): the window would be empty", s.Window.Start)
	}
	if !(s.MaxDeferralS > 0 && s.MaxDeferralS <= maxSeconds) {
		return strategies.Errorf("max_deferral_s", "must be positive and at most %g seconds, got %g", float64(maxSeconds), s.MaxDeferralS)
	}
	_, err := priorities(s.Priorities)
	return err
}

// priorities returns the set of priorities named in names, indexed by traces.Priority.
func priorities(names []string) (set [4]bool, err error) {
	if len(names) == 0 {
		return set, strategies.Errorf("priorities", "must name at least one priority (urgent, normal or low)")
	}
	for i, n := range names {
		p, ok := traces.ParsePriority(n)
		if !ok || int(p) >= len(set) {
			return set, strategies.Errorf("priorities["+strconv.Itoa(i)+"]", "unknown priority %q (want urgent, normal or low)", n)
		}
		set[p] = true
	}
	return set, nil
}

// parseClock parses "HH:MM" into nanoseconds after midnight.
func parseClock(s string) (int64, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	d := func(b byte) (int, bool) { return int(b - '0'), b >= '0' && b <= '9' }
	h1, ok1 := d(s[0])
	h2, ok2 := d(s[1])
	m1, ok3 := d(s[3])
	m2, ok4 := d(s[4])
	h, m := h1*10+h2, m1*10+m2
	if !(ok1 && ok2 && ok3 && ok4) || h > 23 || m > 59 {
		return 0, false
	}
	return int64(h)*int64(time.Hour) + int64(m)*int64(time.Minute), true
}

func build(ss strategies.Settings, _ strategies.Env) (strategies.Stage, error) {
	s, ok := ss.(*Settings)
	if !ok {
		return nil, fmt.Errorf("deferral: settings of type %T, want *deferral.Settings", ss)
	}
	return New(s)
}

// New returns a deferral stage for settings s, or the first problem of s.
func New(s *Settings) (*Stage, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	st := &Stage{
		maxDefer: int64(s.MaxDeferralS * float64(time.Second)),
		coalesce: s.Coalesce,
	}
	st.start, _ = parseClock(s.Window.Start)
	st.end, _ = parseClock(s.Window.End)
	st.prio, _ = priorities(s.Priorities)
	if s.Coalesce {
		st.leaders = make(map[leaderKey]*strategies.Call)
	}
	return st, nil
}

// leaderKey identifies identical requests for coalescing.
type leaderKey struct {
	tenant string
	model  string // the model the client asked for
	fp     uint64
}

// Stage is the deferral policy. It implements strategies.Stage and strategies.Counting. It is not
// safe for concurrent use (drivers never call a stage concurrently).
type Stage struct {
	start, end int64 // window, nanoseconds after midnight UTC; end exclusive
	maxDefer   int64 // nanoseconds
	prio       [4]bool
	coalesce   bool

	// leaders maps each identical-request key to the first call deferred to leadersAt, the one
	// window start all its entries share. Entries are removed (all at once) as soon as a Handle
	// sees now >= leadersAt, so that no entry outlives its call's hold: a leader is held until
	// leadersAt and may complete and be reused by the driver after it.
	leaders   map[leaderKey]*strategies.Call
	leadersAt int64

	seen, deferred, coalesced     int64
	notEligible, inWindow, tooFar int64
	delayTotal, delayMax          int64 // nanoseconds
}

// Name returns "deferral".
func (s *Stage) Name() string { return Name }

// Handle holds an eligible call that arrives outside the window until the window's next start,
// when that start is within min(max_delay, max_deferral_s) of the call's arrival; it sets
// c.Deferred. A call identical to one already held for the same start follows it (c.Follow) and is
// served (Serve). Every other call goes on (Next).
func (s *Stage) Handle(now int64, c *strategies.Call) strategies.Decision {
	s.seen++
	if len(s.leaders) > 0 && s.leadersAt <= now {
		clear(s.leaders)
	}
	r := &c.Rec
	if int(r.Priority) >= len(s.prio) || !s.prio[r.Priority] || !r.Has(traces.FieldMaxDelay) || r.MaxDelay <= 0 {
		s.notEligible++
		return strategies.Decision{Action: strategies.Next}
	}
	tod := now % day
	if tod < 0 {
		tod += day
	}
	if s.in(tod) {
		s.inWindow++
		return strategies.Decision{Action: strategies.Next}
	}
	ws := now - tod + s.start
	if ws <= now {
		ws += day
	}
	if ws-c.Arrival > min(int64(r.MaxDelay), s.maxDefer) {
		s.tooFar++
		return strategies.Decision{Action: strategies.Next}
	}
	c.Deferred = true
	s.deferred++
	delay := ws - now
	s.delayTotal += delay
	s.delayMax = max(s.delayMax, delay)
	if s.coalesce && r.Has(traces.FieldFingerprint) {
		if s.leadersAt != ws {
			clear(s.leaders)
			s.leadersAt = ws
		}
		k := leaderKey{tenant: r.Tenant, model: c.OrigModel, fp: r.Fingerprint}
		if l, ok := s.leaders[k]; ok {
			c.Follow(l, Name)
			s.coalesced++
			return strategies.Decision{Action: strategies.Serve}
		}
		if len(s.leaders) < maxLeaders {
			s.leaders[k] = c
		}
	}
	return strategies.Decision{Action: strategies.Hold, Until: ws}
}

// in reports whether the time of day tod (nanoseconds after midnight) is in the window.
func (s *Stage) in(tod int64) bool {
	if s.start < s.end {
		return tod >= s.start && tod < s.end
	}
	return tod >= s.start || tod < s.end
}

// Counters returns the stage's counters: deferred (calls held or coalesced, the share of calls
// seen in deferred_share), coalesced (deferred calls served by an identical deferred call),
// not_eligible, in_window and too_far (calls passed on, by reason), delay_s_total and delay_s_max
// (the wait this stage added to deferred calls, from when they reached it to the window start, in
// seconds; coalesced calls included).
func (s *Stage) Counters() []strategies.Count {
	share := 0.0
	if s.seen > 0 {
		share = float64(s.deferred) / float64(s.seen)
	}
	return []strategies.Count{
		{Name: "deferred", Value: float64(s.deferred)},
		{Name: "deferred_share", Value: share},
		{Name: "coalesced", Value: float64(s.coalesced)},
		{Name: "not_eligible", Value: float64(s.notEligible)},
		{Name: "too_far", Value: float64(s.tooFar)},
		{Name: "in_window", Value: float64(s.inWindow)},
		{Name: "delay_s_total", Value: seconds(s.delayTotal)},
		{Name: "delay_s_max", Value: seconds(s.delayMax)},
	}
}

func seconds(ns int64) float64 { return float64(ns) / 1e9 }
