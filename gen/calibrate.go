package gen

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/tarsopt/tarsopt/internal/textfmt"
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/traces"
)

// Calibration records what the generator chose to meet a profile's targets, and why: the
// input/output split that tokens and cost together force, the session rates, the repeat
// probabilities, the complexity shift and the latency scale. Every figure in it is computed.
type Calibration struct {
	Profile   string
	PilotDays int      // length of the fixed-seed pilot runs used to measure averages
	Choices   []Choice // in the order they were made
}

// Choice is one calibrated setting.
type Choice struct {
	Name  string // what was chosen
	Value string // the value, with units
	Why   string // the target or rule it meets
}

func (c *Calibration) add(name, why, format string, args ...any) {
	c.Choices = append(c.Choices, Choice{Name: name, Value: fmt.Sprintf(format, args...), Why: why})
}

// WriteTo writes the calibration as indented lines for people.
func (c *Calibration) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "calibration of profile %s", c.Profile)
	if c.PilotDays > 0 {
		fmt.Fprintf(&b, " (averages measured on a %d-day pilot with a fixed seed)", c.PilotDays)
	}
	b.WriteString(":\n")
	for _, ch := range c.Choices {
		fmt.Fprintf(&b, "  %s: %s\n", ch.Name, ch.Value)
		if ch.Why != "" {
			fmt.Fprintf(&b, "      %s\n", ch.Why)
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// pilotStats are per-call averages measured on a pilot run.
type pilotStats struct {
	calls                    float64
	days                     float64
	system, newTok           float64 // billed input tokens by origin, per call
	histNew, histOut, output float64
	byType                   map[string]float64 // calls by query type
	repeatCalls, repeatHits  map[string]float64 // ideal-cache calls and hits by query type
	maxPrompt                int64
}

func (g *Generator) pilot(prm params, days int) *pilotStats {
	st := &pilotStats{byType: map[string]float64{}, repeatCalls: map[string]float64{}, repeatHits: map[string]float64{}, days: float64(days)}
	start := g.start
	r := newRun(g, streamPilot, start, start.AddDate(0, 0, days), prm)
	r.noPrefix = true
	ideal := newIdealCache(g.p)
	r.observe = func(c *plannedCall, rec *traces.Record) {
		st.calls++
		st.byType[c.qtype]++
		if rec.Status == 200 {
			st.system += float64(c.system)
			st.newTok += float64(c.newTok)
			st.histNew += float64(c.histNew)
			st.histOut += float64(c.histOut)
			st.output += float64(c.output)
			st.maxPrompt = max(st.maxPrompt, rec.PromptTokens())
		}
		if hit, ok := ideal.observe(rec); ok {
			st.repeatCalls[c.qtype]++
			if hit {
				st.repeatHits[c.qtype]++
			}
		}
	}
	r.loop()
	if st.calls > 0 {
		for _, v := range []*float64{&st.system, &st.newTok, &st.histNew, &st.histOut, &st.output} {
			*v /= st.calls
		}
	}
	return st
}

// idealCache is a response cache with unbounded capacity and the profile's per-type TTLs: the best
// any cache could do, and what the plan's hit rates are claims about. An entry is written on a miss
// by a successful call and expires TTL after it was written; hits do not refresh it.
type idealCache struct {
	ttl     map[traces.QueryType]int64
	written map[string]int64 // tenant + fingerprint → write time
	n       int
}

func newIdealCache(p *Profile) *idealCache {
	c := &idealCache{ttl: map[traces.QueryType]int64{}, written: map[string]int64{}}
	for name, q := range p.QueryTypes {
		if q.Repeat != nil {
			qt, _ := traces.ParseQueryType(name)
			c.ttl[qt] = int64(q.Repeat.TTLS * float64(time.Second))
		}
	}
	return c
}

// observe reports whether rec, a call of a type with a TTL, would hit (ok false for other calls).
func (c *idealCache) observe(rec *traces.Record) (hit, ok bool) {
	ttl, ok := c.ttl[rec.QueryType]
	if !ok || !rec.Has(traces.FieldFingerprint) {
		return false, false
	}
	key := rec.Tenant + "\x00" + string(appendHashKey(nil, rec.Fingerprint))
	t := rec.Time.UnixNano()
	if w, seen := c.written[key]; seen && t-w < ttl {
		return true, true
	}
	if rec.Status == 200 || !rec.Has(traces.FieldStatus) {
		c.written[key] = t
		c.n++
		if c.n > 200_000 {
			for k, w := range c.written {
				if t-w > 7*24*int64(time.Hour) && t-w > 2*ttl {
					delete(c.written, k)
				}
			}
			c.n = 0
		}
	}
	return false, true
}

func appendHashKey(b []byte, h uint64) []byte {
	for i := 0; i < 8; i++ {
		b = append(b, byte(h>>(8*i)))
	}
	return b
}

// expectedCalls returns the mean number of calls in a session of kind s, its sub-agents included.
func (p *Profile) expectedCalls(s *SessionProfile, depth int) float64 {
	n := 1 + s.ExtraCallsMean
	if sa := s.Subagents; sa != nil && depth < 4 {
		more := s.ExtraCallsMean / (1 + s.ExtraCallsMean) // P(a second call), geometric
		if s.ExtraCallsDist == "poisson" {
			more = 1 - math.Exp(-s.ExtraCallsMean)
		}
		spawn := sa.Probability * more
		n += spawn * sa.CountMean * p.expectedCalls(p.session(sa.Session), depth+1)
	}
	return n
}

// heartbeatsPerDay is the number of heartbeat calls a day over all tenants.
func (p *Profile) heartbeatsPerDay() float64 {
	if p.Heartbeat == nil {
		return 0
	}
	return 86400 / p.Heartbeat.EveryS * float64(len(p.Tenants))
}

func calibrate(g *Generator) (*Calibration, error) {
	p := g.p
	t := p.Targets
	if t == nil {
		t = &Targets{}
	}
	cal := &Calibration{Profile: p.Name}
	prm := params{sIn: 1, sOut: 1, ttftFactor: 1, repeatProb: map[string]float64{}, sessionsPerDay: make([]float64, len(p.Sessions))}

	// Session rates.
	hb := p.heartbeatsPerDay()
	if hb > 0 {
		cal.add("heartbeats", "one per tenant every heartbeat.every_s, as an OpenClaw agent's HEARTBEAT.md turn",
			"%s calls/day (every %s, %d tenant(s))", num(hb, 1), time.Duration(p.Heartbeat.EveryS*float64(time.Second)), len(p.Tenants))
	}
	shareTotal := 0.0
	for _, s := range p.Sessions {
		shareTotal += s.CallShare
	}
	callsPerDay := hb
	for k, s := range p.Sessions {
		ec := p.expectedCalls(s, 0)
		switch {
		case s.CallShare > 0:
			if t.CallsPerDay <= hb {
				return nil, fmt.Errorf("sessions[%d] has call_share but targets.calls_per_day (%g) leaves no calls beyond the heartbeats (%g)", k, t.CallsPerDay, hb)
			}
			prm.sessionsPerDay[k] = (t.CallsPerDay - hb) * s.CallShare / shareTotal / ec
		case s.SessionsPerDay > 0:
			prm.sessionsPerDay[k] = s.SessionsPerDay
		default:
			continue
		}
		callsPerDay += prm.sessionsPerDay[k] * ec
		cal.add("sessions "+s.Name, callsWhy(s, t.CallsPerDay),
			"%s sessions/day × %s calls each = %s calls/day", num(prm.sessionsPerDay[k], 2), num(ec, 2), num(prm.sessionsPerDay[k]*ec, 1))
	}
	if t.CallsPerDay > 0 {
		cal.add("calls", "targets.calls_per_day", "%s calls/day expected", num(callsPerDay, 1))
	}

	// Latency.
	if t.ResponseTimeS > 0 {
		mean, total := 0.0, 0.0
		for _, m := range p.Models {
			mean += m.Share * m.TTFT.Mean()
			total += m.Share
		}
		mean /= total
		prm.ttftFactor = t.ResponseTimeS / mean
		cal.add("time to first token", "targets.response_time_s, read as the time to first token: a streamed answer is seen as it starts; "+
			"the full latency adds output tokens over each model's tokens_per_s",
			"mean %ss (model medians scaled by %s)", num(t.ResponseTimeS, 2), num(prm.ttftFactor, 3))
	}

	// Input/output split.
	var inCall, outCall float64
	if t.TokensPerDay > 0 && t.CostPerDayUSD > 0 {
		pin, pout, desc, err := mixRates(p, g.opts.Book, g.start)
		if err != nil {
			return nil, err
		}
		// in + out = T; in·pin + out·pout = C (rates in $ per token).
		T, C := t.TokensPerDay, t.CostPerDayUSD
		out := (C - T*pin) / (pout - pin)
		in := T - out
		if out <= 0 || in <= 0 || pout == pin {
			return nil, fmt.Errorf("targets: %s tokens/day cannot cost $%s/day at %s: it would need %s input and %s output tokens",
				num(T, 0), num(C, 2), desc, num(in, 0), num(out, 0))
		}
		inCall, outCall = in/callsPerDay, out/callsPerDay
		cal.add("input/output split", fmt.Sprintf("the only split that gives both targets.tokens_per_day and targets.cost_per_day_usd at %s with no prompt caching", desc),
			"%s input (%s) + %s output (%s) tokens/day = %s input and %s output tokens per call",
			num(in, 0), pct(in/T), num(out, 0), pct(out/T), num(inCall, 1), num(outCall, 1))
	}
	for name, target := range t.CacheHitRate {
		prm.repeatProb[name] = target // first guess, refined by the pilot
	}
	for name, q := range p.QueryTypes {
		if q.Repeat != nil && t.CacheHitRate[name] == 0 && q.Repeat.Probability > 0 {
			prm.repeatProb[name] = q.Repeat.Probability
		}
	}

	needPilot := t.TokensPerDay > 0 || len(t.CacheHitRate) > 0 || t.ComplexityBelow50 > 0
	if !needPilot {
		g.prm = prm
		return cal, nil
	}
	cal.PilotDays = int(math.Min(365, math.Max(28, math.Ceil(30000/callsPerDay))))
	var st *pilotStats
	for iter := 0; iter < 6; iter++ {
		st = g.pilot(prm, cal.PilotDays)
		if t.TokensPerDay > 0 {
			s1, n1, hn1 := st.system/prm.sIn, st.newTok/prm.sIn, st.histNew/prm.sIn
			ho1, o1 := st.histOut/prm.sOut, st.output/prm.sOut
			if inCall > 0 {
				prm.sOut = outCall / o1
				prm.sIn = (inCall - prm.sOut*ho1) / (s1 + n1 + hn1)
				if prm.sIn <= 0 {
					return nil, fmt.Errorf("targets: %s input tokens per call cannot hold the conversation history that %s output tokens per call leave behind (history alone: %s)",
						num(inCall, 0), num(outCall, 0), num(prm.sOut*ho1, 0))
				}
			} else {
				perCall := t.TokensPerDay / callsPerDay
				k := perCall / (st.system + st.newTok + st.histNew + st.histOut + st.output)
				prm.sIn *= k
				prm.sOut *= k
			}
		}
		for _, name := range slices.Sorted(maps.Keys(t.CacheHitRate)) {
			target := t.CacheHitRate[name]
			got := 0.0
			if st.repeatCalls[name] > 0 {
				got = st.repeatHits[name] / st.repeatCalls[name]
			}
			q := prm.repeatProb[name]
			if got > 0 {
				q *= target / got
			} else if target > 0 {
				q = math.Max(q*2, target)
			}
			prm.repeatProb[name] = math.Min(q, 0.95)
		}
	}
	st = g.pilot(prm, cal.PilotDays)

	if t.TokensPerDay > 0 {
		inGot := st.system + st.newTok + st.histNew + st.histOut
		cal.add("token scales", "solved from the pilot's averages so that expected input and output per call meet the split",
			"input-side sizes ×%s, output sizes ×%s → pilot: %s input (system %s, history %s, new %s) and %s output tokens per call",
			num(prm.sIn, 4), num(prm.sOut, 4), num(inGot, 1), num(st.system, 1), num(st.histNew+st.histOut, 1), num(st.newTok, 1), num(st.output, 1))
		cal.add("agent system prompt", "profile system_tokens × the input scale", "%s tokens", num(math.Round(p.SystemTokens*prm.sIn), 0))
		for _, name := range slices.Sorted(maps.Keys(p.QueryTypes)) {
			q := p.QueryTypes[name]
			cal.add("sizes "+name, "profile medians × the scales",
				"new %s, output %s tokens (medians)", num(q.NewTokens.Median*prm.sIn, 0), num(q.OutputTokens.Median*prm.sOut, 0))
		}
		if price, err := g.opts.Book.Lookup(p.Models[0].Model, g.start); err == nil && price.Long != nil && st.maxPrompt > price.Long.Threshold {
			cal.add("warning", "the split assumed standard rates", "some prompts exceed the %d-token long-context threshold", price.Long.Threshold)
		}
	}
	if len(t.CacheHitRate) > 0 {
		var wsum, hsum float64
		for _, name := range slices.Sorted(maps.Keys(t.CacheHitRate)) {
			got := 0.0
			if st.repeatCalls[name] > 0 {
				got = st.repeatHits[name] / st.repeatCalls[name]
			}
			ttl := time.Duration(p.QueryTypes[name].Repeat.TTLS * float64(time.Second))
			cal.add("repeats "+name, fmt.Sprintf("so that an ideal cache with a %s TTL hits targets.cache_hit_rate.%s = %s", ttl, name, pct(t.CacheHitRate[name])),
				"%s of calls repeat an earlier one → pilot ideal hit rate %s", pct(prm.repeatProb[name]), pct(got))
			wsum += st.byType[name]
			hsum += st.byType[name] * t.CacheHitRate[name]
		}
		cal.add("weighted hit rate", "the per-type targets weighted by each type's share of calls (the plan quotes a weighted average)",
			"%s over the %d cacheable types, which make %s of all calls", pct(hsum/wsum), len(t.CacheHitRate), pct(wsum/st.calls))
	}
	if t.ComplexityBelow50 > 0 {
		shift, err := complexityShift(p, st.byType, t.ComplexityBelow50)
		if err != nil {
			return nil, err
		}
		prm.complexityShift = shift
		cal.add("complexity", "targets.complexity_below_50: every type's Beta draw is shifted by the same amount on the logit scale",
			"logit shift %s so that %s of scored calls fall under 50", num(shift, 4), pct(t.ComplexityBelow50))
	}
	g.prm = prm
	return cal, nil
}

func callsWhy(s *SessionProfile, target float64) string {
	if s.CallShare > 0 {
		return fmt.Sprintf("call_share %s of the %s non-heartbeat calls/day", num(s.CallShare, 3), num(target, 0))
	}
	return "sessions_per_day"
}

// mixRates returns the call-weighted mean input and output rates of the profile's model mix, in
// dollars per token, at time at.
func mixRates(p *Profile, book *pricing.Book, at time.Time) (pin, pout float64, desc string, err error) {
	var total float64
	var parts []string
	for _, m := range p.Models {
		price, err := book.Lookup(m.Model, at)
		if err != nil {
			return 0, 0, "", err
		}
		pin += m.Share * price.Input.PerToken()
		pout += m.Share * price.Output.PerToken()
		total += m.Share
		parts = append(parts, fmt.Sprintf("%s ($%s/$%s per M)", m.Model, price.Input, price.Output))
	}
	return pin / total, pout / total, strings.Join(parts, ", ") + " list prices", nil
}

// complexityShift finds the logit shift δ at which the share of scored calls under 50 is target:
// a draw u lands under 50 exactly when u < 1/(1+e^δ), so the share is the call-weighted mixture of
// the types' Beta CDFs there. Bisection on δ.
func complexityShift(p *Profile, calls map[string]float64, target float64) (float64, error) {
	type comp struct {
		w float64
		b distuv.Beta
	}
	var cs []comp
	var total float64
	for _, name := range slices.Sorted(maps.Keys(p.QueryTypes)) {
		cx := p.QueryTypes[name].Complexity
		if cx == nil || calls[name] == 0 {
			continue
		}
		cs = append(cs, comp{calls[name], distuv.Beta{Alpha: cx.Mean / 100 * cx.Concentration, Beta: (1 - cx.Mean/100) * cx.Concentration}})
		total += calls[name]
	}
	if total == 0 {
		return 0, fmt.Errorf("targets.complexity_below_50: no query type has a complexity distribution")
	}
	share := func(delta float64) float64 {
		x := 1 / (1 + math.Exp(delta))
		s := 0.0
		for _, c := range cs {
			s += c.w * c.b.CDF(x)
		}
		return s / total
	}
	lo, hi := -20.0, 20.0
	for i := 0; i < 100; i++ {
		mid := (lo + hi) / 2
		if share(mid) > target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2, nil
}

func num(v float64, decimals int) string { return textfmt.Thousands(v, decimals) }

func pct(v float64) string { return textfmt.Percent(v) }

// Summary is what a generated trace turned out to be, measured on its records.
type Summary struct {
	Records               int64
	Days                  float64
	Input, Output, Prompt int64 // billed tokens
	CacheRead             int64
	Cost                  money.Amount
	Models                map[string]int64
	TTFT                  time.Duration // sum
	Scored, Below50       int64
	Errors                int64
	IdealCalls, IdealHits map[traces.QueryType]int64
}

// summarize returns an accumulator for Summary over records of the generator's window.
func (g *Generator) summarize() (*Summary, func(*traces.Record)) {
	s := &Summary{Days: g.end.Sub(g.start).Hours() / 24, Models: map[string]int64{}, IdealCalls: map[traces.QueryType]int64{}, IdealHits: map[traces.QueryType]int64{}}
	ideal := newIdealCache(g.p)
	return s, func(r *traces.Record) {
		s.Records++
		s.Models[r.Model]++
		s.Input += r.Input
		s.Output += r.Output
		s.Prompt += r.PromptTokens()
		s.CacheRead += r.CacheRead
		if c, err := g.opts.Book.Cost(r); err == nil {
			s.Cost += c.Total()
		}
		s.TTFT += r.TTFT
		if r.Has(traces.FieldComplexity) {
			s.Scored++
			if r.Complexity < 50 {
				s.Below50++
			}
		}
		if r.Status != 200 {
			s.Errors++
		}
		if hit, ok := ideal.observe(r); ok {
			s.IdealCalls[r.QueryType]++
			if hit {
				s.IdealHits[r.QueryType]++
			}
		}
	}
}

// WriteTo writes the realized figures beside the profile's targets.
func (s *Summary) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	d := s.Days
	fmt.Fprintf(&b, "generated %s records over %s days:\n", num(float64(s.Records), 0), num(d, 0))
	fmt.Fprintf(&b, "  %s calls/day, %s tokens/day (%s output), $%s/day at list prices\n",
		num(float64(s.Records)/d, 1), num(float64(s.Prompt+s.Output)/d, 0), pct(float64(s.Output)/math.Max(1, float64(s.Prompt+s.Output))), money.Amount(int64(float64(s.Cost)/d)).Format(2))
	if s.Prompt > 0 && s.CacheRead > 0 {
		fmt.Fprintf(&b, "  %s of prompt tokens read from the prompt cache\n", pct(float64(s.CacheRead)/float64(s.Prompt)))
	}
	for _, m := range slices.Sorted(maps.Keys(s.Models)) {
		fmt.Fprintf(&b, "  %s: %s of calls\n", m, pct(float64(s.Models[m])/float64(s.Records)))
	}
	if s.Scored > 0 {
		fmt.Fprintf(&b, "  complexity under 50: %s of scored calls\n", pct(float64(s.Below50)/float64(s.Scored)))
	}
	fmt.Fprintf(&b, "  mean time to first token %ss; errors %s of calls\n", num(s.TTFT.Seconds()/math.Max(1, float64(s.Records)), 2), pct(float64(s.Errors)/math.Max(1, float64(s.Records))))
	for _, qt := range traces.QueryTypes {
		if n := s.IdealCalls[qt]; n > 0 {
			fmt.Fprintf(&b, "  %s: an ideal response cache would hit %s of %s calls\n", qt, pct(float64(s.IdealHits[qt])/float64(n)), num(float64(n), 0))
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}
