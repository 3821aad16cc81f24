package responsecache

import (
	"github.com/tarsopt/tarsopt/internal/u64map"
	"math"

	"github.com/tarsopt/tarsopt/internal/hash64"
	"github.com/tarsopt/tarsopt/traces"
)

// EntryBytes returns the estimated size in bytes of a stored answer of output tokens (reasoning
// included), the unit of Settings.MaxBytes: 4 bytes per token (the usual length of a token of
// English text or code) plus 64 bytes of bookkeeping (key, times, links). A cache in live mode
// that stores the answer's text measures it instead; the estimate keeps replays independent of the
// text, which traces do not carry.
func EntryBytes(output int64) int64 {
	if output < 0 {
		output = 0
	}
	return bytesPerToken*output + entryOverhead
}

const (
	bytesPerToken = 4
	entryOverhead = 64
)

const (
	none     int32 = -1 // no entry: the end of a list
	numTypes       = 9  // traces.QueryType values 0..8
	polLink        = 0  // links of the eviction policy's list
	expLink        = 1  // links of the query type's expiry list
)

// Queues an entry can be in.
const (
	qFree  uint8 = iota // on the free list
	qMain               // LRU and SIEVE: the only list; S3-FIFO: the main FIFO
	qSmall              // S3-FIFO: the small probationary FIFO
)

// key identifies an answer: a cache never serves across tenants, requests or requested models.
// The index is keyed by a 64-bit hash of the key, and every entry found is compared with the whole
// key, so a hash collision can cost a hit (it counts as a miss, and the newer answer takes the
// slot) but never serves an answer across tenants, requests or models.
type key struct {
	tenant string
	fp     uint64
	model  string
}

// hasher hashes keys, remembering the hashes of the last tenant and model seen (traces intern
// them, and consecutive calls mostly share them), so that a key's hash usually costs two string
// comparisons and two mixes.
type hasher struct {
	tenant, model   string
	htenant, hmodel uint64
}

func (hs *hasher) hash(k *key) uint64 {
	if k.tenant != hs.tenant || hs.htenant == 0 {
		hs.tenant, hs.htenant = k.tenant, hash64.String(k.tenant)
	}
	if k.model != hs.model || hs.hmodel == 0 {
		hs.model, hs.hmodel = k.model, hash64.String(k.model)
	}
	return hash64.Combine(hash64.Combine(hs.htenant, k.fp), hs.hmodel)
}

type links struct{ prev, next int32 } // prev: toward the head (newer); next: toward the tail (older)

// entry is one stored answer, in a slab; lists link entries by slab index.
type entry struct {
	k         key
	at        int64  // when the answer was complete (Outcome.Done), Unix nanoseconds
	output    int64  // output tokens of the answer
	reasoning int64  // reasoning tokens, a part of output
	size      int64  // EntryBytes(output)
	h         uint64 // hash of k: its index key
	ln        [2]links
	qt        traces.QueryType // the query type of the call that stored it (its expiry list)
	hasReason bool
	queue     uint8
	freq      uint8 // SIEVE: visited bit; S3-FIFO: access count 0..3; LRU: unused
}

// list is a doubly linked list of slab entries, newest at the head.
type list struct {
	head, tail int32
	n          int
	bytes      int64
}

func newList() list { return list{head: none, tail: none} }

// cache is the storage of the stage: an index from key to slab slot, the eviction policy's
// lists, and one expiry list per query type (entries in the order they were stored, so the
// oldest is at the tail and the sweep stops at the first live one).
type cache struct {
	policy     string
	maxEntries int
	maxBytes   int64
	ttl        [numTypes]int64 // by query type, nanoseconds; 0: not cached

	hs    hasher
	index u64map.Map[int32] // hash of the key → slot
	slab  []entry
	free  []int32

	main, small list
	byType      [numTypes]list
	hand        int32              // SIEVE: the next candidate for eviction; none means the tail
	nextExpiry  int64              // no entry expires before this time (Unix nanoseconds): sweep does nothing until then
	cached      []traces.QueryType // the types with a TTL
	ghost       ghost              // S3-FIFO: hashes of keys recently evicted from the small queue

	n     int   // entries stored
	bytes int64 // their estimated size

	// onRemove, when set, is told the key of every entry that leaves the cache (expired, evicted,
	// displaced by a colliding key): a live driver that keeps answers' bodies elsewhere deletes them.
	onRemove func(tenant string, fp uint64, model string)

	evictions uint64 // entries removed to make room
	expired   uint64 // entries removed because they outlived their TTL
}

func newCache(policy string, maxEntries int, maxBytes int64, ttl [numTypes]int64) *cache {
	c := &cache{policy: policy, maxEntries: maxEntries, maxBytes: maxBytes, ttl: ttl,
		main: newList(), small: newList(), hand: none}
	for i := range c.byType {
		c.byType[i] = newList()
		if ttl[i] > 0 {
			c.cached = append(c.cached, traces.QueryType(i))
		}
	}
	c.nextExpiry = math.MaxInt64
	c.ghost.max = maxEntries
	return c
}

func (c *cache) pushFront(l *list, w int, i int32) {
	e := &c.slab[i]
	e.ln[w] = links{prev: none, next: l.head}
	if l.head != none {
		c.slab[l.head].ln[w].prev = i
	} else {
		l.tail = i
	}
	l.head = i
	l.n++
	l.bytes += e.size
}

func (c *cache) unlink(l *list, w int, i int32) {
	e := &c.slab[i]
	p, nx := e.ln[w].prev, e.ln[w].next
	if p != none {
		c.slab[p].ln[w].next = nx
	} else {
		l.head = nx
	}
	if nx != none {
		c.slab[nx].ln[w].prev = p
	} else {
		l.tail = p
	}
	e.ln[w] = links{none, none}
	l.n--
	l.bytes -= e.size
}

func (c *cache) queueOf(i int32) *list {
	if c.slab[i].queue == qSmall {
		return &c.small
	}
	return &c.main
}

// sweep removes the entries that have outlived their query type's TTL at now: from the old end of
// each type's list, until the first live entry. It does nothing before nextExpiry, the earliest
// time the oldest entry of a type can expire.
func (c *cache) sweep(now int64) {
	if now < c.nextExpiry {
		return
	}
	next := int64(math.MaxInt64)
	for _, qt := range c.cached {
		ttl := c.ttl[qt]
		l := &c.byType[qt]
		for l.tail != none && now-c.slab[l.tail].at >= ttl {
			c.remove(l.tail)
			c.expired++
		}
		if l.tail != none {
			next = min(next, expiry(c.slab[l.tail].at, ttl))
		}
	}
	c.nextExpiry = next
}

// expiry returns at + ttl, saturated.
func expiry(at, ttl int64) int64 {
	if at > math.MaxInt64-ttl {
		return math.MaxInt64
	}
	return at + ttl
}

// get returns the slot of k and its hash.
func (c *cache) get(k *key) (int32, uint64, bool) {
	h := c.hs.hash(k)
	i, ok := c.index.Get(h)
	if !ok || c.slab[i].k != *k {
		return none, h, false
	}
	return i, h, true
}

// touch records an access to slot i for the eviction policy.
func (c *cache) touch(i int32) {
	e := &c.slab[i]
	switch c.policy {
	case PolicyLRU:
		c.unlink(&c.main, polLink, i)
		c.pushFront(&c.main, polLink, i)
	case PolicySIEVE:
		e.freq = 1
	default:
		if e.freq < 3 {
			e.freq++
		}
	}
}

// remove deletes slot i from the cache.
func (c *cache) remove(i int32) {
	e := &c.slab[i]
	if c.hand == i {
		c.hand = e.ln[polLink].prev
	}
	c.unlink(c.queueOf(i), polLink, i)
	c.unlink(&c.byType[e.qt], expLink, i)
	c.index.Delete(e.h)
	c.n--
	c.bytes -= e.size
	if c.onRemove != nil {
		c.onRemove(e.k.tenant, e.k.fp, e.k.model)
	}
	*e = entry{queue: qFree} // drop the strings
	c.free = append(c.free, i)
}

// put stores an answer under k, replacing an answer stored under k before, and evicts entries as
// needed to stay within the bounds. It returns false when the answer alone exceeds MaxBytes (it is
// not stored).
func (c *cache) put(k *key, qt traces.QueryType, at, output, reasoning int64, hasReason bool) bool {
	size := EntryBytes(output)
	if size > c.maxBytes {
		return false
	}
	i, h, ok := c.get(k)
	if ok {
		e := &c.slab[i]
		l := c.queueOf(i)
		c.bytes += size - e.size
		l.bytes += size - e.size
		c.byType[e.qt].bytes += size - e.size
		e.size, e.output, e.reasoning, e.hasReason, e.at = size, output, reasoning, hasReason, at
		c.unlink(&c.byType[e.qt], expLink, i)
		e.qt = qt
		c.pushFront(&c.byType[qt], expLink, i)
		c.nextExpiry = min(c.nextExpiry, expiry(at, c.ttl[qt]))
		c.touch(i)
		for c.bytes > c.maxBytes && c.evict() {
		}
		return true
	}
	if j, taken := c.index.Get(h); taken { // a collision: the newer answer takes the slot
		c.remove(j)
		c.evictions++
	}
	queue := qMain
	if c.policy == PolicyS3FIFO && !c.ghost.take(h) {
		queue = qSmall
	}
	for (c.n >= c.maxEntries || c.bytes+size > c.maxBytes) && c.evict() {
	}
	if n := len(c.free); n > 0 {
		i = c.free[n-1]
		c.free = c.free[:n-1]
	} else {
		c.slab = append(c.slab, entry{})
		i = int32(len(c.slab) - 1)
	}
	c.slab[i] = entry{k: *k, at: at, output: output, reasoning: reasoning, size: size, h: h,
		qt: qt, hasReason: hasReason, queue: queue}
	if queue == qSmall {
		c.pushFront(&c.small, polLink, i)
	} else {
		c.pushFront(&c.main, polLink, i)
	}
	c.pushFront(&c.byType[qt], expLink, i)
	c.nextExpiry = min(c.nextExpiry, expiry(at, c.ttl[qt]))
	c.index.Put(h, i)
	c.n++
	c.bytes += size
	return true
}

// evict removes one entry chosen by the policy; it returns false when the cache is empty.
func (c *cache) evict() bool {
	if c.n == 0 {
		return false
	}
	switch c.policy {
	case PolicyLRU:
		c.remove(c.main.tail)
	case PolicySIEVE:
		o := c.hand
		if o == none {
			o = c.main.tail
		}
		for c.slab[o].freq != 0 {
			c.slab[o].freq = 0
			if o = c.slab[o].ln[polLink].prev; o == none {
				o = c.main.tail
			}
		}
		c.hand = c.slab[o].ln[polLink].prev
		c.remove(o)
	default:
		c.evictS3FIFO()
	}
	c.evictions++
	return true
}

// evictS3FIFO evicts one entry by S3-FIFO: from the small queue while it holds at least a tenth of
// the entries or bytes, moving entries accessed there to the main queue and remembering evicted
// keys in the ghost queue; otherwise from the main queue, reinserting accessed entries with their
// count decremented.
func (c *cache) evictS3FIFO() {
	if c.small.n > 0 && (c.small.n*10 >= c.n || c.small.bytes*10 >= c.bytes || c.main.n == 0) {
		for c.small.n > 0 {
			t := c.small.tail
			e := &c.slab[t]
			if e.freq >= 1 {
				c.unlink(&c.small, polLink, t)
				e.queue, e.freq = qMain, 0
				c.pushFront(&c.main, polLink, t)
				continue
			}
			c.ghost.add(e.h, c.n)
			c.remove(t)
			return
		}
	}
	for {
		t := c.main.tail
		e := &c.slab[t]
		if e.freq == 0 {
			c.remove(t)
			return
		}
		e.freq--
		c.unlink(&c.main, polLink, t)
		c.pushFront(&c.main, polLink, t)
	}
}

// ghost is S3-FIFO's ghost queue: a FIFO of key hashes (no answers), as long as the cache holds
// entries, capped at MaxEntries. A key found in it goes straight to the main queue. A hash
// collision only changes which queue an entry starts in, never what is served.
type ghost struct {
	ring  []ghostSlot
	start int // oldest
	size  int
	seq   uint64
	set   map[uint64]uint64 // hash → seq of its newest slot
	max   int
}

type ghostSlot struct{ h, seq uint64 }

func (g *ghost) add(h uint64, limit int) {
	limit = max(1, min(limit, g.max))
	for g.size >= limit {
		g.pop()
	}
	if g.size == len(g.ring) {
		n := min(max(16, 2*len(g.ring)), g.max)
		ring := make([]ghostSlot, n)
		for j := 0; j < g.size; j++ {
			ring[j] = g.ring[(g.start+j)%len(g.ring)]
		}
		g.ring, g.start = ring, 0
	}
	if g.set == nil {
		g.set = make(map[uint64]uint64)
	}
	g.seq++
	g.ring[(g.start+g.size)%len(g.ring)] = ghostSlot{h, g.seq}
	g.size++
	g.set[h] = g.seq
}

func (g *ghost) pop() {
	s := g.ring[g.start]
	if g.set[s.h] == s.seq {
		delete(g.set, s.h)
	}
	g.start = (g.start + 1) % len(g.ring)
	g.size--
}

// take reports whether h is in the ghost queue, and forgets it.
func (g *ghost) take(h uint64) bool {
	if _, ok := g.set[h]; ok {
		delete(g.set, h)
		return true
	}
	return false
}
