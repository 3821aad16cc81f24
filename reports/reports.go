// Package reports writes the phase reports (PHASE_1_BENCHMARK.md, PHASE_2_BENCHMARK.md,
// FINAL_BENCHMARK.md), their charts (PNG and SVG, with gonum/plot), an index (README.md) and one
// self-contained HTML page of everything, from results the caller computed (tarsopt report runs
// the replays, the Monte Carlo, the attribution, the sweep and the claims check). Every figure the
// reports print comes from those results; nothing is typed in. The same results give the same
// bytes.
package reports

import (
	"github.com/tarsopt/tarsopt/analysis"
	"github.com/tarsopt/tarsopt/sim"
)

// Report is what the three phase reports show.
type Report struct {
	Trace  string // as the user named it
	Calls  int64
	Days   int
	Config string
	Seed   uint64

	Baseline       sim.Summary
	BaselineResult *sim.Result

	// Phases are the configuration's phases, in order; each switches on its strategies (the
	// last is the final report).
	Phases []Phase

	// Claims is the plan's claims checked against the replays (tarsopt validate).
	Claims       *analysis.Validation
	ClaimsSource string
	// PlanSavings are the plan's per-strategy savings (USD per day), against PlanBaseline.
	PlanSavings  map[string]float64
	PlanBaseline float64

	Oracle *analysis.Oracle
	// Sweep is the setting swept for "what to do next" (the router threshold by default).
	Sweep *Sweep
	// Tornado is the reduction's sensitivity to each uncertain input, at its p5 and p95.
	Tornado []Sensitivity
	// Thresholds are the reductions whose probability the Monte Carlo reports.
	Thresholds []float64
	// Level is the confidence level of the claims' intervals.
	Level float64
	// Related are other report sets to link from the index (the same reports on other traces).
	Related []Link
}

// Link names another report set: its title and its folder, relative to this one.
type Link struct {
	Title, Dir string
}

// Phase is one phase of the plan, replayed.
type Phase struct {
	Name       string   // "Phase 1"
	File       string   // "PHASE_1_BENCHMARK.md"
	Strategies []string // switched on, in stack order
	Note       string

	TargetReduction float64 // the plan's, 0 when none
	TargetDailyCost float64 // USD, 0 when none

	Result    *sim.Result
	Summary   sim.Summary
	Reduction float64
	// ShareOfAchievable is the share of the saving the oracle bound allows that the phase reaches.
	ShareOfAchievable float64

	Criteria []Check // the configuration's success criteria, on this phase's replay
	Triggers []Check // its rollback triggers: Pass means the trigger does not fire

	Attribution *analysis.Attribution // among this phase's strategies
	MC          *analysis.MCResult    // the Monte Carlo of this phase's configuration
}

// Check is a criterion or trigger with the measured value.
type Check struct {
	Metric string
	Value  float64
	Rule   string // "between 0.3 and 0.4", "below 0.1: disable router"
	Pass   bool
}

// Sweep is one swept setting.
type Sweep struct {
	Param      string
	MinQuality float64 // the quality floor drawn on the chart (0: none)
	// Constraints says what a feasible point meets ("quality_score at least 0.94, response_time_s
	// at most 2").
	Constraints string
	Points      []SweepPoint
	Best        int // index in Points, -1 when no point is feasible
}

// SweepPoint is one setting of a sweep.
type SweepPoint struct {
	Value             string
	CostPerDay        float64 // USD
	Reduction         float64
	Quality           float64
	P95MS             float64
	CheapShare        float64
	ShareOfAchievable float64
	Feasible, Pareto  bool
}

// Sensitivity is the reduction at an input's low and high values, others at their centres.
type Sensitivity struct {
	Name          string
	Low, High     float64 // the input's values
	ReductionLow  float64 // the reduction with the input at Low
	ReductionHigh float64
	Base          float64 // the reduction with every input at its centre
}
