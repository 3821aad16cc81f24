package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gonum.org/v1/gonum/stat"

	"github.com/tarsopt/tarsopt/internal/hash64"
	"github.com/tarsopt/tarsopt/internal/u64map"
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/traces"
)

// Draw is what one Monte Carlo sample replays: the baseline and the configured scenario with the
// sample's drawn settings (Runner.MonteCarlo sets their seeds), a factor on costs (price change and
// traffic growth) and a factor on the trace's repeat rate.
type Draw struct {
	Baseline, Configured Scenario
	// CostFactor multiplies both replays' costs: (1 + price change) × (1 + traffic growth).
	CostFactor float64
	// RepeatRate scales the share of calls that repeat an earlier request; 1 leaves the trace as
	// it is.
	RepeatRate float64
	// Values are the drawn inputs, for the report (in the order the caller names them).
	Values []float64
}

// MonteCarlo configures a Monte Carlo run.
type MonteCarlo struct {
	Samples int
	Seed    uint64
	// Bootstrap resamples the trace for every sample: "days", "sessions" or "none".
	Bootstrap string
	// Thresholds are the reductions x for P(reduction ≥ x).
	Thresholds []float64
	// Draw returns sample i's scenarios, drawing from rng (seeded from Seed and i alone, so that a
	// sample draws the same whatever worker runs it). It is called from several goroutines.
	Draw func(i int, rng *rand.Rand) (Draw, error)
}

// Sample is the outcome of one Monte Carlo sample.
type Sample struct {
	BaselinePerDay float64 // USD per day, after CostFactor
	CostPerDay     float64 // the configured replay's, USD per day, after CostFactor
	Reduction      float64 // 1 − configured / baseline
	Quality        float64 // the configured replay's quality score
	P95MS          float64 // the configured replay's p95 interactive latency, ms
	Values         []float64
	// Calls is the number of calls the sample replayed. A resample of a sparse trace can draw
	// only empty days; such a sample has costs (zero) but no reduction, quality or latency, and
	// the statistics of those leave it out.
	Calls int64
}

// Stats summarise one output over the samples.
type Stats struct {
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
	SE   float64 `json:"se"` // standard error of the mean
	Min  float64 `json:"min"`
	P5   float64 `json:"p5"`
	P25  float64 `json:"p25"`
	P50  float64 `json:"p50"`
	P75  float64 `json:"p75"`
	P95  float64 `json:"p95"`
	Max  float64 `json:"max"`
}

// Checkpoint is the state of the estimates after the first Samples samples: how they settle as
// samples are added.
type Checkpoint struct {
	Samples       int                `json:"samples"`
	ReductionMean float64            `json:"reduction_mean"`
	ReductionSE   float64            `json:"reduction_se"`
	PReductionGE  map[string]float64 `json:"p_reduction_ge"`
}

// MCResult is what a Monte Carlo run measured.
type MCResult struct {
	Samples     []Sample // in sample order; only the completed ones when the run was interrupted
	Replays     int
	Interrupted bool
	Thresholds  []float64
}

// ThresholdKey formats a threshold as the keys of P(reduction ≥ x): at least two decimals ("0.30",
// "0.422").
func ThresholdKey(x float64) string {
	s := strconv.FormatFloat(x, 'f', -1, 64)
	dot := strings.IndexByte(s, '.')
	if dot < 0 {
		return s + ".00"
	}
	for len(s)-dot-1 < 2 {
		s += "0"
	}
	return s
}

// quantile returns the p-quantile of sorted xs, interpolating linearly between the order statistics
// (the definition numpy, R (type 7) and spreadsheets use by default: the median of 0..100 is 50).
func quantile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	h := p * float64(len(xs)-1)
	i := int(math.Floor(h))
	if i >= len(xs)-1 {
		return xs[len(xs)-1]
	}
	return xs[i] + (h-float64(i))*(xs[i+1]-xs[i])
}

// StatsOf summarises xs (percentiles by quantile).
func StatsOf(xs []float64) Stats {
	if len(xs) == 0 {
		return Stats{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	q := func(p float64) float64 { return quantile(s, p) }
	mean, sd := stat.MeanStdDev(s, nil)
	if len(s) < 2 {
		sd = 0
	}
	return Stats{Mean: mean, SD: sd, SE: sd / math.Sqrt(float64(len(s))), Min: s[0], P5: q(0.05), P25: q(0.25),
		P50: q(0.5), P75: q(0.75), P95: q(0.95), Max: s[len(s)-1]}
}

// Field returns one output of every sample: "baseline_daily_cost_usd", "daily_cost_usd",
// "reduction", "quality_score" or "latency_p95_ms".
func (r *MCResult) Field(name string) []float64 {
	return r.field(name, len(r.Samples))
}

// field is Field over the first n samples.
func (r *MCResult) field(name string, n int) []float64 {
	out := make([]float64, 0, n)
	for _, s := range r.Samples[:min(n, len(r.Samples))] {
		switch name {
		case "baseline_daily_cost_usd":
			out = append(out, s.BaselinePerDay)
		case "daily_cost_usd":
			out = append(out, s.CostPerDay)
		case "saving_usd_per_day":
			out = append(out, s.BaselinePerDay-s.CostPerDay)
		case "reduction", "quality_score", "latency_p95_ms":
			if s.Calls == 0 {
				continue // undefined without traffic
			}
			switch name {
			case "reduction":
				out = append(out, s.Reduction)
			case "quality_score":
				out = append(out, s.Quality)
			default:
				out = append(out, s.P95MS)
			}
		default:
			panic("analysis: no Monte Carlo field " + name)
		}
	}
	return out
}

// Empty returns the number of samples whose resample held no call.
func (r *MCResult) Empty() int {
	n := 0
	for _, s := range r.Samples {
		if s.Calls == 0 {
			n++
		}
	}
	return n
}

// PReductionGE returns, for each threshold, the share of samples whose reduction reached it, keyed
// by ThresholdKey.
func (r *MCResult) PReductionGE(n int) map[string]float64 {
	out := map[string]float64{}
	red := r.field("reduction", n)
	for _, x := range r.Thresholds {
		k := 0
		for _, v := range red {
			if v >= x {
				k++
			}
		}
		p := 0.0
		if len(red) > 0 {
			p = float64(k) / float64(len(red))
		}
		out[ThresholdKey(x)] = p
	}
	return out
}

// Convergence returns the estimates after 10, 20, 50, 100, 200, 500, ... samples and after all of
// them.
func (r *MCResult) Convergence() []Checkpoint {
	var out []Checkpoint
	add := func(n int) {
		red := r.field("reduction", n)
		if len(red) == 0 {
			return
		}
		mean, sd := stat.MeanStdDev(red, nil)
		if len(red) < 2 {
			sd = 0
		}
		out = append(out, Checkpoint{Samples: n, ReductionMean: mean, ReductionSE: sd / math.Sqrt(float64(len(red))), PReductionGE: r.PReductionGE(n)})
	}
	total := len(r.Samples)
	for base := 10; base < total; base *= 10 {
		for _, m := range []int{1, 2, 5} {
			if n := base * m; n < total {
				add(n)
			}
		}
	}
	if total > 0 {
		add(total)
	}
	return out
}

// MonteCarlo runs the samples in parallel. Each sample resamples the trace (mc.Bootstrap),
// rewrites its repeats (Draw.RepeatRate), and replays it through the sample's baseline and
// configured scenarios with the sample's own random numbers, shared by the two. When ctx is done
// it stops and returns the samples completed before the first one missing, with Interrupted set.
func (rn *Runner) MonteCarlo(ctx context.Context, tr *Trace, mc MonteCarlo) (*MCResult, error) {
	if rn.Book == nil {
		return nil, errors.New("analysis: Runner.Book is required")
	}
	if mc.Samples < 1 {
		return nil, errors.New("analysis: Monte Carlo needs at least one sample")
	}
	if len(tr.Records) == 0 {
		return nil, errors.New("analysis: Monte Carlo over a trace without calls")
	}
	if !slices.Contains([]string{"days", "sessions", "none", ""}, mc.Bootstrap) {
		return nil, fmt.Errorf("analysis: unknown bootstrap %q", mc.Bootstrap)
	}
	samples := make([]*Sample, mc.Samples)
	errs := make([]error, mc.Samples)
	workers := rn.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, mc.Samples)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	days := newDayIndex(tr)
	sessions := newSessionIndex(tr)
	var next, done atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []traces.Record
			var scratch repeatScratch
			for {
				i := int(next.Add(1) - 1)
				if i >= mc.Samples || ctx.Err() != nil {
					return
				}
				samples[i], buf, errs[i] = rn.sample(ctx, tr, &mc, i, days, sessions, buf, &scratch)
				if errs[i] != nil {
					cancel()
					return
				}
				n := int(done.Add(1))
				if rn.Progress != nil {
					mu.Lock()
					rn.Progress(n, mc.Samples)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	res := &MCResult{Thresholds: mc.Thresholds}
	for _, s := range samples {
		if s == nil {
			res.Interrupted = true
			break
		}
		res.Samples = append(res.Samples, *s)
	}
	res.Replays = 2 * len(res.Samples)
	for i, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
	}
	if len(res.Samples) == 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// sample runs sample i, reusing buf for its trace.
func (rn *Runner) sample(ctx context.Context, tr *Trace, mc *MonteCarlo, i int, days *dayIndex, sessions *sessionIndex, buf []traces.Record, scratch *repeatScratch) (*Sample, []traces.Record, error) {
	rng := rand.New(rand.NewPCG(mc.Seed, uint64(i)))
	seed := rng.Uint64()
	d, err := mc.Draw(i, rng)
	if err != nil {
		return nil, buf, err
	}
	recs := tr.Records
	switch mc.Bootstrap {
	case "days":
		buf = days.resample(rng, buf[:0])
		recs = buf
	case "sessions":
		buf = sessions.resample(rng, buf[:0])
		recs = buf
	}
	if d.RepeatRate != 1 && d.RepeatRate > 0 && len(recs) > 0 {
		if mc.Bootstrap == "none" || mc.Bootstrap == "" { // recs is the trace itself: rewrite a copy
			buf = append(buf[:0], tr.Records...)
			recs = buf
		}
		rewriteRepeats(recs, d.RepeatRate, rng, scratch)
	}
	// Per-day figures divide by the trace's days, whatever days the resample happens to fill.
	m := tr.Meta
	m.Start, m.End = days.start, days.start.AddDate(0, 0, len(days.from)-1)
	t := &Trace{Name: tr.Name, Records: recs, Meta: m}
	d.Baseline.Seed, d.Configured.Seed = seed, seed
	smp, err := rn.outcome(ctx, t, &d)
	return smp, buf, err
}

// Pair replays tr, its repeats rewritten by d.RepeatRate (drawing from seed), through d's baseline
// and configured scenarios with the seeds they carry, and returns the outcome: one Monte Carlo
// sample without the draws, for sensitivity analyses.
func (rn *Runner) Pair(ctx context.Context, tr *Trace, d Draw, seed uint64) (*Sample, error) {
	if rn.Book == nil {
		return nil, errors.New("analysis: Runner.Book is required")
	}
	t := tr
	if d.RepeatRate != 1 && d.RepeatRate > 0 {
		t = &Trace{Name: tr.Name, Records: slices.Clone(tr.Records), Meta: tr.Meta}
		rewriteRepeats(t.Records, d.RepeatRate, rand.New(rand.NewPCG(seed, 0x70616972)), nil) // "pair"
	}
	return rn.outcome(ctx, t, &d)
}

// outcome replays t through d's two scenarios.
func (rn *Runner) outcome(ctx context.Context, t *Trace, d *Draw) (*Sample, error) {
	b, err := rn.replay(ctx, t, &d.Baseline)
	if err != nil {
		return nil, err
	}
	c, err := rn.replay(ctx, t, &d.Configured)
	if err != nil {
		return nil, err
	}
	f := d.CostFactor
	if f == 0 {
		f = 1
	}
	cs := c.Summary(false)
	nd := float64(b.NumDays())
	s := &Sample{
		BaselinePerDay: f * float64(b.Total.Cost.Total()) / float64(money.Dollar) / nd,
		CostPerDay:     f * float64(c.Total.Cost.Total()) / float64(money.Dollar) / nd,
		Quality:        cs.QualityScore, P95MS: cs.LatencyP95MS, Values: d.Values, Calls: c.Total.Calls,
	}
	if bt := b.Total.Cost.Total(); bt != 0 {
		s.Reduction = 1 - float64(c.Total.Cost.Total())/float64(bt)
	}
	return s, nil
}

// dayIndex holds where each day of a trace starts, for the day bootstrap.
type dayIndex struct {
	recs      []traces.Record
	start     time.Time // midnight of the first day
	from      []int     // from[d]: index of day d's first record; from[len] = len(recs)
	recurring recurring
}

// recurring holds the fingerprints a trace's traffic repeats across blocks (days or sessions):
// requests such as heartbeats and templates that come back whatever the day. A resampled block's
// copy keeps them, so that it repeats them as new traffic would, and makes its other requests its
// own, so that it does not repeat its original's one-off requests.
type recurring map[uint64]bool

// newRecurring returns the fingerprints found in more than one block; block(i) names record i's.
func newRecurring(recs []traces.Record, block func(i int) int) recurring {
	first := map[uint64]int{}
	out := recurring{}
	for i := range recs {
		if !recs[i].Has(traces.FieldFingerprint) {
			continue
		}
		fp, b := recs[i].Fingerprint, block(i)
		if f, ok := first[fp]; !ok {
			first[fp] = b
		} else if f != b {
			out[fp] = true
		}
	}
	return out
}

func newDayIndex(tr *Trace) *dayIndex {
	x := &dayIndex{recs: tr.Records}
	first := tr.Records[0].Time.UTC()
	x.start = time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, time.UTC)
	if s := tr.Meta.Start; !s.IsZero() && s.Before(x.start) {
		x.start = time.Date(s.Year(), s.Month(), s.Day(), 0, 0, 0, 0, time.UTC)
	}
	n := int(tr.Records[len(tr.Records)-1].Time.Sub(x.start).Hours()/24) + 1
	if e := tr.Meta.End; !e.IsZero() {
		n = max(n, int(math.Ceil(e.Sub(x.start).Hours()/24)))
	}
	x.from = make([]int, n+1)
	// from[d] is the first record at or after day d's midnight.
	for d := range n {
		x.from[d], _ = slices.BinarySearchFunc(tr.Records, x.start.AddDate(0, 0, d), func(r traces.Record, t time.Time) int { return r.Time.Compare(t) })
	}
	x.from[n] = len(tr.Records)
	d := 0
	x.recurring = newRecurring(tr.Records, func(i int) int {
		for d+1 < n && i >= x.from[d+1] {
			d++
		}
		return d
	})
	return x
}

// BlockDays returns the block length of the day bootstrap for a trace of n days: the cube root of
// n, rounded (3 days for a month), the usual order for a moving-block bootstrap.
func BlockDays(n int) int { return max(1, int(math.Round(math.Cbrt(float64(n))))) }

// resample appends to out a resample of the trace's days: a moving-block bootstrap, blocks of
// BlockDays consecutive days drawn with replacement until the days are filled, each day moved to
// its new place. Blocks keep the days' order within them, so that what one day leaves in a cache
// (a day-long TTL) the next finds, as in the trace. A day drawn more than once has its later copies'
// requests made distinct (see distinguish).
func (x *dayIndex) resample(rng *rand.Rand, out []traces.Record) []traces.Record {
	n := len(x.from) - 1
	l := min(BlockDays(n), n)
	used := make([]int, n)
	for j := 0; j < n; {
		b := rng.IntN(n - l + 1)
		for k := b; k < b+l && j < n; k++ {
			copyN := used[k]
			used[k]++
			shift := time.Duration(j-k) * 24 * time.Hour
			for _, r := range x.recs[x.from[k]:x.from[k+1]] {
				r.Time = r.Time.Add(shift)
				if copyN > 0 {
					distinguish(&r, copyN, x.recurring)
				}
				out = append(out, r)
			}
			j++
		}
	}
	return out
}

// distinguish makes r the copyN-th copy of a request: its own ID and session, and its own
// fingerprint unless the request is a recurring one.
func distinguish(r *traces.Record, copyN int, rec recurring) {
	suffix := "#" + strconv.Itoa(copyN)
	if r.ID != "" {
		r.ID += suffix
	}
	if r.Session != "" {
		r.Session += suffix
	}
	if r.Has(traces.FieldFingerprint) && !rec[r.Fingerprint] {
		r.Fingerprint = hash64.Combine(r.Fingerprint, uint64(copyN))
	}
}

// sessionIndex holds the records of each session, for the session bootstrap. Calls without a
// session are each a session of their own.
type sessionIndex struct {
	recs      []traces.Record
	blocks    [][]int32 // record indices, per session, in time order
	recurring recurring
}

func newSessionIndex(tr *Trace) *sessionIndex {
	x := &sessionIndex{recs: tr.Records}
	at := map[string]int{}
	for i := range tr.Records {
		s := tr.Records[i].Session
		if s == "" {
			x.blocks = append(x.blocks, []int32{int32(i)})
			continue
		}
		key := tr.Records[i].Tenant + "\x00" + s
		b, ok := at[key]
		if !ok {
			b = len(x.blocks)
			at[key] = b
			x.blocks = append(x.blocks, nil)
		}
		x.blocks[b] = append(x.blocks[b], int32(i))
	}
	blockOf := make([]int, len(tr.Records))
	for b, idx := range x.blocks {
		for _, i := range idx {
			blockOf[i] = b
		}
	}
	x.recurring = newRecurring(tr.Records, func(i int) int { return blockOf[i] })
	return x
}

// resample appends to out as many sessions as the trace has, drawn with replacement, each at its
// own times, in time order; later copies of a session are made distinct.
func (x *sessionIndex) resample(rng *rand.Rand, out []traces.Record) []traces.Record {
	n := len(x.blocks)
	used := make([]int, n)
	type ref struct {
		rec  int32
		copy int32
	}
	var refs []ref
	for range n {
		k := rng.IntN(n)
		for _, i := range x.blocks[k] {
			refs = append(refs, ref{i, int32(used[k])})
		}
		used[k]++
	}
	slices.SortStableFunc(refs, func(a, b ref) int {
		if a.rec != b.rec {
			return int(a.rec) - int(b.rec) // records are in time order
		}
		return int(a.copy) - int(b.copy)
	})
	for _, rf := range refs {
		r := x.recs[rf.rec]
		if rf.copy > 0 {
			distinguish(&r, int(rf.copy), x.recurring)
		}
		out = append(out, r)
	}
	return out
}

// repeatScratch is the memory rewriteRepeats reuses from one sample to the next (one per worker).
type repeatScratch struct {
	count  u64map.Map[int32] // fingerprint → calls with it
	seen   u64map.Map[bool]
	recent map[repeatGroup][]uint64
}

type repeatGroup struct {
	tenant string
	qt     traces.QueryType
}

// rewriteRepeats scales the share of requests that repeat an earlier one by factor: below 1, each
// repeat keeps its fingerprint with probability factor (else it becomes a request of its own);
// above 1, requests that occur only once in the trace become repeats of a recent request of the
// same tenant and query type, with the probability that brings the repeat share to factor times
// its recorded value (at most, every such request).
func rewriteRepeats(recs []traces.Record, factor float64, rng *rand.Rand, x *repeatScratch) {
	if x == nil {
		x = &repeatScratch{}
	}
	x.count.Clear()
	x.seen.Clear()
	if x.recent == nil {
		x.recent = map[repeatGroup][]uint64{}
	}
	for g, rs := range x.recent {
		x.recent[g] = rs[:0]
	}
	var withFP int
	for i := range recs {
		if recs[i].Has(traces.FieldFingerprint) {
			withFP++
			n, _ := x.count.Get(recs[i].Fingerprint)
			x.count.Put(recs[i].Fingerprint, n+1)
		}
	}
	if withFP == 0 {
		return
	}
	distinct, singles := 0, 0
	for i := range recs {
		if !recs[i].Has(traces.FieldFingerprint) {
			continue
		}
		if n, _ := x.count.Get(recs[i].Fingerprint); n == 1 {
			singles++
		}
		if !x.seen.Has(recs[i].Fingerprint) {
			distinct++
			x.seen.Put(recs[i].Fingerprint, true)
		}
	}
	repeats := withFP - distinct
	x.seen.Clear()
	pUp := 0.0
	if factor > 1 && singles > 0 {
		pUp = math.Min(1, (factor-1)*float64(repeats)/float64(singles))
	}
	for i := range recs {
		r := &recs[i]
		if !r.Has(traces.FieldFingerprint) {
			continue
		}
		u := rng.Float64()
		g := repeatGroup{r.Tenant, r.QueryType}
		switch n, _ := x.count.Get(r.Fingerprint); {
		case x.seen.Has(r.Fingerprint):
			if factor < 1 && u >= factor {
				r.Fingerprint = hash64.Combine(r.Fingerprint, hash64.String(r.ID)^uint64(i)+0x726570) // "rep"
			}
		case n == 1 && u < pUp && len(x.recent[g]) > 0:
			rs := x.recent[g]
			r.Fingerprint = rs[rng.IntN(len(rs))]
		}
		x.seen.Put(r.Fingerprint, true)
		rs := append(x.recent[g], r.Fingerprint)
		if len(rs) > 64 {
			rs = append(rs[:0], rs[len(rs)-64:]...)
		}
		x.recent[g] = rs
	}
}
