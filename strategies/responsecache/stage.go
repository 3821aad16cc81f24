package responsecache

import (
	"errors"
	"time"

	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// Stage is the response cache. It implements strategies.Stage, strategies.Observer and
// strategies.Counting; like every stage it is single-threaded (the driver never calls it
// concurrently).
//
// A call is cacheable when its record has a fingerprint, its query type has a TTL above 0 in the
// settings, and (with deterministic_only) its temperature is present and 0. An answer is keyed by
// tenant, fingerprint and the model the client asked for (Call.OrigModel), so a cache placed
// before the router keys on the client's request; a call without a tenant shares the tenant "".
//
// Expiry: an entry lives while its age (now − the time its answer was complete) is below the TTL
// of its query type. Entries are kept in one list per query type in the order they were stored,
// and every Handle and Observe first sweeps the expired entries off the old end of those lists, so
// an expired entry is removed at the first call after it expires and never pins memory; eviction
// only ever chooses among live entries. Handle also checks the age of the entry it finds against
// the TTL of the call's own query type, and removes the entry when it is too old (possible when the
// same request was stored under a type with a longer TTL, or when a driver's clock goes back).
type Stage struct {
	c          *cache
	fresh      [numTypes]int64 // by query type, nanoseconds
	detOnly    bool
	keep       float64 // 1 − stale_penalty
	hitLatency int64
	lastAge    int64
	lastStored bool

	hits, staleHits, misses, uncacheable, stored, tooLarge uint64
	ageSum                                                 float64 // seconds, over hits
}

var (
	_ strategies.Stage    = (*Stage)(nil)
	_ strategies.Observer = (*Stage)(nil)
	_ strategies.Counting = (*Stage)(nil)
)

// New returns a response cache with settings s, which it validates; it keeps no reference to s.
func New(s *Settings) (*Stage, error) {
	if s == nil {
		return nil, errors.New("responsecache: nil settings")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var ttl [numTypes]int64
	st := &Stage{detOnly: s.DeterministicOnly, keep: 1 - s.StalePenalty,
		hitLatency: int64(s.HitLatencyMS * float64(time.Millisecond))}
	for name, v := range s.TTL {
		qt, _ := traces.ParseQueryType(name)
		ttl[qt] = int64(v * float64(time.Second))
	}
	for qt := range st.fresh {
		st.fresh[qt] = ttl[qt]
	}
	for name, v := range s.Fresh {
		qt, _ := traces.ParseQueryType(name)
		st.fresh[qt] = int64(v * float64(time.Second))
	}
	st.c = newCache(s.Policy, s.MaxEntries, s.MaxBytes, ttl)
	return st, nil
}

// Name returns "responsecache".
func (s *Stage) Name() string { return Name }

// HitLatency returns how long a hit takes to answer, in nanoseconds (the setting hit_latency_ms).
// The stage does not delay the call itself: a driver that gets Serve from this stage completes the
// call HitLatency after now (the answer's Done time, which its latency metrics see), and charges
// no upstream cost or tokens for it.
func (s *Stage) HitLatency() int64 { return s.hitLatency }

// LastAge returns the age in nanoseconds of the entry served by the last Handle that returned
// Serve (0 before the first hit): how old the answer was when it was served. A driver that
// reports staleness in time reads it right after Handle.
func (s *Stage) LastAge() int64 { return s.lastAge }

// LastStored reports whether the last Observe stored an answer (new or replacing one). A live
// driver that keeps the answer's body beside the stage stores the body when it is true.
func (s *Stage) LastStored() bool { return s.lastStored }

// OnRemove sets fn to be told the key (tenant, fingerprint, model asked for) of every answer that
// leaves the cache: expired, evicted to make room, or displaced by a colliding key; not when an
// answer is replaced by a newer one under the same key. fn runs inside Handle and Observe, so it
// must not call back into the stage; a live driver records the keys and deletes the bodies it
// keeps for them after the call.
func (s *Stage) OnRemove(fn func(tenant string, fp uint64, model string)) { s.c.onRemove = fn }

// Cacheable reports whether the stage would look r up (and store its answer): it has a
// fingerprint, its query type has a TTL, and it is deterministic when the settings ask for that.
func (s *Stage) Cacheable(r *traces.Record) bool {
	_, ok := s.cacheable(r)
	return ok
}

// TTL returns the time to live of answers of query type qt, in nanoseconds (0: not cached).
func (s *Stage) TTL(qt traces.QueryType) int64 {
	if int(qt) >= numTypes {
		return 0
	}
	return s.c.ttl[qt]
}

// cacheable returns the TTL of r's query type when r is cacheable.
func (s *Stage) cacheable(r *traces.Record) (int64, bool) {
	if int(r.QueryType) >= numTypes || !r.Has(traces.FieldFingerprint) {
		return 0, false
	}
	ttl := s.c.ttl[r.QueryType]
	if ttl <= 0 {
		return 0, false
	}
	if s.detOnly && (!r.Has(traces.FieldTemperature) || r.Temperature != 0) {
		return 0, false
	}
	return ttl, true
}

// Handle serves c from the cache when an answer to the same request (tenant, fingerprint, model
// asked for) is stored and younger than the TTL of c's query type: it sets c.Served, c.ServedBy
// ("responsecache"), c.Rec.Output and c.Rec.Reasoning to the stored answer's (Reasoning absent
// when the stored call had none), and, when the answer is older than the type's freshness,
// c.Stale and c.Quality *= 1 − stale_penalty; it returns Serve. Otherwise it returns Next.
func (s *Stage) Handle(now int64, c *strategies.Call) strategies.Decision {
	s.c.sweep(now)
	ttl, ok := s.cacheable(&c.Rec)
	if !ok {
		s.uncacheable++
		return strategies.Decision{Action: strategies.Next}
	}
	k := key{tenant: c.Rec.Tenant, fp: c.Rec.Fingerprint, model: c.OrigModel}
	i, _, ok := s.c.get(&k)
	if !ok {
		s.misses++
		return strategies.Decision{Action: strategies.Next}
	}
	e := &s.c.slab[i]
	age := max(now-e.at, 0)
	if age >= ttl {
		s.c.remove(i)
		s.c.expired++
		s.misses++
		return strategies.Decision{Action: strategies.Next}
	}
	s.hits++
	s.ageSum += float64(age) / 1e9
	s.lastAge = age
	c.Served, c.ServedBy = true, Name
	c.Rec.Output = e.output
	c.Rec.Set(traces.FieldOutput)
	if e.hasReason {
		c.Rec.Reasoning = e.reasoning
		c.Rec.Set(traces.FieldReasoning)
	} else {
		c.Rec.Unset(traces.FieldReasoning)
	}
	if age > s.fresh[c.Rec.QueryType] {
		c.Stale = true
		c.Quality *= s.keep
		s.staleHits++
	}
	s.c.touch(i)
	return strategies.Decision{Action: strategies.Serve}
}

// Observe stores the answer of a cacheable call that went upstream and was acceptable (o.OK, not
// o.Failed, no retry asked for by a later stage), under the key Handle looked it up by, with
// o.Done as its time and o.Output as its output tokens (c.Rec.Reasoning, when present and within
// it, as its reasoning tokens). A newer answer to the same request replaces the stored one. Calls
// served by any stage (a cache hit, a coalesced or merged follower) store nothing: the call whose
// answer they share stores it.
func (s *Stage) Observe(now int64, c *strategies.Call, o *strategies.Outcome) {
	s.c.sweep(now)
	s.lastStored = false
	if c.Served || !o.OK || o.Failed || o.RetryWith != "" {
		return
	}
	ttl, ok := s.cacheable(&c.Rec)
	if !ok || now-o.Done >= ttl {
		return
	}
	out := max(o.Output, 0)
	reasoning, hasReason := c.Rec.Reasoning, c.Rec.Has(traces.FieldReasoning)
	if hasReason {
		reasoning = min(max(reasoning, 0), out)
	}
	k := key{tenant: c.Rec.Tenant, fp: c.Rec.Fingerprint, model: c.OrigModel}
	if s.c.put(&k, c.Rec.QueryType, o.Done, out, reasoning, hasReason) {
		s.stored++
		s.lastStored = true
	} else {
		s.tooLarge++
	}
}

// Counters returns, in this order: hits (calls served), stale_hits (hits older than their
// freshness), misses (cacheable calls not served, expired finds included), uncacheable (calls the
// cache does not consider), hit_rate (hits / (hits + misses)), expired (entries removed because
// they outlived their TTL, by the sweep or when found), evictions (entries removed to make room, or to free an index slot another key collides with),
// stored (answers stored or replaced), too_large (answers larger than max_bytes, not stored),
// entries and bytes (what the cache holds now; bytes as EntryBytes estimates it) and
// mean_hit_age_s (mean age of the answers served, seconds).
func (s *Stage) Counters() []strategies.Count {
	rate, age := 0.0, 0.0
	if n := s.hits + s.misses; n > 0 {
		rate = float64(s.hits) / float64(n)
	}
	if s.hits > 0 {
		age = s.ageSum / float64(s.hits)
	}
	return []strategies.Count{
		{Name: "hits", Value: float64(s.hits)},
		{Name: "stale_hits", Value: float64(s.staleHits)},
		{Name: "misses", Value: float64(s.misses)},
		{Name: "uncacheable", Value: float64(s.uncacheable)},
		{Name: "hit_rate", Value: rate},
		{Name: "expired", Value: float64(s.c.expired)},
		{Name: "evictions", Value: float64(s.c.evictions)},
		{Name: "stored", Value: float64(s.stored)},
		{Name: "too_large", Value: float64(s.tooLarge)},
		{Name: "entries", Value: float64(s.c.n)},
		{Name: "bytes", Value: float64(s.c.bytes)},
		{Name: "mean_hit_age_s", Value: age},
	}
}
