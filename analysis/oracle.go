package analysis

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/sim"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// OracleOptions set up the oracle bound.
type OracleOptions struct {
	Book     *pricing.Book
	Upstream *strategies.Upstream
	// Seed is the seed of the common random numbers: the oracle reads the same quality draw per
	// call as the replays do.
	Seed uint64
	// Models are the models a call may be moved to (besides its own): the router's.
	Models []string
	// BatchMinDelay is the least max_delay that lets a call wait for the Batch API (its price).
	BatchMinDelay time.Duration
	// ZeroUnknown prices a call to a model the book does not know at $0, as a replay with
	// sim.Options.ZeroUnknown does, instead of failing: no other model is cheaper.
	ZeroUnknown bool
}

// Oracle is the least a trace could have cost without losing an acceptable answer: every repeat
// of an earlier request (same tenant, same fingerprint) served free from a cache that forgets
// nothing; every other call on the cheapest of the models whose answer to it would have been
// acceptable (by the same quality draw the replays use), when its own model's would have been;
// and every call that may wait priced at the cheapest price in its wait: the Batch API's when its
// max_delay allows BatchMinDelay, or a time-of-day window's that opens before its deadline. It
// keeps each call's recorded prompt-cache split and tokens (no pruning), so it bounds what routing,
// caching, batching and deferral can save, not what prompt caching can.
type Oracle struct {
	Cost    money.Amount // over the trace
	Days    int
	Calls   int64
	Repeats int64 // served from the perfect cache
	Moved   int64 // on a cheaper model than their own
	Waited  int64 // priced at a cheaper time or tier
}

// PerDay returns the oracle's cost in USD per day.
func (o *Oracle) PerDay() float64 { return perDay(o.Cost, o.Days) }

// ShareOfAchievable returns how much of the achievable saving (baseline less the oracle's cost) a
// configuration with the given cost saves: 1 means it reaches the bound.
func (o *Oracle) ShareOfAchievable(baseline, cost money.Amount) float64 {
	if d := baseline - o.Cost; d > 0 {
		return float64(baseline-cost) / float64(d)
	}
	return 0
}

// ComputeOracle computes the oracle bound of tr.
func ComputeOracle(tr *Trace, opts OracleOptions) (*Oracle, error) {
	return OracleOf(sim.NewRecords(tr.Records), tr.Meta, opts)
}

// OracleOf computes the oracle bound of the trace src reads (in time order), whose metadata is
// meta, without holding it in memory.
func OracleOf(src sim.Source, meta traces.Meta, opts OracleOptions) (*Oracle, error) {
	if opts.Book == nil || opts.Upstream == nil {
		return nil, fmt.Errorf("analysis: the oracle needs a price book and an upstream model")
	}
	o := &Oracle{}
	pc := &priceCache{book: opts.Book, m: map[string]*cachedPrice{}}
	var seen seenSet
	start, end := meta.Start, meta.End
	var rec traces.Record
	for i := 0; ; i++ {
		if err := src.Read(&rec); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		r := &rec
		o.Calls++
		if r.Has(traces.FieldFingerprint) {
			if !seen.add(r.Tenant, r.Fingerprint) {
				o.Repeats++
				continue
			}
		}
		if start.IsZero() || r.Time.Before(start) {
			start = r.Time
		}
		if end.IsZero() || !r.Time.Before(end) {
			end = r.Time.Add(time.Nanosecond)
		}
		ckey := strategies.KeyOf(r, int64(i))
		u := strategies.Draw(opts.Seed, ckey, strategies.DrawQuality)
		cx := strategies.Complexity(r)
		_, own := opts.Upstream.Model(r.Model)
		ownOK := u < own.P(cx)
		best, err := pc.cheapestAt(opts, r, r.Model)
		if err != nil {
			if opts.ZeroUnknown {
				continue // $0, as the replays price it
			}
			return nil, err
		}
		moved := false
		if ownOK {
			for _, m := range opts.Models {
				if m == r.Model {
					continue
				}
				if _, c := opts.Upstream.Model(m); !(u < c.P(cx)) {
					continue
				}
				cost, err := pc.cheapestAt(opts, r, m)
				if err != nil {
					continue // a model the book does not price at that date
				}
				if cost < best {
					best, moved = cost, true
				}
			}
		}
		if moved {
			o.Moved++
		}
		if recorded, err := pc.priceAt(r, r.Model, r.Time, r.ServiceTier); err == nil && !moved && best < recorded {
			o.Waited++
		}
		o.Cost += best
	}
	o.Days = max(1, int((end.Sub(start)+24*time.Hour-1)/(24*time.Hour)))
	if !meta.Start.IsZero() && meta.End.After(meta.Start) {
		o.Days = max(1, int((meta.End.Sub(meta.Start)+24*time.Hour-1)/(24*time.Hour)))
	}
	return o, nil
}

// priceCache remembers each model's price over the period it holds, so that most calls look
// nothing up in the book.
type priceCache struct {
	book *pricing.Book
	m    map[string]*cachedPrice
}

type cachedPrice struct {
	p           *pricing.Price
	err         error
	from, until time.Time // the period p holds for; zero: unbounded
}

func (c *priceCache) lookup(model string, at time.Time) (*pricing.Price, error) {
	if e, ok := c.m[model]; ok && (e.from.IsZero() || !at.Before(e.from)) && (e.until.IsZero() || at.Before(e.until)) {
		return e.p, e.err
	}
	p, err := c.book.Lookup(model, at)
	e := &cachedPrice{p: p, err: err}
	if err == nil {
		e.from, e.until = p.From, p.Until
		if (!p.From.IsZero() && at.Before(p.From)) || (!p.Until.IsZero() && !at.Before(p.Until)) {
			e.from, e.until = at, at.Add(time.Nanosecond) // a nearest-period answer: this instant only
		}
	} else {
		e.from, e.until = at, at.Add(time.Nanosecond)
	}
	c.m[model] = e
	return p, err
}

// cheapestAt returns the least r costs on model: now, or, when it may wait, on the Batch API or at
// the opening of a time-of-day window before its deadline.
func (c *priceCache) cheapestAt(opts OracleOptions, r *traces.Record, model string) (money.Amount, error) {
	best, err := c.priceAt(r, model, r.Time, r.ServiceTier)
	if err != nil {
		return 0, err
	}
	if r.MaxDelay <= 0 {
		return best, nil
	}
	deadline := r.Time.Add(r.MaxDelay)
	if r.MaxDelay >= opts.BatchMinDelay {
		if v, err := c.priceAt(r, model, r.Time, traces.TierBatch); err == nil {
			best = min(best, v)
		}
	}
	p, err := c.lookup(model, r.Time)
	if err != nil {
		return best, nil
	}
	for _, w := range p.Windows {
		// The next opening of the window at or after the call, if before its deadline.
		day := r.Time.UTC().Truncate(24 * time.Hour)
		for _, d := range []time.Time{day, day.Add(24 * time.Hour)} {
			t := d.Add(time.Duration(w.From) * time.Minute)
			if t.Before(r.Time) {
				t = r.Time
			}
			if t.After(deadline) {
				continue
			}
			if v, err := c.priceAt(r, model, t, r.ServiceTier); err == nil {
				best = min(best, v)
			}
		}
	}
	return best, nil
}

// priceAt prices r's tokens on model at time at, in tier.
func (c *priceCache) priceAt(r *traces.Record, model string, at time.Time, tier traces.ServiceTier) (money.Amount, error) {
	p, err := c.lookup(model, at)
	if err != nil {
		return 0, err
	}
	call := pricing.CallOf(r)
	call.At, call.Tier = at, tier
	return p.Cost(call).Total(), nil
}

// OracleModels returns the distinct models of a list (the router's bands), in order.
func OracleModels(models ...string) []string {
	var out []string
	for _, m := range models {
		if m != "" && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}
