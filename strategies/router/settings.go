package router

import (
	"math"
	"slices"
	"strconv"

	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// Name is the strategy's registered name: the key under strategies in the configuration.
const Name = "router"

// Settings configure the router: the object under strategies.router.
type Settings struct {
	strategies.Common
	// Bands map complexity scores (0 to 100) to models. Band i covers scores c with
	// Bands[i-1].Max <= c < Bands[i].Max (band 0 starts at 0); the last band's Max is 100 and
	// includes 100.
	Bands []Band `json:"bands"`
	// Cascade retries a call that was routed down and failed on a stronger model.
	Cascade Cascade `json:"cascade"`
	// TargetShare, when set, records the share of calls the plan wants routed to bands 0..Band.
	// The router does not apply it itself: the simulator or the analysis calls CalibrateBand with
	// the scores of the trace before a run to move Bands[Band].Max to that share.
	TargetShare *TargetShare `json:"target_share,omitempty"`
}

// Band is one complexity band: scores below Max (and at or above the previous band's Max) go to
// Model.
type Band struct {
	// Max is the band's exclusive upper bound on the complexity score (0 < Max <= 100; the last
	// band's Max is 100 and includes 100).
	Max float64 `json:"max"`
	// Model is the model calls of this band are sent to (a name the price book knows), unless the
	// client's own model is cheaper for the call.
	Model string `json:"model"`
}

// Cascade configures retries on a stronger model for calls routed down whose answer was
// unacceptable or failed.
type Cascade struct {
	// On turns the cascade on.
	On bool `json:"enabled"`
	// MaxRetries is how many cascade retries one call may get (counted by Call.Retries, which
	// includes retries asked for by other stages).
	MaxRetries int `json:"max_retries"`
}

// TargetShare is the plan's target share of calls routed to bands 0..Band (the seed plan: 45% to
// Haiku, bands 0 and 1).
type TargetShare struct {
	// Band is the band whose Max CalibrateBand moves (not the last band).
	Band int `json:"band"`
	// Share is the share of calls (0 to 1) that should score below Bands[Band].Max.
	Share float64 `json:"share"`
}

// maxRetriesLimit bounds cascade.max_retries: more retries than this is a configuration mistake.
const maxRetriesLimit = 10

// Defaults returns the seed plan's settings, disabled: simple (0-25) and straightforward (25-50)
// calls to claude-haiku-4-5, complex (50-75) and very complex (75-100) calls to
// claude-sonnet-4-5, no cascade. TargetShare is nil: a configuration file decoded over these
// defaults could not remove it (null leaves a value as it is), and it would then constrain the
// number of bands; the default configuration file states the plan's target ({"band": 1,
// "share": 0.45}) itself.
func Defaults() *Settings {
	return &Settings{
		Bands: []Band{
			{Max: 25, Model: "claude-haiku-4-5"},
			{Max: 50, Model: "claude-haiku-4-5"},
			{Max: 75, Model: "claude-sonnet-4-5"},
			{Max: 100, Model: "claude-sonnet-4-5"},
		},
		Cascade: Cascade{MaxRetries: 1},
	}
}

// Validate returns the first problem of s, its message starting with the JSON path of the
// offending key relative to strategies.router. Whether the band models are known to the price
// book is checked when the stage is built (the book is not known here).
func (s *Settings) Validate() error {
	if len(s.Bands) == 0 {
		return strategies.Errorf("bands", "at least one band is required")
	}
	for i, b := range s.Bands {
		switch {
		case math.IsNaN(b.Max) || b.Max <= 0 || b.Max > 100:
			return strategies.Errorf(path(i, "max"), "must be in (0, 100], got %g", b.Max)
		case i > 0 && b.Max <= s.Bands[i-1].Max:
			return strategies.Errorf(path(i, "max"), "must be greater than bands[%d].max (%g)", i-1, s.Bands[i-1].Max)
		case b.Model == "":
			return strategies.Errorf(path(i, "model"), "must not be empty")
		}
	}
	if last := len(s.Bands) - 1; s.Bands[last].Max != 100 {
		return strategies.Errorf(path(last, "max"), "the last band's max must be 100, got %g", s.Bands[last].Max)
	}
	if s.Cascade.MaxRetries < 0 || s.Cascade.MaxRetries > maxRetriesLimit {
		return strategies.Errorf("cascade.max_retries", "must be in 0..%d, got %d", maxRetriesLimit, s.Cascade.MaxRetries)
	}
	if t := s.TargetShare; t != nil {
		if t.Band < 0 || t.Band >= len(s.Bands)-1 {
			return strategies.Errorf("target_share.band", "must name a band other than the last (0..%d), got %d", len(s.Bands)-2, t.Band)
		}
		if math.IsNaN(t.Share) || t.Share < 0 || t.Share > 1 {
			return strategies.Errorf("target_share.share", "must be in [0, 1], got %g", t.Share)
		}
	}
	return nil
}

func path(i int, key string) string {
	return "bands[" + strconv.Itoa(i) + "]." + key
}

// Score returns the complexity score (0 to 100) the router bands a call by: the record's own
// complexity when present, else the estimate of strategies.Complexity.
func Score(r *traces.Record) float64 { return strategies.Complexity(r) }

// CalibrateBand moves s.Bands[band].Max so that the share of scores strictly below it is as close
// as possible to share (the share of calls the router would put in bands 0..band), keeping the
// bands strictly increasing: the new Max stays strictly between the neighbouring bands' Max (0
// for band 0). The new Max is the midpoint of the gap between two consecutive distinct scores (or
// a neighbour's Max), so that no score sits on the boundary. s must be valid; band must not be the
// last band (its Max is 100). scores is not modified. Where several thresholds are equally close,
// the lower share wins. The simulator or the analysis calls it before a run with the scores of the
// trace (Score of each record) and s.TargetShare.
func CalibrateBand(scores []float64, s *Settings, band int, share float64) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if band < 0 || band >= len(s.Bands)-1 {
		return strategies.Errorf("target_share.band", "must name a band other than the last (0..%d), got %d", len(s.Bands)-2, band)
	}
	if math.IsNaN(share) || share < 0 || share > 1 {
		return strategies.Errorf("target_share.share", "must be in [0, 1], got %g", share)
	}
	if len(scores) == 0 {
		return strategies.Errorf("target_share", "no scores to calibrate on")
	}
	sorted := slices.Clone(scores)
	for _, v := range sorted {
		if math.IsNaN(v) {
			return strategies.Errorf("target_share", "NaN among the scores")
		}
	}
	slices.Sort(sorted)
	lo, hi := 0.0, s.Bands[band+1].Max
	if band > 0 {
		lo = s.Bands[band-1].Max
	}
	n := len(sorted)
	best, bestT, found := math.Inf(1), 0.0, false
	// Setting the threshold in (sorted[k-1], sorted[k]] puts exactly k scores below it; only
	// k where sorted[k-1] < sorted[k] are reachable, and only within (lo, hi).
	for k := 0; k <= n; k++ {
		a, b := math.Inf(-1), math.Inf(1)
		if k > 0 {
			a = sorted[k-1]
		}
		if k < n {
			b = sorted[k]
		}
		if !(a < b) {
			continue
		}
		a, b = math.Max(a, lo), math.Min(b, hi)
		if !(a < b) {
			continue
		}
		t := a + (b-a)/2
		if t <= a { // a and b adjacent floats
			t = b
		}
		if !(t > lo && t < hi) {
			continue
		}
		if d := math.Abs(float64(k)/float64(n) - share); d < best {
			best, bestT, found = d, t, true
		}
	}
	if !found {
		return strategies.Errorf(path(band, "max"), "no threshold between %g and %g", lo, hi)
	}
	s.Bands[band].Max = bestT
	return nil
}
