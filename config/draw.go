package config

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/stat/distuv"
)

// Draw draws one value of d from rng (gonum distuv), clamped to Min and Max.
func (d *Dist) Draw(rng *rand.Rand) float64 {
	var v float64
	switch d.Kind {
	case "fixed":
		v = d.Value
	case "uniform":
		v = distuv.Uniform{Min: *d.Min, Max: *d.Max, Src: rng}.Rand()
	case "normal":
		v = distuv.Normal{Mu: d.Mean, Sigma: d.SD, Src: rng}.Rand()
	case "lognormal":
		v = distuv.LogNormal{Mu: math.Log(d.Median), Sigma: d.Sigma, Src: rng}.Rand()
	case "triangular":
		if *d.Min == *d.Max {
			v = *d.Min
		} else {
			v = distuv.NewTriangle(*d.Min, *d.Max, d.Mode, rng).Rand()
		}
	case "beta":
		lo, hi := 0.0, 1.0
		if d.Min != nil {
			lo = *d.Min
		}
		if d.Max != nil {
			hi = *d.Max
		}
		return lo + (hi-lo)*distuv.Beta{Alpha: d.Alpha, Beta: d.Beta, Src: rng}.Rand()
	}
	return d.Clamp(v)
}

// Drawn is one Monte Carlo sample's draw from a configuration's uncertainty.
type Drawn struct {
	// Config is the configuration with the drawn settings (the receiver itself when there are
	// none).
	Config *Config
	// CostFactor is (1 + price change) × (1 + traffic growth).
	CostFactor float64
	// RepeatRate is the factor on the repeat rate (1 when not drawn).
	RepeatRate float64
	// Values are the drawn values, in the order of DrawnNames.
	Values []float64
}

// DrawnNames names the values Draw draws, in order: the inputs' paths, then price_change,
// traffic_growth and repeat_rate when declared.
func (u *Uncertainty) DrawnNames() []string {
	var out []string
	for _, in := range u.Inputs {
		out = append(out, in.Path)
	}
	if u.PriceChange != nil {
		out = append(out, "price_change")
	}
	if u.TrafficGrowth != nil {
		out = append(out, "traffic_growth")
	}
	if u.RepeatRate != nil {
		out = append(out, "repeat_rate")
	}
	return out
}

// Dists returns the distributions of DrawnNames, in order.
func (u *Uncertainty) Dists() []*Dist {
	var out []*Dist
	for i := range u.Inputs {
		out = append(out, &u.Inputs[i].Dist)
	}
	for _, d := range []*Dist{u.PriceChange, u.TrafficGrowth, u.RepeatRate} {
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

// Draw draws one sample of u from rng and applies it to c (which u belongs to, or whose settings
// u varies). A drawn setting the configuration cannot take is an error that names the draws.
func (u *Uncertainty) Draw(c *Config, rng *rand.Rand) (Drawn, error) {
	d := Drawn{Config: c, CostFactor: 1, RepeatRate: 1}
	var sets []string
	for i := range u.Inputs {
		in := &u.Inputs[i]
		v := in.Draw(rng)
		d.Values = append(d.Values, v)
		sets = append(sets, in.Path+"="+strconv.FormatFloat(v, 'g', -1, 64))
	}
	if len(sets) > 0 {
		d.Config = c.Clone()
		if err := d.Config.Set(sets...); err != nil {
			return d, fmt.Errorf("the drawn settings %s: %w (bound the input with min and max)", strings.Join(sets, " "), err)
		}
	}
	if u.PriceChange != nil {
		v := u.PriceChange.Draw(rng)
		d.Values = append(d.Values, v)
		d.CostFactor *= 1 + v
	}
	if u.TrafficGrowth != nil {
		v := u.TrafficGrowth.Draw(rng)
		d.Values = append(d.Values, v)
		d.CostFactor *= 1 + v
	}
	if u.RepeatRate != nil {
		v := math.Max(u.RepeatRate.Draw(rng), 0)
		d.Values = append(d.Values, v)
		d.RepeatRate = v
	}
	return d, nil
}
