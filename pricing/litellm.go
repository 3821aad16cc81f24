package pricing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/tarsopt/tarsopt/internal/decimal"
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/traces"
)

// isLiteLLM reports whether data looks like LiteLLM's model_prices_and_context_window.json: a
// JSON object of model entries with per-token costs, rather than tarsopt's {"models": [...]}.
func isLiteLLM(data []byte) bool {
	head := data[:min(len(data), 1<<16)]
	return bytes.Contains(head, []byte(`"input_cost_per_token"`)) && !bytes.Contains(head, []byte(`"models":`))
}

// ParseLiteLLM reads LiteLLM's model_prices_and_context_window.json. Every entry with token prices
// becomes a price under its key, with these fields (USD per token in the file, read exactly):
//
//	input_cost_per_token, output_cost_per_token         → input, output
//	cache_creation_input_token_cost                     → 5-minute cache write (default: input)
//	cache_creation_input_token_cost_above_1hr           → 1-hour cache write (default: 5-minute write)
//	cache_read_input_token_cost                         → cache read (default: input)
//	*_above_200k_tokens (or _above_128k/_272k)          → long-context tier at that threshold
//	input/output_cost_per_token_batches                 → explicit batch rates
//	*_flex, *_priority                                  → flex and priority tiers
//	provider_specific_entry.fast                        → fast-mode multiplier
//	prompt_cache_min_tokens                             → minimum cacheable prefix
//	deprecation_date                                    → retirement date
//
// Anthropic and OpenAI entries without explicit batch rates get the providers' batch factor of one
// half. Entries are undated. A key resolves exactly; its normalised form (without provider prefix)
// goes to the first-party entry (a key without "/") when several keys share it.
func ParseLiteLLM(r io.Reader, name string) (*Book, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := NewBook()
	b.Note = "LiteLLM model_prices_and_context_window.json (" + name + ")"
	for _, key := range keys {
		if key == "sample_spec" || strings.TrimSpace(key) == "" {
			continue
		}
		var e map[string]any
		d := json.NewDecoder(bytes.NewReader(raw[key]))
		d.UseNumber()
		if d.Decode(&e) != nil {
			continue // not an object: "last_updated" and the like
		}
		p, ok, err := litellmPrice(key, e)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, key, err)
		}
		if !ok {
			continue
		}
		priority := 1
		if !strings.Contains(key, "/") {
			priority = 0
		}
		if err := b.add(p, priority, false); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, key, err)
		}
	}
	if len(b.byModel) == 0 {
		return nil, fmt.Errorf("%s: no model with token prices", name)
	}
	return b, nil
}

// litellmPrice builds the price of one LiteLLM entry; ok is false for entries without token prices.
func litellmPrice(key string, e map[string]any) (*Price, bool, error) {
	num := func(field string) (money.Rate, bool, error) {
		v, ok := e[field]
		if !ok || v == nil {
			return 0, false, nil
		}
		n, ok := v.(json.Number)
		if !ok {
			return 0, false, fmt.Errorf("%s: not a number", field)
		}
		// USD per token, exactly, as femto-dollars per token: the unit of money.Rate.
		f, err := decimal.Parse(string(n), 15)
		if err != nil || f < 0 {
			return 0, false, fmt.Errorf("%s: bad price %s", field, n)
		}
		return money.Rate(f), true, nil
	}
	// rates reads the rates with a field-name suffix. Cache rates a tier lacks are the base rates'
	// scaled by the tier's input price over the base input price (a tier's discount applies to
	// cached tokens too); without a base they default to the input rate.
	rates := func(suffix string, base *Rates) (Rates, bool, error) {
		var r Rates
		in, okIn, err := num("input_cost_per_token" + suffix)
		if err != nil {
			return r, false, err
		}
		out, okOut, err := num("output_cost_per_token" + suffix)
		if err != nil {
			return r, false, err
		}
		if !okIn || !okOut {
			return r, false, nil
		}
		r.Input, r.Output = in, out
		r.CacheWrite5m, r.CacheRead = in, in
		if base != nil && base.Input > 0 {
			r.CacheWrite5m = base.CacheWrite5m.Scale(int64(in), int64(base.Input))
			r.CacheRead = base.CacheRead.Scale(int64(in), int64(base.Input))
		}
		if v, ok, err := num("cache_creation_input_token_cost" + suffix); err != nil {
			return r, false, err
		} else if ok {
			r.CacheWrite5m = v
		}
		r.CacheWrite1h = r.CacheWrite5m
		if base != nil && base.Input > 0 {
			r.CacheWrite1h = base.CacheWrite1h.Scale(int64(in), int64(base.Input))
		}
		if v, ok, err := num("cache_creation_input_token_cost_above_1hr" + suffix); err != nil {
			return r, false, err
		} else if ok {
			r.CacheWrite1h = v
		}
		if v, ok, err := num("cache_read_input_token_cost" + suffix); err != nil {
			return r, false, err
		} else if ok {
			r.CacheRead = v
		}
		return r, true, nil
	}
	std, ok, err := rates("", nil)
	if err != nil || !ok {
		return nil, false, err
	}
	p := &Price{Model: key, Rates: std}
	if s, ok := e["litellm_provider"].(string); ok {
		p.Provider = s
	}
	for _, th := range []int64{128_000, 200_000, 272_000} {
		suffix := "_above_" + strconv.FormatInt(th/1000, 10) + "k_tokens"
		lr, ok, err := rates(suffix, nil)
		if err != nil {
			return nil, false, err
		}
		if ok {
			p.Long = &LongContext{Threshold: th, Rates: lr}
			break
		}
	}
	for tier, suffix := range map[traces.ServiceTier]string{traces.TierBatch: "_batches", traces.TierFlex: "_flex", traces.TierPriority: "_priority"} {
		tr, ok, err := rates(suffix, &std)
		if err != nil {
			return nil, false, err
		}
		if ok {
			if p.Tiers == nil {
				p.Tiers = map[traces.ServiceTier]Rates{}
			}
			p.Tiers[tier] = tr
		}
	}
	if _, ok := p.Tiers[traces.TierBatch]; !ok && (p.Provider == "anthropic" || p.Provider == "openai") {
		p.Batch = Factor{1, 2}
	}
	if pse, ok := e["provider_specific_entry"].(map[string]any); ok {
		if n, ok := pse["fast"].(json.Number); ok {
			if p.Fast, err = parseFactor(n, 100); err != nil {
				return nil, false, fmt.Errorf("provider_specific_entry.fast: %w", err)
			}
		}
	}
	if n, ok := e["prompt_cache_min_tokens"].(json.Number); ok {
		v, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || v < 0 {
			return nil, false, fmt.Errorf("prompt_cache_min_tokens: bad value %s", n)
		}
		p.MinCacheable = v
	}
	if s, ok := e["deprecation_date"].(string); ok && s != "" {
		if t, err := parseDate(s); err == nil {
			p.Retired = t
		}
	}
	return p, true, nil
}
