package gen

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/traces"
)

// Options says what to generate from a profile.
type Options struct {
	Days  int       // length of the window in whole days
	Seed  uint64    // every random draw derives from it
	Start time.Time // start of the window; zero means the profile's start
	// Book prices calls for calibration and for the realized figures; nil means pricing.Default().
	Book *pricing.Book
}

// Generator produces a synthetic trace from a calibrated profile. It is deterministic: the same
// profile, options and seed give the same records, byte for byte once written.
type Generator struct {
	p     *Profile
	opts  Options
	start time.Time
	end   time.Time
	prm   params
	cal   *Calibration
}

// params are the values calibration chooses.
type params struct {
	sIn, sOut       float64            // scales of input-side and output token sizes
	ttftFactor      float64            // scale of every model's TTFT median
	complexityShift float64            // logit shift applied to every complexity draw
	repeatProb      map[string]float64 // by query type
	sessionsPerDay  []float64          // by session kind (index into Profile.Sessions)
}

// New calibrates p (see Calibration) and returns a generator for the window of opts.
func New(p *Profile, opts Options) (*Generator, error) {
	if opts.Days <= 0 {
		return nil, fmt.Errorf("gen: days must be positive, got %d", opts.Days)
	}
	if opts.Book == nil {
		opts.Book = pricing.Default()
	}
	g := &Generator{p: p, opts: opts, start: p.Start.UTC()}
	if !opts.Start.IsZero() {
		g.start = opts.Start.UTC()
	}
	g.end = g.start.AddDate(0, 0, opts.Days)
	for _, m := range p.Models {
		if _, err := opts.Book.Lookup(m.Model, g.start); err != nil {
			return nil, fmt.Errorf("gen: profile %s: %w", p.Name, err)
		}
	}
	pj, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("gen: %w", err)
	}
	key := fmt.Sprintf("%s|%s|%p", pj, g.start.Format(time.RFC3339Nano), opts.Book)
	if c, ok := calibrations.Load(key); ok {
		m := c.(memo)
		g.cal, g.prm = m.cal, m.prm
		return g, nil
	}
	cal, err := calibrate(g)
	if err != nil {
		return nil, fmt.Errorf("gen: calibrating profile %s: %w", p.Name, err)
	}
	g.cal = cal
	calibrations.Store(key, memo{cal, g.prm})
	return g, nil
}

// calibrations memoises calibration per profile, start and price book within a process: it is
// deterministic and takes a second of pilot runs, which tests and sweeps need not repeat.
var calibrations sync.Map

type memo struct {
	cal *Calibration
	prm params
}

// Calibration returns the choices New made to meet the profile's targets.
func (g *Generator) Calibration() *Calibration { return g.cal }

// Meta returns the metadata of the generated trace: the window, the block size, and the profile,
// seed and calibration as attributes.
func (g *Generator) Meta() traces.Meta {
	return traces.Meta{
		Version:     traces.FormatVersion,
		BlockSize:   g.p.BlockSize,
		Source:      "gen:" + g.p.Name,
		Start:       g.start,
		End:         g.end,
		Description: g.p.Description,
		Attrs: map[string]string{
			"profile":          g.p.Name,
			"seed":             strconv.FormatUint(g.opts.Seed, 10),
			"days":             strconv.Itoa(g.opts.Days),
			"input_scale":      strconv.FormatFloat(g.prm.sIn, 'g', 6, 64),
			"output_scale":     strconv.FormatFloat(g.prm.sOut, 'g', 6, 64),
			"complexity_shift": strconv.FormatFloat(g.prm.complexityShift, 'g', 6, 64),
		},
	}
}

// Generate produces the trace in time order, calling emit for each record, and returns what the
// trace turned out to be. The record is reused between calls: emit must copy what it keeps.
// Generate stops at the first error emit returns.
func (g *Generator) Generate(emit func(*traces.Record) error) (*Summary, error) {
	sum, add := g.summarize()
	r := newRun(g, g.opts.Seed, g.start, g.end, g.prm)
	r.emit = func(rec *traces.Record) error {
		add(rec)
		if emit != nil {
			return emit(rec)
		}
		return nil
	}
	return sum, r.loop()
}

// Stream identifiers: each purpose draws from its own PCG stream, so that changing how one part
// draws does not shift the others.
const (
	streamArrivals = iota + 1
	streamSession
	streamCall
	streamStrata
	streamOutcome
	streamPilot = 0x7a11 // the calibration pilot's fixed seed
)

type event struct {
	t    int64 // unix nanoseconds
	seq  uint64
	call *plannedCall // a call to emit, or
	hb   int          // a heartbeat of tenant hb-1 (when > 0), or
	kind int          // a session arrival of kind kind-1 (when > 0)
	ten  int
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].t != h[j].t {
		return h[i].t < h[j].t
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// plannedCall is one call, planned when its session starts and emitted when its time comes.
type plannedCall struct {
	t                  int64
	id, session, agent string
	parent             string
	turn               int
	tenant             string
	model              *ModelProfile
	qtype              string
	qt                 traces.QueryType
	segs               []segment
	system, newTok     int64
	histNew, histOut   int64 // history tokens that were new content / earlier outputs
	output             int64
	complexity         float64 // NaN when none
	priority           traces.Priority
	maxDelay           time.Duration
	temperature        float64
	ttft, latency      time.Duration
	repeat             bool // an exact repeat of an earlier call
}

// original is a standalone call that later calls may repeat.
type original struct {
	t    int64
	call *plannedCall
}

type run struct {
	g          *Generator
	p          *Profile
	prm        params
	start, end int64
	days       int

	seed     uint64
	arr, out *rand.Rand
	arrSrc   *rand.PCG
	// callRng draws everything about one call; it is reseeded from the seed and the call's index, so
	// that a call's draws do not depend on what earlier calls drew (common random numbers).
	callRng *rand.Rand
	callSrc *rand.PCG

	h       eventHeap
	seq     uint64
	calls   int
	sess    int
	nextDay int
	// remaining sessions per kind to place over the remaining days
	remaining []int
	dayWeight []float64

	models    weighted[*ModelProfile]
	originals map[string][]original // by tenant + "\x00" + query type
	pcache    map[string]*promptCache
	strata    map[string]*stratum
	qts       map[string]*qtState
	sks       map[*SessionProfile]*sessionState
	errShare  float64

	emit     func(*traces.Record) error
	observe  func(*plannedCall, *traces.Record)
	noPrefix bool // the pilot needs no prefix hashes unless prompt caching uses them
	rec      traces.Record
	agentID  uint64
}

func newRun(g *Generator, seed uint64, start, end time.Time, prm params) *run {
	p := g.p
	r := &run{g: g, p: p, prm: prm, start: start.UnixNano(), end: end.UnixNano(),
		days: int(end.Sub(start) / (24 * time.Hour)), originals: map[string][]original{}, pcache: map[string]*promptCache{}, strata: map[string]*stratum{}, qts: map[string]*qtState{}, sks: map[*SessionProfile]*sessionState{}}
	for name, q := range p.QueryTypes {
		st := &qtState{newKey: "new\x00" + name, outKey: "out\x00" + name, priority: weightsOf(q.Priority)}
		st.qt, _ = traces.ParseQueryType(name)
		r.qts[name] = st
	}
	for _, s := range p.Sessions {
		st := &sessionState{first: weightsOf(s.First), later: weightsOf(s.Later), callsKey: "calls\x00" + s.Name}
		if len(s.Models) > 0 {
			mw := weightsOf(s.Models)
			for i, id := range mw.items {
				st.models.add(p.model(id), mw.cum[i]-prev(mw.cum, i))
			}
		}
		r.sks[s] = st
	}
	r.seed = seed
	r.arrSrc = rand.NewPCG(seed, streamArrivals)
	r.arr = rand.New(r.arrSrc)
	r.out = rand.New(rand.NewPCG(seed, streamOutcome))
	r.callSrc = rand.NewPCG(0, 0)
	r.callRng = rand.New(r.callSrc)
	r.agentID = hashString("agent\x00" + p.Agent)
	for i := range p.Models {
		r.models.add(&p.Models[i], p.Models[i].Share)
	}
	for _, e := range p.Errors {
		r.errShare += e.Share
	}
	// Sessions of each kind over the whole window: a non-homogeneous Poisson process conditioned on
	// its count, placed day by day (binomial splits) and within a day by the hourly intensity.
	r.remaining = make([]int, len(p.Sessions))
	for k, rate := range prm.sessionsPerDay {
		r.remaining[k] = int(math.Round(rate * float64(r.days)))
	}
	r.dayWeight = make([]float64, r.days)
	for d := range r.dayWeight {
		for h := 0; h < 24; h++ {
			r.dayWeight[d] += r.hourWeight(r.start + int64(d)*int64(24*time.Hour) + int64(h)*int64(time.Hour))
		}
	}
	if hb := p.Heartbeat; hb != nil {
		for ti := range p.Tenants {
			r.pushHeartbeat(ti, 0)
		}
	}
	return r
}

// hourWeight is the arrival intensity (relative) in the hour starting at t.
func (r *run) hourWeight(t int64) float64 {
	local := time.Unix(0, t).UTC().Add(time.Duration(r.p.Arrivals.UTCOffsetHours * float64(time.Hour)))
	dow := (int(local.Weekday()) + 6) % 7 // Monday = 0
	return r.p.Arrivals.Hourly[local.Hour()] * r.p.Arrivals.Weekly[dow]
}

func (r *run) push(e event) {
	e.seq = r.seq
	r.seq++
	heap.Push(&r.h, e)
}

// pushHeartbeat schedules the n-th heartbeat of a tenant: nominally at start + n×every, moved by
// up to ±jitter but kept inside the window. Heartbeats whose nominal time is past the end are not
// scheduled, so a window of D days holds exactly D×86400/every of them.
func (r *run) pushHeartbeat(tenant, n int) {
	hb := r.p.Heartbeat
	every := int64(hb.EveryS * float64(time.Second))
	t := r.start + int64(n)*every
	if t >= r.end {
		return
	}
	if hb.JitterS > 0 {
		t += int64((r.arr.Float64()*2 - 1) * hb.JitterS * float64(time.Second))
	}
	t = min(max(t, r.start), r.end-1)
	r.push(event{t: t, hb: tenant + 1, kind: n})
}

// scheduleDay pushes the session arrivals of day d.
func (r *run) scheduleDay(d int) {
	dayStart := r.start + int64(d)*int64(24*time.Hour)
	wRest := 0.0
	for _, w := range r.dayWeight[d:] {
		wRest += w
	}
	var hours [24]float64
	for h := range hours {
		hours[h] = r.hourWeight(dayStart + int64(h)*int64(time.Hour))
	}
	for k := range r.p.Sessions {
		n := r.remaining[k]
		if n == 0 {
			continue
		}
		if d < r.days-1 && wRest > 0 {
			n = int(distuv.Binomial{N: float64(n), P: min(1, r.dayWeight[d]/wRest), Src: r.arrSrc}.Rand())
		}
		r.remaining[k] -= n
		times := make([]int64, n)
		for i := range times {
			h := pickIndex(r.arr, hours[:])
			times[i] = dayStart + int64(h)*int64(time.Hour) + r.arr.Int64N(int64(time.Hour))
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		for _, t := range times {
			r.push(event{t: t, kind: k + 1, ten: r.arr.IntN(len(r.p.Tenants))})
		}
	}
}

func (r *run) loop() error {
	for {
		for r.nextDay < r.days && (len(r.h) == 0 || r.h[0].t >= r.start+int64(r.nextDay)*int64(24*time.Hour)) {
			r.scheduleDay(r.nextDay)
			r.nextDay++
		}
		if len(r.h) == 0 {
			return nil
		}
		e := heap.Pop(&r.h).(event)
		switch {
		case e.call != nil:
			if e.t >= r.end {
				continue
			}
			if err := r.emitCall(e.call); err != nil {
				return err
			}
		case e.hb > 0:
			r.heartbeat(e.hb-1, e.t)
			r.pushHeartbeat(e.hb-1, e.kind+1)
		default:
			s := r.p.Sessions[e.kind-1]
			r.planSession(s, r.p.Tenants[e.ten], e.t, "", r.p.Agent)
		}
	}
}

// qtState and sessionState hold what the run derives once from a query type or session profile.
type qtState struct {
	qt             traces.QueryType
	newKey, outKey string
	priority       weighted[string]
}

type sessionState struct {
	first, later weighted[string]
	models       weighted[*ModelProfile]
	callsKey     string
}

func prev(cum []float64, i int) float64 {
	if i == 0 {
		return 0
	}
	return cum[i-1]
}

// weighted is a fixed weighted choice with deterministic order.
type weighted[T any] struct {
	items []T
	cum   []float64
}

func (w *weighted[T]) add(item T, weight float64) {
	total := 0.0
	if n := len(w.cum); n > 0 {
		total = w.cum[n-1]
	}
	w.items = append(w.items, item)
	w.cum = append(w.cum, total+weight)
}

// pick returns an item with probability proportional to its weight; zero-weight items are never
// picked.
func (w *weighted[T]) pick(rng *rand.Rand) T {
	u := rng.Float64() * w.cum[len(w.cum)-1]
	i := sort.Search(len(w.cum), func(i int) bool { return w.cum[i] > u })
	if i == len(w.cum) { // u rounded up to the total
		i = len(w.cum) - 1
		for i > 0 && w.cum[i] == w.cum[i-1] {
			i--
		}
	}
	return w.items[i]
}

func weightsOf(m map[string]float64) weighted[string] {
	var w weighted[string]
	for _, k := range slices.Sorted(maps.Keys(m)) {
		w.add(k, m[k])
	}
	return w
}

func pickIndex(rng *rand.Rand, w []float64) int {
	total := 0.0
	for _, v := range w {
		total += v
	}
	u := rng.Float64() * total
	for i, v := range w {
		if u < v {
			return i
		}
		u -= v
	}
	for i := len(w) - 1; i >= 0; i-- {
		if w[i] > 0 {
			return i
		}
	}
	return 0
}

// strataSize is the number of equal-probability bands a stratum cycles through.
const strataSize = 64

// stratum draws uniforms by stratified sampling: every run of strataSize draws takes one value
// from each band [k/n, (k+1)/n), in random order. Each draw is still uniform on [0, 1), but the mean
// of many draws converges much faster than with independent draws, so a 30-day trace meets its
// profile's averages without Monte Carlo noise of several percent.
type stratum struct {
	perm [strataSize]int
	i    int
	rng  *rand.Rand
}

func (r *run) stratum(key string) *stratum {
	st := r.strata[key]
	if st == nil {
		st = &stratum{rng: rand.New(rand.NewPCG(r.seed^streamStrata, hashString(key)))}
		r.strata[key] = st
	}
	return st
}

func (s *stratum) uniform() float64 {
	rng := s.rng
	if s.i%strataSize == 0 {
		for k := range s.perm {
			s.perm[k] = k
		}
		rng.Shuffle(strataSize, func(a, b int) { s.perm[a], s.perm[b] = s.perm[b], s.perm[a] })
		s.i = 0
	}
	u := (float64(s.perm[s.i]) + rng.Float64()) / strataSize
	s.i++
	return u
}

// normal returns a standard normal draw from the stratum of key.
func (r *run) normal(key string) float64 {
	u := min(max(r.stratum(key).uniform(), 1e-12), 1-1e-12)
	return math.Sqrt2 * math.Erfinv(2*u-1)
}

// drawTokens returns a token count from d scaled by s, at least 1, with the log-normal's normal
// draw stratified by key.
func (r *run) drawTokens(key string, d Dist, s float64) int64 {
	return scaleDist(d, s, r.normal(key))
}

// scaleDist returns d's value at standard normal z, truncated, scaled by s and rounded, at least 1.
func scaleDist(d Dist, s, z float64) int64 {
	return max(1, int64(math.Round(d.at(z)*s)))
}

// at returns the value of d at standard normal z: median × e^(σz), truncated to [Min, Max].
func (d Dist) at(z float64) float64 {
	v := d.Median
	if d.Sigma > 0 {
		v *= math.Exp(d.Sigma * z)
	}
	if d.Min > 0 && v < d.Min {
		v = d.Min
	}
	if d.Max > 0 && v > d.Max {
		v = d.Max
	}
	return v
}

// drawSeconds returns a duration drawn from d (in seconds) times factor.
func drawSeconds(rng *rand.Rand, d Dist, factor float64) time.Duration {
	return time.Duration(d.at(rng.NormFloat64()) * factor * float64(time.Second))
}

// geometric returns a count with the given mean: the number of failures before a success with
// probability 1/(1+mean).
func geometric(rng *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	p := 1 / (1 + mean)
	n := 0
	for rng.Float64() >= p {
		n++
		if n > 10000 {
			break
		}
	}
	return n
}

// poisson returns a Poisson count with the given mean (Knuth's method; means here are small).
func poisson(rng *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 30 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*rng.NormFloat64())))
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// poissonStratified returns a Poisson count by inverting its CDF at a stratified uniform.
func (r *run) poissonStratified(key string, mean float64) int {
	u := r.stratum(key).uniform()
	p := math.Exp(-mean)
	cdf := p
	k := 0
	for u > cdf && k < 1000 {
		k++
		p *= mean / float64(k)
		cdf += p
	}
	return k
}

func (r *run) pickModel(rng *rand.Rand, s *SessionProfile) *ModelProfile {
	if st := r.sks[s]; len(st.models.items) > 0 {
		return st.models.pick(rng)
	}
	return r.models.pick(rng)
}

func (r *run) newSessionID() string {
	r.sess++
	return "s" + pad(r.sess, 6)
}

func (r *run) newCallID() string {
	r.calls++
	return "c" + pad(r.calls, 7)
}

func pad(n, width int) string {
	s := strconv.Itoa(n)
	for len(s) < width {
		s = "0" + s
	}
	return s
}

// planSession plans every call of a session starting at t0 and returns when its last call ends.
// Session-level draws (length, model, sub-agents, think times) come from the session's own stream,
// call-level ones from each call's.
func (r *run) planSession(s *SessionProfile, tenant string, t0 int64, parent, agent string) int64 {
	sessID := r.newSessionID()
	rng := rand.New(rand.NewPCG(r.seed^streamSession, uint64(r.sess)))
	model := r.pickModel(rng, s)
	nCalls := 1
	ss := r.sks[s]
	if s.ExtraCallsDist == "poisson" {
		nCalls += r.poissonStratified(ss.callsKey, s.ExtraCallsMean)
	} else {
		nCalls += geometric(rng, s.ExtraCallsMean)
	}
	spawnAt := -1
	if sa := s.Subagents; sa != nil && nCalls > 1 && rng.Float64() < sa.Probability {
		spawnAt = rng.IntN(nCalls - 1)
	}

	var system []segment
	if st := int64(math.Round(r.p.SystemTokens * r.prm.sIn)); st > 0 {
		system = append(system, segment{combine(r.agentID, hashString("system")), st})
	}
	if st := int64(math.Round(s.SystemTokens * r.prm.sIn)); st > 0 {
		system = append(system, segment{combine(r.agentID, hashString("session\x00"+s.Name)), st})
	}
	var history []segment
	var histNew, histOut int64
	t := t0
	end := t0
	for k := 0; k < nCalls; k++ {
		id := r.newCallID()
		crng := r.callStream()
		var qtype string
		if k == 0 {
			qtype = ss.first.pick(crng)
		} else {
			qtype = ss.later.pick(crng)
		}
		q := r.p.QueryTypes[qtype]
		if k == 0 {
			if st := int64(math.Round(q.SystemTokens * r.prm.sIn)); st > 0 {
				system = append(system, segment{combine(r.agentID, hashString("skill\x00"+qtype)), st})
			}
		}
		var c *plannedCall
		standalone := nCalls == 1 && !s.History && parent == ""
		if standalone && q.Repeat != nil {
			c = r.maybeRepeat(crng, tenant, qtype, t)
		}
		if c == nil {
			c = r.newCall(crng, q, qtype, model, system, history, histNew, histOut)
			if standalone && q.Repeat != nil {
				r.remember(tenant, qtype, t, c, q.Repeat)
			}
		}
		c.t, c.id = t, id
		c.session, c.agent, c.parent, c.turn, c.tenant = sessID, agent, parent, k, tenant
		r.push(event{t: t, call: c})
		done := t + int64(c.latency)
		end = max(end, done)
		next := done
		if k == spawnAt {
			child := r.p.session(s.Subagents.Session)
			n := 1 + poisson(rng, s.Subagents.CountMean-1)
			for i := 0; i < n; i++ {
				stagger := int64(rng.Float64() * float64(2*time.Second))
				childEnd := r.planSession(child, tenant, done+stagger, c.id, agent+"/"+child.Name)
				next = max(next, childEnd)
			}
			end = max(end, next)
		}
		if s.History {
			newSeg := c.segs[len(c.segs)-1]
			outSeg := segment{combine(newSeg.id, hashString("output")), c.output}
			history = append(history, newSeg, outSeg)
			histNew += newSeg.n
			histOut += c.output
			if s.CompactAt > 0 && tokensOf(system)+histNew+histOut > int64(s.CompactAt*r.prm.sIn) {
				summary := int64(math.Round(s.CompactTo * r.prm.sIn))
				history = []segment{{combine(outSeg.id, hashString("summary")), summary}}
				histNew, histOut = summary, 0
			}
		}
		if k+1 < nCalls {
			t = next + int64(drawSeconds(rng, s.ThinkS, 1))
		}
	}
	return end
}

// callStream reseeds and returns the stream of the call just numbered by newCallID.
func (r *run) callStream() *rand.Rand {
	r.callSrc.Seed(r.seed^streamCall, uint64(r.calls))
	return r.callRng
}

// newCall draws a fresh call of query type q.
func (r *run) newCall(rng *rand.Rand, q *QueryTypeProfile, qtype string, model *ModelProfile, system, history []segment, histNew, histOut int64) *plannedCall {
	qs := r.qts[qtype]
	c := &plannedCall{model: model, qtype: qtype, qt: qs.qt, temperature: q.Temperature, histNew: histNew, histOut: histOut}
	newTok := r.drawTokens(qs.newKey, q.NewTokens, r.prm.sIn)
	newSeg := segment{rng.Uint64(), newTok}
	c.segs = make([]segment, 0, len(system)+len(history)+1)
	c.segs = append(append(append(c.segs, system...), history...), newSeg)
	c.system, c.newTok = tokensOf(system), newTok
	c.output = r.drawTokens(qs.outKey, q.OutputTokens, r.prm.sOut)
	c.complexity = math.NaN()
	if cx := q.Complexity; cx != nil {
		a, b := cx.Mean/100*cx.Concentration, (1-cx.Mean/100)*cx.Concentration
		u := distuv.Beta{Alpha: a, Beta: b, Src: rand.NewPCG(rng.Uint64(), 1)}.Rand()
		c.complexity = shiftComplexity(u, r.prm.complexityShift)
	}
	c.priority = traces.PriorityUrgent
	if len(qs.priority.items) > 0 {
		c.priority, _ = traces.ParsePriority(qs.priority.pick(rng))
	}
	if c.priority != traces.PriorityUrgent {
		c.maxDelay = time.Duration(q.MaxDelayS[c.priority.String()] * float64(time.Second))
	}
	c.ttft = drawSeconds(rng, model.TTFT, r.prm.ttftFactor)
	c.latency = c.ttft + time.Duration(float64(c.output)/model.TokensPerS*float64(time.Second))
	return c
}

// shiftComplexity maps a Beta draw u in (0,1) to a 0..100 score, shifted on the logit scale by
// delta, rounded to one decimal.
func shiftComplexity(u, delta float64) float64 {
	u = min(max(u, 1e-9), 1-1e-9)
	x := 100 / (1 + math.Exp(-(math.Log(u/(1-u)) + delta)))
	return math.Round(x*10) / 10
}

// maybeRepeat returns an exact repeat of an earlier call of the type, or nil for a fresh call.
func (r *run) maybeRepeat(rng *rand.Rand, tenant, qtype string, t int64) *plannedCall {
	u, e := rng.Float64(), rng.ExpFloat64() // always both, for common random numbers
	prob := r.prm.repeatProb[qtype]
	if prob <= 0 || u >= prob {
		return nil
	}
	key := tenant + "\x00" + qtype
	origs := r.originals[key]
	if len(origs) == 0 {
		return nil
	}
	rp := r.p.QueryTypes[qtype].Repeat
	ageMean := rp.AgeMeanS
	if ageMean == 0 {
		ageMean = rp.TTLS
	}
	age := int64(e * ageMean * float64(time.Second))
	target := t - age
	// The latest original at or before target.
	i := sort.Search(len(origs), func(i int) bool { return origs[i].t > target }) - 1
	if i < 0 {
		return nil
	}
	c := *origs[i].call
	c.repeat = true
	c.ttft = drawSeconds(rng, c.model.TTFT, r.prm.ttftFactor)
	c.latency = c.ttft + time.Duration(float64(c.output)/c.model.TokensPerS*float64(time.Second))
	return &c
}

// remember keeps a standalone call as a source of later repeats, forgetting those too old to be
// chosen.
func (r *run) remember(tenant, qtype string, t int64, c *plannedCall, rp *Repeat) {
	key := tenant + "\x00" + qtype
	horizon := 10 * max(rp.AgeMeanS, rp.TTLS)
	cut := t - int64(horizon*float64(time.Second))
	origs := r.originals[key]
	drop := 0
	for drop < len(origs) && origs[drop].t < cut {
		drop++
	}
	origs = append(origs[drop:], original{t: t, call: c})
	r.originals[key] = origs
}

// heartbeat plans the n-th heartbeat call of a tenant at t.
func (r *run) heartbeat(tenant int, t int64) {
	q := r.p.QueryTypes["heartbeat"]
	id := r.newCallID()
	rng := r.callStream()
	model := r.models.pick(rng)
	var system []segment
	if st := int64(math.Round(r.p.SystemTokens * r.prm.sIn)); st > 0 {
		system = append(system, segment{combine(r.agentID, hashString("system")), st})
	}
	if st := int64(math.Round(q.SystemTokens * r.prm.sIn)); st > 0 {
		system = append(system, segment{combine(r.agentID, hashString("skill\x00heartbeat")), st})
	}
	c := r.newCall(rng, q, "heartbeat", model, system, nil, 0, 0)
	day := time.Unix(0, t).UTC().Format("20060102")
	c.t, c.id = t, id
	c.session = "hb-" + r.p.Tenants[tenant] + "-" + day
	c.agent, c.tenant = r.p.Agent, r.p.Tenants[tenant]
	c.turn = int((t - r.start) % int64(24*time.Hour) / int64(r.p.Heartbeat.EveryS*float64(time.Second)))
	r.push(event{t: t, call: c})
}

// promptCache is the provider's prompt cache for one tenant and model, as the recorded calls used
// it: block hash → expiry.
type promptCache struct {
	exp    map[uint64]int64
	writes int
}

func (r *run) emitCall(c *plannedCall) error {
	rec := &r.rec
	rec.Reset()
	rec.Time = time.Unix(0, c.t).UTC()
	rec.ID, rec.Tenant, rec.Session, rec.Agent, rec.Parent = c.id, c.tenant, c.session, c.agent, c.parent
	rec.SetInt(traces.FieldTurn, int64(c.turn))
	rec.Provider, rec.Model = r.p.Provider, c.model.Model
	rec.QueryType, rec.Priority, rec.ServiceTier = c.qt, c.priority, traces.TierStandard
	rec.SetInt(traces.FieldMaxDelay, int64(c.maxDelay))
	rec.SetFloat(traces.FieldTemperature, c.temperature)
	rec.SetInt(traces.FieldSystemTokens, c.system)
	rec.SetInt(traces.FieldHistoryTokens, c.histNew+c.histOut)
	rec.SetInt(traces.FieldNewTokens, c.newTok)
	rec.SetInt(traces.FieldFingerprint, int64(fingerprint(c.model.Model, c.temperature, c.segs)))
	if !r.noPrefix || r.p.PromptCache != "none" {
		rec.Prefix = appendPrefix(rec.Prefix[:0], c.segs, int64(r.p.BlockSize), r.agentID)
	}
	if !math.IsNaN(c.complexity) {
		rec.SetFloat(traces.FieldComplexity, c.complexity)
	}
	rec.SetInt(traces.FieldTTFT, int64(c.ttft))
	prompt := c.system + c.histNew + c.histOut + c.newTok

	if r.errShare > 0 && r.out.Float64() < r.errShare {
		u := r.out.Float64() * r.errShare
		e := r.p.Errors[len(r.p.Errors)-1]
		for _, ep := range r.p.Errors {
			if u < ep.Share {
				e = ep
				break
			}
			u -= ep.Share
		}
		rec.SetInt(traces.FieldStatus, int64(e.Status))
		rec.Error = e.Error
		rec.SetInt(traces.FieldLatency, int64(c.ttft))
		for _, f := range [...]traces.Field{traces.FieldInput, traces.FieldCacheWrite5m, traces.FieldCacheWrite1h, traces.FieldCacheRead, traces.FieldOutput} {
			rec.SetInt(f, 0)
		}
	} else {
		rec.SetInt(traces.FieldStatus, 200)
		rec.SetInt(traces.FieldLatency, int64(c.latency))
		rec.SetInt(traces.FieldOutput, c.output)
		r.promptCaching(rec, c, prompt)
	}
	if r.observe != nil {
		r.observe(c, rec)
	}
	if r.emit != nil {
		return r.emit(rec)
	}
	return nil
}

// promptCaching splits the prompt into uncached input, cache writes and cache reads as the
// recorded calls' own prompt caching did: none, or the provider's automatic prefix cache with the
// profile's TTL (the longest unexpired cached prefix is read, the rest of the full blocks written,
// and every block's TTL refreshed). Prompts under the model's minimum cacheable length are not
// cached.
func (r *run) promptCaching(rec *traces.Record, c *plannedCall, prompt int64) {
	for _, f := range [...]traces.Field{traces.FieldCacheWrite5m, traces.FieldCacheWrite1h, traces.FieldCacheRead} {
		rec.SetInt(f, 0)
	}
	var ttl time.Duration
	switch r.p.PromptCache {
	case "5m":
		ttl = 5 * time.Minute
	case "1h":
		ttl = time.Hour
	default:
		rec.SetInt(traces.FieldInput, prompt)
		return
	}
	price, _ := r.g.opts.Book.Lookup(c.model.Model, rec.Time)
	if price == nil || prompt < price.MinCacheable {
		rec.SetInt(traces.FieldInput, prompt)
		return
	}
	key := c.tenant + "\x00" + c.model.Model
	pc := r.pcache[key]
	if pc == nil {
		pc = &promptCache{exp: map[uint64]int64{}}
		r.pcache[key] = pc
	}
	hit := 0
	for hit < len(rec.Prefix) {
		if e, ok := pc.exp[rec.Prefix[hit]]; !ok || e <= c.t {
			break
		}
		hit++
	}
	bs := int64(r.p.BlockSize)
	read := int64(hit) * bs
	written := int64(len(rec.Prefix)-hit) * bs
	rec.SetInt(traces.FieldCacheRead, read)
	if ttl == time.Hour {
		rec.SetInt(traces.FieldCacheWrite1h, written)
	} else {
		rec.SetInt(traces.FieldCacheWrite5m, written)
	}
	rec.SetInt(traces.FieldInput, prompt-read-written)
	exp := c.t + int64(ttl)
	for _, h := range rec.Prefix {
		pc.exp[h] = exp
	}
	pc.writes += len(rec.Prefix)
	if pc.writes > 4*len(pc.exp)+100_000 {
		for h, e := range pc.exp {
			if e <= c.t {
				delete(pc.exp, h)
			}
		}
		pc.writes = 0
	}
}
