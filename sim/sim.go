// Package sim replays a trace through a stack of strategies in a discrete-event simulation, and
// measures what the traffic would have cost, how fast it would have been answered and how good the
// answers would have been, per day and in total.
//
// A run is single-threaded: arrivals are pulled lazily from the trace (which must be in time
// order) and merged with an event heap of resumptions, batch flushes and completions. The upstream
// model prices each call with the price book at the time it is sent, answers it after the model's
// latency and draws whether the answer is acceptable from the quality model. Every random draw
// about a call comes from hash(seed, call, purpose) (common random numbers), so two configurations
// replayed over the same trace differ only by what their strategies do, and the same inputs and
// seed give the same result, byte for byte, whatever GOMAXPROCS is. Runs share nothing: callers
// run several in parallel, one goroutine each.
package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unsafe"

	"github.com/tarsopt/tarsopt/internal/prefetch"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// Source yields the records of a trace in time order; Read returns io.EOF after the last one.
// *traces.Source implements it.
type Source interface {
	Read(r *traces.Record) error
}

// Options set up a run.
type Options struct {
	// Book prices the calls. Required.
	Book *pricing.Book
	// Upstream is the provider's model: speeds, quality curves, error rate. Required.
	Upstream *strategies.Upstream
	// Seed seeds the common random numbers.
	Seed uint64
	// ZeroUnknown prices calls to a model the price book does not know at $0, counting them in
	// Result.Unpriced, instead of stopping the run with an error.
	ZeroUnknown bool
	// Start and End bound the trace's window (its metadata), for the number of days; zero values
	// mean the days from the first call's to the last call's.
	Start, End time.Time
	// Progress, when set, is called with the number of calls read so far, every 65,536 calls.
	Progress func(calls int64)
	// OnDone, when set, is called for every client call when it completes, with its final outcome
	// (for followers, their leader's) and the time it completed. The call is the driver's: it is
	// valid only during the call to OnDone.
	OnDone func(now int64, c *strategies.Call, o *strategies.Outcome)
}

// Result is what a run measured.
type Result struct {
	// Days holds one entry per calendar day (UTC) from the first day to the last, in order.
	Days []Day
	// Total sums the days.
	Total Metrics
	// Strategies holds each stage's counters, in stack order.
	Strategies []StageCounters
	// Unpriced counts calls to models the price book does not know, by model (with ZeroUnknown).
	Unpriced map[string]int64
	// Window is the span the run covers: the trace's window when given, else the first to the
	// last arrival's day.
	Start, End time.Time

	deferDelay hist
}

// Day is the metrics of one UTC calendar day.
type Day struct {
	Date time.Time // midnight UTC
	Metrics
	// Strategies holds each stage's counters as they stood when the last call of the day
	// arrived (cumulative since the start of the run; difference two days for a day's counts), in
	// stack order; nil for a day without arrivals.
	Strategies []StageCounters
}

// StageCounters are one stage's own counters.
type StageCounters struct {
	Name     string
	Counters []strategies.Count
}

// hitLatency is implemented by stages that answer calls themselves (the response cache): the time
// they take to answer, in nanoseconds.
type hitLatency interface {
	HitLatency() int64
}

const (
	classComplete uint8 = iota // answers first, so that a cache stores before a same-instant lookup
	classResume
	classFlush
)

// event is an entry of the event heap, kept small (32 bytes) because sifting moves it: a
// completion's outcome waits in runner.pending, at index slot.
type event struct {
	t    int64
	ord  uint64 // class<<56 | sequence number: same-time events by class, then in push order
	call *strategies.Call
	slot int32 // classResume, classFlush: the stage; classComplete: the index in runner.pending
}

func (a *event) less(b *event) bool {
	return a.t < b.t || (a.t == b.t && a.ord < b.ord)
}

func (e *event) class() uint8 { return uint8(e.ord >> 56) }

// pending is a completion's outcome, waiting for its event.
type pending struct {
	o     strategies.Outcome
	first int64 // when the first token arrived
}

// eventHeap is a 4-ary min-heap of events by value: half the levels of a binary heap, so fewer
// hard-to-predict comparisons on the way down, which is where a replay spends its heap time.
type eventHeap []event

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 4
		if !e.less(&s[p]) {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = e
}

func (h *eventHeap) pop() event {
	s := *h
	top := s[0]
	n := len(s) - 1
	last := s[n]
	s[n] = event{}
	s = s[:n]
	// Sift the last event down from the root, moving the smallest child up at each level.
	i := 0
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < min(c+4, n); k++ {
			if s[k].less(&s[m]) {
				m = k
			}
		}
		if !s[m].less(&last) {
			break
		}
		s[i] = s[m]
		i = m
	}
	if n > 0 {
		s[i] = last
	}
	*h = s
	return top
}

// runner is the state of one run.
type runner struct {
	opts      Options
	stages    []strategies.Stage
	observers []strategies.Observer
	flushers  []strategies.Flusher
	scheduled []int64 // per stage: the time of the pending flush event, or -1
	hitLat    []int64

	heap     eventHeap
	seq      uint64
	pending  []pending // completions' outcomes, by event slot
	freeSlot []int32   // free indices of pending
	pool     []*strategies.Call
	released []*strategies.Call       // calls a Flush released, to go on after it returns
	release  func(c *strategies.Call) // appends to released; made once, so Flush allocates nothing

	origin     int64 // midnight UTC of the first day
	days       []Day
	unpriced   map[string]int64
	err        error
	inFlight   int64 // calls that arrived and have not completed
	arrivalDay int   // index of the day of the latest arrival; -1 before the first

	deferDelay hist                  // deferred calls: from arrival to sending, over the run
	allLatency hist                  // interactive calls, over the run (finer than each day's)
	outs       []*strategies.Outcome // scratch outcomes handed to observers, by follower depth

	models   [8]modelInfo // the models seen last, so that most calls look nothing up in a map
	nextM    int
	modelIDs map[string]int32 // model name → its number in the run, for the per-day counts
	names    []string         // by model number
}

const dayNS = int64(24 * time.Hour)

// Run replays src through stages. The stages must be fresh (built for this run): they keep state.
func Run(ctx context.Context, src Source, stages []strategies.Stage, opts Options) (*Result, error) {
	if opts.Book == nil || opts.Upstream == nil {
		return nil, errors.New("sim: Options.Book and Options.Upstream are required")
	}
	r := &runner{opts: opts, stages: stages, unpriced: map[string]int64{}, origin: -1, arrivalDay: -1, deferDelay: newHist(6), allLatency: newHist(6)}
	r.release = func(c *strategies.Call) { r.released = append(r.released, c) }
	r.observers = make([]strategies.Observer, len(stages))
	r.flushers = make([]strategies.Flusher, len(stages))
	r.scheduled = make([]int64, len(stages))
	r.hitLat = make([]int64, len(stages))
	for i, s := range stages {
		r.observers[i], _ = s.(strategies.Observer)
		r.flushers[i], _ = s.(strategies.Flusher)
		r.scheduled[i] = -1
		if h, ok := s.(hitLatency); ok {
			r.hitLat[i] = h.HitLatency()
		}
	}
	if !opts.Start.IsZero() {
		r.origin = floorDay(opts.Start.UnixNano())
	}
	if err := r.loop(ctx, src); err != nil {
		return nil, err
	}
	return r.result(), nil
}

func floorDay(t int64) int64 {
	d := t / dayNS
	if t%dayNS < 0 {
		d--
	}
	return d * dayNS
}

func (r *runner) loop(ctx context.Context, src Source) error {
	var ordinal int64
	prev := int64(math.MinInt64)
	var prevPos traces.Pos
	// next is the call read ahead: the reader fills its record in place (no copy), and it enters
	// the stack when its time comes.
	var next *strategies.Call
	read := func() error {
		c := r.get()
		err := src.Read(&c.Rec)
		if err == io.EOF {
			r.put(c)
			next = nil
			return nil
		}
		if err != nil {
			return err
		}
		t := c.Rec.Time.UnixNano()
		if t < prev {
			return fmt.Errorf("sim: %s: call at %s comes before the one at %s (%s): the trace is not in time order; sort it (--sort)",
				c.Rec.Pos, c.Rec.Time.UTC().Format(time.RFC3339Nano), time.Unix(0, prev).UTC().Format(time.RFC3339Nano), prevPos)
		}
		prev, prevPos = t, c.Rec.Pos
		next = c
		return nil
	}
	if err := read(); err != nil {
		return err
	}
	for next != nil || len(r.heap) > 0 {
		if r.err != nil {
			return r.err
		}
		if next != nil {
			at := next.Rec.Time.UnixNano()
			if len(r.heap) == 0 || r.heap[0].t > at {
				if r.origin < 0 {
					r.origin = floorDay(at)
				}
				c := next
				c.Begin(strategies.KeyOf(&c.Rec, ordinal))
				ordinal++
				if ordinal&0xffff == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
					if r.opts.Progress != nil {
						r.opts.Progress(ordinal)
					}
				}
				if i := r.dayIndex(at); i != r.arrivalDay {
					r.snapshot()
					r.arrivalDay = i
				}
				r.day(at).Calls++
				r.inFlight++
				if err := read(); err != nil {
					return err
				}
				r.advance(at, c, 0)
				continue
			}
		}
		e := r.heap.pop()
		switch e.class() {
		case classResume:
			r.advance(e.t, e.call, int(e.slot))
		case classFlush:
			r.flush(e.t, int(e.slot))
		case classComplete:
			p := r.pending[e.slot]
			r.freeSlot = append(r.freeSlot, e.slot)
			r.complete(e.t, e.call, p.o, p.first)
		}
	}
	r.snapshot()
	if r.opts.Progress != nil {
		r.opts.Progress(ordinal)
	}
	if r.err == nil && r.inFlight != 0 {
		var held []string
		for i, f := range r.flushers {
			if f == nil {
				continue
			}
			if _, ok := f.Due(); ok {
				held = append(held, r.stages[i].Name())
			}
		}
		return fmt.Errorf("sim: %d calls never completed (stages still holding calls: %v); a stage lost them", r.inFlight, held)
	}
	return r.err
}

func (r *runner) get() *strategies.Call {
	if n := len(r.pool); n > 0 {
		c := r.pool[n-1]
		r.pool = r.pool[:n-1]
		return c
	}
	return new(strategies.Call)
}

func (r *runner) put(c *strategies.Call) {
	c.Leader = nil
	r.pool = append(r.pool, c)
}

func (r *runner) push(t int64, class uint8, c *strategies.Call, slot int32) {
	r.seq++
	r.heap.push(event{t: t, ord: uint64(class)<<56 | r.seq, call: c, slot: slot})
}

// schedule schedules the completion of c at t with outcome o, the first token at first.
func (r *runner) schedule(t int64, c *strategies.Call, o strategies.Outcome, first int64) {
	var i int32
	if n := len(r.freeSlot); n > 0 {
		i = r.freeSlot[n-1]
		r.freeSlot = r.freeSlot[:n-1]
	} else {
		i = int32(len(r.pending))
		r.pending = append(r.pending, pending{})
	}
	r.pending[i] = pending{o: o, first: first}
	r.push(t, classComplete, c, i)
}

// dayIndex returns the index of the day that holds t (0 for times before the first day).
func (r *runner) dayIndex(t int64) int {
	if t < r.origin {
		return 0 // a send before the window's start (the trace's metadata is off): the first day
	}
	return int((t - r.origin) / dayNS)
}

// snapshot records the stages' counters on the day of the latest arrival.
func (r *runner) snapshot() {
	if r.arrivalDay < 0 || r.arrivalDay >= len(r.days) {
		return
	}
	sc := make([]StageCounters, len(r.stages))
	for i, s := range r.stages {
		sc[i].Name = s.Name()
		if c, ok := s.(strategies.Counting); ok {
			sc[i].Counters = c.Counters()
		}
	}
	r.days[r.arrivalDay].Strategies = sc
}

// day returns the metrics of the day that holds t, growing the list of days as needed.
func (r *runner) day(t int64) *Metrics {
	i := r.dayIndex(t)
	for len(r.days) <= i {
		r.days = append(r.days, Day{Date: time.Unix(0, r.origin+int64(len(r.days))*dayNS).UTC(), Metrics: Metrics{latency: newHist(4)}})
	}
	return &r.days[i].Metrics
}

// advance runs call c through the stages from stage i at time now.
func (r *runner) advance(now int64, c *strategies.Call, i int) {
	for ; i < len(r.stages); i++ {
		c.At = i
		d := r.stages[i].Handle(now, c)
		if f := r.flushers[i]; f != nil {
			r.arm(now, i)
		}
		switch d.Action {
		case strategies.Next:
			continue
		case strategies.Serve:
			r.served(now, c, i)
			return
		case strategies.Hold:
			if d.Until > 0 {
				r.push(max(d.Until, now), classResume, c, int32(i+1))
			}
			return
		}
	}
	c.At = len(r.stages)
	r.send(now, c)
}

// arm schedules a flush of stage i at its Due time, unless one is scheduled no later.
func (r *runner) arm(now int64, i int) {
	due, ok := r.flushers[i].Due()
	if !ok {
		return
	}
	due = max(due, now)
	if s := r.scheduled[i]; s >= 0 && s <= due {
		return
	}
	r.scheduled[i] = due
	r.push(due, classFlush, nil, int32(i))
}

func (r *runner) flush(now int64, i int) {
	if r.scheduled[i] == now {
		r.scheduled[i] = -1
	}
	f := r.flushers[i]
	if due, ok := f.Due(); ok && due <= now {
		// Flushes never nest (advancing a call only schedules events), so one buffer serves.
		r.released = r.released[:0]
		f.Flush(now, r.release)
		for _, c := range r.released {
			if c.Served {
				r.served(now, c, i)
			} else {
				r.advance(now, c, i+1)
			}
		}
		clear(r.released)
	}
	if r.scheduled[i] < 0 {
		r.arm(now, i)
	}
}

// served completes a call that stage i answered itself.
func (r *runner) served(now int64, c *strategies.Call, i int) {
	c.At = i
	if c.Leader != nil {
		return // completes with its leader
	}
	done := now + r.hitLat[i]
	p := c.Quality
	ok := strategies.Draw(r.opts.Seed, c.Key, strategies.DrawQuality) < p
	r.schedule(done, c, strategies.Outcome{OK: ok, P: p, Done: done, Output: c.Rec.Output}, done)
}

// modelInfo is what the runner knows of one model: its price over a period, speed and curve.
type modelInfo struct {
	name        string
	id          int32          // the name's number in the run
	price       *pricing.Price // nil when the book does not know the model
	err         error
	from, until int64 // the period price holds for (Unix nanoseconds)
	speed       strategies.Speed
	curve       strategies.Curve
}

// model returns what the runner knows of model at time t, from a small cache of the models seen
// last, looking it up in the price book and the upstream model when it is not there or its price
// period does not cover t.
func (r *runner) model(name string, t int64) *modelInfo {
	for i := range r.models {
		m := &r.models[i]
		if m.name == name && (m.price == nil || (t >= m.from && t < m.until)) && (m.price != nil || m.err != nil) {
			return m
		}
	}
	m := &r.models[r.nextM]
	r.nextM = (r.nextM + 1) % len(r.models)
	id, ok := r.modelIDs[name]
	if !ok {
		if r.modelIDs == nil {
			r.modelIDs = map[string]int32{}
		}
		id = int32(len(r.names))
		r.modelIDs[name] = id
		r.names = append(r.names, name)
	}
	*m = modelInfo{name: name, id: id}
	m.speed, m.curve = r.opts.Upstream.Model(name)
	p, err := r.opts.Book.Lookup(name, time.Unix(0, t))
	if err != nil {
		m.err = err
		return m
	}
	m.price = p
	m.from, m.until = p.Period()
	if t < m.from || t >= m.until {
		// The book gave the nearest period (t is before the first or after the last): it holds
		// for this instant only; look it up again next time.
		m.from, m.until = t, t+1
	}
	return m
}

// send sends c upstream at now: prices it, and schedules its answer.
func (r *runner) send(now int64, c *strategies.Call) {
	if c.Send == 0 {
		c.Send = now
	}
	rec := &c.Rec
	d := r.day(now)
	d.Upstream++
	d.Input += rec.Input
	d.CacheWrite5m += rec.CacheWrite5m
	d.CacheWrite1h += rec.CacheWrite1h
	d.CacheRead += rec.CacheRead
	d.Output += rec.Output
	if c.Retries > 0 {
		d.Retries++
	}
	m := *r.model(rec.Model, now) // a copy: latency may look up another model and reuse the slot
	d.countModel(m.id)
	p, err := m.price, m.err
	if err != nil {
		if !r.opts.ZeroUnknown {
			if r.err == nil {
				r.err = fmt.Errorf("sim: %s: %w (price it at $0 with --unknown-model=zero, or add it to the price book)", rec.Pos, err)
			}
		} else {
			r.unpriced[rec.Model]++
		}
	} else {
		d.Cost.Add(p.Cost(pricing.Call{Input: rec.Input, CacheWrite5m: rec.CacheWrite5m, CacheWrite1h: rec.CacheWrite1h,
			CacheRead: rec.CacheRead, Output: rec.Output, Tier: rec.ServiceTier, Speed: rec.Speed, At: time.Unix(0, now).UTC()}))
	}

	up := r.opts.Upstream
	attempt := uint64(c.Retries)
	var failed bool
	if attempt == 0 && (rec.Has(traces.FieldStatus) || rec.Error != "") {
		failed = rec.Error != "" || rec.Status < 200 || rec.Status >= 300
	} else {
		failed = strategies.Draw(r.opts.Seed, c.Key, strategies.DrawError+attempt*16) < up.ErrorRate
	}
	lat, ttft := r.latency(c, m.speed)
	start := now + c.Turnaround
	o := strategies.Outcome{Failed: failed, Done: start + lat, Output: rec.Output}
	if !failed {
		o.P = m.curve.P(strategies.Complexity(rec)) * c.Quality
		o.OK = strategies.Draw(r.opts.Seed, c.Key, strategies.DrawQuality+attempt*16) < o.P
	}
	r.schedule(o.Done, c, o, start+ttft)
}

// latency returns how long the model takes to answer c, and to its first token: the recorded
// times when the call went to the recorded model with its recorded output, scaled by the ratio of
// the two models' modelled times when the model or the output changed, or the modelled times when
// the trace has none.
func (r *runner) latency(c *strategies.Call, sp strategies.Speed) (lat, ttft int64) {
	rec := &c.Rec
	model := int64(sp.Latency(rec.Output))
	modelTTFT := int64(sp.TTFT * 1e9)
	if !rec.Has(traces.FieldLatency) {
		lat = model
		ttft = modelTTFT
		if rec.Has(traces.FieldTTFT) && rec.Model == c.OrigModel {
			ttft = int64(rec.TTFT)
		}
		return lat, min(ttft, lat)
	}
	lat, ttft = int64(rec.Latency), int64(rec.TTFT)
	if !rec.Has(traces.FieldTTFT) {
		ttft = min(modelTTFT, lat)
	}
	if rec.Model != c.OrigModel || rec.Output != c.OrigOutput {
		osp := r.model(c.OrigModel, c.Arrival).speed
		if base := int64(osp.Latency(c.OrigOutput)); base > 0 {
			lat = int64(float64(lat) * float64(model) / float64(base))
		}
		if osp.TTFT > 0 {
			ttft = int64(float64(ttft) * sp.TTFT / osp.TTFT)
		}
	}
	return lat, min(ttft, lat)
}

// complete handles the answer to c at now: the observers learn it (one may ask for a retry), then
// the call and its followers are done.
func (r *runner) complete(now int64, c *strategies.Call, outcome strategies.Outcome, first int64) {
	o := r.scratch(0)
	*o = outcome
	for i := c.At - 1; i >= 0; i-- {
		obs := r.observers[i]
		if obs == nil {
			continue
		}
		obs.Observe(now, c, o)
		if o.RetryWith != "" {
			c.Rec.Model = o.RetryWith
			c.Retries++
			r.advance(now, c, i+1)
			return
		}
	}
	r.finish(now, c, o, first, 1)
}

// scratch returns the runner's outcome for follower depth d: observers get a pointer to it, so
// that an outcome handed to an interface does not escape to the heap for every call.
func (r *runner) scratch(d int) *strategies.Outcome {
	for len(r.outs) <= d {
		r.outs = append(r.outs, new(strategies.Outcome))
	}
	return r.outs[d]
}

// finish records a completed call and its followers, and returns them to the pool.
func (r *runner) finish(now int64, c *strategies.Call, o *strategies.Outcome, first int64, depth int) {
	for _, f := range c.Followers {
		fo := r.scratch(depth)
		*fo = *o
		fo.RetryWith = ""
		for i := f.At - 1; i >= 0; i-- {
			if obs := r.observers[i]; obs != nil {
				obs.Observe(now, f, fo)
			}
		}
		if f.Send == 0 {
			f.Send = c.Send
		}
		fo.RetryWith = ""
		r.finish(now, f, fo, first, depth+1)
	}
	r.inFlight--
	d := r.day(c.Arrival)
	if o.Failed {
		d.Failed++
	} else {
		d.Answered++
		d.QualitySum += o.P
		if o.OK {
			d.Acceptable++
		}
	}
	if c.Served {
		d.Served++
		if c.ServedBy == "responsecache" {
			d.CacheHits++
		}
		if c.Leader != nil && c.ServedBy == "batcher" {
			d.Merged++
		}
	}
	if c.Batched {
		d.Batched++
	}
	if c.Routed {
		d.Routed++
	}
	if c.Pruned > 0 {
		d.Pruned++
		d.PrunedTokens += c.Pruned
	}
	if c.Deferred {
		d.Deferred++
		if c.Send > 0 {
			r.deferDelay.add(c.Send - c.Arrival)
		}
	}
	if c.Rec.MaxDelay == 0 {
		d.Interactive++
		d.latency.add(now - c.Arrival)
		r.allLatency.add(now - c.Arrival)
		d.TTFTSum += (first - c.Arrival) / 1000
	} else if now-c.Arrival > int64(c.Rec.MaxDelay) {
		d.Late++
	}
	if r.opts.OnDone != nil {
		r.opts.OnDone(now, c, o)
	}
	r.put(c)
}

func (r *runner) result() *Result {
	res := &Result{Days: r.days, Unpriced: r.unpriced, deferDelay: r.deferDelay}
	for i := range r.days {
		r.days[i].nameModels(r.names)
		res.Total.merge(&r.days[i].Metrics)
	}
	res.Total.latency = r.allLatency
	for _, s := range r.stages {
		sc := StageCounters{Name: s.Name()}
		if c, ok := s.(strategies.Counting); ok {
			sc.Counters = c.Counters()
		}
		res.Strategies = append(res.Strategies, sc)
	}
	if !r.opts.Start.IsZero() {
		res.Start = r.opts.Start.UTC()
	} else if r.origin >= 0 {
		res.Start = time.Unix(0, r.origin).UTC()
	}
	if !r.opts.End.IsZero() {
		res.End = r.opts.End.UTC()
	} else if len(r.days) > 0 {
		res.End = r.days[len(r.days)-1].Date.Add(24 * time.Hour)
	}
	return res
}

// recordLines is the number of cache lines a traces.Record spans.
const recordLines = (int(unsafe.Sizeof(traces.Record{})) + 63) / 64

// Records is a Source over records in memory, for replays that run many times over one trace
// (sweeps, Monte Carlo) and for benchmarks.
type Records struct {
	recs []traces.Record
	i    int
}

// NewRecords returns a Source over recs, which must be in time order. recs is only read.
func NewRecords(recs []traces.Record) *Records { return &Records{recs: recs} }

// Read copies the next record into r, its Prefix into r's own Prefix slice; io.EOF after the last.
func (s *Records) Read(r *traces.Record) error {
	if s.i >= len(s.recs) {
		return io.EOF
	}
	p := r.Prefix[:0]
	*r = s.recs[s.i]
	r.Prefix = append(p, r.Prefix...)
	s.i++
	// A replay does much work between reads, so the hardware does not stream the records in as
	// it does for a tight loop: ask for a record a few calls ahead, and its prefix hashes.
	if j := s.i + 4; j < len(s.recs) {
		prefetch.Lines(unsafe.Pointer(&s.recs[j]), recordLines)
	}
	if j := s.i + 1; j < len(s.recs) {
		if pf := s.recs[j].Prefix; len(pf) > 0 {
			prefetch.Lines(unsafe.Pointer(&pf[0]), (len(pf)*8+63)/64)
		}
	}
	return nil
}
