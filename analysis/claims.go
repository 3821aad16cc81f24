package analysis

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// PlanClaims are a plan's own figures, to set beside what replays measure.
type PlanClaims struct {
	// Source says where the figures come from.
	Source string `json:"source"`
	// BaselineUSDPerDay is the daily cost the plan's savings are quoted against.
	BaselineUSDPerDay float64 `json:"baseline_usd_per_day"`
	// StrategySavingsUSDPerDay is each strategy's claimed saving, in USD per day, by registered
	// strategy name; the plan adds them up to its headline.
	StrategySavingsUSDPerDay map[string]float64 `json:"strategy_savings_usd_per_day"`
}

//go:embed seedplan-claims.json
var seedPlanClaims []byte

// SeedPlanClaims returns the seed plan's claims (../shared/design/SEED-PLAN.md).
func SeedPlanClaims() *PlanClaims {
	var c PlanClaims
	if err := json.Unmarshal(seedPlanClaims, &c); err != nil {
		panic(fmt.Sprintf("analysis: embedded seed-plan claims: %v", err))
	}
	return &c
}
