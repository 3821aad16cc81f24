package promptcache

import (
	"time"

	"github.com/tarsopt/tarsopt/internal/hash64"
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
	block   int64 // tokens per block: the trace's prefix hashes', else VirtualBlockSize
	real    bool  // the trace has prefix hashes (Env.BlockSize > 0)
	infer   bool  // infer a prefix for calls of a session without one (InferPrefix "session")
	keep    int64 // how long session state outlives its last call, nanoseconds
	book    *pricing.Book
	minTok  map[string]int64 // model family → minimum cacheable tokens (the overrides)

	// Model names as given → their cache identity and minimum (grows with distinct names only).
	modelIdx map[string]int32
	models   []modelInfo

	// Cache spaces: one per (tenant, model) that has had entries lately. A space that loses its
	// last entry stays, empty, with its index entry, so that a space that empties and fills again
	// (a sparse trace, whose every entry expires between calls) costs no map work; once more than
	// minSweep spaces are empty and they outnumber those with entries, expire frees every empty
	// one and their ids are reused, so the spaces never exceed twice those with entries, plus
	// minSweep.
	spaceIdx  map[spaceKey]uint32
	spaces    []space
	freeSpace []uint32
	empty     int          // spaces in use that hold no entry
	memo      [4]spaceMemo // the spaces of the latest (tenant, model name) pairs, to skip the maps
	nextMemo  int          // the memo entry the next miss replaces

	entries table
	queue   ring[entryRef] // every write and read of an entry, with the expiry it set

	// Session state: (tenant, session, agent) → slot in sess, and, for inferred prefixes, the
	// shared heads: (tenant, agent or model) → slot in sess. Slots are reused.
	sessIdx  keyIndex
	sess     []hint
	freeSess []uint32
	squeue   ring[hintRef]
	heads    int // head slots among sessIdx

	bp [MaxBreakpoints]int // breakpoints of the call being handled

	calls, hits, readTok, writeTok, inputTok, expired, inferred, noPrefix, belowMin int64
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

// spaceMemo remembers the space of a (tenant, model name) pair, as the call named them.
type spaceMemo struct {
	tenant, model string
	sp            uint32
	ok            bool
}

// minSweep is how many empty spaces expire lets stand before it frees them.
const minSweep = 64

type space struct {
	key   spaceKey
	model int32 // index in models
	live  int32 // entries of the space in the table
	inUse bool  // false once freed (its id on freeSpace, its key gone from spaceIdx)
}

// entryRef names a cache entry in the expiry queue.
type entryRef struct {
	h  uint64
	sp uint32
}

// sessKey names a session's state (kind keySession) or, for inferred prefixes, the state of a
// shared head: tenant and agent (keyHeadAgent), or tenant and canonical model in agent
// (keyHeadModel), session "".
type sessKey struct {
	tenant, session, agent string
	kind                   uint8
}

const (
	keySession uint8 = iota
	keyHeadAgent
	keyHeadModel
)

// hint is a session's state: its last prompt, for the session-hint breakpoint and for inferring
// its prefix. A head slot uses seed, prompt (the head estimate) and drop only.
type hint struct {
	key    sessKey
	drop   int64  // the slot is dropped at drop (last use + Stage.keep)
	live   int64  // the hint breakpoint is used until live (last call + TTL)
	prompt int64  // session: tokens of its last prompt; head: the estimated head, tokens
	seed   uint64 // seedOf(key), the seed of the inferred block hashes, when seeded
	hk     uint64 // the key's hash in Stage.sessIdx
	blocks int32  // full blocks of the session's last prompt
	epoch  uint32 // session: the conversation body's epoch (bumped when its prompt shrinks)
	gen    uint32
	// seeded is false for a session made by a call with prefix hashes, whose seed is computed
	// only if a later call of the session needs it (one without hashes): most never do.
	seeded bool
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
		real: env.BlockSize > 0, infer: s.InferPrefix == InferSession,
		minTok:   make(map[string]int64, len(s.MinTokens)),
		modelIdx: map[string]int32{}, spaceIdx: map[spaceKey]uint32{},
		entries: newTable(), sessIdx: newKeyIndex(),
	}
	if !st.real {
		st.block = VirtualBlockSize
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
	st.keep = st.ttl
	if st.infer {
		st.keep = max(st.ttl, int64(SessionMemory))
	}
	return st
}

// prefix gives the hash of a call's first p blocks (1 ≤ p ≤ the call's full blocks): from the
// record's Prefix, or inferred. It lives on Handle's stack only, so that the stage never keeps
// c.Rec.Prefix.
type prefix struct {
	real       []uint64
	head, body uint64 // inferred: the seeds of the shared head's hashes and of the body's
	hb         int    // inferred: blocks of the shared head
}

func (x *prefix) at(p int) uint64 {
	if x.real != nil {
		return x.real[p-1]
	}
	if p <= x.hb {
		return hash64.Combine(x.head, uint64(p))
	}
	return hash64.Combine(x.body, uint64(p))
}

// Domains of the inferred hashes' seeds, so that a head, a session's body and a pruned call's
// body never share a seed.
const (
	seedHead   = 0x68656164 // "head"
	seedBody   = 0x626f6479 // "body"
	seedPruned = 0x7072756e // "prun"
)

// seedOf hashes a session or head key.
func seedOf(k sessKey) uint64 {
	h := hash64.Combine(hash64.String(k.tenant), uint64(k.kind))
	h = hash64.Combine(h, hash64.String(k.session))
	h = hash64.Combine(h, hash64.String(k.agent))
	if k.kind != keySession {
		h = hash64.Combine(h, seedHead)
	}
	return h
}

// Name returns the registered name, "promptcache".
func (s *Stage) Name() string { return Name }

// Handle re-splits c's prompt as the provider's prompt cache would have billed it at now (see the
// package documentation) and passes the call on. It sets c.Rec.Input, CacheWrite5m, CacheWrite1h
// and CacheRead (all marked present), keeping their sum; calls with neither prefix hashes nor a
// session to infer them from are left as they are. It reads c.Rec.Prefix but never changes it, and
// keeps no reference to c or to c.Rec.Prefix.
func (s *Stage) Handle(now int64, c *strategies.Call) strategies.Decision {
	s.calls++
	r := &c.Rec
	prompt := r.PromptTokens()
	if s.ttl == 0 {
		s.setSplit(r, prompt, 0, 0)
		return strategies.Decision{}
	}
	s.expire(now)
	var pf prefix
	var n int // the prompt's full blocks that have a hash
	switch {
	case s.real && len(r.Prefix) > 0:
		pf.real = r.Prefix
		n = int(min(int64(len(r.Prefix)), prompt/s.block))
	case s.infer && r.Session != "":
		s.inferred++
		n = int(prompt / s.block)
	default:
		s.noPrefix++
		return strategies.Decision{}
	}
	if n == 0 {
		s.belowMin++
		s.setSplit(r, prompt, 0, 0)
		return strategies.Decision{}
	}

	sp := s.space(r.Tenant, r.Model)
	exp := now + s.ttl
	key := sessKey{tenant: r.Tenant, session: r.Session, agent: r.Agent}
	si, hasHint := uint32(0), false
	var hk uint64 // the key's hash in sessIdx, computed once for the lookup and a new slot
	if r.Session != "" {
		hk = s.sessIdx.hash(key)
		si, hasHint = s.sessIdx.get(key, hk, s.sess)
	}
	hint := 0 // the session hint's breakpoint, 0 for none
	if hasHint && s.sess[si].live > now {
		hint = min(int(s.sess[si].blocks), n)
	}
	sys := 0         // the system prompt's (or the inferred head's) breakpoint, 0 for none
	onLine := true   // the call carries on its session's conversation (a pruned one does not)
	var epoch uint32 // inferred: the epoch of the session's body
	var seed uint64  // inferred: the session's seed, for a new session state
	if pf.real == nil {
		onLine = c.Pruned == 0
		var h int64
		h, pf.head = s.inferHead(r, sp, prompt, !hasHint && onLine, now)
		pf.hb = int(h / s.block)
		switch {
		case !onLine: // the pruner rewrote the history: a body of the call's own
			pf.body = hash64.Combine(hash64.Combine(c.Key, seedPruned), uint64(sp))
			hint = 0
		default:
			if hasHint {
				if !s.sess[si].seeded {
					s.sess[si].seed, s.sess[si].seeded = seedOf(key), true
				}
				seed, epoch = s.sess[si].seed, s.sess[si].epoch
				// A body that lost more than a quarter of its tokens is a new conversation body
				// (compaction, rewritten history).
				if prev := s.sess[si].prompt; 4*(prompt-h) < 3*(prev-h) {
					epoch++
					hint = 0
				}
			} else {
				seed = seedOf(key)
			}
			pf.body = hash64.Combine(hash64.Combine(seed, seedBody), uint64(epoch))
		}
		sys = min(pf.hb, n)
	} else if r.Has(traces.FieldSystemTokens) {
		sys = int(min(r.SystemTokens/s.block, int64(n)))
	}

	// Breakpoints: the prompt's end, the session hint, the system prompt's (or head's) end.
	bps := s.bp[:0]
	bps = s.addBP(bps, n)
	bps = s.addBP(bps, hint)
	bps = s.addBP(bps, sys)

	// Read: the longest live entry at a breakpoint or up to look blocks before one. It is
	// refreshed, with the entries at the breakpoints below it (prefixes of what was read).
	read := 0
	var readSlot uint64
	for _, b := range bps {
		for p, lo := b, max(b-s.look, read+1); p >= lo; p-- {
			if !s.entries.mayHold(p) {
				continue
			}
			if i, ok := s.entries.find(pf.at(p), sp); ok && s.entries.slots[i].exp > now && int(s.entries.slots[i].pos) == p {
				read, readSlot = p, i
				break
			}
		}
	}
	if read > 0 {
		s.entries.slots[readSlot].exp = exp
		s.queue.push(entryRef{pf.at(read), sp}, exp)
		for _, b := range bps {
			if b >= read || !s.entries.mayHold(b) {
				continue
			}
			h := pf.at(b)
			if i, ok := s.entries.find(h, sp); ok && s.entries.slots[i].exp > now && int(s.entries.slots[i].pos) == b {
				s.entries.slots[i].exp = exp
				s.queue.push(entryRef{h, sp}, exp)
			}
		}
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
		h := pf.at(b)
		if i, ok := s.entries.find(h, sp); ok {
			s.entries.slots[i].exp = exp
			s.entries.setPos(i, int32(b))
		} else {
			s.entries.insert(h, sp, int32(b), exp)
			if s.spaces[sp].live == 0 {
				s.empty--
			}
			s.spaces[sp].live++
		}
		s.queue.push(entryRef{h, sp}, exp)
		wrote = max(wrote, b)
	}
	if wanted && wrote == 0 {
		s.belowMin++
	}

	if r.Session != "" && onLine {
		if !hasHint {
			si = s.newHint(key, hk)
			// With prefix hashes the seed waits until a call without them needs it.
			s.sess[si].seed, s.sess[si].seeded = seed, pf.real == nil
		}
		h := &s.sess[si]
		h.live, h.blocks, h.prompt, h.epoch, h.drop = exp, int32(n), prompt, epoch, now+s.keep
		s.squeue.push(hintRef{si, h.gen}, h.drop)
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

// inferHead returns the shared head of an inferred call, in tokens (at most the prompt), and the
// seed of its block hashes. The head is the call's SystemTokens when present; otherwise the
// estimate of its (tenant, agent, or model when the agent is absent): the largest recorded
// CacheRead of a session's first call (learn) seen so far, 0 before any.
func (s *Stage) inferHead(r *traces.Record, sp uint32, prompt int64, learn bool, now int64) (int64, uint64) {
	k := sessKey{tenant: r.Tenant, agent: r.Agent, kind: keyHeadAgent}
	if r.Agent == "" {
		k.agent, k.kind = s.spaces[sp].key.model, keyHeadModel
	}
	hk := s.sessIdx.hash(k)
	i, ok := s.sessIdx.get(k, hk, s.sess)
	if !ok {
		i = s.newHint(k, hk)
		s.sess[i].seed, s.sess[i].seeded = seedOf(k), true
		s.heads++
	}
	h := &s.sess[i]
	sys := r.Has(traces.FieldSystemTokens)
	if learn && !sys && r.Has(traces.FieldCacheRead) {
		h.prompt = max(h.prompt, r.CacheRead)
	}
	h.drop = now + s.keep
	s.squeue.push(hintRef{i, h.gen}, h.drop)
	head := h.prompt
	if sys {
		head = r.SystemTokens
	}
	return max(0, min(head, prompt)), h.seed
}

// newHint makes a session hint slot for k, whose hash in sessIdx is hk.
func (s *Stage) newHint(k sessKey, hk uint64) uint32 {
	var i uint32
	if n := len(s.freeSess); n > 0 {
		i = s.freeSess[n-1]
		s.freeSess = s.freeSess[:n-1]
	} else {
		i = uint32(len(s.sess))
		s.sess = append(s.sess, hint{})
	}
	s.sess[i].key = k
	s.sess[i].hk = hk
	s.sessIdx.put(k, hk, i, s.sess)
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
	for i := range s.memo {
		if m := &s.memo[i]; m.ok && m.tenant == tenant && m.model == model {
			return m.sp
		}
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
		s.spaces[id] = space{key: k, model: mi, inUse: true}
		s.spaceIdx[k] = id
		s.empty++
	}
	s.memo[s.nextMemo] = spaceMemo{tenant: tenant, model: model, sp: id, ok: true}
	s.nextMemo = (s.nextMemo + 1) % len(s.memo)
	return id
}

// sweepSpaces frees every empty space once more than minSweep are empty and they outnumber the
// spaces with entries, so that their ids can be reused.
func (s *Stage) sweepSpaces() {
	inUse := len(s.spaces) - len(s.freeSpace)
	if s.empty <= minSweep || 2*s.empty <= inUse {
		return
	}
	for id := range s.spaces {
		sp := &s.spaces[id]
		if !sp.inUse || sp.live > 0 {
			continue
		}
		delete(s.spaceIdx, sp.key)
		*sp = space{} // let go of the key's strings
		s.freeSpace = append(s.freeSpace, uint32(id))
	}
	s.empty = 0
	s.memo = [len(s.memo)]spaceMemo{} // they may name freed ids
}

// spacesWithEntries returns the number of spaces that hold an entry.
func (s *Stage) spacesWithEntries() int { return len(s.spaces) - len(s.freeSpace) - s.empty }

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
		if sp := &s.spaces[it.key.sp]; sp.live <= 1 {
			sp.live = 0
			s.empty++
		} else {
			sp.live--
		}
	}
	s.sweepSpaces()
	for s.squeue.n > 0 {
		it := s.squeue.front()
		if it.exp > now {
			break
		}
		s.squeue.pop()
		h := &s.sess[it.key.idx]
		if h.gen != it.key.gen || h.drop > now {
			continue // refreshed since, or already dropped
		}
		if h.key.kind != keySession {
			s.heads--
		}
		s.sessIdx.del(h.key, h.hk, it.key.idx)
		*h = hint{gen: h.gen + 1} // let go of the key's strings
		s.freeSess = append(s.freeSess, it.key.idx)
	}
}

// Counters reports, in this order: calls (handled), hits (calls with a cache read), hit_rate
// (hits / calls), read_tokens, write_tokens and input_tokens (of the calls the stage split),
// entries (live cache entries), sessions (live session states), expired (entries dropped at
// expiry), inferred (calls whose prefix was inferred from their session), no_prefix (calls passed
// unchanged, with neither prefix hashes nor a session to infer them from) and below_min (calls
// with nothing written because every new prefix was shorter than the minimum cacheable length).
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
		{Name: "sessions", Value: float64(s.sessIdx.len() - s.heads)},
		{Name: "expired", Value: float64(s.expired)},
		{Name: "inferred", Value: float64(s.inferred)},
		{Name: "no_prefix", Value: float64(s.noPrefix)},
		{Name: "below_min", Value: float64(s.belowMin)},
	}
}
