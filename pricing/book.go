// Package pricing is tarsopt's price book: dated per-model token prices and the exact cost of one
// call under the provider's billing rules.
//
// A Book maps model names (through aliases and normalisation of provider prefixes and date
// suffixes) to Prices, each in force over a period. Cost prices one traces.Record from its token
// counts, model, time and service tier, in exact money.Amounts, and is the only place where tarsopt
// turns tokens into dollars: the simulator, the reports and the live proxy all call it.
//
// Billing rules implemented here:
//   - each token kind (uncached input, 5-minute and 1-hour cache writes, cache reads, output) has its
//     own rate; reasoning tokens are output tokens;
//   - long context: on models with such a tier, once the prompt (input + cache writes + cache reads)
//     exceeds the threshold, every token of the request, output included, is billed at the
//     long-context rates (Anthropic's rule; not only the tokens above the threshold);
//   - the Batch API bills every token kind at the price's batch factor (one half for Anthropic);
//   - priority and flex tiers are billed at standard rates unless the price has its own rates for
//     them (the first book has none).
package pricing

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tarsopt/tarsopt/money"
)

// Rates is the price of each kind of token, per million tokens.
type Rates struct {
	Input        money.Rate // uncached input
	Output       money.Rate // output, reasoning included
	CacheWrite5m money.Rate // prompt-cache write with a 5-minute TTL
	CacheWrite1h money.Rate // prompt-cache write with a 1-hour TTL
	CacheRead    money.Rate // prompt-cache read
}

// scale returns r with every rate multiplied by num/den.
func (r Rates) scale(num, den int64) Rates {
	return Rates{r.Input.Scale(num, den), r.Output.Scale(num, den), r.CacheWrite5m.Scale(num, den), r.CacheWrite1h.Scale(num, den), r.CacheRead.Scale(num, den)}
}

// LongContext is a tier that replaces the standard rates for requests whose prompt exceeds
// Threshold tokens.
type LongContext struct {
	Threshold int64 // prompt tokens; the tier applies when the prompt is strictly larger
	Rates
}

// Price is the price of one model over one period. A Book owns its Prices; callers must not modify
// them.
type Price struct {
	Model    string    // canonical model id
	Provider string    // "anthropic", ...
	Aliases  []string  // other names of the same model (dated ids)
	From     time.Time // in force from this instant; zero means since always
	Until    time.Time // in force until this instant (exclusive); zero means still in force
	Rates              // standard on-demand rates
	Long     *LongContext
	// BatchNum/BatchDen is the factor the Batch API applies to every rate (1/2 for Anthropic);
	// BatchDen 0 means the model has no batch pricing.
	BatchNum, BatchDen int64
	// MinCacheable is the shortest prompt prefix, in tokens, that the provider will cache.
	MinCacheable int64
}

// Book is a set of dated prices. It is safe for concurrent use once built.
type Book struct {
	byModel  map[string][]*Price // canonical id → prices sorted by From
	alias    map[string]string   // normalised alias → canonical id
	resolved sync.Map            // model name as given → canonical id (or "" when unknown)
	Note     string              // provenance of the prices, for reports
}

//go:embed default.json
var defaultJSON []byte

// Default returns the built-in price book: Anthropic's list prices for the Claude models still
// found in logs. Each call returns the same Book.
func Default() *Book { return defaultBook }

var defaultBook = func() *Book {
	b, err := Parse(bytes.NewReader(defaultJSON), "default.json")
	if err != nil {
		panic("pricing: embedded price book: " + err.Error())
	}
	return b
}()

// Load reads a price book in tarsopt's JSON format from a file.
func Load(path string) (*Book, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f, path)
}

type rateJSON struct {
	Input        json.Number `json:"input"`
	Output       json.Number `json:"output"`
	CacheWrite5m json.Number `json:"cache_write_5m"`
	CacheWrite1h json.Number `json:"cache_write_1h"`
	CacheRead    json.Number `json:"cache_read"`
}

type priceJSON struct {
	Model        string      `json:"model"`
	Provider     string      `json:"provider"`
	Aliases      []string    `json:"aliases"`
	From         string      `json:"from"`
	Until        string      `json:"until"`
	Batch        json.Number `json:"batch"`
	MinCacheable int64       `json:"min_cacheable"`
	rateJSON
	LongContext *struct {
		Threshold int64 `json:"threshold"`
		rateJSON
	} `json:"long_context"`
}

type bookJSON struct {
	Note   string      `json:"note"`
	Models []priceJSON `json:"models"`
}

// Parse reads a price book in tarsopt's JSON format: {"note": ..., "models": [{"model", "provider",
// "aliases", "from", "until", "input", "output", "cache_write_5m", "cache_write_1h", "cache_read",
// "batch", "min_cacheable", "long_context": {"threshold", rates...}}]}, with rates in dollars per
// million tokens (JSON numbers, read exactly) and dates as YYYY-MM-DD or RFC 3339. Unknown keys are
// errors. name is used in error messages.
func Parse(r io.Reader, name string) (*Book, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var bj bookJSON
	if err := dec.Decode(&bj); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	b := &Book{byModel: map[string][]*Price{}, alias: map[string]string{}, Note: bj.Note}
	for i, pj := range bj.Models {
		where := fmt.Sprintf("%s: models[%d]", name, i)
		p, err := pj.price()
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", where, pj.Model, err)
		}
		if err := b.Add(p); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	return b, nil
}

func (pj *priceJSON) price() (*Price, error) {
	if pj.Model == "" {
		return nil, errors.New("model: missing")
	}
	p := &Price{Model: pj.Model, Provider: pj.Provider, Aliases: pj.Aliases, MinCacheable: pj.MinCacheable}
	var err error
	if p.Rates, err = pj.rateJSON.rates(); err != nil {
		return nil, err
	}
	if pj.From != "" {
		if p.From, err = parseDate(pj.From); err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
	}
	if pj.Until != "" {
		if p.Until, err = parseDate(pj.Until); err != nil {
			return nil, fmt.Errorf("until: %w", err)
		}
		if !p.From.IsZero() && !p.Until.After(p.From) {
			return nil, errors.New("until: not after from")
		}
	}
	if pj.Batch != "" {
		// The batch factor as an exact fraction with a denominator of 1e6.
		f, err := money.PerMillion(string(pj.Batch))
		if err != nil || f <= 0 || f > 1e9 {
			return nil, fmt.Errorf("batch: want a factor in (0, 1], got %s", pj.Batch)
		}
		g := gcd(int64(f), 1e9)
		p.BatchNum, p.BatchDen = int64(f)/g, 1e9/g
	}
	if lc := pj.LongContext; lc != nil {
		if lc.Threshold <= 0 {
			return nil, errors.New("long_context.threshold: must be positive")
		}
		lr, err := lc.rateJSON.rates()
		if err != nil {
			return nil, fmt.Errorf("long_context.%w", err)
		}
		p.Long = &LongContext{Threshold: lc.Threshold, Rates: lr}
	}
	return p, nil
}

func (rj rateJSON) rates() (Rates, error) {
	var r Rates
	for _, f := range []struct {
		name string
		v    json.Number
		dst  *money.Rate
	}{{"input", rj.Input, &r.Input}, {"output", rj.Output, &r.Output}, {"cache_write_5m", rj.CacheWrite5m, &r.CacheWrite5m},
		{"cache_write_1h", rj.CacheWrite1h, &r.CacheWrite1h}, {"cache_read", rj.CacheRead, &r.CacheRead}} {
		if f.v == "" {
			if f.name == "input" || f.name == "output" {
				return r, fmt.Errorf("%s: missing", f.name)
			}
			continue
		}
		v, err := money.PerMillion(string(f.v))
		if err != nil {
			return r, fmt.Errorf("%s: %w", f.name, err)
		}
		if v < 0 {
			return r, fmt.Errorf("%s: negative price %s", f.name, f.v)
		}
		*f.dst = v
	}
	return r, nil
}

func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad date %q (want YYYY-MM-DD or RFC 3339)", s)
	}
	return t.UTC(), nil
}

// Add adds a price to the book. Periods of the same model must not overlap, and no alias may name
// two models.
func (b *Book) Add(p *Price) error {
	id := Normalize(p.Model)
	for _, q := range b.byModel[id] {
		if overlaps(p, q) {
			return fmt.Errorf("%s: price periods overlap", p.Model)
		}
	}
	b.resolved.Clear()
	b.byModel[id] = append(b.byModel[id], p)
	sort.Slice(b.byModel[id], func(i, j int) bool { return b.byModel[id][i].From.Before(b.byModel[id][j].From) })
	for _, a := range append([]string{p.Model}, p.Aliases...) {
		n := Normalize(a)
		if prev, ok := b.alias[n]; ok && prev != id {
			return fmt.Errorf("alias %q names both %s and %s", a, prev, p.Model)
		}
		b.alias[n] = id
	}
	return nil
}

func overlaps(p, q *Price) bool {
	pEnd, qEnd := p.Until, q.Until
	if !pEnd.IsZero() && !pEnd.After(q.From) {
		return false
	}
	if !qEnd.IsZero() && !qEnd.After(p.From) {
		return false
	}
	return true
}

// Models returns the canonical model ids of the book, sorted.
func (b *Book) Models() []string {
	var out []string
	for id := range b.byModel {
		out = append(out, b.byModel[id][0].Model)
	}
	sort.Strings(out)
	return out
}

// ErrUnknownModel is returned (wrapped, with the model's name) for a model the book has no price for.
var ErrUnknownModel = errors.New("unknown model")

// Lookup returns the price of model in force at time at. The name is matched after Normalize, then
// through aliases. When no period covers at, the nearest one applies: the first for calls before
// it, the last for calls after it (a retired model's last price).
func (b *Book) Lookup(model string, at time.Time) (*Price, error) {
	id := b.resolve(model)
	if id == "" {
		return nil, fmt.Errorf("pricing: %w %q", ErrUnknownModel, model)
	}
	ps := b.byModel[id]
	for _, p := range ps {
		if (p.From.IsZero() || !at.Before(p.From)) && (p.Until.IsZero() || at.Before(p.Until)) {
			return p, nil
		}
	}
	if at.Before(ps[0].From) {
		return ps[0], nil
	}
	return ps[len(ps)-1], nil
}

// resolve returns the canonical id of model, or "" when the book does not know it. Results are
// memoised, so that pricing millions of calls normalises each distinct name once.
func (b *Book) resolve(model string) string {
	if v, ok := b.resolved.Load(model); ok {
		return v.(string)
	}
	n := Normalize(model)
	id, ok := b.alias[n]
	if !ok {
		id = b.alias[undated(n)]
	}
	b.resolved.Store(model, id)
	return id
}

var (
	dateSuffix   = regexp.MustCompile(`[-@]\d{8}$`)
	bedrockVer   = regexp.MustCompile(`-v\d+(:\d+)?$`)
	regionPrefix = regexp.MustCompile(`^(us|eu|apac|global|au|jp)\.`)
)

// Normalize maps the many spellings of a model id to one key: lower case; provider prefixes
// ("anthropic/", "bedrock/", "vertex_ai/", "openrouter/anthropic/"), Bedrock region and vendor
// prefixes ("us.anthropic.") and version suffixes ("-v1:0"), and "-latest" are removed. Date
// suffixes ("-20250929", "@20250929") are kept, since aliases name them; Lookup tries the name
// without its date when the dated one is unknown.
func Normalize(model string) string {
	m := strings.ToLower(strings.TrimSpace(model))
	for {
		i := strings.IndexByte(m, '/')
		if i < 0 {
			break
		}
		m = m[i+1:]
	}
	m = regionPrefix.ReplaceAllString(m, "")
	m = strings.TrimPrefix(m, "anthropic.")
	m = bedrockVer.ReplaceAllString(m, "")
	m = strings.TrimSuffix(m, "-latest")
	m = strings.Replace(m, "@", "-", 1)
	return m
}

// undated returns m without a trailing date suffix.
func undated(m string) string { return dateSuffix.ReplaceAllString(m, "") }

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
