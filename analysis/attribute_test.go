package analysis

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/sim"
)

// game returns one fake result per subset, with the given total costs in dollars, over two days.
func game(costs []float64) []*sim.Result {
	start := time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
	out := make([]*sim.Result, len(costs))
	for i, c := range costs {
		r := &sim.Result{Start: start, End: start.Add(48 * time.Hour)}
		r.Total.Cost.Input = money.Amount(math.Round(c * float64(money.Dollar)))
		out[i] = r
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(a), math.Abs(b)) }

// A two-strategy game worked by hand: v(a) = 30, v(b) = 20, v(ab) = 40 (dollars over two days), so
// φa = (30 + (40 − 20)) / 2 = 25, φb = 15, and the pair interacts by 40 − 30 − 20 = −10.
func TestShapleyTwoStrategies(t *testing.T) {
	a := attribution([]string{"a", "b"}, game([]float64{100, 70, 80, 60}))
	want := []float64{25.0 / 2, 15.0 / 2} // per day
	for i, w := range want {
		if !near(a.Shapley[i], w) {
			t.Errorf("φ[%s] = %v $/day, want %v", a.Strategies[i], a.Shapley[i], w)
		}
	}
	if !near(a.Total(), 20) || !near(a.BaselinePerDay(), 50) || !near(a.FullPerDay(), 30) {
		t.Errorf("total %v, baseline %v, full %v $/day; want 20, 50, 30", a.Total(), a.BaselinePerDay(), a.FullPerDay())
	}
	if len(a.Interactions) != 1 || !near(a.Interactions[0].USDPerDay, -5) {
		t.Errorf("interactions %+v, want a+b at -5 $/day", a.Interactions)
	}
	if !near(a.Alone[0], 15) || !near(a.Last[0], 10) {
		t.Errorf("a alone %v, last %v; want 15 and 10", a.Alone[0], a.Last[0])
	}
}

// When savings add up (no two strategies save on the same calls), each Shapley value is the
// strategy's own saving and every interaction is zero.
func TestShapleyAdditiveGame(t *testing.T) {
	own := []float64{3, 0.5, 7, 1.25}
	costs := make([]float64, 1<<len(own))
	for mask := range costs {
		costs[mask] = 100
		for i, s := range own {
			if mask&(1<<i) != 0 {
				costs[mask] -= s
			}
		}
	}
	a := attribution([]string{"a", "b", "c", "d"}, game(costs))
	for i, s := range own {
		if !near(a.Shapley[i], s/2) {
			t.Errorf("φ[%d] = %v, want %v", i, a.Shapley[i], s/2)
		}
	}
	for _, in := range a.Interactions {
		if !near(in.USDPerDay, 0) {
			t.Errorf("interaction %s+%s = %v, want 0", in.A, in.B, in.USDPerDay)
		}
	}
}

// On arbitrary games: the values add up to the whole (efficiency), a strategy that never changes
// the cost gets nothing (null player), and two strategies with the same effect get the same value
// (symmetry).
func TestShapleyAxioms(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 50 {
		n := 2 + trial%5
		// v over the first n-1 strategies at random; the last is a copy of strategy 0 in effect
		// (the cost depends on "0 or last"), except in odd trials, where it is a null player.
		base := make([]float64, 1<<(n-1))
		for i := range base {
			base[i] = 50 + 50*rng.Float64()
		}
		base[0] = 120
		costs := make([]float64, 1<<n)
		last := 1 << (n - 1)
		for mask := range costs {
			m := mask &^ last
			if trial%2 == 0 && mask&last != 0 {
				m |= 1 // the twin of strategy 0
			}
			costs[mask] = base[m]
		}
		names := make([]string, n)
		for i := range names {
			names[i] = string(rune('a' + i))
		}
		a := attribution(names, game(costs))
		sum := 0.0
		for _, v := range a.Shapley {
			sum += v
		}
		if !near(sum, a.Total()) {
			t.Fatalf("trial %d: values sum to %v, total %v", trial, sum, a.Total())
		}
		if trial%2 == 1 && !near(a.Shapley[n-1], 0) {
			t.Fatalf("trial %d: null player gets %v", trial, a.Shapley[n-1])
		}
		if trial%2 == 0 && !near(a.Shapley[n-1], a.Shapley[0]) {
			t.Fatalf("trial %d: twins get %v and %v", trial, a.Shapley[0], a.Shapley[n-1])
		}
	}
}
