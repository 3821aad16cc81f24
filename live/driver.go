package live

import (
	"sync"
	"time"

	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/strategies/responsecache"
)

// driver runs the strategy stack in real time, as package strategies describes: the same stages
// the simulator runs, called under one mutex (stages are single-threaded), with holds carried out
// by sleeping (Hold until a time) or by waiting for the stage to release the call (Hold with a
// Flusher, woken by a timer at its Due time).
type driver struct {
	mu        sync.Mutex
	stages    []strategies.Stage
	names     []string
	observers []strategies.Observer
	flushers  []strategies.Flusher
	off       []bool // switched off by a rollback trigger or an admin call

	cache   *responsecache.Stage // nil when the response cache is not in the stack
	removed []bodyKey            // answers the cache dropped since the last take, under mu

	held    map[*strategies.Call]chan struct{} // calls a Flusher holds, closed on release
	timer   *time.Timer
	timerAt int64
	now     func() int64
}

// bodyKey identifies a stored answer's body: the response cache's key.
type bodyKey struct {
	tenant, model string
	fp            uint64
}

func newDriver(stages []strategies.Stage, now func() int64) *driver {
	d := &driver{stages: stages, now: now, held: map[*strategies.Call]chan struct{}{}}
	d.names = make([]string, len(stages))
	d.observers = make([]strategies.Observer, len(stages))
	d.flushers = make([]strategies.Flusher, len(stages))
	d.off = make([]bool, len(stages))
	for i, s := range stages {
		d.names[i] = s.Name()
		d.observers[i], _ = s.(strategies.Observer)
		d.flushers[i], _ = s.(strategies.Flusher)
		if rc, ok := s.(*responsecache.Stage); ok {
			d.cache = rc
			rc.OnRemove(func(tenant string, fp uint64, model string) {
				d.removed = append(d.removed, bodyKey{tenant: tenant, model: model, fp: fp})
			})
		}
	}
	return d
}

// stepKind is what advance leaves a call to do.
type stepKind uint8

const (
	stepSend  stepKind = iota // past the last stage: send it upstream
	stepServe                 // served by the stage at index stage
	stepSleep                 // held until a time; resume at stage+1
	stepWait                  // held by a Flusher; wait for release, then resume at stage+1
)

type step struct {
	kind  stepKind
	stage int
	until int64         // stepSleep: Unix nanoseconds
	wait  chan struct{} // stepWait: closed when the stage releases the call
	age   int64         // stepServe by the response cache: the answer's age, nanoseconds
}

// advance runs c through the stages from index from at time now, until one serves or holds it, or
// it passes the last.
func (d *driver) advance(now int64, c *strategies.Call, from int) step {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := from; i < len(d.stages); i++ {
		c.At = i
		if d.off[i] {
			continue
		}
		dec := d.stages[i].Handle(now, c)
		switch dec.Action {
		case strategies.Serve:
			st := step{kind: stepServe, stage: i}
			if d.stages[i] == strategies.Stage(d.cache) {
				st.age = d.cache.LastAge()
			}
			d.rearm(i)
			return st
		case strategies.Hold:
			if dec.Until > 0 {
				return step{kind: stepSleep, stage: i, until: dec.Until}
			}
			ch := make(chan struct{})
			d.held[c] = ch
			d.rearm(i)
			return step{kind: stepWait, stage: i, wait: ch}
		}
		d.rearm(i)
	}
	c.At = len(d.stages)
	return step{kind: stepSend}
}

// rearm sets the wake-up timer after stage i was handled, when it is a Flusher that holds calls.
// Under d.mu.
func (d *driver) rearm(i int) {
	f := d.flushers[i]
	if f == nil {
		return
	}
	due, ok := f.Due()
	if !ok {
		return
	}
	if d.timer != nil && d.timerAt <= due {
		return
	}
	if d.timer != nil {
		d.timer.Stop()
	}
	d.timerAt = due
	d.timer = time.AfterFunc(time.Duration(max(due-d.now(), 0)), d.wake)
}

// wake flushes every Flusher that is due, releasing the calls it lets go, and sets the next timer.
func (d *driver) wake() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.timer = nil
	now := d.now()
	next := int64(-1)
	for i, f := range d.flushers {
		if f == nil {
			continue
		}
		for {
			due, ok := f.Due()
			if !ok {
				break
			}
			if due > now {
				if next < 0 || due < next {
					next = due
				}
				break
			}
			f.Flush(now, func(c *strategies.Call) {
				if ch, ok := d.held[c]; ok {
					delete(d.held, c)
					close(ch)
				}
			})
			_ = i
		}
	}
	if next >= 0 {
		d.timerAt = next
		d.timer = time.AfterFunc(time.Duration(max(next-now, 0)), d.wake)
	}
}

// observe tells the observers among the stages c went through about its outcome, last stage
// first; it returns the model to retry on when one asks for a cascade (and the stage to resume
// after), and whether the response cache stored the answer.
func (d *driver) observe(now int64, c *strategies.Call, o *strategies.Outcome) (retry string, resume int, stored bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := min(c.At, len(d.stages)) - 1; i >= 0; i-- {
		obs := d.observers[i]
		if obs == nil || d.off[i] {
			continue
		}
		obs.Observe(now, c, o)
		if d.stages[i] == strategies.Stage(d.cache) && d.cache.LastStored() {
			stored = true
		}
		if o.RetryWith != "" {
			return o.RetryWith, i + 1, stored
		}
	}
	return "", 0, stored
}

// takeRemoved returns the answers the cache dropped since the last call, for their bodies to be
// deleted.
func (d *driver) takeRemoved() []bodyKey {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.removed
	d.removed = nil
	return r
}

// setOff switches the named strategy off (or back on); it reports whether the stack has it.
func (d *driver) setOff(name string, off bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	found := false
	for i, n := range d.names {
		if n == name {
			d.off[i], found = off, true
		}
	}
	return found
}

// isOff reports whether the named strategy is switched off.
func (d *driver) isOff(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, n := range d.names {
		if n == name {
			return d.off[i]
		}
	}
	return false
}

// counters returns each stage's counters, by stage name.
func (d *driver) counters() map[string][]strategies.Count {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string][]strategies.Count{}
	for i, s := range d.stages {
		if cs, ok := s.(strategies.Counting); ok {
			out[d.names[i]] = cs.Counters()
		}
	}
	return out
}

// stop stops the wake-up timer.
func (d *driver) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}
