package analysis

import (
	"math"
	"strings"
	"testing"

	"github.com/tarsopt/tarsopt/pricing"
)

func TestSeedPlanClaimsLoad(t *testing.T) {
	pc := SeedPlanClaims()
	if len(pc.Claims) < 30 || pc.BaselineUSDPerDay != 8.60 || len(pc.StrategySavingsUSDPerDay) != 5 {
		t.Fatalf("%d claims, baseline %v, %d strategy savings", len(pc.Claims), pc.BaselineUSDPerDay, len(pc.StrategySavingsUSDPerDay))
	}
}

func TestClaimsErrorsNameThePath(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`{"claims": [{"name": "a", "metric": "cost_usd", "value": 1}]}`, "claims[0].metric"},
		{`{"claims": [{"name": "a", "metric": "cost_reduction"}]}`, "claims[0]: give a value"},
		{`{"claims": [{"name": "a", "metric": "cost_reduction", "value": 1, "min": 0}]}`, "claims[0]: give a value"},
		{`{"claims": [{"name": "a", "metric": "tokens_per_day", "min": 5, "max": 1}]}`, "claims[0].min"},
		{`{"claims": [{"name": "a", "metric": "cost_reduction", "value": 0.3, "run": "baseline"}]}`, "claims[0].metric"},
		{`{"claims": [{"name": "a", "metric": "cache_hit_rate", "value": 0.3, "run": "tomorrow"}]}`, "claims[0].run"},
		{`{"claims": [{"name": "a", "metric": "cache_hit_rate", "value": 0.3}, {"name": "a", "metric": "cache_hit_rate", "value": 0.2}]}`, "claims[1].name"},
		{`{"claims": [{"name": "a", "metric": "cache_hit_rate", "value": 0.3, "tolerance": 2}]}`, "claims[0].tolerance"},
		{`{"claims": [{"name": "a", "metric": "cache_hit_rate", "valu": 0.3}]}`, "claims[0].valu"},
		{`{"claims": [{"name": "a", "metric": "cache_hit_rate", "value": "high"}]}`, "claims[0].value"},
	}
	for _, tt := range tests {
		_, err := ParseClaims([]byte(tt.doc), "my-claims.json")
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "my-claims.json") {
			t.Errorf("%s: %v, want an error naming my-claims.json and %s", tt.doc, err, tt.want)
		}
	}
}

func TestBoundsAndVerdicts(t *testing.T) {
	v, tol, lo := 0.422, 0.02, 0.3
	cl := Claim{Value: &v, ToleranceAbs: &tol}
	if l, h := cl.Bounds(); math.Abs(l-0.402) > 1e-12 || math.Abs(h-0.442) > 1e-12 {
		t.Errorf("bounds %v..%v", l, h)
	}
	cl = Claim{Min: &lo}
	if l, h := cl.Bounds(); l != 0.3 || h < 1e300 {
		t.Errorf("open bounds %v..%v", l, h)
	}
	for _, tt := range []struct {
		m    Interval
		want string
	}{
		{Interval{Est: 0.35, Lo: 0.3, Hi: 0.4}, VerdictHolds},
		{Interval{Est: 0.45, Lo: 0.38, Hi: 0.5}, VerdictPlausible},
		{Interval{Est: 0.5, Lo: 0.45, Hi: 0.55}, VerdictAbove},
		{Interval{Est: 0.1, Lo: 0.05, Hi: 0.2}, VerdictBelow},
	} {
		if got := verdict(0.3, 0.4, tt.m); got != tt.want {
			t.Errorf("%+v against 0.3..0.4: %s, want %s", tt.m, got, tt.want)
		}
	}
}

// The seed plan's arithmetic, checked by hand: the parts add to $3.03 of $8.60 (35.2%, not 42.2%);
// 30 to 40% off $8.50 is $5.10 to $5.95, not $4.97; routing 45% of calls to a model at a third of
// the price saves 30% of the model cost, not 48%.
func TestSeedPlanArithmetic(t *testing.T) {
	got := map[string]ArithmeticCheck{}
	for _, c := range CheckArithmetic(SeedPlanClaims(), pricing.Default()) {
		got[c.Name] = c
	}
	for name, want := range map[string]struct {
		derived    float64
		consistent bool
	}{
		"per-strategy savings against the headline": {3.03 / 8.60, false},
		"daily target, low end":                     {8.50 * 0.6, false},
		"headline daily cost":                       {8.60 * (1 - 0.422), true},
		"annual saving":                             {365 * (8.60 - 4.97), true},
		"routing saving from the routed share":      {0.45 * (1 - 1.0/3), false},
		"average of the per-type hit rates":         {0.375, false},
	} {
		c, ok := got[name]
		if !ok {
			t.Errorf("no check %q", name)
			continue
		}
		if math.Abs(c.Derived-want.derived) > 1e-9 || c.Consistent != want.consistent {
			t.Errorf("%s: derived %v (consistent %v), want %v (%v)", name, c.Derived, c.Consistent, want.derived, want.consistent)
		}
	}
}

func FuzzParseClaims(f *testing.F) {
	f.Add(SeedPlanClaimsJSON())
	f.Add([]byte(`{"claims": [{"name": "a", "metric": "model_share:claude-haiku", "min": 0.4}]}`))
	f.Add([]byte(`{"claims": [{"name": "a", "metric": "shapley:router", "value": 1.62, "tolerance": 0.2}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pc, err := ParseClaims(data, "f.json")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, cl := range pc.Claims {
			if lo, hi := cl.Bounds(); lo > hi {
				t.Fatalf("claim %q accepts %v..%v", cl.Name, lo, hi)
			}
		}
		CheckArithmetic(pc, nil)
	})
}
