package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	// batchOps is the number of pending writes that triggers a flush before
	// maxDelay is up.
	batchOps = 256
	// maxPendingOps and maxPendingBytes bound the writes waiting for a flush;
	// beyond them Put and Delete wait for the flush in progress to take the
	// backlog (a store that cannot keep up slows its writers down rather than
	// growing without limit).
	maxPendingOps   = 64 * batchOps
	maxPendingBytes = 64 << 20
)

// ErrFlushFailed is wrapped by the error a [NewBatched] Store returns to
// report writes that were acknowledged but then failed to reach the
// underlying Store.
var ErrFlushFailed = errors.New("store: batched writes failed")

// Flusher is implemented by the Store [NewBatched] returns.
type Flusher interface {
	// Flush writes every Put and Delete made before the call to the
	// underlying Store and returns when they are committed (for bbolt:
	// durable). It returns an error wrapping ErrFlushFailed if this or an
	// earlier unreported batch failed.
	Flush(ctx context.Context) error
}

type batched struct {
	s        Store
	bw       batchWriter // nil: write op by op through s
	now      func() time.Time
	maxDelay time.Duration

	flushMu sync.Mutex // serialises flushes

	mu           sync.Mutex
	pending      map[string]op // newest write per key, not yet taken by a flush
	pendingBytes int
	inflight     map[string]op // writes being committed by the current flush
	room         chan struct{} // closed (and replaced) when pending is emptied
	failed       error         // first unreported flush failure
	lost         int           // writes lost by unreported failures
	closed       bool

	wake chan struct{} // pending became non-empty
	full chan struct{} // pending reached batchOps
	stop chan struct{}
	done chan struct{}
}

// NewBatched returns a Store that acknowledges Put and Delete at once and
// applies them to s in the background, coalescing the writes of all
// goroutines into one batch (for bbolt: one transaction and one fsync) at
// most maxDelay after the first pending write, or as soon as 256 writes are
// pending, whichever comes first. maxDelay 0 means "as soon as the previous
// batch is committed" (pure group commit). Several writes to one key in a
// batch collapse into the last.
//
// Reads see pending writes (read-your-writes): Get consults them before s,
// and Scan first flushes them. Expiry is computed when Put is called, with
// s's clock when it has one (OpenMemory, OpenBolt), else time.Now.
//
// Writes are therefore not durable when Put returns: a crash loses up to
// maxDelay (plus one commit) of them. Use it for data that may be lost, such
// as cached responses, and s itself for data that must not (deferred jobs).
// If a batch fails, its writes are lost and the next Put or Delete (which is
// still queued), Flush or Close returns an error wrapping ErrFlushFailed.
// When more than 16,384 writes or 64 MiB are pending, Put and Delete wait for
// the background writer to catch up (or for ctx to be done).
//
// The returned Store also implements [Flusher]. Its Close flushes pending
// writes and stops the background goroutine; it does not close s, which the
// caller still owns and must close afterwards (s may be shared with
// unbatched users).
func NewBatched(s Store, maxDelay time.Duration) Store {
	b := &batched{
		s:        s,
		now:      time.Now,
		maxDelay: maxDelay,
		pending:  make(map[string]op),
		room:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
		full:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if bw, ok := s.(batchWriter); ok {
		b.bw = bw
	}
	if c, ok := s.(clocked); ok {
		b.now = c.clock
	}
	go b.run()
	return b
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func drain(c chan struct{}) {
	select {
	case <-c:
	default:
	}
}

// run is the background writer.
func (b *batched) run() {
	defer close(b.done)
	for {
		select {
		case <-b.wake:
		case <-b.stop:
			return
		}
		if b.maxDelay > 0 {
			t := time.NewTimer(b.maxDelay)
			select {
			case <-t.C:
			case <-b.full:
				t.Stop()
			case <-b.stop:
				t.Stop()
				return // Close flushes
			}
		}
		b.flush(context.Background())
	}
}

// takeFailure returns and clears the unreported flush failure. b.mu must be held.
func (b *batched) takeFailure() error {
	if b.failed == nil {
		return nil
	}
	err := fmt.Errorf("%w: %d writes lost: %w", ErrFlushFailed, b.lost, b.failed)
	b.failed, b.lost = nil, 0
	return err
}

// flush commits every pending write; a failure is recorded for takeFailure.
func (b *batched) flush(ctx context.Context) {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()

	b.mu.Lock()
	if len(b.pending) == 0 {
		b.mu.Unlock()
		return
	}
	batch := b.pending
	b.inflight = batch
	b.pending = make(map[string]op, len(batch))
	b.pendingBytes = 0
	drain(b.wake)
	drain(b.full)
	close(b.room)
	b.room = make(chan struct{})
	b.mu.Unlock()

	ops := make([]op, 0, len(batch))
	for _, o := range batch {
		ops = append(ops, o)
	}
	slices.SortFunc(ops, func(x, y op) int { return strings.Compare(x.key, y.key) })
	err := b.write(ctx, ops)

	b.mu.Lock()
	b.inflight = nil
	if err != nil {
		if b.failed == nil {
			b.failed = err
		}
		b.lost += len(ops)
	}
	b.mu.Unlock()
}

func (b *batched) write(ctx context.Context, ops []op) error {
	if b.bw != nil {
		return b.bw.writeBatch(ctx, ops)
	}
	var errs []error
	for _, o := range ops {
		var err error
		ttl := time.Duration(0)
		if o.exp != 0 {
			ttl = time.Unix(0, o.exp).Sub(b.now())
		}
		if o.del || ttl < 0 || (o.exp != 0 && ttl == 0) {
			err = b.s.Delete(ctx, o.key)
		} else {
			err = b.s.Put(ctx, o.key, o.val, ttl)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (b *batched) enqueue(ctx context.Context, o op) error {
	b.mu.Lock()
	for {
		if b.closed {
			b.mu.Unlock()
			return ErrClosed
		}
		if len(b.pending) < maxPendingOps && b.pendingBytes < maxPendingBytes {
			break
		}
		room := b.room
		b.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
		b.mu.Lock()
	}
	if old, ok := b.pending[o.key]; ok {
		b.pendingBytes -= len(old.val)
	}
	b.pending[o.key] = o
	b.pendingBytes += len(o.val)
	switch len(b.pending) {
	case 1:
		signal(b.wake)
	case batchOps:
		signal(b.full)
	}
	err := b.takeFailure()
	b.mu.Unlock()
	return err
}

func (b *batched) Put(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if err := checkPut(key, ttl); err != nil {
		return err
	}
	return b.enqueue(ctx, op{key: key, val: clone(val), exp: expiryNanos(b.now(), ttl)})
}

func (b *batched) Delete(ctx context.Context, key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return nil // cannot exist
	}
	return b.enqueue(ctx, op{key: key, del: true})
}

func (b *batched) Get(ctx context.Context, key string) ([]byte, bool, error) {
	now := b.now().UnixNano()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, false, ErrClosed
	}
	o, ok := b.pending[key]
	if !ok {
		o, ok = b.inflight[key]
	}
	b.mu.Unlock()
	if !ok {
		return b.s.Get(ctx, key)
	}
	if o.del || !live(o.exp, now) {
		return nil, false, nil
	}
	return clone(o.val), true, nil
}

// Scan flushes pending writes, then scans s.
func (b *batched) Scan(ctx context.Context, prefix string, fn func(key string, val []byte) bool) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return ErrClosed
	}
	b.flush(ctx) // a failure stays recorded for the next write to report
	return b.s.Scan(ctx, prefix, fn)
}

func (b *batched) Flush(ctx context.Context) error {
	b.flush(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.takeFailure()
}

func (b *batched) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.room) // wake writers waiting for room: they will see closed
	b.room = make(chan struct{})
	b.mu.Unlock()

	close(b.stop)
	<-b.done
	return b.Flush(context.Background())
}
