package benchmarks

// BenchmarkReplayFloor measures a floor under the replay target of BenchmarkReplayRatio (every
// strategy on within 20× the bare loop): the pieces any replay of these records must pay for per
// call, each done with the cheapest structure we know and no strategy logic at all. If these
// pieces alone come near 20× the bare loop, no design of the simulator meets that target, and the
// target has to be restated against what a replay must do per call.

import (
	"fmt"
	"math/bits"
	"runtime"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/internal/hash64"
	"github.com/tarsopt/tarsopt/internal/u64map"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// compactTrace is the columnar form of a trace: one slice per field a replay reads, strings
// interned to small integers.
type compactTrace struct {
	tenant, session, model []int32
	at                     []int64 // Unix nanoseconds
	lat                    []int64 // latency: the recorded one, else the upstream model's
	input, cw5m, cw1h      []int64
	cread, output          []int64
	maxDelay               []int64
	tier                   []traces.ServiceTier
	speed                  []traces.Speed
	status                 []uint8 // 0 no recorded status, 1 recorded success, 2 recorded failure
	key                    []uint64
	fp                     []uint64
	cx                     []float32  // complexity
	pref                   [][]uint64 // call i's prefix blocks, the record's own slice

	models             []string
	nTenants, nSession int
}

// reset empties the columns, keeping their memory.
func (c *compactTrace) reset(n int) {
	c.tenant, c.session, c.model = c.tenant[:0], c.session[:0], c.model[:0]
	c.at, c.lat = c.at[:0], c.lat[:0]
	c.input, c.cw5m, c.cw1h, c.cread, c.output = c.input[:0], c.cw5m[:0], c.cw1h[:0], c.cread[:0], c.output[:0]
	c.maxDelay, c.tier, c.speed, c.status = c.maxDelay[:0], c.tier[:0], c.speed[:0], c.status[:0]
	c.key, c.fp, c.cx = c.key[:0], c.fp[:0], c.cx[:0]
	c.pref = c.pref[:0]
	c.models = c.models[:0]
	if cap(c.at) < n {
		c.tenant, c.session, c.model = make([]int32, 0, n), make([]int32, 0, n), make([]int32, 0, n)
		c.at, c.lat = make([]int64, 0, n), make([]int64, 0, n)
		c.input, c.cw5m, c.cw1h = make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
		c.cread, c.output, c.maxDelay = make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
		c.tier, c.speed, c.status = make([]traces.ServiceTier, 0, n), make([]traces.Speed, 0, n), make([]uint8, 0, n)
		c.key, c.fp, c.cx = make([]uint64, 0, n), make([]uint64, 0, n), make([]float32, 0, n)
		c.pref = make([][]uint64, 0, n)
	}
}

// internTrace turns recs into the columnar form: tenant and model by a Go map (behind a one-entry
// memo: records mostly repeat the one before), the session by its 64-bit hash in a u64map, the ID
// hashed once (strategies.KeyOf, the key of the simulator's per-call random draws), complexity and
// latency computed once; the prefix blocks stay where the record has them. Fresh maps each call,
// as a run would have.
func internTrace(recs []traces.Record, c *compactTrace, up *strategies.Upstream) {
	c.reset(len(recs))
	tenants, models := map[string]int32{}, map[string]int32{}
	var sessHash u64map.Map[int32]
	var speeds []strategies.Speed
	lastTenant, lastModel := "\x00", "\x00"
	var tid, mid int32
	for i := range recs {
		r := &recs[i]
		if r.Tenant != lastTenant {
			id, ok := tenants[r.Tenant]
			if !ok {
				id = int32(len(tenants))
				tenants[r.Tenant] = id
			}
			tid, lastTenant = id, r.Tenant
		}
		if r.Model != lastModel {
			id, ok := models[r.Model]
			if !ok {
				id = int32(len(models))
				models[r.Model] = id
				c.models = append(c.models, r.Model)
				sp, _ := up.Model(r.Model)
				speeds = append(speeds, sp)
			}
			mid, lastModel = id, r.Model
		}
		h := hash64.String(r.Session)
		sid, ok := sessHash.Get(h)
		if !ok {
			sid = int32(sessHash.Len())
			sessHash.Put(h, sid)
		}
		lat := int64(r.Latency)
		if !r.Has(traces.FieldLatency) {
			lat = int64(speeds[mid].Latency(r.Output))
		}
		var st uint8
		if r.Has(traces.FieldStatus) || r.Error != "" {
			st = 1
			if r.Error != "" || r.Status < 200 || r.Status >= 300 {
				st = 2
			}
		}
		c.tenant = append(c.tenant, tid)
		c.session = append(c.session, sid)
		c.model = append(c.model, mid)
		c.at = append(c.at, r.Time.UnixNano())
		c.lat = append(c.lat, lat)
		c.input = append(c.input, r.Input)
		c.cw5m = append(c.cw5m, r.CacheWrite5m)
		c.cw1h = append(c.cw1h, r.CacheWrite1h)
		c.cread = append(c.cread, r.CacheRead)
		c.output = append(c.output, r.Output)
		c.maxDelay = append(c.maxDelay, int64(r.MaxDelay))
		c.tier = append(c.tier, r.ServiceTier)
		c.speed = append(c.speed, r.Speed)
		c.status = append(c.status, st)
		c.key = append(c.key, strategies.KeyOf(r, int64(i)))
		c.fp = append(c.fp, r.Fingerprint)
		c.cx = append(c.cx, float32(strategies.Complexity(r)))
		c.pref = append(c.pref, r.Prefix)
	}
	c.nTenants, c.nSession = len(tenants), sessHash.Len()
}

// floorModel is what the core knows of a model: its price over a period and its quality curve.
type floorModel struct {
	name        string
	price       *pricing.Price
	from, until int64
	curve       strategies.Curve
}

func (m *floorModel) lookup(book *pricing.Book, t int64) {
	m.price, m.from, m.until = nil, t, t+1
	p, err := book.Lookup(m.name, time.Unix(0, t))
	if err != nil {
		return
	}
	m.price = p
	m.from, m.until = p.Period()
	if t < m.from || t >= m.until {
		m.from, m.until = t, t+1
	}
}

// floorDay is a day's metrics: sim.Metrics' counters, a coarse latency histogram, per-model counts
// kept apart (floorCore.dayModels).
type floorDay struct {
	calls, upstream, failed, answered, acceptable, interactive, late int64
	input, cw5m, cw1h, cread, output                                 int64
	quality                                                          float64
	cost                                                             pricing.Breakdown
	latency                                                          [64]int64
}

// floorCore is the per-run state of the core.
type floorCore struct {
	book      *pricing.Book
	up        *strategies.Upstream
	seed      uint64
	errRate   float64
	models    []floorModel
	origin    int64
	days      []floorDay
	dayModels []int64 // day × model
	unpriced  int64
}

// core prices every call, draws its error and quality from the call's key, and accumulates the
// day's metrics: what sim.send and sim.finish do for a call no strategy touched.
func (k *floorCore) core(c *compactTrace) int64 {
	nm := len(c.models)
	k.models = k.models[:0]
	for _, name := range c.models {
		m := floorModel{name: name, from: 1, until: 0} // an empty period: looked up at first use
		_, m.curve = k.up.Model(name)
		k.models = append(k.models, m)
	}
	k.days, k.dayModels, k.unpriced = k.days[:0], k.dayModels[:0], 0
	if len(c.at) == 0 {
		return 0
	}
	k.origin = c.at[0] / floorDayNS * floorDayNS
	for i := range c.at {
		t := c.at[i]
		di := int((t - k.origin) / floorDayNS)
		for len(k.days) <= di {
			k.days = append(k.days, floorDay{})
			k.dayModels = append(k.dayModels, make([]int64, nm)...)
		}
		d := &k.days[di]
		mi := c.model[i]
		m := &k.models[mi]
		if t < m.from || t >= m.until {
			m.lookup(k.book, t)
		}
		d.calls++
		d.upstream++
		d.input += c.input[i]
		d.cw5m += c.cw5m[i]
		d.cw1h += c.cw1h[i]
		d.cread += c.cread[i]
		d.output += c.output[i]
		k.dayModels[di*nm+int(mi)]++
		if m.price != nil {
			d.cost.Add(m.price.Cost(pricing.Call{Input: c.input[i], CacheWrite5m: c.cw5m[i], CacheWrite1h: c.cw1h[i],
				CacheRead: c.cread[i], Output: c.output[i], Tier: c.tier[i], Speed: c.speed[i], At: time.Unix(0, t).UTC()}))
		} else {
			k.unpriced++
		}
		key := c.key[i]
		failed := strategies.Draw(k.seed, key, strategies.DrawError) < k.errRate
		if st := c.status[i]; st != 0 {
			failed = st == 2
		}
		if failed {
			d.failed++
		} else {
			p := m.curve.P(float64(c.cx[i]))
			d.answered++
			d.quality += p
			if strategies.Draw(k.seed, key, strategies.DrawQuality) < p {
				d.acceptable++
			}
		}
		lat := c.lat[i]
		if c.maxDelay[i] == 0 {
			d.interactive++
			d.latency[bits.Len64(uint64(lat))]++
		} else if lat > c.maxDelay[i] {
			d.late++
		}
	}
	var acc int64
	for i := range k.days {
		acc += k.days[i].acceptable
	}
	return acc
}

const floorDayNS = int64(24 * time.Hour)

// heap4 is a 4-ary min-heap of completion events: what the event heap would cost if every call
// went through it once (a push at its send, a pop at its completion).
type heap4 struct{ e []heapEv }

type heapEv struct {
	t   int64
	idx int32
}

func (h *heap4) push(e heapEv) {
	h.e = append(h.e, e)
	i := len(h.e) - 1
	for i > 0 {
		p := (i - 1) / 4
		if h.e[p].t <= e.t {
			break
		}
		h.e[i] = h.e[p]
		i = p
	}
	h.e[i] = e
}

func (h *heap4) pop() heapEv {
	top := h.e[0]
	n := len(h.e) - 1
	last := h.e[n]
	h.e = h.e[:n]
	if n == 0 {
		return top
	}
	i := 0
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for j := c + 1; j < c+4 && j < n; j++ {
			if h.e[j].t < h.e[m].t {
				m = j
			}
		}
		if h.e[m].t >= last.t {
			break
		}
		h.e[i] = h.e[m]
		i = m
	}
	h.e[i] = last
	return top
}

// heapPass pushes each call's completion at its arrival and pops every completion due by then,
// then drains: one push and one pop a call, at the trace's real concurrency. It returns the
// largest size the heap reached.
func heapPass(c *compactTrace, h *heap4) int {
	h.e = h.e[:0]
	most := 0
	for i := range c.at {
		t := c.at[i]
		for len(h.e) > 0 && h.e[0].t <= t {
			h.pop()
		}
		h.push(heapEv{t: t + c.lat[i], idx: int32(i)})
		most = max(most, len(h.e))
	}
	for len(h.e) > 0 {
		h.pop()
	}
	return most
}

// respCache is a response-cache-like index: (tenant, fingerprint) → expiry, with a TTL. It never
// evicts by size, so it holds every distinct request seen within the TTL and the ones that expired
// but were not seen again (an upper bound on the real cache's table).
type respCache struct{ m u64map.Map[int64] }

const floorTTL = int64(time.Hour)

func (rc *respCache) pass(c *compactTrace) int64 {
	rc.m.Clear()
	var hits int64
	for i := range c.at {
		fp := c.fp[i]
		if fp == 0 {
			continue
		}
		k := hash64.Combine(uint64(c.tenant[i])+1, fp)
		t := c.at[i]
		if exp, ok := rc.m.Get(k); ok && exp > t {
			hits++
			continue
		}
		rc.m.Put(k, t+floorTTL)
	}
	return hits
}

// sessState is a prompt-cache-like per-session state: the call that last warmed the session's
// cache and when that cache expires.
type sessState struct {
	last   int32 // index of the call + 1; 0 for none
	expiry int64
}

// promptPass looks up each call's session state by its interned id and, when the cache is warm,
// finds the longest common prefix with the call that warmed it (the block hashes chain, so a
// binary search over them finds it), then warms it again. It returns the cached blocks read.
func promptPass(c *compactTrace, sess []sessState) int64 {
	clear(sess)
	var read int64
	const ttl = int64(5 * time.Minute)
	for i := range c.at {
		s := &sess[c.session[i]]
		t := c.at[i]
		cur := c.pref[i]
		if s.last > 0 && t < s.expiry {
			j := s.last - 1
			prev := c.pref[j]
			n := min(len(prev), len(cur))
			var lcp int
			if n > 0 && prev[n-1] == cur[n-1] {
				lcp = n // the usual case: the conversation grew
			} else {
				lo, hi := 0, n // prev[:lo] matches; prev[hi-1] does not, or hi == n
				for lo < hi {
					mid := (lo + hi) / 2
					if prev[mid] == cur[mid] {
						lo = mid + 1
					} else {
						hi = mid
					}
				}
				lcp = lo
			}
			read += int64(lcp)
		}
		s.last, s.expiry = int32(i)+1, t+ttl
	}
	return read
}

// floorPiece is one piece of the floor: run does it over the whole corpus and returns a value
// that is 0 only if it did nothing.
type floorPiece struct {
	name string
	run  func() int64
}

// floorPieces returns the pieces of the floor over recs, the bare loop first, and the columnar
// trace they work on (interned once here, again by piece intern).
func floorPieces(recs []traces.Record) ([]floorPiece, *compactTrace) {
	cfg := config.Default()
	up := cfg.Upstream
	book := pricing.Default()
	ct := &compactTrace{}
	internTrace(recs, ct, up)
	core := &floorCore{book: book, up: up, seed: cfg.Seed, errRate: up.ErrorRate}
	var h heap4
	var rc respCache
	sess := make([]sessState, ct.nSession)
	return []floorPiece{
		{"bare", func() int64 { return bareLoop(recs) }},
		{"intern", func() int64 { internTrace(recs, ct, up); return int64(len(ct.at)) }},
		{"core", func() int64 { return core.core(ct) + 1 }},
		{"heap", func() int64 { return int64(heapPass(ct, &h)) }},
		{"respcache", func() int64 { return rc.pass(ct) + 1 }},
		{"promptcache", func() int64 { return promptPass(ct, sess) + 1 }},
	}, ct
}

// BenchmarkReplayFloor times the pieces of a minimal columnar replay core over the million
// records of each corpus, beside the bare loop: piece=intern (records to columns), piece=core
// (price, the error and quality draws, day metrics: what sim does for a call no strategy touched),
// piece=heap (a 4-ary heap push and pop a call), piece=respcache (a u64map lookup a call),
// piece=promptcache (a per-session state array). piece=sum times them all and the bare loop in
// turn each iteration and reports each one's ns/call, their sum, and the median of sum-x-bare,
// with and without intern (a replay that is handed interned columns). Run it with -benchtime 3x
// or more.
func BenchmarkReplayFloor(b *testing.B) {
	for _, corpus := range []string{"sparse", "dense"} {
		recs, _ := corpusNamed(b, corpus)
		n := float64(len(recs))
		pieces, ct := floorPieces(recs)
		for _, p := range pieces {
			b.Run(fmt.Sprintf("corpus=%s/piece=%s", corpus, p.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if p.run() == 0 {
						b.Fatal("nothing done")
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/call")
			})
		}
		b.Run(fmt.Sprintf("corpus=%s/piece=sum", corpus), func(b *testing.B) {
			sums := make([]time.Duration, len(pieces))
			var ratios, lean []float64
			for b.Loop() {
				var bare, sum, interned time.Duration
				for i, p := range pieces {
					runtime.GC()
					t0 := time.Now()
					if p.run() == 0 {
						b.Fatal("nothing done")
					}
					d := time.Since(t0)
					sums[i] += d
					switch {
					case i == 0:
						bare = d
					case p.name == "intern":
						sum += d
					default:
						sum += d
						interned += d
					}
				}
				ratios = append(ratios, float64(sum)/float64(bare))
				lean = append(lean, float64(interned)/float64(bare))
			}
			var total float64
			for i, p := range pieces {
				v := float64(sums[i].Nanoseconds()) / float64(b.N) / n
				b.ReportMetric(v, p.name+"-ns/call")
				if i > 0 {
					total += v
				}
			}
			b.ReportMetric(total, "sum-ns/call")
			b.ReportMetric(median(ratios), "sum-x-bare")
			b.ReportMetric(median(lean), "no-intern-x-bare")
			b.ReportMetric(float64(ct.nSession), "sessions")
			var blocks int
			for _, p := range ct.pref {
				blocks += len(p)
			}
			b.ReportMetric(float64(blocks)/n, "blocks/call")
		})
	}
}
