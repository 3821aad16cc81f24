package pricing

import (
	"maps"
	"slices"
	"time"

	"github.com/tarsopt/tarsopt/traces"
)

// Totals is what a set of calls consumed and cost, by token kind.
type Totals struct {
	Calls  int64
	Tokens traces.TokenCounts
	Cost   Breakdown
}

// Add counts one call of record r that cost c.
func (t *Totals) Add(r *traces.Record, c Breakdown) {
	t.Calls++
	t.Tokens.Input += r.Input
	t.Tokens.CacheWrite5m += r.CacheWrite5m
	t.Tokens.CacheWrite1h += r.CacheWrite1h
	t.Tokens.CacheRead += r.CacheRead
	t.Tokens.Output += r.Output
	t.Tokens.Reasoning += r.Reasoning
	t.Cost.Add(c)
}

// Ledger adds up priced calls by day, month, model, day and model, session and tenant. Days and
// months are calendar periods in Location. Sums are exact, so they do not depend on the order in
// which calls are added. Memory grows with the number of distinct days, models, sessions and
// tenants, not with the number of calls.
type Ledger struct {
	Location *time.Location // for day boundaries; nil means UTC

	All      Totals
	Days     map[string]*Totals            // "YYYY-MM-DD"
	Months   map[string]*Totals            // "YYYY-MM"
	Models   map[string]*Totals            // model name as recorded
	DayModel map[string]map[string]*Totals // day → model
	Sessions map[string]*Totals            // "" for calls without a session
	Tenants  map[string]*Totals            // "" for calls without a tenant

	day        string // the day of the last call added, and its bounds in Unix seconds
	dayFrom    int64
	dayTo      int64
	dayTotals  *Totals
	monthTotal *Totals
	dayModels  map[string]*Totals
}

// NewLedger returns an empty ledger with days in loc (nil for UTC).
func NewLedger(loc *time.Location) *Ledger {
	if loc == nil {
		loc = time.UTC
	}
	return &Ledger{Location: loc, Days: map[string]*Totals{}, Months: map[string]*Totals{}, Models: map[string]*Totals{},
		DayModel: map[string]map[string]*Totals{}, Sessions: map[string]*Totals{}, Tenants: map[string]*Totals{}}
}

func bucket(m map[string]*Totals, k string) *Totals {
	t := m[k]
	if t == nil {
		t = &Totals{}
		m[k] = t
	}
	return t
}

// Add counts call r, which cost c.
func (l *Ledger) Add(r *traces.Record, c Breakdown) {
	if sec := r.Time.Unix(); l.dayTotals == nil || sec < l.dayFrom || sec >= l.dayTo {
		// A new day: calls usually come in time order, so this runs once a day.
		lt := r.Time.In(l.Location)
		start := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, l.Location)
		l.day = start.Format("2006-01-02")
		l.dayFrom, l.dayTo = start.Unix(), start.AddDate(0, 0, 1).Unix()
		l.dayTotals = bucket(l.Days, l.day)
		l.monthTotal = bucket(l.Months, l.day[:7])
		if l.dayModels = l.DayModel[l.day]; l.dayModels == nil {
			l.dayModels = map[string]*Totals{}
			l.DayModel[l.day] = l.dayModels
		}
	}
	l.All.Add(r, c)
	l.dayTotals.Add(r, c)
	l.monthTotal.Add(r, c)
	bucket(l.Models, r.Model).Add(r, c)
	bucket(l.dayModels, r.Model).Add(r, c)
	bucket(l.Sessions, r.Session).Add(r, c)
	bucket(l.Tenants, r.Tenant).Add(r, c)
}

// Keys returns the keys of a ledger map, sorted.
func Keys(m map[string]*Totals) []string { return slices.Sorted(maps.Keys(m)) }
