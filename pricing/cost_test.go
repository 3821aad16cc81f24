package pricing

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/traces"
)

var feb = time.Date(2026, 2, 13, 12, 0, 0, 0, time.UTC)

func rec(model string, in, cw5, cw1, cr, out int64, tier traces.ServiceTier) *traces.Record {
	r := &traces.Record{Time: feb, Model: model, ServiceTier: tier}
	for f, v := range map[traces.Field]int64{traces.FieldInput: in, traces.FieldCacheWrite5m: cw5, traces.FieldCacheWrite1h: cw1, traces.FieldCacheRead: cr, traces.FieldOutput: out} {
		r.SetInt(f, v)
	}
	return r
}

// Hand-computed cases, one per rule. Amounts are nano-dollars; the comment gives the arithmetic.
func TestCost(t *testing.T) {
	tests := []struct {
		name string
		r    *traces.Record
		want Breakdown
	}{
		{
			// 1,513 × $3/M = $0.004539; 2,119 × $15/M = $0.031785
			"sonnet 4.5 standard", rec("claude-sonnet-4-5", 1513, 0, 0, 0, 2119, 0),
			Breakdown{Input: 4_539_000, Output: 31_785_000},
		},
		{
			// every kind: 1,000 in $0.003; 2,000 w5m × 3.75 = $0.0075; 3,000 w1h × 6 = $0.018;
			// 10,000 read × 0.30 = $0.003; 500 out × 15 = $0.0075
			"sonnet 4.5 with cache", rec("claude-sonnet-4-5-20250929", 1000, 2000, 3000, 10000, 500, traces.TierStandard),
			Breakdown{Input: 3_000_000, CacheWrite5m: 7_500_000, CacheWrite1h: 18_000_000, CacheRead: 3_000_000, Output: 7_500_000},
		},
		{
			// prompt exactly 200,000: standard rates. 200,000 × 3 = $0.60; 1,000 × 15 = $0.015
			"long context at threshold", rec("claude-sonnet-4-5", 200000, 0, 0, 0, 1000, 0),
			Breakdown{Input: 600_000_000, Output: 15_000_000},
		},
		{
			// prompt 200,001 (1 input + 200,000 read): the whole request at long-context rates.
			// 1 × $6/M = 6,000 nano; 200,000 × 0.60 = $0.12; 1,000 out × 22.50 = $0.0225
			"long context over threshold", rec("claude-sonnet-4-5", 1, 0, 0, 200000, 1000, 0),
			Breakdown{Input: 6_000, CacheRead: 120_000_000, Output: 22_500_000},
		},
		{
			// batch halves everything: 1,000 × 1.5 = $0.0015; 1,000 out × 7.5 = $0.0075; 1,000 read × 0.15
			"batch", rec("claude-sonnet-4-5", 1000, 0, 0, 1000, 1000, traces.TierBatch),
			Breakdown{Input: 1_500_000, CacheRead: 150_000, Output: 7_500_000},
		},
		{
			// batch and long context compound: 300,000 × $6/M × 1/2 = $0.90; 10 out × 22.5 / 2 = 112,500 nano
			"batch long context", rec("claude-sonnet-4-5", 300000, 0, 0, 0, 10, traces.TierBatch),
			Breakdown{Input: 900_000_000, Output: 112_500},
		},
		{
			// haiku 4.5: 3 in × $1/M = 3,000 nano; 7 read × $0.10/M = 700 nano; 1 out × $5/M = 5,000
			"haiku small counts", rec("claude-haiku-4-5", 3, 0, 0, 7, 1, 0),
			Breakdown{Input: 3_000, CacheRead: 700, Output: 5_000},
		},
		{
			// Opus 4.5 has no long-context tier: 250,000 × $5/M = $1.25
			"opus 4.5 no long tier", rec("claude-opus-4-5-20251101", 250000, 0, 0, 0, 0, 0),
			Breakdown{Input: 1_250_000_000},
		},
		{
			// Bedrock id resolves to Sonnet 4.5: 1M output × $15 = $15
			"bedrock alias", rec("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 0, 0, 0, 0, 1_000_000, 0),
			Breakdown{Output: 15 * money.Dollar},
		},
		{
			// Vertex id with @date
			"vertex alias", rec("claude-haiku-4-5@20251001", 1_000_000, 0, 0, 0, 0, 0),
			Breakdown{Input: 1 * money.Dollar},
		},
		{
			// priority tier has no own rates: standard. 100,000 × $3/M = $0.30
			"priority at standard", rec("anthropic/claude-sonnet-4-5", 100_000, 0, 0, 0, 0, traces.TierPriority),
			Breakdown{Input: 300_000_000},
		},
	}
	for _, tt := range tests {
		got, err := Default().Cost(tt.r)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: Cost = %+v, want %+v", tt.name, got, tt.want)
		}
		if got.Total() != tt.want.Input+tt.want.CacheWrite5m+tt.want.CacheWrite1h+tt.want.CacheRead+tt.want.Output {
			t.Errorf("%s: Total does not add up", tt.name)
		}
	}
}

// The seed baseline: 850,000 tokens/day at 100% Sonnet 4.5 can cost $8.50/day only with 354,167
// input and 495,833 output tokens: 3x + 15(850,000 − x) = 8,500,000 (in $/M units). Spread over
// 234 calls, no call reaches the long-context threshold.
func TestSeedBaselineArithmetic(t *testing.T) {
	p, _ := Default().Lookup("claude-sonnet-4-5", feb)
	got := p.Input.Cost(354_167) + p.Output.Cost(495_833)
	if d := got - 8_500_000_000; d < -10_000 || d > 10_000 {
		t.Errorf("cost of the seed split = %v, want $8.50 within $0.00001", got)
	}
}

func TestUnknownModel(t *testing.T) {
	_, err := Default().Cost(rec("gpt-9", 1, 0, 0, 0, 1, 0))
	if !errors.Is(err, ErrUnknownModel) || !strings.Contains(err.Error(), `"gpt-9"`) {
		t.Errorf("error = %v, want ErrUnknownModel naming gpt-9", err)
	}
}

func TestLookupDates(t *testing.T) {
	b, err := Parse(strings.NewReader(`{"models":[
		{"model":"m","from":"2025-01-01","until":"2025-06-01","input":2,"output":4},
		{"model":"m","from":"2025-06-01","input":1,"output":2}]}`), "t.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		at   string
		want money.Rate
	}{{"2024-12-31", 2e9}, {"2025-05-31", 2e9}, {"2025-06-01", 1e9}, {"2030-01-01", 1e9}} {
		at, _ := time.Parse("2006-01-02", tt.at)
		p, err := b.Lookup("m", at)
		if err != nil || p.Input != tt.want {
			t.Errorf("Lookup at %s: input %v, %v; want %v", tt.at, p.Input, err, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"models":[{"model":"m","input":1}]}`, "output: missing"},
		{`{"models":[{"model":"m","input":1,"output":-2}]}`, "output: negative price"},
		{`{"models":[{"model":"m","input":1,"output":2,"colour":"red"}]}`, "unknown field"},
		{`{"models":[{"model":"m","input":1,"output":2},{"model":"m","input":1,"output":2}]}`, "overlap"},
		{`{"models":[{"model":"m","input":1,"output":2,"batch":2}]}`, "batch"},
		{`{"models":[{"model":"m","input":1,"output":2,"tiers":{"gold":{"input":1,"output":2}}}]}`, "tiers.gold"},
		{`{"models":[{"model":"m","input":1,"output":2,"windows":[{"from":"25:00","to":"01:00","input":1,"output":1}]}]}`, "windows[0].from"},
		{`{"models":[{"model":"m","input":1,"output":2,"windows":[{"from":"01:00","to":"02:00","days":["someday"],"input":1,"output":1}]}]}`, "windows[0].days"},
		{`{"models":[{"model":"m","input":1,"output":2},{"model":"n","aliases":["m"],"input":1,"output":2}]}`, "names both"},
	} {
		_, err := Parse(strings.NewReader(tt.in), "p.json")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%s) error = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestDefaultBookMatchesLiteLLM(t *testing.T) {
	// Spot checks against ../shared/data/litellm-pricing (USD per token there).
	for _, tt := range []struct {
		model string
		r     Rates
	}{
		{"claude-sonnet-4-5", Rates{3e9, 15e9, 3.75e9, 6e9, 0.3e9}},
		{"claude-haiku-4-5", Rates{1e9, 5e9, 1.25e9, 2e9, 0.1e9}},
		{"claude-opus-4-5", Rates{5e9, 25e9, 6.25e9, 10e9, 0.5e9}},
		{"claude-opus-4-1", Rates{15e9, 75e9, 18.75e9, 30e9, 1.5e9}},
	} {
		p, err := Default().Lookup(tt.model, feb)
		if err != nil || p.Rates != tt.r {
			t.Errorf("%s: rates %+v, %v; want %+v", tt.model, p.Rates, err, tt.r)
		}
	}
}

// The price book is a decoder too: no input makes Parse panic, and every price it accepts prices
// a call without panicking.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"models":[{"model":"m","input":1,"output":2,"batch":0.5,"long_context":{"threshold":10,"input":2,"output":4}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Parse(bytes.NewReader(data), "fuzz.json")
		if err != nil {
			return
		}
		for _, m := range b.Models() {
			for _, tier := range []traces.ServiceTier{traces.TierStandard, traces.TierBatch} {
				r := rec(m, 1000, 10, 10, 100000, 500, tier)
				if _, err := b.Cost(r); err != nil {
					t.Fatalf("pricing %s: %v", m, err)
				}
			}
		}
	})
}
