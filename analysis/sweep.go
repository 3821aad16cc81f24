package analysis

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Param is one swept setting: a configuration path and the values it takes, either a range
// (lo:hi:step) or a list.
type Param struct {
	Path string
	// A range: Lo to Hi inclusive, by Step (Step 0: continuous, for random and Latin-hypercube
	// designs only).
	Lo, Hi, Step float64
	IsRange      bool
	// A list of values, as they are set (numbers or not).
	List []string
}

// ParseParam parses PATH=SPEC, where SPEC is lo:hi:step (lo:hi for a continuous range) or a
// comma-separated list.
func ParseParam(s string) (Param, error) {
	path, spec, ok := strings.Cut(s, "=")
	path, spec = strings.TrimSpace(path), strings.TrimSpace(spec)
	if !ok || path == "" || spec == "" {
		return Param{}, fmt.Errorf("--param %q: want PATH=lo:hi:step or PATH=v1,v2,...", s)
	}
	p := Param{Path: path}
	if strings.Contains(spec, ":") && !strings.Contains(spec, ",") {
		parts := strings.Split(spec, ":")
		if len(parts) != 2 && len(parts) != 3 {
			return Param{}, fmt.Errorf("--param %s: range %q: want lo:hi:step or lo:hi", path, spec)
		}
		var v [3]float64
		for i, part := range parts {
			f, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return Param{}, fmt.Errorf("--param %s: range %q: %q is not a number", path, spec, part)
			}
			v[i] = f
		}
		p.Lo, p.Hi, p.Step, p.IsRange = v[0], v[1], v[2], true
		switch {
		case p.Hi < p.Lo:
			return Param{}, fmt.Errorf("--param %s: range %q: hi is below lo", path, spec)
		case p.Step < 0:
			return Param{}, fmt.Errorf("--param %s: range %q: step must be positive", path, spec)
		case p.Step > 0 && (p.Hi-p.Lo)/p.Step > 1e6:
			return Param{}, fmt.Errorf("--param %s: range %q: more than a million steps", path, spec)
		}
		return p, nil
	}
	for _, v := range strings.Split(spec, ",") {
		if v = strings.TrimSpace(v); v == "" {
			return Param{}, fmt.Errorf("--param %s: empty value in list %q", path, spec)
		}
		p.List = append(p.List, v)
	}
	return p, nil
}

// Values returns the settings a grid takes: the list, or lo, lo+step, ... up to hi (within a
// millionth of a step, so that 0.1 steps reach their end).
func (p Param) Values() ([]string, error) {
	if !p.IsRange {
		return p.List, nil
	}
	if p.Step == 0 {
		if p.Lo == p.Hi {
			return []string{FormatValue(p.Lo)}, nil
		}
		return nil, fmt.Errorf("--param %s: a grid needs a step (lo:hi:step)", p.Path)
	}
	var out []string
	n := int(math.Floor((p.Hi-p.Lo)/p.Step + 1e-6))
	for i := 0; i <= n; i++ {
		out = append(out, FormatValue(p.Lo+float64(i)*p.Step))
	}
	return out, nil
}

// at returns the setting at u in [0, 1): a list's element, or the range's value, snapped to the
// step's grid when the range has one.
func (p Param) at(u float64) string {
	if !p.IsRange {
		return p.List[min(int(u*float64(len(p.List))), len(p.List)-1)]
	}
	if p.Step > 0 {
		n := int(math.Floor((p.Hi-p.Lo)/p.Step+1e-6)) + 1
		return FormatValue(p.Lo + float64(min(int(u*float64(n)), n-1))*p.Step)
	}
	return FormatValue(p.Lo + u*(p.Hi-p.Lo))
}

// FormatValue prints v as a setting: an integer without a point, else the shortest form that
// reads back exactly, after rounding away the float noise of lo + i×step.
func FormatValue(v float64) string {
	r := math.Round(v*1e9) / 1e9
	if r == math.Trunc(r) && math.Abs(r) < 1e15 {
		return strconv.FormatInt(int64(r), 10)
	}
	return strconv.FormatFloat(r, 'g', -1, 64)
}

// Designs of a sweep.
const (
	DesignGrid   = "grid"   // every combination of every parameter's values
	DesignRandom = "random" // samples drawn uniformly and independently
	DesignLHS    = "lhs"    // Latin hypercube: each parameter's range cut in n strata, each used once
)

// Design returns the points of a sweep: for each point, one value per parameter, in order. Random
// and Latin-hypercube designs draw n points from seed.
func Design(params []Param, design string, n int, seed uint64) ([][]string, error) {
	if len(params) == 0 {
		return nil, errors.New("sweep: no --param")
	}
	switch design {
	case DesignGrid:
		points := [][]string{nil}
		for _, p := range params {
			vals, err := p.Values()
			if err != nil {
				return nil, err
			}
			var next [][]string
			for _, pt := range points {
				for _, v := range vals {
					next = append(next, append(append([]string(nil), pt...), v))
				}
			}
			if len(next) > 100_000 {
				return nil, fmt.Errorf("sweep: the grid has more than 100,000 points; use --design random or lhs with --samples")
			}
			points = next
		}
		return points, nil
	case DesignRandom, DesignLHS:
		if n < 1 {
			return nil, fmt.Errorf("sweep: --design %s needs --samples N (at least 1)", design)
		}
		rng := rand.New(rand.NewPCG(seed, 0x7377656570)) // "sweep"
		points := make([][]string, n)
		for i := range points {
			points[i] = make([]string, len(params))
		}
		for j, p := range params {
			var perm []int
			if design == DesignLHS {
				perm = rng.Perm(n)
			}
			for i := range points {
				u := rng.Float64()
				if design == DesignLHS {
					u = (float64(perm[i]) + u) / float64(n)
				}
				points[i][j] = p.at(u)
			}
		}
		return points, nil
	}
	return nil, fmt.Errorf("sweep: unknown design %q (grid, random, lhs)", design)
}

// Objectives of a point for its Pareto front: cost and p95 latency lower is better, quality higher.
type Objectives struct {
	Cost, Quality, P95 float64
}

// dominates reports whether a is no worse than b on every objective and better on one.
func (a Objectives) dominates(b Objectives) bool {
	return a.Cost <= b.Cost && a.Quality >= b.Quality && a.P95 <= b.P95 &&
		(a.Cost < b.Cost || a.Quality > b.Quality || a.P95 < b.P95)
}

// Pareto returns the indices of the points no other point dominates, in order. Equal points are
// all kept.
func Pareto(pts []Objectives) []int {
	var front []int
	for i, p := range pts {
		dominated := false
		for j, q := range pts {
			if j != i && q.dominates(p) {
				dominated = true
				break
			}
		}
		if !dominated {
			front = append(front, i)
		}
	}
	return front
}

// Bisect finds x in [lo, hi] where f(x) reaches target, for f monotone on the interval, by
// bisection. With step > 0 it evaluates only lo + k×step (a setting on a grid) and stops when the
// bracket is one step wide; with step 0 it stops when the bracket is a millionth of the range. It
// stops after iters evaluations in any case, and returns the evaluated x whose f is closest to
// target, with its f, and every evaluation in order. It fails when target is not between f(lo) and
// f(hi).
func Bisect(f func(x float64) (float64, error), lo, hi, step, target float64, iters int) (x, fx float64, evals [][2]float64, err error) {
	eval := func(x float64) (float64, error) {
		v, err := f(x)
		if err == nil {
			evals = append(evals, [2]float64{x, v})
		}
		return v, err
	}
	flo, err := eval(lo)
	if err != nil {
		return 0, 0, evals, err
	}
	fhi, err := eval(hi)
	if err != nil {
		return 0, 0, evals, err
	}
	if (flo-target)*(fhi-target) > 0 {
		return 0, 0, evals, fmt.Errorf("the target %g is not between %g (at %g) and %g (at %g): widen the range", target, flo, lo, fhi, hi)
	}
	origin := lo
	tol := (hi - lo) * 1e-6
	if step > 0 {
		tol = step * (1 + 1e-9)
	}
	increasing := fhi >= flo
	for len(evals) < iters && hi-lo > tol {
		mid := lo + (hi-lo)/2
		if step > 0 {
			mid = origin + math.Round((mid-origin)/step)*step
			if mid <= lo || mid >= hi {
				break
			}
		}
		fm, err := eval(mid)
		if err != nil {
			return 0, 0, evals, err
		}
		if fm == target {
			lo, hi = mid, mid
			break
		}
		if (fm < target) == increasing {
			lo = mid
		} else {
			hi = mid
		}
	}
	best := evals[0]
	for _, e := range evals[1:] {
		if math.Abs(e[1]-target) < math.Abs(best[1]-target) {
			best = e
		}
	}
	return best[0], best[1], evals, nil
}
