package analysis

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/sim"
)

// daysResult returns a fake result with the given daily costs in dollars, and the answers' quality.
func daysResult(costs []float64, quality float64) *sim.Result {
	start := time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
	r := &sim.Result{Start: start, End: start.AddDate(0, 0, len(costs))}
	for i, c := range costs {
		var d sim.Day
		d.Date = start.AddDate(0, 0, i)
		d.Cost.Output = money.Amount(c * float64(money.Dollar))
		d.Answered, d.QualitySum = 100, 100*quality
		r.Days = append(r.Days, d)
		r.Total.Cost.Output += d.Cost.Output
		r.Total.Answered += d.Answered
		r.Total.QualitySum += d.QualitySum
	}
	return r
}

func TestCompare(t *testing.T) {
	base := daysResult([]float64{10, 12, 8, 11, 9, 10, 14}, 0.96)
	cfg := daysResult([]float64{6, 7, 8.5, 6, 5, 6, 8}, 0.95)
	p := Compare("baseline", base, "cfg", cfg, DefaultBootstrap)
	// 74 − 46.5 = 27.5 over 7 days.
	if !near(p.SavingUSDPerDay.Est, 27.5/7) {
		t.Errorf("saving %v $/day, want %v", p.SavingUSDPerDay.Est, 27.5/7)
	}
	if !near(p.Reduction.Est, 1-46.5/74) {
		t.Errorf("reduction %v, want %v", p.Reduction.Est, 1-46.5/74)
	}
	if !near(p.QualityDelta.Est, -0.01) {
		t.Errorf("quality change %v, want -0.01", p.QualityDelta.Est)
	}
	for _, iv := range []Interval{p.SavingUSDPerDay, p.Reduction} {
		if !(iv.Lo <= iv.Est && iv.Est <= iv.Hi && iv.Lo < iv.Hi) {
			t.Errorf("interval %+v does not bracket its estimate", iv)
		}
	}
	// The smallest and largest daily savings bound any resampled mean.
	if p.SavingUSDPerDay.Lo < -0.5 || p.SavingUSDPerDay.Hi > 6 {
		t.Errorf("saving interval %+v outside the daily savings' range [-0.5, 6]", p.SavingUSDPerDay)
	}
	if p.DaysCheaper != 6 || p.Days != 7 {
		t.Errorf("cheaper on %d of %d days, want 6 of 7", p.DaysCheaper, p.Days)
	}
	if want := []float64{4, 5, -0.5, 5, 4, 4, 6}; !cmp.Equal(p.PerDay, want) {
		t.Errorf("per day %v, want %v", p.PerDay, want)
	}
	if q := Compare("baseline", base, "cfg", cfg, DefaultBootstrap); !cmp.Equal(p, q) {
		t.Error("two comparisons differ:", cmp.Diff(p, q))
	}
	// Narrower intervals at a lower level.
	bs := DefaultBootstrap
	bs.Level = 0.5
	if r := Compare("baseline", base, "cfg", cfg, bs); r.SavingUSDPerDay.Hi-r.SavingUSDPerDay.Lo >= p.SavingUSDPerDay.Hi-p.SavingUSDPerDay.Lo {
		t.Errorf("50%% interval %+v not narrower than the 95%% one %+v", r.SavingUSDPerDay, p.SavingUSDPerDay)
	}
}

// A cost dated past the window (a call deferred beyond the trace's last day) counts on the last
// day, so that the days add up to the total.
func TestCompareFoldsDaysOutsideTheWindow(t *testing.T) {
	base := daysResult([]float64{10, 10}, 0.9)
	cfg := daysResult([]float64{5, 5, 1}, 0.9)
	cfg.End = base.End
	p := Compare("baseline", base, "cfg", cfg, DefaultBootstrap)
	if p.Days != 2 || !cmp.Equal(p.PerDay, []float64{5, 4}) {
		t.Errorf("days %d, per day %v; want 2 and [5 4]", p.Days, p.PerDay)
	}
}
