package pricing

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tarsopt/tarsopt/internal/decimal"
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/traces"
)

// tarsopt's price book format: {"note": ..., "models": [entry...]}, rates in dollars per million
// tokens as JSON numbers (read exactly), dates as YYYY-MM-DD or RFC 3339. An entry:
//
//	{"model", "provider", "aliases": [...], "from", "until", "retired",
//	 "input", "output", "cache_write_5m", "cache_write_1h", "cache_read",
//	 "batch": factor, "tiers": {"batch"|"flex"|"priority": {rates}},
//	 "long_context": {"threshold": tokens, rates},
//	 "windows": [{"label", "from": "HH:MM", "to": "HH:MM", "days": ["mon", ...], rates}],
//	 "fast": factor, "min_cacheable": tokens}
//
// Absent cache rates default: a 5-minute write to the input rate, a 1-hour write to the 5-minute
// write rate, a read to the input rate (a provider without a cache discount).

type ratesJSON struct {
	Input        json.Number `json:"input"`
	Output       json.Number `json:"output"`
	CacheWrite5m json.Number `json:"cache_write_5m"`
	CacheWrite1h json.Number `json:"cache_write_1h"`
	CacheRead    json.Number `json:"cache_read"`
}

type windowJSON struct {
	Label string   `json:"label"`
	From  string   `json:"from"`
	To    string   `json:"to"`
	Days  []string `json:"days"`
	ratesJSON
}

type priceJSON struct {
	Model        string               `json:"model"`
	Provider     string               `json:"provider"`
	Aliases      []string             `json:"aliases"`
	From         string               `json:"from"`
	Until        string               `json:"until"`
	Retired      string               `json:"retired"`
	Batch        json.Number          `json:"batch"`
	Fast         json.Number          `json:"fast"`
	MinCacheable int64                `json:"min_cacheable"`
	Tiers        map[string]ratesJSON `json:"tiers"`
	Windows      []windowJSON         `json:"windows"`
	ratesJSON
	LongContext *struct {
		Threshold int64 `json:"threshold"`
		ratesJSON
	} `json:"long_context"`
}

type bookJSON struct {
	Note   string      `json:"note"`
	Models []priceJSON `json:"models"`
}

// Parse reads a price book in tarsopt's JSON format (see above). Unknown keys are errors, and so
// are overlapping periods of a model and a name that two models claim. name is used in error
// messages, which give the entry's JSON path.
func Parse(r io.Reader, name string) (*Book, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var bj bookJSON
	if err := dec.Decode(&bj); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	b := NewBook()
	b.Note = bj.Note
	for i, pj := range bj.Models {
		where := fmt.Sprintf("%s: models[%d]", name, i)
		p, err := pj.price()
		if err != nil {
			return nil, fmt.Errorf("%s (%s).%w", where, pj.Model, err)
		}
		if err := b.add(p, 0, true); err != nil {
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
	if p.Rates, err = pj.ratesJSON.rates(""); err != nil {
		return nil, err
	}
	for _, d := range []struct {
		key string
		s   string
		dst *time.Time
	}{{"from", pj.From, &p.From}, {"until", pj.Until, &p.Until}, {"retired", pj.Retired, &p.Retired}} {
		if d.s == "" {
			continue
		}
		if *d.dst, err = parseDate(d.s); err != nil {
			return nil, fmt.Errorf("%s: %w", d.key, err)
		}
	}
	if !p.From.IsZero() && !p.Until.IsZero() && !p.Until.After(p.From) {
		return nil, errors.New("until: not after from")
	}
	if p.MinCacheable < 0 {
		return nil, errors.New("min_cacheable: negative")
	}
	if pj.Batch != "" {
		if p.Batch, err = parseFactor(pj.Batch, 1); err != nil {
			return nil, fmt.Errorf("batch: %w", err)
		}
	}
	if pj.Fast != "" {
		if p.Fast, err = parseFactor(pj.Fast, 100); err != nil {
			return nil, fmt.Errorf("fast: %w", err)
		}
	}
	for name, tj := range pj.Tiers {
		tier, ok := traces.ParseServiceTier(name)
		if !ok || tier == traces.TierStandard {
			return nil, fmt.Errorf("tiers.%s: want batch, flex or priority", name)
		}
		r, err := tj.rates("tiers." + name + ".")
		if err != nil {
			return nil, err
		}
		if p.Tiers == nil {
			p.Tiers = map[traces.ServiceTier]Rates{}
		}
		p.Tiers[tier] = r
	}
	for i, wj := range pj.Windows {
		path := fmt.Sprintf("windows[%d].", i)
		w := Window{Label: wj.Label}
		if w.From, err = parseClock(wj.From); err != nil {
			return nil, fmt.Errorf("%sfrom: %w", path, err)
		}
		if w.To, err = parseClock(wj.To); err != nil {
			return nil, fmt.Errorf("%sto: %w", path, err)
		}
		if w.From == w.To {
			return nil, fmt.Errorf("%sto: the window is empty", path)
		}
		for _, d := range wj.Days {
			wd, ok := weekdays[strings.ToLower(d)]
			if !ok {
				return nil, fmt.Errorf("%sdays: %q is not a weekday (mon..sun)", path, d)
			}
			w.Days[wd] = true
		}
		if w.Rates, err = wj.ratesJSON.rates(path); err != nil {
			return nil, err
		}
		p.Windows = append(p.Windows, w)
	}
	if lc := pj.LongContext; lc != nil {
		if lc.Threshold <= 0 {
			return nil, errors.New("long_context.threshold: must be positive")
		}
		lr, err := lc.ratesJSON.rates("long_context.")
		if err != nil {
			return nil, err
		}
		p.Long = &LongContext{Threshold: lc.Threshold, Rates: lr}
	}
	return p, nil
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// rates reads a rates object; path prefixes the key names in errors.
func (rj ratesJSON) rates(path string) (Rates, error) {
	var r Rates
	read := func(key string, v json.Number, dst *money.Rate, required bool) error {
		if v == "" {
			if required {
				return fmt.Errorf("%s%s: missing", path, key)
			}
			return nil
		}
		x, err := money.PerMillion(string(v))
		if err != nil {
			return fmt.Errorf("%s%s: %w", path, key, err)
		}
		if x < 0 {
			return fmt.Errorf("%s%s: negative price %s", path, key, v)
		}
		*dst = x
		return nil
	}
	if err := read("input", rj.Input, &r.Input, true); err != nil {
		return r, err
	}
	if err := read("output", rj.Output, &r.Output, true); err != nil {
		return r, err
	}
	r.CacheWrite5m, r.CacheRead = r.Input, r.Input
	if err := read("cache_write_5m", rj.CacheWrite5m, &r.CacheWrite5m, false); err != nil {
		return r, err
	}
	r.CacheWrite1h = r.CacheWrite5m
	if err := read("cache_write_1h", rj.CacheWrite1h, &r.CacheWrite1h, false); err != nil {
		return r, err
	}
	if err := read("cache_read", rj.CacheRead, &r.CacheRead, false); err != nil {
		return r, err
	}
	return r, nil
}

// parseFactor reads a positive multiplier of at most max as an exact fraction.
func parseFactor(n json.Number, max int64) (Factor, error) {
	v, err := decimal.Parse(string(n), 9)
	if err != nil || v <= 0 || v > max*1e9 {
		return Factor{}, fmt.Errorf("want a factor in (0, %d], got %s", max, n)
	}
	g := gcd(v, 1e9)
	return Factor{v / g, 1e9 / g}, nil
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

// parseClock reads "HH:MM" (UTC) as minutes after midnight.
func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("bad time %q (want HH:MM, UTC)", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}
