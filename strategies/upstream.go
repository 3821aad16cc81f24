package strategies

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tarsopt/tarsopt/pricing"
)

// Upstream models the provider's models as the simulator needs them: how fast each answers, and how
// likely its answer is to be acceptable for a call of a given complexity. The live proxy uses the
// quality curves to route, not to draw.
type Upstream struct {
	// Models gives each model's speed, by model family (pricing.Family: normalised, undated) or a
	// prefix of it that ends before a '-': "claude-opus" covers every Opus model that has no entry
	// of its own; the longest matching key wins.
	Models map[string]Speed `json:"models"`
	// DefaultSpeed is the speed of models not in Models.
	DefaultSpeed Speed `json:"default_speed"`
	// Quality gives each model family's quality curve, keyed like Models.
	Quality map[string]Curve `json:"quality"`
	// DefaultQuality is the curve of models not in Quality.
	DefaultQuality Curve `json:"default_quality"`
	// ErrorRate is the share of calls that fail upstream, for calls whose trace has no status.
	ErrorRate float64 `json:"error_rate"`

	once   sync.Once
	speeds map[string]Speed
	curves map[string]Curve
	mu     sync.RWMutex
	memo   map[string]*resolved // model name as given → what it resolves to; under mu
}

// resolved is what a model name resolves to.
type resolved struct {
	speed Speed
	curve Curve
}

// Speed is a model's latency: the time to the first token, then output at a steady rate.
type Speed struct {
	TTFT       float64 `json:"ttft_s"`       // seconds
	TokensPerS float64 `json:"tokens_per_s"` // output tokens per second
}

// Latency returns the time this model takes to answer with out output tokens.
func (s Speed) Latency(out int64) time.Duration {
	return time.Duration((s.TTFT + float64(out)/s.TokensPerS) * float64(time.Second))
}

// Curve is the probability that a model answers a call of complexity c (0 to 100) acceptably:
// p(c) = Easy − (Easy − Hard) × (c/100)^Shape. Easy is the probability on trivial calls, Hard on
// the hardest; Shape > 1 keeps quality high until complexity is well up.
type Curve struct {
	Easy  float64 `json:"easy"`
	Hard  float64 `json:"hard"`
	Shape float64 `json:"shape"`
}

// P returns the probability of an acceptable answer at complexity c.
func (q Curve) P(c float64) float64 {
	x := min(max(c, 0), 100) / 100 // the builtins: math.Min's NaN and ±0 rules, inlined
	var y float64
	switch q.Shape {
	case 2: // the usual shape: math.Pow(x, 2) is exactly x*x, at a tenth of the cost
		y = x * x
	case 1:
		y = x
	default:
		y = math.Pow(x, q.Shape)
	}
	return q.Easy - (q.Easy-q.Hard)*y
}

// Validate checks the curve: probabilities in 0..1, Hard not above Easy, Shape positive.
func (q Curve) Validate() error {
	if !(q.Easy >= 0 && q.Easy <= 1 && q.Hard >= 0 && q.Hard <= q.Easy && q.Shape > 0) {
		return fmt.Errorf("want 0 ≤ hard ≤ easy ≤ 1 and shape > 0, got easy %g, hard %g, shape %g", q.Easy, q.Hard, q.Shape)
	}
	return nil
}

// Validate checks the whole model and returns the first problem with its path.
func (u *Upstream) Validate() error {
	check := func(path string, s Speed) error {
		if !(s.TTFT >= 0 && s.TokensPerS > 0) {
			return fmt.Errorf("%s: want ttft_s ≥ 0 and tokens_per_s > 0", path)
		}
		return nil
	}
	if err := check("default_speed", u.DefaultSpeed); err != nil {
		return err
	}
	for _, m := range sortedKeys(u.Models) {
		if err := check("models."+m, u.Models[m]); err != nil {
			return err
		}
	}
	if err := u.DefaultQuality.Validate(); err != nil {
		return fmt.Errorf("default_quality: %w", err)
	}
	for _, m := range sortedKeys(u.Quality) {
		if err := u.Quality[m].Validate(); err != nil {
			return fmt.Errorf("quality.%s: %w", m, err)
		}
	}
	if !(u.ErrorRate >= 0 && u.ErrorRate < 1) {
		return fmt.Errorf("error_rate: want a share in [0, 1), got %g", u.ErrorRate)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (u *Upstream) init() {
	u.once.Do(func() {
		u.speeds, u.curves = map[string]Speed{}, map[string]Curve{}
		for m, s := range u.Models {
			u.speeds[pricing.Family(m)] = s
		}
		for m, q := range u.Quality {
			u.curves[pricing.Family(m)] = q
		}
	})
}

// longest returns the value under the longest key of m that is fam or a prefix of fam ending
// before a '-'.
func longest[V any](m map[string]V, fam string) (V, bool) {
	for k := fam; ; {
		if v, ok := m[k]; ok {
			return v, true
		}
		i := strings.LastIndexByte(k, '-')
		if i <= 0 {
			var zero V
			return zero, false
		}
		k = k[:i]
	}
}

func (u *Upstream) resolve(model string) *resolved {
	u.mu.RLock()
	r, ok := u.memo[model] // a map lookup by string does not allocate, unlike sync.Map's
	u.mu.RUnlock()
	if ok {
		return r
	}
	u.init()
	fam := pricing.Family(model)
	r = &resolved{speed: u.DefaultSpeed, curve: u.DefaultQuality}
	if s, ok := longest(u.speeds, fam); ok {
		r.speed = s
	}
	if q, ok := longest(u.curves, fam); ok {
		r.curve = q
	}
	u.mu.Lock()
	if u.memo == nil {
		u.memo = map[string]*resolved{}
	}
	u.memo[model] = r
	u.mu.Unlock()
	return r
}

// SpeedOf returns the speed of model.
func (u *Upstream) SpeedOf(model string) Speed { return u.resolve(model).speed }

// QualityOf returns the probability that model answers a call of complexity c acceptably.
func (u *Upstream) QualityOf(model string, c float64) float64 { return u.resolve(model).curve.P(c) }

// Model returns model's speed and quality curve at once.
func (u *Upstream) Model(model string) (Speed, Curve) {
	r := u.resolve(model)
	return r.speed, r.curve
}
