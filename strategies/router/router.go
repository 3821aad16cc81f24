// Package router is the model-routing strategy: it sends each call to a model chosen by the
// call's complexity score, in bands (the seed plan: scores below 50 to claude-haiku-4-5, the rest
// to claude-sonnet-4-5), but never to a model that would cost more for that call than the one the
// client asked for.
//
// # What it changes
//
// Handle sets c.Rec.Model to the band's model and c.Routed to true when the band's model prices
// the call (its recorded tokens, tier and speed, at the time of the call) at or below the price
// of the call's current model; otherwise the call keeps its model. The recorded prompt-cache
// split (cache_read, cache_write_5m, cache_write_1h) stays as recorded when the model changes:
// the router does not know whether the new model's cache would hold the prefix. The prompt-cache
// strategy, when it is on, recomputes the split per model.
//
// Calls re-entering the stack on a retry (c.Retries > 0) pass unchanged and uncounted: the router
// decided about them on their first pass.
//
// # Cascade
//
// With cascade on, Observe asks for a retry (Outcome.RetryWith) of a call the router sent down
// (c.Routed) whose answer was unacceptable or failed, while c.Retries < max_retries: on the model
// of the next band upward, from the call's band, whose model differs from the current one; when
// no band is left, or when that model would cost more for the call than the client's own model,
// on the client's model (c.OrigModel). A call already on its client's model is not retried.
//
// # Calibration
//
// Settings.TargetShare records the plan's target share of calls in the lower bands (45% on
// Haiku). The router does not apply it: the simulator or the analysis calls CalibrateBand with
// the trace's scores (Score) before a run.
package router

import (
	"strconv"
	"time"

	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/strategies"
)

func init() {
	strategies.Register(strategies.Def{
		Name:     Name,
		Summary:  "route calls to a model by complexity band, never to a pricier one (optional cascade on failure)",
		Defaults: func() strategies.Settings { return Defaults() },
		Build: func(s strategies.Settings, env strategies.Env) (strategies.Stage, error) {
			return New(s.(*Settings), env)
		},
	})
}

// memoCap bounds the number of distinct model names whose price the stage remembers; when it is
// reached the memo starts afresh.
const memoCap = 1024

// Router is the routing stage. It is not safe for concurrent use (the driver never calls a stage
// concurrently).
type Router struct {
	bands      []Band // copied from the settings
	cascade    bool
	maxRetries int
	book       *pricing.Book
	memo       map[string]memoEntry // model name as given → its price over a period
	recent     [4]recentPrice       // the last models looked up: most calls need no map lookup
	nextRecent int

	seen, routed, kept, keptCheaper, unknown, cascades int64
	inBand                                             []int64  // calls per band
	bandNames                                          []string // "band_0", ...
}

// memoEntry is a model's price, valid for calls in [from, until) (Unix nanoseconds); known is
// false for a model the book does not know (valid always).
type memoEntry struct {
	p           *pricing.Price
	from, until int64
	known       bool
}

// New builds the stage from validated settings. env.Book prices the calls (pricing.Default() when
// nil); every band model must be known to it. The stage copies what it needs from s.
func New(s *Settings, env strategies.Env) (*Router, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	book := env.Book
	if book == nil {
		book = pricing.Default()
	}
	r := &Router{
		bands:      append([]Band(nil), s.Bands...),
		cascade:    s.Cascade.On,
		maxRetries: s.Cascade.MaxRetries,
		book:       book,
		memo:       make(map[string]memoEntry, 16),
		inBand:     make([]int64, len(s.Bands)),
		bandNames:  make([]string, len(s.Bands)),
	}
	for i, b := range s.Bands {
		if len(book.Prices(b.Model)) == 0 {
			return nil, strategies.Errorf(path(i, "model"), "model %q is not in the price book", b.Model)
		}
		r.bandNames[i] = "band_" + strconv.Itoa(i)
	}
	return r, nil
}

// Name returns "router".
func (r *Router) Name() string { return Name }

// recentPrice is a memo entry with its model name.
type recentPrice struct {
	model string
	memoEntry
}

// price returns the price of model in force at now, or nil when the book does not know it.
func (r *Router) price(model string, now int64) *pricing.Price {
	for i := range r.recent {
		if e := &r.recent[i]; e.model == model && e.known && now >= e.from && now < e.until {
			return e.p
		}
	}
	p := r.lookup(model, now)
	if e := r.memo[model]; e.known && now >= e.from && now < e.until {
		r.recent[r.nextRecent] = recentPrice{model, e}
		r.nextRecent = (r.nextRecent + 1) % len(r.recent)
	}
	return p
}

// lookup is price through the map memo and the book.
func (r *Router) lookup(model string, now int64) *pricing.Price {
	if e, ok := r.memo[model]; ok {
		if !e.known {
			return nil
		}
		if now >= e.from && now < e.until {
			return e.p
		}
	}
	p, err := r.book.Lookup(model, time.Unix(0, now))
	if len(r.memo) >= memoCap {
		clear(r.memo)
	}
	if err != nil {
		r.memo[model] = memoEntry{}
		return nil
	}
	// Remember the period only when the price covers now (not a nearest-period fallback).
	e := memoEntry{p: p, known: true}
	e.from, e.until = p.Period()
	if now < e.from || now >= e.until {
		e.from, e.until = 0, 0 // a fallback: look it up again next time
	}
	r.memo[model] = e
	return p
}

// band returns the band of complexity score x.
func (r *Router) band(x float64) int {
	for i := range r.bands {
		if x < r.bands[i].Max {
			return i
		}
	}
	return len(r.bands) - 1
}

// cost returns the total cost of the call as it stands under price p at now, in nano-dollars.
func cost(p *pricing.Price, c *strategies.Call, now int64) int64 {
	pc := pricing.CallOf(&c.Rec)
	pc.At = time.Unix(0, now)
	return int64(p.Cost(pc).Total())
}

// Handle routes c to its band's model when that model costs no more for the call than its
// current model. It always returns Next.
func (r *Router) Handle(now int64, c *strategies.Call) strategies.Decision {
	if c.Retries > 0 {
		return strategies.Decision{}
	}
	r.seen++
	b := r.band(Score(&c.Rec))
	r.inBand[b]++
	cur := r.price(c.Rec.Model, now)
	if cur == nil {
		r.unknown++
		return strategies.Decision{}
	}
	target := r.price(r.bands[b].Model, now)
	switch {
	case target == cur || c.Rec.Model == r.bands[b].Model:
		r.kept++
	case cost(target, c, now) <= cost(cur, c, now):
		c.Rec.Model = r.bands[b].Model
		c.Routed = true
		r.routed++
	default:
		r.keptCheaper++
	}
	return strategies.Decision{}
}

// Observe asks for a cascade retry (o.RetryWith) of a call the router sent down whose answer was
// unacceptable or failed, as the package documentation describes.
func (r *Router) Observe(now int64, c *strategies.Call, o *strategies.Outcome) {
	if !r.cascade || !c.Routed || c.Served || (o.OK && !o.Failed) || c.Retries >= r.maxRetries || o.RetryWith != "" {
		return
	}
	if m := r.cascadeTo(now, c); m != "" {
		o.RetryWith = m
		r.cascades++
	}
}

// cascadeTo returns the model a failed routed call should be retried on, or "" for none.
func (r *Router) cascadeTo(now int64, c *strategies.Call) string {
	cur := r.price(c.Rec.Model, now)
	orig := r.price(c.OrigModel, now)
	if orig == nil || cur == orig || c.Rec.Model == c.OrigModel {
		return ""
	}
	// Start from the call's band, or from the highest band above it on the current model (after
	// an earlier cascade), and take the next band whose model differs.
	start := r.band(Score(&c.Rec))
	for j := start + 1; j < len(r.bands); j++ {
		if r.price(r.bands[j].Model, now) == cur {
			start = j
		}
	}
	for j := start + 1; j < len(r.bands); j++ {
		m := r.bands[j].Model
		p := r.price(m, now)
		if p == cur {
			continue
		}
		if p == orig || cost(p, c, now) > cost(orig, c, now) {
			break // no dearer than the client's own model
		}
		return m
	}
	return c.OrigModel
}

// Counters returns the stage's counters: routed (calls whose model changed), routed_share (of the
// calls seen), kept (the band's model is the call's), kept_cheaper (the band's model would cost
// more), unknown_model (the book does not know the call's model), cascades (retries asked for),
// and band_i (calls whose score fell in band i).
func (r *Router) Counters() []strategies.Count {
	share := 0.0
	if r.seen > 0 {
		share = float64(r.routed) / float64(r.seen)
	}
	out := make([]strategies.Count, 0, 6+len(r.bands))
	out = append(out,
		strategies.Count{Name: "routed", Value: float64(r.routed)},
		strategies.Count{Name: "routed_share", Value: share},
		strategies.Count{Name: "kept", Value: float64(r.kept)},
		strategies.Count{Name: "kept_cheaper", Value: float64(r.keptCheaper)},
		strategies.Count{Name: "unknown_model", Value: float64(r.unknown)},
		strategies.Count{Name: "cascades", Value: float64(r.cascades)},
	)
	for i, n := range r.inBand {
		out = append(out, strategies.Count{Name: r.bandNames[i], Value: float64(n)})
	}
	return out
}
