// Package analysis turns replays into answers: it replays one trace, held in memory, through many
// configurations in parallel, and compares them (paired per-day differences with bootstrap
// confidence intervals) and attributes a configuration's saving to its strategies (exact Shapley
// values).
//
// The package knows configurations only as Scenarios: a name and a function that builds a fresh
// stack of stages. The command line builds Scenarios from the config package, so that analysis
// depends on sim, strategies, traces and pricing only (ARCHITECTURE.md).
//
// Every result is deterministic: the replays share nothing, each draws its random numbers from its
// scenario's seed (common random numbers, see sim), and the bootstrap draws from a seeded source, so
// the same inputs give the same bytes whatever the number of workers.
package analysis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/sim"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// Trace is a trace held in memory, to be replayed many times. Its records are read only.
type Trace struct {
	Name    string
	Records []traces.Record
	Meta    traces.Meta
	Stats   traces.Stats // what reading it skipped, by reason
}

// Load reads the whole trace at name into memory.
func Load(name string, opts traces.Options) (*Trace, error) {
	src, err := traces.Open(name, opts)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	t := &Trace{Name: name, Meta: src.Meta()}
	var r traces.Record
	for {
		err := src.Read(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		t.Records = append(t.Records, r.Clone())
	}
	t.Stats = src.Stats()
	if len(t.Records) == 0 {
		return nil, fmt.Errorf("%s: no records", name)
	}
	return t, nil
}

// Scenario is one configuration to replay.
type Scenario struct {
	// Name labels the scenario in results.
	Name string
	// Stages builds a fresh stack (stages keep state, so every replay needs its own); nil or an
	// empty stack is the baseline.
	Stages func(env strategies.Env) ([]strategies.Stage, error)
	// Upstream is the provider model, and Seed the seed of the common random numbers.
	Upstream *strategies.Upstream
	Seed     uint64
}

// Runner replays scenarios over a trace.
type Runner struct {
	Book *pricing.Book
	// ZeroUnknown prices models the book does not know at $0 (see sim.Options).
	ZeroUnknown bool
	// Workers is how many replays run at once; 0 means GOMAXPROCS.
	Workers int
	// Progress, when set, is called after each replay with the number done and the number to do.
	// It is called from one goroutine at a time.
	Progress func(done, total int)
}

// Run replays tr through every scenario, in parallel, and returns the results in scenario order.
// It stops at the first error, or when ctx is done; results of replays that finished are kept
// (nil for the others), so that a caller may report a partial answer.
func (rn *Runner) Run(ctx context.Context, tr *Trace, scs []Scenario) ([]*sim.Result, error) {
	if rn.Book == nil {
		return nil, errors.New("analysis: Runner.Book is required")
	}
	res := make([]*sim.Result, len(scs))
	errs := make([]error, len(scs))
	workers := rn.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(scs))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next, done atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(scs) || ctx.Err() != nil {
					return
				}
				res[i], errs[i] = rn.replay(ctx, tr, &scs[i])
				if errs[i] != nil {
					cancel()
					return
				}
				n := int(done.Add(1))
				if rn.Progress != nil {
					mu.Lock()
					rn.Progress(n, len(scs))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return res, fmt.Errorf("%s: %w", scs[i].Name, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// Replay replays tr through one scenario.
func (rn *Runner) Replay(ctx context.Context, tr *Trace, sc *Scenario) (*sim.Result, error) {
	if rn.Book == nil {
		return nil, errors.New("analysis: Runner.Book is required")
	}
	return rn.replay(ctx, tr, sc)
}

func (rn *Runner) replay(ctx context.Context, tr *Trace, sc *Scenario) (*sim.Result, error) {
	env := strategies.Env{Book: rn.Book, Upstream: sc.Upstream, BlockSize: tr.Meta.BlockSize, Seed: sc.Seed}
	var stack []strategies.Stage
	if sc.Stages != nil {
		var err error
		if stack, err = sc.Stages(env); err != nil {
			return nil, err
		}
	}
	return sim.Run(ctx, sim.NewRecords(tr.Records), stack, sim.Options{Book: rn.Book, Upstream: sc.Upstream,
		Seed: sc.Seed, ZeroUnknown: rn.ZeroUnknown, Start: tr.Meta.Start, End: tr.Meta.End})
}

// SliceDays returns the part of t from day from to day to (0-based, to exclusive) of its window
// (its metadata's, else from the first call's day), with the window set to those days. The
// records are shared, not copied.
func (t *Trace) SliceDays(from, to int) *Trace {
	start := t.Meta.Start
	if start.IsZero() {
		first := t.Records[0].Time.UTC()
		start = time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, time.UTC)
	}
	lo, hi := start.AddDate(0, 0, from), start.AddDate(0, 0, to)
	i, _ := slices.BinarySearchFunc(t.Records, lo, func(r traces.Record, x time.Time) int { return r.Time.Compare(x) })
	j, _ := slices.BinarySearchFunc(t.Records, hi, func(r traces.Record, x time.Time) int { return r.Time.Compare(x) })
	m := t.Meta
	m.Start, m.End = lo, hi
	return &Trace{Name: fmt.Sprintf("%s[days %d-%d]", t.Name, from, to), Records: t.Records[i:j], Meta: m}
}

// NumDays returns the days of t's window (its metadata's, else from the first call's day to the
// last's).
func (t *Trace) NumDays() int {
	if !t.Meta.Start.IsZero() && t.Meta.End.After(t.Meta.Start) {
		return max(1, int((t.Meta.End.Sub(t.Meta.Start)+24*time.Hour-1)/(24*time.Hour)))
	}
	first := t.Records[0].Time.UTC()
	start := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, time.UTC)
	return int(t.Records[len(t.Records)-1].Time.Sub(start)/(24*time.Hour)) + 1
}
