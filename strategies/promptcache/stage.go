package promptcache

import (
	"time"

	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// Stage is the prompt-cache policy: it re-splits every call's prompt into cache reads, cache
// writes and uncached input. It owns its cache state; build it with New (or through the registry)
// and drive it from one goroutine, in non-decreasing time.
type Stage struct {
	ttl     int64 // nanoseconds; 0 means no caching (TTL "none")
	oneHour bool  // writes are CacheWrite1h (else CacheWrite5m)
	maxBP   int
	look    int
	block   int64 // tokens per prefix hash; 0 when the trace has none
	book    *pricing.Book
	minTok  map[string]int64 // model family → minimum cacheable tokens (the overrides)

	// Model names as given → their cache identity and minimum (grows with distinct names only).
	modelIdx map[string]int32
	models   []modelInfo

	// Cache spaces: one per (tenant, model) with live entries; ids are reused once a space holds
	// no entry.
	spaceIdx  map[spaceKey]uint32
	spaces    []space
	freeSpace []uint32
	last      struct { // the space of the previous call, to skip the map lookup
		tenant, model string
		sp            uint32
		ok            bool
	}

	entries table
	queue   ring[entryRef] // every write and read of an entry, with the expiry it set

	// Session hints: (tenant, session, agent) → slot in sess; slots are reused.
	sessIdx  map[sessKey]uint32
	sess     []hint
	freeSess []uint32
	squeue   ring[hintRef]
	peakSess int

	bp [MaxBreakpoints]int // breakpoints of the call being handled

	calls, hits, readTok, writeTok, inputTok, expired, noPrefix, belowMin int64
}

// modelInfo is what the stage knows of one model name.
type modelInfo struct {
	name        string
	canon       string // the book's canonical id, else the family: the cache's model identity
	prices      []*pricing.Price
	override    int64
	hasOverride bool
}

type spaceKey struct{ tenant, model string }

type space struct {
	key   spaceKey
	model int32 // index in models
	live  int32 // entries of the space in the table
}

// entryRef names a cache entry in the expiry queue.
type entryRef struct {
	h  uint64
	sp uint32
}

type sessKey struct{ tenant, session, agent string }

// hint is a session's last prompt length, for the session-hint breakpoint.
type hint struct {
	key    sessKey
	exp    int64 // the hint is dropped at exp
	blocks int32 // full blocks of the session's last prompt
	gen    uint32
}

type hintRef struct{ idx, gen uint32 }

var _ interface {
	strategies.Stage
	strategies.Counting
} = (*Stage)(nil)

// New builds the stage from valid settings (see Settings.Validate) and the run's environment: its
// Book gives the minimum cacheable lengths (nil: DefaultMinTokens for every model not in
// MinTokens), its BlockSize the tokens per prefix hash.
func New(s *Settings, env strategies.Env) *Stage {
	st := &Stage{
		maxBP: s.Breakpoints, look: s.LookbackBlocks, block: int64(env.BlockSize), book: env.Book,
		minTok:   make(map[string]int64, len(s.MinTokens)),
		modelIdx: map[string]int32{}, spaceIdx: map[spaceKey]uint32{},
		entries: newTable(), sessIdx: map[sessKey]uint32{},
	}
	for k, v := range s.MinTokens {
		st.minTok[pricing.Family(k)] = v
	}
	switch s.TTL {
	case TTL5m:
		st.ttl = int64(5 * time.Minute)
	case TTL1h:
		st.ttl, st.oneHour = int64(time.Hour), true
	}
	return st
}

// Name returns the registered name, "promptcache".
func (s *Stage) Name() string { return Name }

// Handle re-splits c's prompt as the provider's prompt cache would have billed it at now (see the
// package documentation) and passes the call on. It sets c.Rec.Input, CacheWrite5m, CacheWrite1h
// and CacheRead (all marked present), keeping their sum; calls without prefix hashes are left
// as they are. It keeps no reference to c or to c.Rec.Prefix.
func (s *Stage) Handle(now int64, c *strategies.Call) strategies.Decision {
	s.calls++
	r := &c.Rec
	prompt := r.PromptTokens()
	if s.ttl == 0 {
		s.setSplit(r, prompt, 0, 0)
		return strategies.Decision{}
	}
	s.expire(now)
	if s.block <= 0 || len(r.Prefix) == 0 {
		s.noPrefix++
		return strategies.Decision{}
	}
	n := len(r.Prefix)
	if full := prompt / s.block; full < int64(n) {
		n = int(full)
	}
	if n == 0 {
		s.belowMin++
		s.setSplit(r, prompt, 0, 0)
		return strategies.Decision{}
	}

	// Breakpoints: the prompt's end, the session hint, the system prompt's end.
	bps := s.bp[:0]
	bps = s.addBP(bps, n)
	si, hasHint := uint32(0), false
	if r.Session != "" {
		if si, hasHint = s.sessIdx[sessKey{r.Tenant, r.Session, r.Agent}]; hasHint && s.sess[si].exp > now {
			bps = s.addBP(bps, min(int(s.sess[si].blocks), n))
		}
	}
	if r.Has(traces.FieldSystemTokens) {
		bps = s.addBP(bps, int(min(r.SystemTokens/s.block, int64(n))))
	}

	sp := s.space(r.Tenant, r.Model)
	exp := now + s.ttl

	// Read: the longest live entry at a breakpoint or up to look blocks before one; it is refreshed.
	read := 0
	var readSlot uint64
	for _, b := range bps {
		for p, lo := b, max(b-s.look, read+1); p >= lo; p-- {
			if !s.entries.mayHold(p) {
				continue
			}
			if i, ok := s.entries.find(r.Prefix[p-1], sp); ok && s.entries.slots[i].exp > now && int(s.entries.slots[i].pos) == p {
				read, readSlot = p, i
				break
			}
		}
	}
	if read > 0 {
		s.entries.slots[readSlot].exp = exp
		s.queue.push(entryRef{r.Prefix[read-1], sp}, exp)
	}

	// Write: every breakpoint beyond the read that is long enough.
	minTok := s.minTokens(sp, now)
	wrote, wanted := 0, false
	for _, b := range bps {
		if b <= read {
			continue
		}
		wanted = true
		if int64(b)*s.block < minTok {
			continue
		}
		h := r.Prefix[b-1]
		if i, ok := s.entries.find(h, sp); ok {
			s.entries.slots[i].exp = exp
			s.entries.setPos(i, int32(b))
		} else {
			s.entries.insert(h, sp, int32(b), exp)
			s.spaces[sp].live++
		}
		s.queue.push(entryRef{h, sp}, exp)
		wrote = max(wrote, b)
	}
	if wanted && wrote == 0 {
		s.belowMin++
	}
	if s.spaces[sp].live == 0 {
		s.freeSpaceID(sp)
	}

	if r.Session != "" {
		if !hasHint {
			si = s.newHint(sessKey{r.Tenant, r.Session, r.Agent})
		}
		h := &s.sess[si]
		h.exp, h.blocks = exp, int32(n)
		s.squeue.push(hintRef{si, h.gen}, exp)
	}

	cr := int64(read) * s.block
	var w int64
	if wrote > read {
		w = int64(wrote-read) * s.block
	}
	if read > 0 {
		s.hits++
	}
	s.setSplit(r, prompt-cr-w, w, cr)
	return strategies.Decision{}
}

// newHint makes a session hint slot for k.
func (s *Stage) newHint(k sessKey) uint32 {
	var i uint32
	if n := len(s.freeSess); n > 0 {
		i = s.freeSess[n-1]
		s.freeSess = s.freeSess[:n-1]
	} else {
		i = uint32(len(s.sess))
		s.sess = append(s.sess, hint{})
	}
	s.sess[i].key = k
	s.sessIdx[k] = i
	s.peakSess = max(s.peakSess, len(s.sessIdx))
	return i
}

// addBP appends breakpoint p (a position in blocks) unless it is not positive, already there, or
// the request has all its breakpoints.
func (s *Stage) addBP(bps []int, p int) []int {
	if p < 1 || len(bps) == s.maxBP {
		return bps
	}
	for _, q := range bps {
		if q == p {
			return bps
		}
	}
	return append(bps, p)
}

// setSplit replaces r's prompt split and counts it.
func (s *Stage) setSplit(r *traces.Record, input, write, read int64) {
	r.Input, r.CacheRead, r.CacheWrite5m, r.CacheWrite1h = input, read, 0, 0
	if s.oneHour {
		r.CacheWrite1h = write
	} else {
		r.CacheWrite5m = write
	}
	r.Set(traces.FieldInput)
	r.Set(traces.FieldCacheRead)
	r.Set(traces.FieldCacheWrite5m)
	r.Set(traces.FieldCacheWrite1h)
	s.inputTok += input
	s.writeTok += write
	s.readTok += read
}

// space returns the id of the cache space of (tenant, model), making one if needed.
func (s *Stage) space(tenant, model string) uint32 {
	if s.last.ok && s.last.tenant == tenant && s.last.model == model {
		return s.last.sp
	}
	mi, ok := s.modelIdx[model]
	if !ok {
		mi = s.addModel(model)
	}
	k := spaceKey{tenant, s.models[mi].canon}
	id, ok := s.spaceIdx[k]
	if !ok {
		if n := len(s.freeSpace); n > 0 {
			id = s.freeSpace[n-1]
			s.freeSpace = s.freeSpace[:n-1]
		} else {
			id = uint32(len(s.spaces))
			s.spaces = append(s.spaces, space{})
		}
		s.spaces[id] = space{key: k, model: mi}
		s.spaceIdx[k] = id
	}
	s.last.tenant, s.last.model, s.last.sp, s.last.ok = tenant, model, id, true
	return id
}

// freeSpaceID forgets space id, which holds no entry, so that its id can be reused.
func (s *Stage) freeSpaceID(id uint32) {
	delete(s.spaceIdx, s.spaces[id].key)
	s.spaces[id] = space{}
	s.freeSpace = append(s.freeSpace, id)
	if s.last.sp == id {
		s.last.ok = false
	}
}

func (s *Stage) addModel(model string) int32 {
	m := modelInfo{name: model, canon: pricing.Family(model)}
	if s.book != nil {
		if ps := s.book.Prices(model); len(ps) > 0 {
			m.prices, m.canon = ps, ps[0].Model
		}
	}
	m.override, m.hasOverride = s.minTok[pricing.Family(model)]
	if !m.hasOverride && m.canon != "" {
		m.override, m.hasOverride = s.minTok[pricing.Family(m.canon)]
	}
	s.models = append(s.models, m)
	i := int32(len(s.models) - 1)
	s.modelIdx[model] = i
	return i
}

// minTokens returns the minimum cacheable length in force at now for the model of space sp.
func (s *Stage) minTokens(sp uint32, now int64) int64 {
	m := &s.models[s.spaces[sp].model]
	if m.hasOverride {
		return m.override
	}
	var p *pricing.Price
	switch len(m.prices) {
	case 0:
		return DefaultMinTokens
	case 1:
		p = m.prices[0]
	default:
		var err error
		if p, err = s.book.Lookup(m.name, time.Unix(0, now).UTC()); err != nil {
			return DefaultMinTokens
		}
	}
	if p.MinCacheable > 0 {
		return p.MinCacheable
	}
	return DefaultMinTokens
}

// expire drops the entries and session hints whose expiry is at or before now.
func (s *Stage) expire(now int64) {
	for s.queue.n > 0 {
		it := s.queue.front()
		if it.exp > now {
			break
		}
		s.queue.pop()
		i, ok := s.entries.find(it.key.h, it.key.sp)
		if !ok || s.entries.slots[i].exp > now {
			continue // already gone, or refreshed since (a later item stands for it)
		}
		s.entries.remove(i)
		s.expired++
		if sp := it.key.sp; s.spaces[sp].live <= 1 {
			s.freeSpaceID(sp)
		} else {
			s.spaces[sp].live--
		}
	}
	for s.squeue.n > 0 {
		it := s.squeue.front()
		if it.exp > now {
			break
		}
		s.squeue.pop()
		h := &s.sess[it.key.idx]
		if h.gen != it.key.gen || h.exp > now {
			continue // refreshed since, or already dropped
		}
		delete(s.sessIdx, h.key)
		*h = hint{gen: h.gen + 1} // let go of the key's strings
		s.freeSess = append(s.freeSess, it.key.idx)
	}
	// Go maps keep their size after deletes: rebuild the hints' map once it has shrunk to a
	// quarter of its peak (copying it in any order gives the same map).
	if n := len(s.sessIdx); s.peakSess >= 1<<12 && n < s.peakSess/4 {
		m := make(map[sessKey]uint32, 2*n)
		for k, v := range s.sessIdx {
			m[k] = v
		}
		s.sessIdx, s.peakSess = m, n
	}
}

// Counters reports, in this order: calls (handled), hits (calls with a cache read), hit_rate
// (hits / calls), read_tokens, write_tokens and input_tokens (of the calls the stage split),
// entries (live cache entries), sessions (live session hints), expired (entries dropped at
// expiry), no_prefix (calls passed unchanged for lack of prefix hashes) and below_min (calls with
// nothing written because every new prefix was shorter than the minimum cacheable length).
func (s *Stage) Counters() []strategies.Count {
	rate := 0.0
	if s.calls > 0 {
		rate = float64(s.hits) / float64(s.calls)
	}
	return []strategies.Count{
		{Name: "calls", Value: float64(s.calls)},
		{Name: "hits", Value: float64(s.hits)},
		{Name: "hit_rate", Value: rate},
		{Name: "read_tokens", Value: float64(s.readTok)},
		{Name: "write_tokens", Value: float64(s.writeTok)},
		{Name: "input_tokens", Value: float64(s.inputTok)},
		{Name: "entries", Value: float64(s.entries.n)},
		{Name: "sessions", Value: float64(len(s.sessIdx))},
		{Name: "expired", Value: float64(s.expired)},
		{Name: "no_prefix", Value: float64(s.noPrefix)},
		{Name: "below_min", Value: float64(s.belowMin)},
	}
}
