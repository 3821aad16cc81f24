package analysis

import (
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// A hand-built trace, priced by hand: a repeat is free, a call every model answers moves to the
// cheapest, a call that may wait a day pays the Batch API's half price.
func TestOracleByHand(t *testing.T) {
	start := time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
	up := &strategies.Upstream{DefaultSpeed: strategies.Speed{TTFT: 1, TokensPerS: 50},
		// Every model answers every call acceptably: the quality draw always succeeds.
		DefaultQuality: strategies.Curve{Easy: 1, Hard: 1, Shape: 1}}
	call := func(i int, fp uint64, maxDelay time.Duration) traces.Record {
		r := traces.Record{Time: start.Add(time.Duration(i) * time.Hour), ID: string(rune('a' + i)), Tenant: "t",
			Model: "claude-sonnet-4-5", Input: 100_000, Output: 10_000, MaxDelay: maxDelay}
		r.Set(traces.FieldInput)
		r.Set(traces.FieldOutput)
		if fp != 0 {
			r.Fingerprint = fp
			r.Set(traces.FieldFingerprint)
		}
		return r
	}
	tr := &Trace{Meta: traces.Meta{Start: start, End: start.Add(24 * time.Hour)}, Records: []traces.Record{
		call(0, 7, 0),            // first of its request
		call(1, 7, 0),            // a repeat: free
		call(2, 0, 24*time.Hour), // may wait a day: batch
	}}
	book := pricing.Default()
	// Without other models: Sonnet 4.5 at $3/$15 per million: $0.30 + $0.15 = $0.45 a call.
	o, err := ComputeOracle(tr, OracleOptions{Book: book, Upstream: up, BatchMinDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if want := money.Amount(0.675 * float64(money.Dollar)); o.Cost != want || o.Repeats != 1 || o.Waited != 1 || o.Days != 1 {
		t.Errorf("cost %v (want %v), repeats %d, waited %d, days %d", o.Cost, want, o.Repeats, o.Waited, o.Days)
	}
	// With Haiku 4.5 ($1/$5) allowed: $0.15 now, $0.075 batched.
	o, err = ComputeOracle(tr, OracleOptions{Book: book, Upstream: up, Models: []string{"claude-haiku-4-5"}, BatchMinDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if want := money.Amount(0.225 * float64(money.Dollar)); o.Cost != want || o.Moved != 2 {
		t.Errorf("with Haiku: cost %v (want %v), moved %d", o.Cost, want, o.Moved)
	}
	if s := o.ShareOfAchievable(money.Dollar, money.Dollar-money.Amount(0.3875*float64(money.Dollar))); s != 0.5 {
		t.Errorf("half the achievable saving: share %v", s)
	}
	// A quality floor no cheaper model meets: nothing moves.
	up = &strategies.Upstream{DefaultSpeed: up.DefaultSpeed, DefaultQuality: up.DefaultQuality,
		Quality: map[string]strategies.Curve{"claude-haiku": {Easy: 0, Hard: 0, Shape: 1}}}
	if o, _ = ComputeOracle(tr, OracleOptions{Book: book, Upstream: up, Models: []string{"claude-haiku-4-5"}, BatchMinDelay: time.Hour}); o.Moved != 0 {
		t.Errorf("moved %d calls to a model that answers none", o.Moved)
	}
}

// A call to a model the book does not know stops the oracle, unless ZeroUnknown prices it at $0
// as the replays then do; the other calls are priced as before.
func TestOracleZeroUnknown(t *testing.T) {
	start := time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
	up := &strategies.Upstream{DefaultSpeed: strategies.Speed{TTFT: 1, TokensPerS: 50},
		DefaultQuality: strategies.Curve{Easy: 1, Hard: 1, Shape: 1}}
	call := func(i int, model string) traces.Record {
		r := traces.Record{Time: start.Add(time.Duration(i) * time.Hour), ID: string(rune('a' + i)), Tenant: "t",
			Model: model, Input: 100_000, Output: 10_000}
		r.Set(traces.FieldInput)
		r.Set(traces.FieldOutput)
		return r
	}
	known := &Trace{Meta: traces.Meta{Start: start, End: start.Add(24 * time.Hour)}, Records: []traces.Record{call(0, "claude-sonnet-4-5")}}
	mixed := &Trace{Meta: known.Meta, Records: []traces.Record{call(0, "claude-sonnet-4-5"), call(1, "gpt-9")}}
	opts := OracleOptions{Book: pricing.Default(), Upstream: up, Models: []string{"claude-haiku-4-5"}}
	if _, err := ComputeOracle(mixed, opts); err == nil {
		t.Error("an unknown model without ZeroUnknown: no error")
	}
	want, err := ComputeOracle(known, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.ZeroUnknown = true
	got, err := ComputeOracle(mixed, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got.Cost != want.Cost || got.Calls != 2 || want.Cost == 0 {
		t.Errorf("with ZeroUnknown: cost %v over %d calls, want %v (the known call's) over 2", got.Cost, got.Calls, want.Cost)
	}
}
