package analysis

import (
	"context"
	"fmt"
	"math/big"
	"math/bits"

	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/sim"
)

// MaxAttributed is the most strategies Attribute splits a saving among: it replays every subset,
// 2^n replays.
const MaxAttributed = 12

// Attribution is the split of a configuration's saving among its strategies by exact Shapley
// values: each strategy's average marginal saving over every order in which the strategies could
// have been switched on. The values add up to the whole saving exactly (before the conversion to
// floating-point dollars per day).
type Attribution struct {
	Strategies []string // the strategies, in stack order
	Days       int      // the days the trace covers, dividing totals into per-day figures
	Replays    int      // replays run: one per subset of Strategies

	// Cost[mask] is the cost of the replay with the strategies whose bits are set in mask
	// (bit i for Strategies[i]); Cost[0] is the baseline.
	Cost []money.Amount
	// Quality[mask] is that replay's quality score.
	Quality []float64

	Shapley      []float64     // per strategy, saving in USD per day
	Alone        []float64     // per strategy, saving in USD per day when it is the only one on
	Last         []float64     // per strategy, saving in USD per day that switching it on last adds
	Interactions []Interaction // per pair, in order of Strategies
}

// Interaction is the Shapley interaction index of a pair of strategies: what switching both on
// saves beyond the sum of what each saves alone, averaged over the other strategies' subsets, in
// USD per day. Negative values mean the two overlap (they save on the same calls); positive, that
// they reinforce each other.
type Interaction struct {
	A, B      string
	USDPerDay float64
}

// Total returns the whole saving: the baseline's cost less the full configuration's, in USD per
// day.
func (a *Attribution) Total() float64 {
	return perDay(a.Cost[0]-a.Cost[len(a.Cost)-1], a.Days)
}

// BaselinePerDay and FullPerDay return the costs of the baseline and of the full configuration, in
// USD per day.
func (a *Attribution) BaselinePerDay() float64 { return perDay(a.Cost[0], a.Days) }

// FullPerDay returns the full configuration's cost in USD per day.
func (a *Attribution) FullPerDay() float64 { return perDay(a.Cost[len(a.Cost)-1], a.Days) }

func perDay(x money.Amount, days int) float64 {
	return float64(x) / float64(money.Dollar) / float64(max(days, 1))
}

// Attribute replays tr through every subset of the strategies names (build returns the scenario
// with only the given strategies on, in the configuration's order) and splits the saving by exact
// Shapley values.
func (rn *Runner) Attribute(ctx context.Context, tr *Trace, names []string, build func(on []string) Scenario) (*Attribution, error) {
	n := len(names)
	if n > MaxAttributed {
		return nil, fmt.Errorf("analysis: %d strategies to attribute; at most %d (2^n replays)", n, MaxAttributed)
	}
	scs := make([]Scenario, 1<<n)
	for mask := range scs {
		var on []string
		for i, name := range names {
			if mask&(1<<i) != 0 {
				on = append(on, name)
			}
		}
		scs[mask] = build(on)
		scs[mask].Name = fmt.Sprintf("subset %v", on)
	}
	res, err := rn.Run(ctx, tr, scs)
	if err != nil {
		return nil, err
	}
	return attribution(names, res), nil
}

// attribution computes the split from one result per subset.
func attribution(names []string, res []*sim.Result) *Attribution {
	n := len(names)
	a := &Attribution{Strategies: names, Days: res[0].NumDays(), Replays: len(res),
		Cost: make([]money.Amount, len(res)), Quality: make([]float64, len(res))}
	for mask, r := range res {
		a.Cost[mask] = r.Total.Cost.Total()
		a.Quality[mask] = r.Summary(false).QualityScore
	}
	// v(S) = cost(∅) − cost(S), exact; the weights are rationals, so sum in big.Rat.
	v := func(mask int) *big.Rat { return new(big.Rat).SetInt64(int64(a.Cost[0] - a.Cost[mask])) }
	fact := func(k int) *big.Int { return new(big.Int).MulRange(1, int64(max(k, 1))) }
	toUSDPerDay := func(x *big.Rat) float64 {
		f, _ := new(big.Rat).Quo(x, new(big.Rat).SetInt64(int64(money.Dollar)*int64(max(a.Days, 1)))).Float64()
		return f
	}
	nf := fact(n)
	full := 1<<n - 1
	for i := range n {
		phi := new(big.Rat)
		for mask := 0; mask <= full; mask++ {
			if mask&(1<<i) != 0 {
				continue
			}
			s := bits.OnesCount(uint(mask))
			w := new(big.Rat).SetFrac(new(big.Int).Mul(fact(s), fact(n-s-1)), nf)
			d := new(big.Rat).Sub(v(mask|1<<i), v(mask))
			phi.Add(phi, d.Mul(d, w))
		}
		a.Shapley = append(a.Shapley, toUSDPerDay(phi))
		a.Alone = append(a.Alone, toUSDPerDay(v(1<<i)))
		a.Last = append(a.Last, toUSDPerDay(new(big.Rat).Sub(v(full), v(full&^(1<<i)))))
	}
	if n >= 2 {
		n1f := fact(n - 1)
		for i := range n {
			for j := i + 1; j < n; j++ {
				idx := new(big.Rat)
				for mask := 0; mask <= full; mask++ {
					if mask&(1<<i) != 0 || mask&(1<<j) != 0 {
						continue
					}
					s := bits.OnesCount(uint(mask))
					w := new(big.Rat).SetFrac(new(big.Int).Mul(fact(s), fact(n-s-2)), n1f)
					d := new(big.Rat).Sub(v(mask|1<<i|1<<j), v(mask|1<<i))
					d.Sub(d, v(mask|1<<j))
					d.Add(d, v(mask))
					idx.Add(idx, d.Mul(d, w))
				}
				a.Interactions = append(a.Interactions, Interaction{A: names[i], B: names[j], USDPerDay: toUSDPerDay(idx)})
			}
		}
	}
	return a
}
