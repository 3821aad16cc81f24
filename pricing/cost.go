package pricing

import (
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/traces"
)

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

// Usage is what a call consumed, as the provider bills it.
type Usage struct {
	Input, CacheWrite5m, CacheWrite1h, CacheRead, Output int64 // tokens
	Tier                                                 traces.ServiceTier
}

// UsageOf returns the billable usage recorded in r (absent counts are zero tokens).
func UsageOf(r *traces.Record) Usage {
	return Usage{Input: r.Input, CacheWrite5m: r.CacheWrite5m, CacheWrite1h: r.CacheWrite1h, CacheRead: r.CacheRead, Output: r.Output, Tier: r.ServiceTier}
}

// Prompt returns the prompt size: input plus cache writes plus cache reads.
func (u Usage) Prompt() int64 { return u.Input + u.CacheWrite5m + u.CacheWrite1h + u.CacheRead }

// RatesFor returns the rates that apply to usage u under price p: the long-context tier when the
// prompt exceeds its threshold, times the batch factor for batch-tier calls.
func (p *Price) RatesFor(u Usage) Rates {
	r := p.Rates
	if p.Long != nil && u.Prompt() > p.Long.Threshold {
		r = p.Long.Rates
	}
	if u.Tier == traces.TierBatch && p.BatchDen != 0 {
		r = r.scale(p.BatchNum, p.BatchDen)
	}
	return r
}

// Cost returns the exact cost of usage u at price p. Each part is rounded once, half to even, to
// the nano-dollar.
func (p *Price) Cost(u Usage) Breakdown {
	r := p.RatesFor(u)
	return Breakdown{
		Input:        r.Input.Cost(u.Input),
		CacheWrite5m: r.CacheWrite5m.Cost(u.CacheWrite5m),
		CacheWrite1h: r.CacheWrite1h.Cost(u.CacheWrite1h),
		CacheRead:    r.CacheRead.Cost(u.CacheRead),
		Output:       r.Output.Cost(u.Output),
	}
}

// Cost prices the call r: its model's price in force at r.Time, applied to its recorded usage. The
// error wraps ErrUnknownModel when the book has no price for the model.
func (b *Book) Cost(r *traces.Record) (Breakdown, error) {
	p, err := b.Lookup(r.Model, r.Time)
	if err != nil {
		return Breakdown{}, err
	}
	return p.Cost(UsageOf(r)), nil
}
