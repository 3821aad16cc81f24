package pricing

import (
	"math"
	"time"

	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/traces"
)

// Rates is the price of each kind of token, per million tokens.
type Rates struct {
	Input        money.Rate // uncached input
	Output       money.Rate // output, reasoning included
	CacheWrite5m money.Rate // prompt-cache write with a 5-minute TTL
	CacheWrite1h money.Rate // prompt-cache write with a 1-hour TTL
	CacheRead    money.Rate // prompt-cache read
}

// scale returns r with every rate multiplied by f.
func (r Rates) scale(f Factor) Rates {
	return Rates{f.apply(r.Input), f.apply(r.Output), f.apply(r.CacheWrite5m), f.apply(r.CacheWrite1h), f.apply(r.CacheRead)}
}

// Factor is an exact multiplier Num/Den applied to rates (the batch discount 1/2, fast mode 6/1).
type Factor struct{ Num, Den int64 }

func (f Factor) apply(r money.Rate) money.Rate { return r.Scale(f.Num, f.Den) }

// IsZero reports whether f is unset.
func (f Factor) IsZero() bool { return f.Den == 0 }

// Float returns f as a float64, for display.
func (f Factor) Float() float64 { return float64(f.Num) / float64(f.Den) }

// LongContext is a tier that replaces the standard rates for requests whose prompt exceeds
// Threshold tokens: the whole request, output included, is billed at its rates.
type LongContext struct {
	Threshold int64 // prompt tokens; the tier applies when the prompt is strictly larger
	Rates
}

// Window is a time-of-day period in which other rates apply to standard-tier calls (DeepSeek's
// off-peak discount). Times are UTC minutes after midnight; a window may wrap past midnight
// (From > To). It applies on the weekdays in Days (all days when Days is zero), the weekday being
// the one on which the window opened.
type Window struct {
	From, To int     // minutes after 00:00 UTC, To exclusive
	Days     [7]bool // by time.Weekday; all false means every day
	Label    string  // "off-peak"
	Rates    Rates   // the rates in force inside the window
}

// contains reports whether t (UTC) falls inside the window.
func (w *Window) contains(t time.Time) bool {
	t = t.UTC()
	m := t.Hour()*60 + t.Minute()
	day := t.Weekday()
	in := false
	switch {
	case w.From <= w.To:
		in = m >= w.From && m < w.To
	case m >= w.From:
		in = true
	case m < w.To:
		in = true
		day = (day + 6) % 7 // opened the day before
	}
	if !in {
		return false
	}
	return w.Days == [7]bool{} || w.Days[day]
}

// Price is the price of one model over one period. A Book owns its Prices; callers must not modify
// them.
type Price struct {
	Model    string    // canonical model id
	Provider string    // "anthropic", "openai", "deepseek", ...
	Aliases  []string  // other names of the same model (dated ids)
	From     time.Time // in force from this instant; zero means since always
	Until    time.Time // in force until this instant (exclusive); zero means still in force
	// Retired is when the provider stopped serving the model, if it has; calls after it are still
	// priced at the last price, and flagged.
	Retired time.Time
	Rates   // standard on-demand rates
	Long    *LongContext
	// Batch is the Batch API factor applied to every rate (1/2 for Anthropic and OpenAI), unless
	// Tiers has explicit batch rates; zero means no batch pricing (batch calls pay standard).
	Batch Factor
	// Tiers holds explicit rates for service tiers other than standard (OpenAI's flex and priority,
	// explicit batch prices).
	Tiers map[traces.ServiceTier]Rates
	// Windows are time-of-day rates for standard-tier calls.
	Windows []Window
	// Fast multiplies every rate for calls made in fast mode (speed: fast), when set.
	Fast Factor
	// MinCacheable is the shortest prompt prefix, in tokens, that the provider will cache.
	MinCacheable int64
}

// Call is what a call consumed and how it was served, as the provider bills it.
type Call struct {
	Input, CacheWrite5m, CacheWrite1h, CacheRead, Output int64 // tokens
	Tier                                                 traces.ServiceTier
	Speed                                                traces.Speed
	At                                                   time.Time // when the call ran, for windows
}

// CallOf returns the billable call recorded in r (absent counts are zero tokens).
func CallOf(r *traces.Record) Call {
	return Call{Input: r.Input, CacheWrite5m: r.CacheWrite5m, CacheWrite1h: r.CacheWrite1h, CacheRead: r.CacheRead, Output: r.Output,
		Tier: r.ServiceTier, Speed: r.Speed, At: r.Time}
}

// Prompt returns the prompt size: input plus cache writes plus cache reads.
func (c Call) Prompt() int64 { return c.Input + c.CacheWrite5m + c.CacheWrite1h + c.CacheRead }

// RatesFor returns the rates that apply to call c under price p, in this order of rules:
//  1. the standard rates, or a time-of-day window's when c.At falls in one (standard tier only);
//  2. the long-context rates instead, when the prompt exceeds the threshold (the whole request);
//  3. for a tier other than standard, the tier's explicit rates when p has them (a long prompt
//     keeps its long-context rates and takes the batch factor); else, for batch, the batch factor;
//  4. fast mode's multiplier, when the call asked for it and p has one.
func (p *Price) RatesFor(c Call) Rates {
	r := p.Rates
	long := p.Long != nil && c.Prompt() > p.Long.Threshold
	switch {
	case long:
		r = p.Long.Rates
	case c.Tier == 0 || c.Tier == traces.TierStandard:
		for i := range p.Windows {
			if p.Windows[i].contains(c.At) {
				r = p.Windows[i].Rates
				break
			}
		}
	}
	if c.Tier != 0 && c.Tier != traces.TierStandard {
		if t, ok := p.Tiers[c.Tier]; ok && !long {
			r = t
		} else if c.Tier == traces.TierBatch && !p.Batch.IsZero() {
			r = r.scale(p.Batch)
		}
	}
	if c.Speed == traces.SpeedFast && !p.Fast.IsZero() {
		r = r.scale(p.Fast)
	}
	return r
}

// Period returns the span p is in force, [from, until) in Unix nanoseconds: math.MinInt64 when it
// holds since always, math.MaxInt64 when it is still in force. Callers that remember a price for
// its period use it; note that Book.Lookup gives the nearest period for an instant outside every
// period, which then does not hold that instant.
func (p *Price) Period() (from, until int64) {
	from, until = math.MinInt64, math.MaxInt64
	if !p.From.IsZero() {
		from = p.From.UnixNano()
	}
	if !p.Until.IsZero() {
		until = p.Until.UnixNano()
	}
	return from, until
}

// Cost returns the exact cost of call c at price p. Each part is rounded once, half to even, to
// the nano-dollar.
func (p *Price) Cost(c Call) Breakdown {
	r := p.RatesFor(c)
	return Breakdown{
		Input:        r.Input.Cost(c.Input),
		CacheWrite5m: r.CacheWrite5m.Cost(c.CacheWrite5m),
		CacheWrite1h: r.CacheWrite1h.Cost(c.CacheWrite1h),
		CacheRead:    r.CacheRead.Cost(c.CacheRead),
		Output:       r.Output.Cost(c.Output),
	}
}

// Breakdown is the cost of a call by token kind. Its parts add up to Total exactly.
type Breakdown struct {
	Input        money.Amount
	CacheWrite5m money.Amount
	CacheWrite1h money.Amount
	CacheRead    money.Amount
	Output       money.Amount
}

// Total returns the sum of the parts.
func (b Breakdown) Total() money.Amount {
	return b.Input + b.CacheWrite5m + b.CacheWrite1h + b.CacheRead + b.Output
}

// Add adds c to b part by part.
func (b *Breakdown) Add(c Breakdown) {
	b.Input += c.Input
	b.CacheWrite5m += c.CacheWrite5m
	b.CacheWrite1h += c.CacheWrite1h
	b.CacheRead += c.CacheRead
	b.Output += c.Output
}

// Cost prices the call r at the price of its model in force at r.Time. The error wraps
// ErrUnknownModel when the book has no price for the model.
func (b *Book) Cost(r *traces.Record) (Breakdown, error) { return b.CostAt(r, r.Time) }

// CostAt prices the call r at the price of its model in force at time at (tarsopt cost --at),
// keeping r's own time of day for time-of-day windows.
func (b *Book) CostAt(r *traces.Record, at time.Time) (Breakdown, error) {
	p, err := b.Lookup(r.Model, at)
	if err != nil {
		return Breakdown{}, err
	}
	return p.Cost(CallOf(r)), nil
}
