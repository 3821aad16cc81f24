package traces

import (
	"time"
)

// Summary accumulates what a trace holds: record counts, token totals by kind, the mix of models,
// query types, priorities and tiers, field coverage and time span. Add is cheap and allocates only
// for names not seen before; memory does not grow with the number of records.
type Summary struct {
	Records      int64
	First, Last  time.Time        // times of the earliest and latest records
	Tokens       TokenCounts      // totals over all records
	Models       map[string]int64 // records by model
	QueryTypes   map[string]int64 // records by query type ("" key: absent)
	Priorities   map[string]int64
	ServiceTiers map[string]int64
	Statuses     map[int]int64 // records by HTTP status (absent not counted)
	Errors       int64         // records with an error or a non-2xx status
	Present      [NumFields]int64
	sessions     map[string]struct{}
	tenants      map[string]struct{}
}

// TokenCounts are token totals by kind.
type TokenCounts struct {
	Input, CacheWrite5m, CacheWrite1h, CacheRead, Output, Reasoning int64
}

// Total returns prompt plus output tokens (reasoning is part of output).
func (t TokenCounts) Total() int64 {
	return t.Input + t.CacheWrite5m + t.CacheWrite1h + t.CacheRead + t.Output
}

// NewSummary returns an empty Summary.
func NewSummary() *Summary {
	return &Summary{Models: map[string]int64{}, QueryTypes: map[string]int64{}, Priorities: map[string]int64{},
		ServiceTiers: map[string]int64{}, Statuses: map[int]int64{}, sessions: map[string]struct{}{}, tenants: map[string]struct{}{}}
}

// maxDistinct bounds the session and tenant sets: past it, Sessions and Tenants report a lower bound.
const maxDistinct = 1 << 20

// Add counts r.
func (s *Summary) Add(r *Record) {
	if s.Records == 0 || r.Time.Before(s.First) {
		s.First = r.Time
	}
	if s.Records == 0 || r.Time.After(s.Last) {
		s.Last = r.Time
	}
	s.Records++
	s.Tokens.Input += r.Input
	s.Tokens.CacheWrite5m += r.CacheWrite5m
	s.Tokens.CacheWrite1h += r.CacheWrite1h
	s.Tokens.CacheRead += r.CacheRead
	s.Tokens.Output += r.Output
	s.Tokens.Reasoning += r.Reasoning
	s.Models[r.Model]++
	s.QueryTypes[r.QueryType.String()]++
	s.Priorities[r.Priority.String()]++
	s.ServiceTiers[r.ServiceTier.String()]++
	if r.Has(FieldStatus) {
		s.Statuses[r.Status]++
	}
	if r.Error != "" || (r.Has(FieldStatus) && (r.Status < 200 || r.Status > 299)) {
		s.Errors++
	}
	for f := Field(0); f < numFields; f++ {
		if r.Has(f) {
			s.Present[f]++
		}
	}
	if r.Session != "" && len(s.sessions) < maxDistinct {
		if _, ok := s.sessions[r.Session]; !ok {
			s.sessions[r.Session] = struct{}{}
		}
	}
	if r.Tenant != "" && len(s.tenants) < maxDistinct {
		if _, ok := s.tenants[r.Tenant]; !ok {
			s.tenants[r.Tenant] = struct{}{}
		}
	}
}

// Sessions returns the number of distinct sessions seen.
func (s *Summary) Sessions() int { return len(s.sessions) }

// Tenants returns the number of distinct tenants seen.
func (s *Summary) Tenants() int { return len(s.tenants) }

// Coverage returns the share of records in which field f is present.
func (s *Summary) Coverage(f Field) float64 {
	if s.Records == 0 {
		return 0
	}
	return float64(s.Present[f]) / float64(s.Records)
}

// Days returns the length of the trace in days: the metadata window when it has one, otherwise the
// number of UTC calendar days from the first record's to the last record's, inclusive (a trace of
// a few minutes counts as one day).
func (s *Summary) Days(m Meta) float64 {
	if !m.Start.IsZero() && m.End.After(m.Start) {
		return m.End.Sub(m.Start).Hours() / 24
	}
	if s.Records == 0 {
		return 0
	}
	day := func(t time.Time) int64 { return t.UTC().Unix() / 86400 }
	return float64(day(s.Last) - day(s.First) + 1)
}
