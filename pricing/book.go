// Package pricing is tarsopt's price book: dated per-model token prices and the exact cost of one
// call under the provider's billing rules.
//
// A Book maps model names (exactly, or through aliases after normalising provider prefixes,
// Bedrock and Vertex spellings and date suffixes) to Prices, each in force over a period. Price.Cost
// prices one call from its token counts, service tier, speed and time, in exact money.Amounts; it
// is the only place where tarsopt turns tokens into dollars: the cost command, the simulator, the
// reports and the live proxy all call it.
//
// Billing rules implemented here (docs/pricing.md has the details and worked examples):
//   - each token kind (uncached input, 5-minute and 1-hour cache writes, cache reads, output) has its
//     own rate; reasoning tokens are output tokens;
//   - long context: on models with such a tier, once the prompt (input + cache writes + cache reads)
//     exceeds the threshold, every token of the request, output included, is billed at the
//     long-context rates (Anthropic's rule; not only the tokens above the threshold);
//   - the Batch API bills every token kind at the price's batch factor (one half for Anthropic and
//     OpenAI) unless the book has explicit batch rates;
//   - flex and priority tiers use their own rates where the book has them, else standard rates;
//   - time-of-day windows (DeepSeek's off-peak hours until 2025-09-05) replace the standard rates for
//     calls that start inside them;
//   - fast mode (speed: fast) multiplies every rate by the model's fast multiplier where it has one.
package pricing

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Book is a set of dated prices. It is safe for concurrent use once built.
type Book struct {
	byModel  map[string][]*Price // canonical id → prices sorted by From
	exact    map[string]string   // lower-cased names and aliases → canonical id
	alias    map[string]string   // normalised names → canonical id
	aliasPri map[string]int      // priority of the claim on each normalised name (lower wins)
	mu       sync.RWMutex
	resolved map[string]string // model name as given → canonical id ("" when unknown); under mu
	Note     string            // provenance of the prices, for reports
	Source   string            // where the book came from: "built-in", a file name
}

// NewBook returns an empty book.
func NewBook() *Book {
	return &Book{byModel: map[string][]*Price{}, exact: map[string]string{}, alias: map[string]string{}, aliasPri: map[string]int{}}
}

//go:embed default.json
var defaultJSON []byte

// Default returns the built-in price book (see default.json: Anthropic from Claude 3 on, OpenAI's
// main chat models, DeepSeek with its off-peak windows). Each call returns the same Book.
func Default() *Book { return defaultBook }

var defaultBook = func() *Book {
	b, err := Parse(bytes.NewReader(defaultJSON), "default.json")
	if err != nil {
		panic("pricing: embedded price book: " + err.Error())
	}
	b.Source = "built-in"
	return b
}()

// Load reads a price book from a file: tarsopt's own JSON format (an object with "models"), or
// LiteLLM's model_prices_and_context_window.json (an object of models by name), told apart by
// their content.
func Load(path string) (*Book, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var b *Book
	if isLiteLLM(data) {
		b, err = ParseLiteLLM(bytes.NewReader(data), path)
	} else {
		b, err = Parse(bytes.NewReader(data), path)
	}
	if err != nil {
		return nil, err
	}
	b.Source = path
	return b, nil
}

// add adds a price. Periods of the same model must not overlap. Names and aliases resolve exactly
// (lower-cased) and after Normalize; a normalised name claimed by two models goes to the claim with
// the lower priority number (strict books reject the conflict instead).
func (b *Book) add(p *Price, priority int, strict bool) error {
	id := strings.ToLower(p.Model)
	for _, q := range b.byModel[id] {
		if overlaps(p, q) {
			if !strict {
				return nil // the same model again (differing only in case): the first one stands
			}
			return fmt.Errorf("%s: price periods overlap", p.Model)
		}
	}
	b.mu.Lock()
	clear(b.resolved)
	b.mu.Unlock()
	b.byModel[id] = append(b.byModel[id], p)
	sort.Slice(b.byModel[id], func(i, j int) bool { return b.byModel[id][i].From.Before(b.byModel[id][j].From) })
	for _, a := range append([]string{p.Model}, p.Aliases...) {
		la := strings.ToLower(a)
		if prev, ok := b.exact[la]; ok && prev != id {
			if strict {
				return fmt.Errorf("name %q names both %s and %s", a, prev, p.Model)
			}
			continue
		}
		b.exact[la] = id
		n := Normalize(a)
		if prev, ok := b.alias[n]; ok && prev != id {
			if strict {
				return fmt.Errorf("alias %q names both %s and %s", a, prev, p.Model)
			}
			if b.aliasPri[n] <= priority {
				continue
			}
		}
		b.alias[n], b.aliasPri[n] = id, priority
	}
	return nil
}

func overlaps(p, q *Price) bool {
	if !p.Until.IsZero() && !p.Until.After(q.From) {
		return false
	}
	if !q.Until.IsZero() && !q.Until.After(p.From) {
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

// Prices returns every price of model (all periods, oldest first), or nil if the book does not know
// it.
func (b *Book) Prices(model string) []*Price {
	return b.byModel[b.resolve(model)]
}

// ErrUnknownModel is returned (wrapped, with the model's name) for a model the book has no price for.
var ErrUnknownModel = errors.New("unknown model")

// Lookup returns the price of model in force at time at. When no period covers at, the nearest one
// applies: the first for calls before it, the last for calls after it (a retired model's last
// price).
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

// resolve returns the canonical id of model, or "" when the book does not know it: the exact name
// first, then the normalised one, then the normalised one without a date suffix. Results are
// memoised, so that pricing millions of calls resolves each distinct name once.
func (b *Book) resolve(model string) string {
	b.mu.RLock()
	id, ok := b.resolved[model] // a map lookup by string does not allocate, unlike sync.Map's
	b.mu.RUnlock()
	if ok {
		return id
	}
	id, ok = b.exact[strings.ToLower(strings.TrimSpace(model))]
	if !ok {
		n := Normalize(model)
		if id, ok = b.alias[n]; !ok {
			id = b.alias[undated(n)]
		}
	}
	b.mu.Lock()
	if b.resolved == nil {
		b.resolved = map[string]string{}
	}
	b.resolved[model] = id
	b.mu.Unlock()
	return id
}

var (
	dateSuffix   = regexp.MustCompile(`-\d{8}$|-\d{4}-\d{2}-\d{2}$`)
	bedrockVer   = regexp.MustCompile(`-v\d+(:\d+)?$`)
	regionPrefix = regexp.MustCompile(`^(us|eu|apac|global|au|jp|us-gov)\.`)
)

// Normalize maps the many spellings of a model id to one key: lower case; provider prefixes
// ("anthropic/", "openai/", "bedrock/", "vertex_ai/", "openrouter/anthropic/") are removed, and so
// are Bedrock region and vendor prefixes ("us.anthropic.") and version suffixes ("-v1:0"), and
// "-latest"; Vertex's "@" before a date becomes "-". Date suffixes ("-20250929") are kept, since
// aliases name them; Lookup tries the name without its date when the dated one is unknown.
func Normalize(model string) string {
	m := strings.ToLower(strings.TrimSpace(model))
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	m = regionPrefix.ReplaceAllString(m, "")
	for _, vendor := range []string{"anthropic.", "openai.", "deepseek."} {
		m = strings.TrimPrefix(m, vendor)
	}
	m = bedrockVer.ReplaceAllString(m, "")
	m = strings.TrimSuffix(m, "-latest")
	m = strings.Replace(m, "@", "-", 1)
	return m
}

// undated returns m without a trailing date suffix.
func undated(m string) string { return dateSuffix.ReplaceAllString(m, "") }

// Family returns the model's name normalised and without a date suffix: the key under which
// settings for a model (its latency, its quality) are looked up, so that "claude-sonnet-4-5",
// "claude-sonnet-4-5-20250929" and "us.anthropic.claude-sonnet-4-5-20250929-v1:0" share them.
func Family(model string) string { return undated(Normalize(model)) }

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	if a < 0 {
		return -a
	}
	return a
}
