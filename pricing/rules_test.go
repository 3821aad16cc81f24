package pricing

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/traces"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func call(model, when string, in, cr, out int64, tier traces.ServiceTier, speed traces.Speed) *traces.Record {
	r := &traces.Record{Time: at(when), Model: model, ServiceTier: tier, Speed: speed}
	r.SetInt(traces.FieldInput, in)
	r.SetInt(traces.FieldCacheRead, cr)
	r.SetInt(traces.FieldOutput, out)
	return r
}

// Hand-computed cases for the rules beyond the standard rates. Amounts in nano-dollars; the comment
// gives the arithmetic in dollars per million tokens.
func TestRules(t *testing.T) {
	tests := []struct {
		name string
		r    *traces.Record
		want Breakdown
	}{
		{
			// DeepSeek chat before 2025-09-05, 17:00 UTC is off-peak (16:30-00:30):
			// 1M miss × 0.135 + 1M hit × 0.035 + 1M out × 0.55
			"deepseek off-peak", call("deepseek-chat", "2025-06-01T17:00:00Z", 1e6, 1e6, 1e6, 0, 0),
			Breakdown{Input: 135_000_000, CacheRead: 35_000_000, Output: 550_000_000},
		},
		{
			// 00:29 UTC is still in the window that opened at 16:30 the day before.
			"deepseek off-peak past midnight", call("deepseek-chat", "2025-06-02T00:29:59Z", 1e6, 0, 0, 0, 0),
			Breakdown{Input: 135_000_000},
		},
		{
			// 00:30 is outside: 1M × 0.27 standard.
			"deepseek peak", call("deepseek-chat", "2025-06-02T00:30:00Z", 1e6, 0, 0, 0, 0),
			Breakdown{Input: 270_000_000},
		},
		{
			// From 2025-09-05 one price, no window: 1M × 0.28 + 1M hit × 0.028 + 1M out × 0.42.
			"deepseek after the price change", call("deepseek/deepseek-chat", "2025-10-01T17:00:00Z", 1e6, 1e6, 1e6, 0, 0),
			Breakdown{Input: 280_000_000, CacheRead: 28_000_000, Output: 420_000_000},
		},
		{
			// Reasoner off-peak, 75% off: 1M out × 0.55 (not 2.19).
			"deepseek reasoner off-peak", call("deepseek-reasoner", "2025-03-01T20:00:00Z", 0, 0, 1e6, 0, 0),
			Breakdown{Output: 550_000_000},
		},
		{
			// gpt-5 flex: 1M × 0.625 + 1M cached × 0.0625 + 1M out × 5.
			"openai flex", call("gpt-5", "2026-01-01T00:00:00Z", 1e6, 1e6, 1e6, traces.TierFlex, 0),
			Breakdown{Input: 625_000_000, CacheRead: 62_500_000, Output: 5 * money.Dollar},
		},
		{
			// gpt-5 priority: 1M × 2.50 + 1M out × 20.
			"openai priority", call("openai/gpt-5-2025-08-07", "2026-01-01T00:00:00Z", 1e6, 0, 1e6, traces.TierPriority, 0),
			Breakdown{Input: 2500 * money.Micro * 1000, Output: 20 * money.Dollar},
		},
		{
			// gpt-5 batch has no explicit rates: half of standard. 1M × 1.25/2 + 1M out × 10/2.
			"openai batch factor", call("gpt-5", "2026-01-01T00:00:00Z", 1e6, 0, 1e6, traces.TierBatch, 0),
			Breakdown{Input: 625_000_000, Output: 5 * money.Dollar},
		},
		{
			// gpt-4o batch has explicit rates: 1M × 1.25 + 1M cached × 0.625 + 1M out × 5.
			"openai explicit batch", call("gpt-4o", "2026-01-01T00:00:00Z", 1e6, 1e6, 1e6, traces.TierBatch, 0),
			Breakdown{Input: 1_250_000_000, CacheRead: 625_000_000, Output: 5 * money.Dollar},
		},
		{
			// Opus 4.6 fast mode: six times. 1,000 in × 5 × 6 + 1,000 out × 25 × 6.
			"fast mode", call("claude-opus-4-6", "2026-03-01T00:00:00Z", 1000, 0, 1000, 0, traces.SpeedFast),
			Breakdown{Input: 30_000_000, Output: 150_000_000},
		},
		{
			// Fast mode on a model without a multiplier is billed at standard: 1,000 × 3.
			"fast mode without a multiplier", call("claude-sonnet-4-5", "2026-03-01T00:00:00Z", 1000, 0, 0, 0, traces.SpeedFast),
			Breakdown{Input: 3_000_000},
		},
		{
			// Fast mode compounds with batch: 1,000 in × 5 × 1/2 × 6.
			"fast batch", call("claude-opus-4-6", "2026-03-01T00:00:00Z", 1000, 0, 0, traces.TierBatch, traces.SpeedFast),
			Breakdown{Input: 15_000_000},
		},
		{
			// A retired model keeps its last price: Claude 3 Opus after 2026-01-05, 1M out × 75.
			"retired model", call("claude-3-opus-20240229", "2026-06-01T00:00:00Z", 0, 0, 1e6, 0, 0),
			Breakdown{Output: 75 * money.Dollar},
		},
		{
			// Claude 3 Haiku: 1,000 cached × 0.03 = 30,000 nano.
			"claude 3 haiku cache read", call("claude-3-haiku", "2025-01-01T00:00:00Z", 0, 1000, 0, 0, 0),
			Breakdown{CacheRead: 30_000},
		},
		{
			// OpenRouter spelling resolves to the first-party model: 100,000 × 3.
			"openrouter id", call("openrouter/anthropic/claude-sonnet-4-5", "2026-01-01T00:00:00Z", 100_000, 0, 0, 0, 0),
			Breakdown{Input: 300_000_000},
		},
		{
			// GPT-3.5 for BurstGPT: 1,000 in × 0.50 + 1,000 out × 1.50.
			"gpt-3.5", call("gpt-3.5-turbo", "2023-06-01T00:00:00Z", 1000, 0, 1000, 0, 0),
			Breakdown{Input: 500_000, Output: 1_500_000},
		},
		{
			// GPT-4 (8k): 1,000 in × 30 + 1,000 out × 60.
			"gpt-4", call("gpt-4-0613", "2023-06-01T00:00:00Z", 1000, 0, 1000, 0, 0),
			Breakdown{Input: 30_000_000, Output: 60_000_000},
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
	}
}

// --at reprices at the prices in force on another date, keeping the call's time of day.
func TestCostAt(t *testing.T) {
	r := call("deepseek-chat", "2025-06-01T17:00:00Z", 1e6, 0, 0, 0, 0)
	now, _ := Default().CostAt(r, at("2025-12-01T00:00:00Z"))
	if now.Input != 280_000_000 {
		t.Errorf("at 2025-12-01: %v, want $0.28 (the single price since 2025-09-05)", now.Input)
	}
	then, _ := Default().CostAt(r, at("2025-03-01T00:00:00Z"))
	if then.Input != 135_000_000 {
		t.Errorf("at 2025-03-01: %v, want $0.135 (off-peak at 17:00)", then.Input)
	}
}

func TestWindowDays(t *testing.T) {
	w := Window{From: 22 * 60, To: 2 * 60}
	w.Days[time.Saturday] = true
	for _, tt := range []struct {
		when string
		in   bool
	}{
		{"2026-02-14T23:00:00Z", true},  // Saturday 23:00
		{"2026-02-15T01:00:00Z", true},  // Sunday 01:00, the window opened Saturday
		{"2026-02-15T23:00:00Z", false}, // Sunday 23:00
		{"2026-02-14T21:59:00Z", false}, // before it opens
	} {
		if got := w.contains(at(tt.when)); got != tt.in {
			t.Errorf("%s: contains = %v, want %v", tt.when, got, tt.in)
		}
	}
}

func TestLiteLLM(t *testing.T) {
	b, err := Load("testdata/litellm-subset.json")
	if err != nil {
		t.Fatal(err)
	}
	feb := at("2026-02-13T12:00:00Z")
	cost := func(model string, in, cw5, cw1, cr, out int64, tier traces.ServiceTier) Breakdown {
		t.Helper()
		r := rec(model, in, cw5, cw1, cr, out, tier)
		r.Time = feb
		c, err := b.Cost(r)
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		return c
	}
	// claude-sonnet-4-5 from LiteLLM equals the built-in rates, long context included.
	for _, r := range []*traces.Record{rec("claude-sonnet-4-5", 1000, 2000, 3000, 4000, 500, 0), rec("claude-sonnet-4-5", 250000, 0, 1000, 0, 10, 0)} {
		r.Time = feb
		want, _ := Default().Cost(r)
		got, _ := b.Cost(r)
		if got != want {
			t.Errorf("LiteLLM %+v, built-in %+v", got, want)
		}
	}
	// An exact key keeps its own price: the US Bedrock profile is 10% dearer in LiteLLM's table.
	// (100,000 tokens: under the 200k long-context threshold.)
	if got := cost("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 100_000, 0, 0, 0, 0, 0); got.Input != 330_000_000 {
		t.Errorf("bedrock us profile: %v, want $0.33", got.Input)
	}
	// Vertex id with @date resolves exactly.
	if got := cost("vertex_ai/claude-sonnet-4-5@20250929", 100_000, 0, 0, 0, 0, 0); got.Input != 300_000_000 {
		t.Errorf("vertex: %v", got.Input)
	}
	// gpt-4o batch rates are explicit in LiteLLM: 1M × 1.25.
	if got := cost("gpt-4o", 1e6, 0, 0, 0, 0, traces.TierBatch); got.Input != 1_250_000_000 {
		t.Errorf("gpt-4o batch: %v", got.Input)
	}
	// Anthropic entries have no batch rates in LiteLLM: the provider's half applies.
	if got := cost("claude-haiku-4-5-20251001", 1e6, 0, 0, 0, 0, traces.TierBatch); got.Input != 500_000_000 {
		t.Errorf("haiku batch: %v", got.Input)
	}
	// Opus 4.6's fast multiplier comes from provider_specific_entry.
	r := rec("claude-opus-4-6", 1000, 0, 0, 0, 0, 0)
	r.Time, r.Speed = feb, traces.SpeedFast
	if got, _ := b.Cost(r); got.Input != 30_000_000 {
		t.Errorf("fast: %v", got.Input)
	}
	// LiteLLM's own error for Claude 3 Opus (1-hour write at $6 instead of $30) is read as written.
	if got := cost("claude-3-opus-20240229", 0, 0, 1e6, 0, 0, 0); got.CacheWrite1h != 6*money.Dollar {
		t.Errorf("claude 3 opus 1h write from LiteLLM: %v", got.CacheWrite1h)
	}
	// Entries without token prices (perplexity) are not models of the book.
	if _, err := b.Lookup("perplexity/anthropic/claude-sonnet-4-5", feb); err != nil {
		// It resolves through its normalised name to the first-party entry instead.
		t.Errorf("perplexity spelling: %v", err)
	}
	if _, err := b.Lookup("made-up-model", feb); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("unknown: %v", err)
	}
}

func TestLoadDetectsFormat(t *testing.T) {
	b, err := Load("testdata/litellm-subset.json")
	if err != nil || !strings.Contains(b.Note, "LiteLLM") {
		t.Fatalf("LiteLLM file: %v, note %q", err, b.Note)
	}
	p := t.TempDir() + "/own.json"
	if err := writeFile(p, `{"models":[{"model":"m","input":1,"output":2}]}`); err != nil {
		t.Fatal(err)
	}
	b, err = Load(p)
	if err != nil || b.Models()[0] != "m" {
		t.Fatalf("own format: %v", err)
	}
}

func FuzzParseLiteLLM(f *testing.F) {
	f.Add([]byte(`{"m":{"input_cost_per_token":3e-06,"output_cost_per_token":1.5e-05,"cache_read_input_token_cost":3e-07,"litellm_provider":"anthropic","input_cost_per_token_above_200k_tokens":6e-06,"output_cost_per_token_above_200k_tokens":2.25e-05}}`))
	f.Add([]byte(`{"x/y":{"input_cost_per_token":1e-06,"output_cost_per_token":2e-06,"input_cost_per_token_flex":5e-07,"output_cost_per_token_flex":1e-06,"provider_specific_entry":{"fast":6}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseLiteLLM(strings.NewReader(string(data)), "fuzz.json")
		if err != nil {
			return
		}
		for _, m := range b.Models() {
			for _, tier := range traces.ServiceTiers {
				r := rec(m, 1000, 10, 10, 300000, 500, tier)
				r.Speed = traces.SpeedFast
				if _, err := b.Cost(r); err != nil {
					t.Fatalf("pricing %s: %v", m, err)
				}
			}
		}
	})
}
