// Package strategies defines what a cost strategy is, so that one implementation serves both the
// simulator and the live proxy.
//
// A strategy is a Stage: a pure policy that is handed the current time and a Call and returns a
// Decision (go on, serve from cache and stop, or hold the call). It never reads the wall clock,
// never starts goroutines and never does I/O; the driver (sim's event loop, or the live proxy in
// real time) carries the decision out. Optional interfaces add what some stages need:
//
//   - Observer: told the outcome of every call that passed through it, in reverse stage order (the
//     response cache stores answers, the prompt-cache tracker records prefixes, the router may
//     ask for a retry on a stronger model);
//   - Flusher: a stage that holds calls in groups (the batcher) says when it next needs to be woken,
//     and releases calls when woken;
//   - Counting: a stage's own counters (hits, routed share, tokens removed), reported per strategy.
//
// # How a driver runs a stack
//
// The simulator (package sim) and the live proxy carry decisions out the same way:
//
//  1. A call enters at stage 0 at its arrival time, with c.Rec the recorded request, c.Quality 1.
//  2. At stage i the driver calls Handle(now, c). Next: on to stage i+1 at the same instant.
//     Serve: the call completes here (c.Served is set; with c.Leader set through Follow, it
//     completes when its leader does). Hold with Until > 0: the call resumes at stage i+1 at
//     Until. Hold with Until 0: the stage keeps the call; after every Handle and Flush of a
//     Flusher the driver asks Due and wakes the stage with Flush at that time (at the same instant
//     when Due returns now); calls released go on at stage i+1, in release order, except that a
//     released call with c.Served set completes as served (with its leader, when c.Leader is set).
//     Flush's release callback must not call back into the stage.
//  3. After the last stage the call goes upstream at that instant (c.Send): it is priced with the
//     price book at that time (time-of-day windows, the tier in c.Rec.ServiceTier, the tokens in
//     c.Rec), answered after the model's latency (plus c.Turnaround when batched), and its answer is
//     acceptable with probability Upstream.QualityOf(c.Rec.Model, Complexity(&c.Rec)) × c.Quality.
//  4. When the answer is complete, the Observers among the stages the call went through (stages
//     before the one that served it, or all of them) are told, last stage first. An observer that
//     sets Outcome.RetryWith sends the call again on that model: the driver sets c.Rec.Model,
//     increments c.Retries and re-enters the stack at the stage after that observer, and both
//     attempts are paid for.
//
// Stages are single-threaded: the driver never calls a stage concurrently, so stages need no locks.
//
// Stages are built from configuration through the registry (Register, Build): each strategy
// package registers a constructor under its name, and decodes and validates its own settings. The
// order of stages is part of the configuration: a cache in front of the router keys on the
// client's request, not the routed one.
package strategies

import (
	"time"

	"github.com/tarsopt/tarsopt/traces"
)

// Call is one client request on its way through the stages to the provider. The driver owns it;
// stages may change Rec (the model, the tokens, the tier) and the fields they document.
type Call struct {
	// Rec is the request as the stages have shaped it so far. It starts as the recorded call.
	Rec traces.Record
	// OrigModel is the model the client asked for.
	OrigModel string
	// Arrival is when the client sent the call (Unix nanoseconds).
	Arrival int64
	// Key identifies the call for common random numbers: every random draw about this call derives
	// from Key, so that two configurations see the same luck for the same call.
	Key uint64

	// Quality multiplies the probability of an acceptable answer: stages that risk quality (pruning,
	// merging, stale cache hits) lower it. It starts at 1.
	Quality float64

	// Set by the stages that take the call out of the normal path:
	Served     bool   // answered without an upstream call (a cache hit, or a coalesced or merged follower)
	ServedBy   string // the stage that answered it
	Stale      bool   // served from a cache entry older than its freshness
	Deferred   bool   // held into an off-peak window
	Batched    bool   // sent through the Batch API
	Merged     int    // for a merged call: how many client calls it carries (followers are Served)
	Turnaround int64  // for a batched call: extra latency of the Batch API (nanoseconds)
	Routed     bool   // sent to another model than the client asked for
	Pruned     int64  // history tokens removed
	Retries    int    // cascade retries so far

	// Leader is, for a call served by another call's answer (an identical deferred call coalesced
	// into one, or a call merged into a batch), the call whose answer it shares. Set through Follow.
	Leader *Call
	// Followers are the calls that share this call's answer; they complete when it does.
	Followers []*Call

	// Set by the driver:
	Send       int64 // when the call first went upstream (Unix nanoseconds); 0 until then
	At         int   // index of the stage the call is at, or that served it; len(stack) once sent
	OrigOutput int64 // output tokens as recorded, before any stage changed c.Rec.Output
}

// Follow makes c a follower of leader: c is served by leader's answer, with no upstream call of
// its own, and completes when leader does. The stage that calls it returns Serve for c.
func (c *Call) Follow(leader *Call, by string) {
	c.Served, c.ServedBy, c.Leader = true, by, leader
	leader.Followers = append(leader.Followers, c)
}

// Reset prepares c for a new call read from r, with the given key for common random numbers,
// reusing c's memory (its Prefix and Followers slices).
func (c *Call) Reset(r *traces.Record, key uint64) {
	p := c.Rec.Prefix[:0]
	c.Rec = *r
	c.Rec.Prefix = append(p, r.Prefix...)
	c.Begin(key)
}

// Begin prepares c for a new call whose record a reader has just filled into c.Rec, with the given
// key: every field but Rec takes its starting value, without copying the record.
func (c *Call) Begin(key uint64) {
	f := c.Followers[:0]
	clear(c.Followers)
	c.OrigModel, c.OrigOutput, c.Arrival, c.Key, c.Quality = c.Rec.Model, c.Rec.Output, c.Rec.Time.UnixNano(), key, 1
	c.Served, c.ServedBy, c.Stale, c.Deferred, c.Batched, c.Routed = false, "", false, false, false, false
	c.Merged, c.Turnaround, c.Pruned, c.Retries = 0, 0, 0, 0
	c.Leader, c.Followers, c.Send, c.At = nil, f, 0, 0
}

// Time returns t as a time.Time in UTC.
func Time(t int64) time.Time { return time.Unix(0, t).UTC() }

// Action is what a stage decides.
type Action uint8

// Actions.
const (
	// Next passes the call on to the next stage.
	Next Action = iota
	// Serve answers the call now (c.Served is set): no later stage and no upstream call.
	Serve
	// Hold keeps the call until Decision.Until, or, when Until is 0, until the stage releases it
	// through its Flusher. On release the call goes on with the next stage.
	Hold
)

// Decision is a stage's answer about one call.
type Decision struct {
	Action Action
	Until  int64 // Hold: when the call resumes (Unix nanoseconds); 0 means the stage releases it
}

// Stage is one strategy's policy.
type Stage interface {
	// Name is the strategy's registered name.
	Name() string
	// Handle decides about call c at time now. It may change c as its documentation says.
	Handle(now int64, c *Call) Decision
}

// Outcome is what happened to a call upstream (or how it was served).
type Outcome struct {
	OK        bool    // the answer was acceptable (the quality draw succeeded)
	P         float64 // the probability that it would be
	Failed    bool    // the provider returned an error
	Done      int64   // when the answer was complete (Unix nanoseconds)
	Output    int64   // output tokens of the answer
	RetryWith string  // set by an observer: send the call again on this model (a cascade)
}

// Observer is a stage that learns from outcomes. Observe is called after the call completes, for
// the stages the call passed through, last stage first.
type Observer interface {
	Observe(now int64, c *Call, o *Outcome)
}

// Flusher is a stage that holds calls in groups and releases them on its own schedule.
type Flusher interface {
	// Due returns when the stage next needs to be woken, if it holds anything.
	Due() (int64, bool)
	// Flush releases, through release, the calls due at now, in the order they are to go on.
	Flush(now int64, release func(*Call))
}

// Count is one counter of a stage.
type Count struct {
	Name  string
	Value float64
}

// Counting is a stage with counters of its own.
type Counting interface {
	Counters() []Count
}
