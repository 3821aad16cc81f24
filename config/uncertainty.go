package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Uncertainty declares what a Monte Carlo run (tarsopt mc) varies: settings drawn from
// distributions, uniform price changes and traffic growth, and how the trace itself is resampled.
type Uncertainty struct {
	// Inputs are settings drawn afresh for every sample: any numeric setting, by the path --set
	// takes (upstream.quality.claude-haiku.hard, strategies.batcher.turnaround.median_s, ...).
	Inputs []Input `json:"inputs"`
	// PriceChange is the relative change of every price (0.1: all 10% dearer). Prices scale
	// together, so no decision changes: costs scale, the reduction does not.
	PriceChange *Dist `json:"price_change,omitempty"`
	// TrafficGrowth is the relative change of the number of calls per day (0.2: 20% more calls);
	// daily costs scale with it, as if each day's traffic were repeated in proportion.
	TrafficGrowth *Dist `json:"traffic_growth,omitempty"`
	// RepeatRate scales the share of calls that repeat an earlier request (1: as recorded; 0.5:
	// half the repeats; 2: twice as many, up to every cacheable call), by rewriting fingerprints.
	RepeatRate *Dist `json:"repeat_rate,omitempty"`
	// Bootstrap resamples the trace for every sample: "days" (whole days, with replacement),
	// "sessions" (whole sessions, with replacement, each kept on its own days) or "none".
	Bootstrap string `json:"bootstrap"`
	// Thresholds are the reductions whose probability P(reduction ≥ x) the run reports.
	Thresholds []float64 `json:"thresholds"`
}

// Input is one uncertain setting.
type Input struct {
	Path string `json:"path"`
	Dist
}

// Dist is a probability distribution, by name:
//
//	fixed       value
//	uniform     min, max
//	normal      mean, sd (optionally clamped to min, max)
//	lognormal   median, sigma (the log's standard deviation; optionally clamped)
//	triangular  min, mode, max
//	beta        alpha, beta, scaled to min..max (default 0..1)
type Dist struct {
	Kind   string   `json:"dist"`
	Value  float64  `json:"value,omitempty"`
	Mean   float64  `json:"mean,omitempty"`
	SD     float64  `json:"sd,omitempty"`
	Median float64  `json:"median,omitempty"`
	Sigma  float64  `json:"sigma,omitempty"`
	Mode   float64  `json:"mode,omitempty"`
	Alpha  float64  `json:"alpha,omitempty"`
	Beta   float64  `json:"beta,omitempty"`
	Min    *float64 `json:"min,omitempty"`
	Max    *float64 `json:"max,omitempty"`
}

// Distribution kinds.
var DistKinds = []string{"fixed", "uniform", "normal", "lognormal", "triangular", "beta"}

// Bootstrap modes.
var BootstrapModes = []string{"days", "sessions", "none"}

// Validate checks the distribution's parameters; path prefixes the error.
func (d *Dist) Validate(path string) error {
	finite := func(vs ...float64) bool {
		for _, v := range vs {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return false
			}
		}
		return true
	}
	if d.Min != nil && d.Max != nil && !(*d.Min < *d.Max) {
		return bad(path+".min", "min %g is not below max %g", *d.Min, *d.Max)
	}
	switch d.Kind {
	case "fixed":
		if !finite(d.Value) {
			return bad(path+".value", "not a finite number")
		}
	case "uniform", "triangular":
		if d.Min == nil || d.Max == nil {
			return bad(path, "%s needs min and max", d.Kind)
		}
		if d.Kind == "triangular" && !(d.Mode >= *d.Min && d.Mode <= *d.Max) {
			return bad(path+".mode", "mode %g is outside min..max (%g..%g)", d.Mode, *d.Min, *d.Max)
		}
	case "normal":
		if !(d.SD > 0) || !finite(d.Mean, d.SD) {
			return bad(path+".sd", "want a positive finite sd, got %g", d.SD)
		}
	case "lognormal":
		if !(d.Median > 0) || !(d.Sigma > 0) || !finite(d.Median, d.Sigma) {
			return bad(path, "lognormal needs a positive median and sigma, got %g and %g", d.Median, d.Sigma)
		}
	case "beta":
		if !(d.Alpha > 0 && d.Beta > 0) || !finite(d.Alpha, d.Beta) {
			return bad(path, "beta needs positive alpha and beta, got %g and %g", d.Alpha, d.Beta)
		}
	default:
		return bad(path+".dist", "unknown distribution %q (known: %s)", d.Kind, strings.Join(DistKinds, ", "))
	}
	return nil
}

// Center returns a typical value of the distribution (its mean, median or mode, clamped), which
// validation sets to check that an input's path takes a number.
func (d *Dist) Center() float64 {
	var v float64
	switch d.Kind {
	case "fixed":
		v = d.Value
	case "uniform":
		v = (*d.Min + *d.Max) / 2
	case "normal":
		v = d.Mean
	case "lognormal":
		v = d.Median
	case "triangular":
		v = d.Mode
	case "beta":
		lo, hi := 0.0, 1.0
		if d.Min != nil {
			lo = *d.Min
		}
		if d.Max != nil {
			hi = *d.Max
		}
		v = lo + (hi-lo)*d.Alpha/(d.Alpha+d.Beta)
	}
	return d.Clamp(v)
}

// Clamp bounds v by Min and Max when they are set.
func (d *Dist) Clamp(v float64) float64 {
	if d.Min != nil {
		v = math.Max(v, *d.Min)
	}
	if d.Max != nil {
		v = math.Min(v, *d.Max)
	}
	return v
}

// validateUncertainty checks the section; c is the configuration it belongs to, whose JSON tree
// must have a number at every input's path.
func (c *Config) validateUncertainty() error {
	u := c.Uncertainty
	if u == nil {
		return nil
	}
	if !slices.Contains(BootstrapModes, u.Bootstrap) {
		return bad("uncertainty.bootstrap", "want one of %s, got %q", strings.Join(BootstrapModes, ", "), u.Bootstrap)
	}
	for i, x := range u.Thresholds {
		if !(x > -1 && x < 1) {
			return bad(fmt.Sprintf("uncertainty.thresholds[%d]", i), "want a reduction in (-1, 1), got %g", x)
		}
	}
	for name, d := range map[string]*Dist{"price_change": u.PriceChange, "traffic_growth": u.TrafficGrowth, "repeat_rate": u.RepeatRate} {
		if d == nil {
			continue
		}
		if err := d.Validate("uncertainty." + name); err != nil {
			return err
		}
	}
	if len(u.Inputs) == 0 {
		return nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return err
	}
	seen := map[string]int{}
	for i, in := range u.Inputs {
		path := fmt.Sprintf("uncertainty.inputs[%d]", i)
		if err := in.Dist.Validate(path); err != nil {
			return err
		}
		if j, dup := seen[in.Path]; dup {
			return bad(path+".path", "%s is already drawn by inputs[%d]", in.Path, j)
		}
		seen[in.Path] = i
		if strings.HasPrefix(in.Path, "uncertainty") {
			return bad(path+".path", "an input cannot draw the uncertainty section itself")
		}
		steps, err := parsePath(in.Path)
		if err != nil {
			return bad(path+".path", "%v", err)
		}
		node := tree
		for _, s := range steps {
			switch n := node.(type) {
			case map[string]any:
				if s.key == "" {
					return bad(path+".path", "%s: not a list", in.Path)
				}
				var ok bool
				if node, ok = n[s.key]; !ok {
					return bad(path+".path", "%s: no setting %q there", in.Path, s.key)
				}
			case []any:
				if s.key != "" || s.index >= len(n) {
					return bad(path+".path", "%s: no such element", in.Path)
				}
				node = n[s.index]
			default:
				return bad(path+".path", "%s: no such setting", in.Path)
			}
		}
		if _, ok := node.(json.Number); !ok {
			return bad(path+".path", "%s is not a number setting", in.Path)
		}
	}
	return nil
}
