package analysis

import (
	"math"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseParamAndValues(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"strategies.router.bands[1].max=30:70:10", []string{"30", "40", "50", "60", "70"}},
		{"x=0:0.3:0.1", []string{"0", "0.1", "0.2", "0.3"}},
		{"x=1:2:0.4", []string{"1", "1.4", "1.8"}},
		{"strategies.promptcache.ttl=5m,1h", []string{"5m", "1h"}},
		{"x=5:5:1", []string{"5"}},
	}
	for _, tt := range tests {
		p, err := ParseParam(tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		got, err := p.Values()
		if err != nil || !cmp.Equal(got, tt.want) {
			t.Errorf("%s: values %v (%v), want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"x", "=1:2:1", "x=", "x=2:1:1", "x=1:2:-1", "x=a:2:1", "x=1:2:3:4", "x=1,,2", "x=0:1e9:1e-3"} {
		if _, err := ParseParam(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if p, _ := ParseParam("x=0:1"); true {
		if _, err := p.Values(); err == nil {
			t.Error("a grid over a continuous range: no error")
		}
	}
}

func TestDesigns(t *testing.T) {
	a, _ := ParseParam("a=30:70:10")
	b, _ := ParseParam("b=x,y")
	c, _ := ParseParam("c=0:1")
	grid, err := Design([]Param{a, b}, DesignGrid, 0, 1)
	if err != nil || len(grid) != 10 || !cmp.Equal(grid[0], []string{"30", "x"}) || !cmp.Equal(grid[9], []string{"70", "y"}) {
		t.Fatalf("grid %v (%v)", grid, err)
	}
	for _, d := range []string{DesignRandom, DesignLHS} {
		p1, err := Design([]Param{a, b, c}, d, 40, 7)
		if err != nil {
			t.Fatal(err)
		}
		p2, _ := Design([]Param{a, b, c}, d, 40, 7)
		if !cmp.Equal(p1, p2) {
			t.Errorf("%s: same seed, different points", d)
		}
		for _, pt := range p1 {
			if v, _ := strconv.ParseFloat(pt[2], 64); v < 0 || v >= 1 {
				t.Errorf("%s: c = %v outside [0, 1)", d, v)
			}
			if v, _ := strconv.Atoi(pt[0]); v < 30 || v > 70 || v%10 != 0 {
				t.Errorf("%s: a = %s off its grid", d, pt[0])
			}
		}
	}
	// Latin hypercube: each of the n strata of a continuous range holds exactly one point.
	pts, _ := Design([]Param{c}, DesignLHS, 25, 3)
	seen := make([]int, 25)
	for _, pt := range pts {
		v, _ := strconv.ParseFloat(pt[0], 64)
		seen[int(v*25)]++
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("stratum %d holds %d points", i, n)
		}
	}
	if _, err := Design([]Param{a}, "sobol", 10, 1); err == nil {
		t.Error("unknown design: no error")
	}
}

func TestPareto(t *testing.T) {
	pts := []Objectives{
		{Cost: 10, Quality: 0.95, P95: 100}, // front: cheapest at its quality
		{Cost: 12, Quality: 0.95, P95: 100}, // dominated by 0
		{Cost: 15, Quality: 0.99, P95: 120}, // front: best quality
		{Cost: 11, Quality: 0.94, P95: 80},  // front: fastest
		{Cost: 16, Quality: 0.98, P95: 130}, // dominated by 2
		{Cost: 10, Quality: 0.95, P95: 100}, // equal to 0: kept
	}
	if got := Pareto(pts); !cmp.Equal(got, []int{0, 2, 3, 5}) {
		t.Errorf("front %v, want [0 2 3 5]", got)
	}
}

func TestBisect(t *testing.T) {
	sq := func(x float64) (float64, error) { return x * x, nil }
	x, fx, _, err := Bisect(sq, 0, 10, 0, 49, 100)
	if err != nil || math.Abs(x-7) > 1e-4 || math.Abs(fx-49) > 1e-3 {
		t.Errorf("continuous: x %v, f %v, %v", x, fx, err)
	}
	x, _, evals, err := Bisect(sq, 0, 10, 1, 49, 100)
	if err != nil || x != 7 {
		t.Errorf("on a grid of 1: x %v, %v", x, err)
	}
	for _, e := range evals {
		if e[0] != math.Trunc(e[0]) {
			t.Errorf("evaluated off the grid at %v", e[0])
		}
	}
	dec := func(x float64) (float64, error) { return 1 - x/100, nil }
	if x, _, _, err := Bisect(dec, 0, 100, 0, 0.45, 100); err != nil || math.Abs(x-55) > 1e-3 {
		t.Errorf("decreasing: x %v, %v", x, err)
	}
	if _, _, _, err := Bisect(sq, 0, 5, 0, 49, 100); err == nil {
		t.Error("target out of range: no error")
	}
	if _, _, evals, _ := Bisect(sq, 0, 10, 0, 49, 5); len(evals) != 5 {
		t.Errorf("%d evaluations with a limit of 5", len(evals))
	}
}
