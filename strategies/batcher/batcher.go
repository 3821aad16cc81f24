// Package batcher holds calls that may wait and sends them in groups, in one of two modes.
//
// batch_api (the default): eligible calls are queued, one queue per tenant (calls of different
// tenants are sent with different API keys, so they never share a batch), and a queue is sent to
// the provider's Batch API when it holds max_size calls (at that instant) or when its oldest call
// has waited window_s. Released calls are billed at the price book's batch prices
// (c.Rec.ServiceTier = batch) and answered after an extra turnaround drawn from a log-normal
// distribution (c.Turnaround). Calls whose model the price book has no batch price for pass.
//
// merge: eligible calls built on the same template (same tenant, model and query type, and the
// same prompt up to the end of the system prompt, as the prefix hash at that block boundary says)
// are held up to window_s or until max_calls are held, then sent as one call: the first carries
// the system prompt once, every member's own prompt tokens and the sum of their outputs; the
// others are served by its answer. Merging risks quality: every member's c.Quality is multiplied by
// 1 - merge_penalty.
//
// A call is eligible when its priority is one of the configured ones (calls without a priority
// are not), it may wait (max_delay present and positive) and the delay it has left when it
// reaches the stage (arrival + max_delay - now: a call deferred by an earlier stage has less)
// is at least min_max_delay_s.
//
// # Driver contract
//
// Held calls (Hold with Until 0) are released through Flush, at the time Due names. In merge mode
// the followers of a merged call are released with c.Served set and c.Leader pointing at the merged
// call: the driver must complete a released call whose Served is set as served (with its leader)
// instead of passing it on to the next stage. The release function must not call back into the
// stage.
package batcher

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// Name is the strategy's registered name.
const Name = "batcher"

// Modes.
const (
	ModeBatchAPI = "batch_api" // send queues through the provider's Batch API
	ModeMerge    = "merge"     // merge calls built on one template into one call
)

// maxSeconds bounds durations in settings (about three years), so that nanoseconds fit an int64.
const maxSeconds = 1e8

// maxModels bounds the memo of the price book's batch prices by model name.
const maxModels = 4096

func init() {
	strategies.Register(strategies.Def{
		Name:     Name,
		Summary:  "batch processing: send calls that may wait through the Batch API, or merge calls built on one template",
		Defaults: func() strategies.Settings { return Defaults() },
		Build:    build,
	})
}

// Turnaround is the Batch API's extra latency: log-normal with the given median and sigma (of the
// underlying normal), capped at MaxS.
type Turnaround struct {
	MedianS float64 `json:"median_s"` // median turnaround, seconds
	Sigma   float64 `json:"sigma"`    // spread: standard deviation of the log of the turnaround
	MaxS    float64 `json:"max_s"`    // cap, seconds (Anthropic and OpenAI promise 24 hours)
}

// Settings configures the batcher (the object under strategies.batcher).
type Settings struct {
	strategies.Common
	// Mode is "batch_api" or "merge".
	Mode string `json:"mode"`
	// Priorities are the priorities (traces.Priority names) of the calls that may be held; calls
	// without a priority never are.
	Priorities []string `json:"priorities"`
	// MinMaxDelayS is the least delay, in seconds, a call must have left when it reaches the stage
	// (arrival + max_delay - now) to be held.
	MinMaxDelayS float64 `json:"min_max_delay_s"`
	// MaxSize is the number of calls at which a batch_api queue is sent at once.
	MaxSize int `json:"max_size"`
	// WindowS is the longest a call is held, in seconds: a queue is sent when its oldest call has
	// waited this long.
	WindowS float64 `json:"window_s"`
	// Turnaround is the Batch API's extra latency (batch_api mode).
	Turnaround Turnaround `json:"turnaround"`
	// MaxCalls is the number of calls at which a merge group is sent at once (merge mode).
	MaxCalls int `json:"max_calls"`
	// MergePenalty is the share by which merging lowers each member's chance of an acceptable
	// answer (merge mode): c.Quality *= 1 - merge_penalty.
	MergePenalty float64 `json:"merge_penalty"`
}

// Defaults returns the batcher's default settings, disabled: batch_api mode, low and normal
// priorities, at least 15 minutes of delay left, batches of 100 or 5 minutes, turnaround of median
// 2 minutes (sigma 1, at most 24 hours); in merge mode groups of 5 and a 3% quality penalty.
func Defaults() *Settings {
	return &Settings{
		Mode:         ModeBatchAPI,
		Priorities:   []string{"low", "normal"},
		MinMaxDelayS: 900,
		MaxSize:      100,
		WindowS:      300,
		Turnaround:   Turnaround{MedianS: 120, Sigma: 1, MaxS: 86400},
		MaxCalls:     5,
		MergePenalty: 0.03,
	}
}

// Validate returns the first problem of s, its message starting with the JSON path of the key.
func (s *Settings) Validate() error {
	if s.Mode != ModeBatchAPI && s.Mode != ModeMerge {
		return strategies.Errorf("mode", "want %q or %q, got %q", ModeBatchAPI, ModeMerge, s.Mode)
	}
	if _, err := priorities(s.Priorities); err != nil {
		return err
	}
	if !(s.MinMaxDelayS >= 0 && s.MinMaxDelayS <= maxSeconds) {
		return strategies.Errorf("min_max_delay_s", "must be between 0 and %g seconds, got %g", float64(maxSeconds), s.MinMaxDelayS)
	}
	if s.MaxSize < 1 {
		return strategies.Errorf("max_size", "must be at least 1, got %d", s.MaxSize)
	}
	if !(s.WindowS > 0 && s.WindowS <= maxSeconds) {
		return strategies.Errorf("window_s", "must be positive and at most %g seconds, got %g", float64(maxSeconds), s.WindowS)
	}
	t := s.Turnaround
	if !(t.MedianS > 0 && t.MedianS <= maxSeconds) {
		return strategies.Errorf("turnaround.median_s", "must be positive and at most %g seconds, got %g", float64(maxSeconds), t.MedianS)
	}
	if !(t.Sigma >= 0 && t.Sigma <= 10) {
		return strategies.Errorf("turnaround.sigma", "must be between 0 and 10, got %g", t.Sigma)
	}
	if !(t.MaxS >= t.MedianS && t.MaxS <= maxSeconds) {
		return strategies.Errorf("turnaround.max_s", "must be at least turnaround.median_s (%g) and at most %g seconds, got %g", t.MedianS, float64(maxSeconds), t.MaxS)
	}
	if s.MaxCalls < 2 {
		return strategies.Errorf("max_calls", "must be at least 2, got %d", s.MaxCalls)
	}
	if !(s.MergePenalty >= 0 && s.MergePenalty <= 1) {
		return strategies.Errorf("merge_penalty", "must be between 0 and 1, got %g", s.MergePenalty)
	}
	return nil
}

// priorities returns the set of priorities named in names, indexed by traces.Priority.
func priorities(names []string) (set [4]bool, err error) {
	if len(names) == 0 {
		return set, strategies.Errorf("priorities", "must name at least one priority (urgent, normal or low)")
	}
	for i, n := range names {
		p, ok := traces.ParsePriority(n)
		if !ok || int(p) >= len(set) {
			return set, strategies.Errorf("priorities["+strconv.Itoa(i)+"]", "unknown priority %q (want urgent, normal or low)", n)
		}
		set[p] = true
	}
	return set, nil
}

func build(ss strategies.Settings, env strategies.Env) (strategies.Stage, error) {
	s, ok := ss.(*Settings)
	if !ok {
		return nil, fmt.Errorf("batcher: settings of type %T, want *batcher.Settings", ss)
	}
	return New(s, env)
}

// New returns a batcher for settings s. It uses env.Book to tell which models have batch prices
// (with a nil Book every model is taken to have them), env.BlockSize to find the system prompt's
// boundary in prompt prefixes (with 0, no call is mergeable) and env.Seed for turnaround draws.
func New(s *Settings, env strategies.Env) (*Stage, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	st := &Stage{
		merge:     s.Mode == ModeMerge,
		minRemain: int64(s.MinMaxDelayS * float64(time.Second)),
		window:    int64(s.WindowS * float64(time.Second)),
		median:    s.Turnaround.MedianS,
		sigma:     s.Turnaround.Sigma,
		maxTurn:   s.Turnaround.MaxS,
		keep:      1 - s.MergePenalty,
		seed:      env.Seed,
		book:      env.Book,
		block:     int64(env.BlockSize),
		models:    map[string][]period{},
		index:     map[groupKey]int32{},
		lastGroup: -1,
	}
	st.prio, _ = priorities(s.Priorities)
	st.size = s.MaxSize
	if st.merge {
		st.size = s.MaxCalls
	}
	return st, nil
}

// groupKey identifies a queue: the tenant in batch_api mode; the template in merge mode.
type groupKey struct {
	tenant string
	model  string
	qt     traces.QueryType
	hash   uint64 // prefix hash at the end of the system prompt
}

// group is one queue of held calls, in hold order.
type group struct {
	key   groupKey
	calls []*strategies.Call
	due   int64  // when it is to be released
	seq   uint64 // creation order, to break ties between equal due times
	pos   int32  // position in the heap
	open  bool   // index maps key to this group (it has not filled up)
}

// period is one price period of a model: whether the book has batch prices for it.
type period struct {
	from, until int64 // Unix nanoseconds; math.MinInt64 and math.MaxInt64 when open
	batch       bool
}

// Stage is the batcher. It implements strategies.Stage, strategies.Flusher and
// strategies.Counting. It is not safe for concurrent use (drivers never call a stage
// concurrently).
//
// Held calls live in groups (a slab reused through a free list); index maps each key to its open
// group (a group that reached its size is closed: it waits for Flush, and a new call of the same
// key opens another); a binary heap orders groups by (due, seq) so that Due is O(1) and Flush
// O(log n) per group released.
type Stage struct {
	merge     bool
	prio      [4]bool
	minRemain int64 // nanoseconds
	size      int   // max_size, or max_calls in merge mode
	window    int64 // nanoseconds

	median, sigma, maxTurn float64 // turnaround, seconds
	keep                   float64 // 1 - merge_penalty
	seed                   uint64
	book                   *pricing.Book
	block                  int64
	models                 map[string][]period

	groups []group
	free   []int32
	// index maps each key to its open group. A group that closes (fills up or is released) keeps
	// its key, and index its entry, until the group's slot is reused, so that a key whose group
	// opens and closes call after call (a sparse trace: one call per window) costs one map lookup,
	// not an insert and a delete; an entry whose group is closed or holds another key is stale.
	// Every entry names a group slot whose key is the entry's, so index holds at most one entry
	// per slot.
	index map[groupKey]int32
	// lastGroup is the group the last held call joined, or -1: valid while that group is open.
	lastGroup int32
	heap      []int32
	seq       uint64

	seen, notEligible, noBatchPrice, notMergeable int64
	batched, batches, late                        int64
	mergedCalls, merges, unmerged, tokensSaved    int64
}

// Name returns "batcher".
func (s *Stage) Name() string { return Name }

// Handle holds an eligible call (Hold with Until 0) in its queue, or passes it on (Next). A queue
// that reaches its size is due at once (Due returns now).
func (s *Stage) Handle(now int64, c *strategies.Call) strategies.Decision {
	s.seen++
	r := &c.Rec
	if int(r.Priority) >= len(s.prio) || !s.prio[r.Priority] || !r.Has(traces.FieldMaxDelay) || r.MaxDelay <= 0 ||
		c.Arrival+int64(r.MaxDelay)-now < s.minRemain {
		s.notEligible++
		return strategies.Decision{Action: strategies.Next}
	}
	var k groupKey
	if s.merge {
		h, ok := s.template(r)
		if !ok {
			s.notMergeable++
			return strategies.Decision{Action: strategies.Next}
		}
		k = groupKey{tenant: r.Tenant, model: r.Model, qt: r.QueryType, hash: h}
	} else {
		if !s.batchPriced(r.Model, now) {
			s.noBatchPrice++
			return strategies.Decision{Action: strategies.Next}
		}
		k = groupKey{tenant: r.Tenant}
	}
	// Most calls join the group the previous call joined (one tenant, in batch_api mode): check it
	// before hashing the key.
	gi, ok := s.lastGroup, false
	if gi >= 0 && int(gi) < len(s.groups) && s.groups[gi].open && s.groups[gi].key == k {
		ok = true
	} else {
		gi, ok = s.index[k]
	}
	if !ok || !s.groups[gi].open {
		gi = s.open(k, now, ok, gi)
	}
	s.lastGroup = gi
	g := &s.groups[gi]
	g.calls = append(g.calls, c)
	if len(g.calls) >= s.size {
		g.open = false // its index entry stays, stale
		if g.due > now {
			g.due = now
			s.up(int(g.pos))
		}
	}
	return strategies.Decision{Action: strategies.Hold}
}

// template returns the prefix hash at the end of r's system prompt: Prefix[k-1] with k the number
// of whole blocks in SystemTokens. ok is false when r has no such hash.
func (s *Stage) template(r *traces.Record) (uint64, bool) {
	if s.block <= 0 || !r.Has(traces.FieldSystemTokens) {
		return 0, false
	}
	k := r.SystemTokens / s.block
	if k < 1 || k > int64(len(r.Prefix)) {
		return 0, false
	}
	return r.Prefix[k-1], true
}

// batchPriced reports whether the price of model in force at now has batch prices (a batch factor
// or explicit batch rates). Unknown models have none.
func (s *Stage) batchPriced(model string, now int64) bool {
	if s.book == nil {
		return true
	}
	ps, ok := s.models[model]
	if !ok {
		if len(s.models) >= maxModels {
			clear(s.models)
		}
		for _, p := range s.book.Prices(model) {
			q := period{batch: !p.Batch.IsZero()}
			q.from, q.until = p.Period()
			if _, ok := p.Tiers[traces.TierBatch]; ok {
				q.batch = true
			}
			ps = append(ps, q)
		}
		s.models[model] = ps
	}
	if len(ps) == 0 {
		return false
	}
	// The period in force, else the nearest one, as pricing.Book.Lookup chooses.
	for _, p := range ps {
		if now >= p.from && now < p.until {
			return p.batch
		}
	}
	if now < ps[0].from {
		return ps[0].batch
	}
	return ps[len(ps)-1].batch
}

// open starts a new group for key k with its first call held at now, and returns its index.
// indexed and stale say whether index has a (stale) entry for k, and which group it names.
func (s *Stage) open(k groupKey, now int64, indexed bool, stale int32) int32 {
	var gi int32
	if n := len(s.free); n > 0 {
		gi = s.free[n-1]
		s.free = s.free[:n-1]
		if old := s.groups[gi].key; old != k {
			if j, held := s.index[old]; held && j == gi {
				delete(s.index, old) // the stale entry of the slot's former key
			}
		}
	} else {
		s.groups = append(s.groups, group{})
		gi = int32(len(s.groups) - 1)
	}
	g := &s.groups[gi]
	g.key, g.due, g.seq, g.open = k, now+s.window, s.seq, true
	s.seq++
	g.pos = int32(len(s.heap))
	s.heap = append(s.heap, gi)
	s.up(int(g.pos))
	if !indexed || stale != gi {
		s.index[k] = gi
	}
	return gi
}

// Due returns when the earliest group is to be released: its first hold plus window_s, or the
// instant it filled up.
func (s *Stage) Due() (int64, bool) {
	if len(s.heap) == 0 {
		return 0, false
	}
	return s.groups[s.heap[0]].due, true
}

// Flush releases every group due at now (full or timed out), in order of due time then creation,
// each group's calls in hold order. In batch_api mode every call is marked batched; in merge mode
// a group of two or more calls is merged into its first call, whose followers are released served.
func (s *Stage) Flush(now int64, release func(*strategies.Call)) {
	for len(s.heap) > 0 {
		gi := s.heap[0]
		if s.groups[gi].due > now {
			return
		}
		s.pop()
		s.groups[gi].open = false // its index entry stays, stale
		if s.merge {
			s.releaseMerged(gi, release)
		} else {
			s.releaseBatch(now, gi, release)
		}
		g := &s.groups[gi]
		clear(g.calls)
		g.calls = g.calls[:0] // g.key stays until the slot is reused: index may name it
		s.free = append(s.free, gi)
	}
}

// releaseBatch sends group gi through the Batch API.
func (s *Stage) releaseBatch(now int64, gi int32, release func(*strategies.Call)) {
	s.batches++
	for i := 0; i < len(s.groups[gi].calls); i++ {
		c := s.groups[gi].calls[i]
		c.Batched = true
		c.Rec.ServiceTier = traces.TierBatch
		c.Turnaround = s.turnaround(c.Key)
		if now+c.Turnaround-c.Arrival > int64(c.Rec.MaxDelay) {
			s.late++
		}
		s.batched++
		release(c)
	}
}

// turnaround draws the Batch API's turnaround for the call with key, in nanoseconds:
// median × exp(sigma × z), z standard normal from the call's common random number, capped.
func (s *Stage) turnaround(key uint64) int64 {
	z := strategies.Normal(strategies.Draw(s.seed, key, strategies.DrawTurnaround))
	t := math.Min(s.median*math.Exp(s.sigma*z), s.maxTurn)
	return int64(t * float64(time.Second))
}

// releaseMerged sends group gi as one call when it holds two or more, else its call unchanged.
func (s *Stage) releaseMerged(gi int32, release func(*strategies.Call)) {
	calls := s.groups[gi].calls
	n := len(calls)
	if n == 1 {
		s.unmerged++
		release(calls[0])
		return
	}
	leader := calls[0]
	r := &leader.Rec
	split := r.Has(traces.FieldHistoryTokens) && r.Has(traces.FieldNewTokens)
	reasoning := r.Has(traces.FieldReasoning)
	for _, f := range calls[1:] {
		fr := &f.Rec
		own := max(fr.PromptTokens()-fr.SystemTokens, 0) // the member's prompt past the system prompt
		r.Input += own
		r.Output += fr.Output
		if fr.Has(traces.FieldReasoning) {
			r.Reasoning += fr.Reasoning
			reasoning = true
		}
		if split {
			h := min(max(fr.HistoryTokens, 0), own)
			r.HistoryTokens += h
			r.NewTokens += own - h
		}
		s.tokensSaved += fr.SystemTokens
	}
	r.Set(traces.FieldInput)
	r.Set(traces.FieldOutput)
	if reasoning {
		r.Set(traces.FieldReasoning)
	}
	// The merged prompt shares the system blocks; its later blocks are new.
	r.Prefix = r.Prefix[:r.SystemTokens/s.block]
	// The merged request is not the recorded one: its identity and recorded outcome do not apply.
	r.Unset(traces.FieldFingerprint)
	r.Unset(traces.FieldLatency)
	r.Unset(traces.FieldTTFT)
	r.Unset(traces.FieldCost)
	leader.Merged = n
	leader.Quality *= s.keep
	s.merges++
	s.mergedCalls += int64(n)
	release(leader)
	for _, f := range calls[1:] {
		f.Quality *= s.keep
		f.Follow(leader, Name)
		release(f)
	}
}

// Counters returns the stage's counters:
//   - batched (calls sent through the Batch API, or carried by a merged call in merge mode) and
//     batched_share (of the calls seen);
//   - batches (Batch API batches, or merged calls in merge mode) and mean_batch_size;
//   - late: batched calls whose answer, after the turnaround, comes later than arrival +
//     max_delay (model latency not counted);
//   - no_batch_price: eligible calls passed on because the price book has no batch price for
//     their model; not_eligible: calls passed on for their priority or delay; not_mergeable:
//     eligible calls passed on in merge mode for want of a system-prompt prefix hash;
//   - merged_calls (client calls carried by merged calls), merges (merged calls sent), unmerged
//     (calls held but released alone) and tokens_saved (system-prompt tokens not re-sent).
func (s *Stage) Counters() []strategies.Count {
	batched, batches := s.batched, s.batches
	if s.merge {
		batched, batches = s.mergedCalls, s.merges
	}
	share, mean := 0.0, 0.0
	if s.seen > 0 {
		share = float64(batched) / float64(s.seen)
	}
	if batches > 0 {
		mean = float64(batched) / float64(batches)
	}
	return []strategies.Count{
		{Name: "batched", Value: float64(batched)},
		{Name: "batched_share", Value: share},
		{Name: "batches", Value: float64(batches)},
		{Name: "mean_batch_size", Value: mean},
		{Name: "late", Value: float64(s.late)},
		{Name: "no_batch_price", Value: float64(s.noBatchPrice)},
		{Name: "not_eligible", Value: float64(s.notEligible)},
		{Name: "not_mergeable", Value: float64(s.notMergeable)},
		{Name: "merged_calls", Value: float64(s.mergedCalls)},
		{Name: "merges", Value: float64(s.merges)},
		{Name: "unmerged", Value: float64(s.unmerged)},
		{Name: "tokens_saved", Value: float64(s.tokensSaved)},
	}
}

// less orders heap entries by due time, then creation.
func (s *Stage) less(i, j int) bool {
	a, b := &s.groups[s.heap[i]], &s.groups[s.heap[j]]
	return a.due < b.due || a.due == b.due && a.seq < b.seq
}

func (s *Stage) swap(i, j int) {
	s.heap[i], s.heap[j] = s.heap[j], s.heap[i]
	s.groups[s.heap[i]].pos = int32(i)
	s.groups[s.heap[j]].pos = int32(j)
}

func (s *Stage) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			return
		}
		s.swap(i, p)
		i = p
	}
}

func (s *Stage) down(i int) {
	n := len(s.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && s.less(r, l) {
			m = r
		}
		if !s.less(m, i) {
			return
		}
		s.swap(i, m)
		i = m
	}
}

// pop removes the heap's top.
func (s *Stage) pop() {
	n := len(s.heap) - 1
	s.swap(0, n)
	s.heap = s.heap[:n]
	if n > 0 {
		s.down(0)
	}
}
