package analysis

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/sim"
)

// Interval is an estimate with a confidence interval.
type Interval struct {
	Est float64 `json:"est"`
	Lo  float64 `json:"lo"`
	Hi  float64 `json:"hi"`
}

// Paired compares two replays of the same trace day by day: B against A (A is the reference,
// usually the baseline). Both replays saw the same calls with the same random numbers, so their
// per-day difference holds only what the configurations do; the intervals come from a bootstrap
// over days (resampling whole days, paired).
type Paired struct {
	A string `json:"a"`
	B string `json:"b"`
	// SavingUSDPerDay is A's cost less B's, in USD per day.
	SavingUSDPerDay Interval `json:"saving_usd_per_day"`
	// Reduction is 1 − B's cost / A's cost over the trace.
	Reduction Interval `json:"reduction"`
	// QualityDelta is B's quality score less A's (means of the daily scores).
	QualityDelta Interval `json:"quality_delta"`
	// DaysCheaper counts the days on which B cost less than A, of Days.
	DaysCheaper int `json:"days_cheaper"`
	Days        int `json:"days"`
	// PerDay is each day's saving (A's cost less B's), in USD, in date order.
	PerDay []float64 `json:"-"`
	// Dates are the days of PerDay.
	Dates []time.Time `json:"-"`
}

// Bootstrap sets how intervals are computed: percentile intervals at Level (0.95 for 95%) from
// Resamples resamples of the days, drawn from Seed.
type Bootstrap struct {
	Level     float64
	Resamples int
	Seed      uint64
}

// DefaultBootstrap is 2,000 resamples for a 95% interval.
var DefaultBootstrap = Bootstrap{Level: 0.95, Resamples: 2000, Seed: 1}

// window returns the first day of a's window (its trace's) and its number of days.
func window(a *sim.Result) (time.Time, int) {
	start := a.Start
	if start.IsZero() && len(a.Days) > 0 {
		start = a.Days[0].Date
	}
	return start, a.NumDays()
}

// Compare compares replay b with replay a, named na and nb, day by day.
func Compare(na string, a *sim.Result, nb string, b *sim.Result, bs Bootstrap) Paired {
	start, n := window(a)
	// Both on a's days; a figure dated outside them (a call deferred past the trace's last day)
	// counts on the nearest, so that the days add up to the totals.
	da, db := foldDays(a, start, n), foldDays(b, start, n)
	dates := make([]time.Time, n)
	for i := range dates {
		dates[i] = start.AddDate(0, 0, i)
	}
	p := Paired{A: na, B: nb, Days: n, Dates: dates, PerDay: make([]float64, n)}
	for i := range n {
		s := da[i].Cost.Total() - db[i].Cost.Total()
		p.PerDay[i] = float64(s) / float64(money.Dollar)
		if s > 0 {
			p.DaysCheaper++
		}
	}
	// Statistics of a resample: idx lists the days drawn (with repeats).
	saving := func(idx []int) float64 {
		var s money.Amount
		for _, i := range idx {
			s += da[i].Cost.Total() - db[i].Cost.Total()
		}
		return float64(s) / float64(money.Dollar) / float64(len(idx))
	}
	reduction := func(idx []int) float64 {
		var ca, cb money.Amount
		for _, i := range idx {
			ca += da[i].Cost.Total()
			cb += db[i].Cost.Total()
		}
		if ca == 0 {
			return 0
		}
		return 1 - float64(cb)/float64(ca)
	}
	quality := func(idx []int) float64 {
		var qa, qb float64
		var na, nb int64
		for _, i := range idx {
			qa += da[i].QualitySum
			qb += db[i].QualitySum
			na += da[i].Answered
			nb += db[i].Answered
		}
		if na == 0 || nb == 0 {
			return 0
		}
		return qb/float64(nb) - qa/float64(na)
	}
	// The point estimates are over the whole trace: the saving per day of its window (as the
	// replay reports cost per day), the reduction of its totals.
	p.SavingUSDPerDay = bs.interval(n, saving)
	p.SavingUSDPerDay.Est = float64(a.Total.Cost.Total()-b.Total.Cost.Total()) / float64(money.Dollar) / float64(a.NumDays())
	p.Reduction = bs.interval(n, reduction)
	if t := a.Total.Cost.Total(); t != 0 {
		p.Reduction.Est = 1 - float64(b.Total.Cost.Total())/float64(t)
	}
	p.QualityDelta = bs.interval(n, quality)
	p.QualityDelta.Est = b.Summary(false).QualityScore - a.Summary(false).QualityScore
	return p
}

// interval returns the percentile bootstrap interval of f over n days (Est is f over all of them).
func (bs Bootstrap) interval(n int, f func(idx []int) float64) Interval {
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	iv := Interval{Est: f(all)}
	if n < 2 || bs.Resamples < 1 {
		iv.Lo, iv.Hi = iv.Est, iv.Est
		return iv
	}
	rng := rand.New(rand.NewPCG(bs.Seed, 0x626f6f74)) // "boot"
	vals := make([]float64, bs.Resamples)
	idx := make([]int, n)
	for k := range vals {
		for i := range idx {
			idx[i] = rng.IntN(n)
		}
		vals[k] = f(idx)
	}
	slices.Sort(vals)
	alpha := (1 - bs.Level) / 2
	iv.Lo, iv.Hi = quantile(vals, alpha), quantile(vals, 1-alpha)
	return iv
}
