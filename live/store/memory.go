package store

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// sweepEvery and sweepMax bound the amortised expiry sweep of the memory and
// bbolt backends: every sweepEvery Puts, delete up to sweepMax expired keys.
const (
	sweepEvery = 1000
	sweepMax   = 1000
)

type memEntry struct {
	val []byte
	exp int64 // Unix ns; 0 = none
}

type memStore struct {
	now    func() time.Time
	mu     sync.RWMutex
	m      map[string]memEntry
	puts   int
	closed bool
}

// OpenMemory returns a Store kept in memory, for tests. now is the clock used
// for expiry (nil means time.Now). Scan visits keys in key order.
func OpenMemory(now func() time.Time) Store {
	if now == nil {
		now = time.Now
	}
	return &memStore{now: now, m: make(map[string]memEntry)}
}

func (s *memStore) clock() time.Time { return s.now() }

func (s *memStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	now := s.now().UnixNano()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, false, ErrClosed
	}
	e, ok := s.m[key]
	if !ok || !live(e.exp, now) {
		return nil, false, nil
	}
	return clone(e.val), true, nil
}

func (s *memStore) Put(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if err := checkPut(key, ttl); err != nil {
		return err
	}
	now := s.now()
	e := memEntry{val: clone(val), exp: expiryNanos(now, ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.m[key] = e
	s.countPuts(1, now.UnixNano())
	return nil
}

// countPuts records n Puts and runs the amortised sweep when due. s.mu must be held.
func (s *memStore) countPuts(n int, now int64) {
	before := s.puts / sweepEvery
	s.puts += n
	if s.puts/sweepEvery == before {
		return
	}
	deleted := 0
	for k, e := range s.m {
		if deleted >= sweepMax {
			break
		}
		if !live(e.exp, now) {
			delete(s.m, k)
			deleted++
		}
	}
}

func (s *memStore) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	delete(s.m, key)
	return nil
}

func (s *memStore) writeBatch(ctx context.Context, ops []op) error {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	puts := 0
	for _, o := range ops {
		if o.del {
			delete(s.m, o.key)
			continue
		}
		s.m[o.key] = memEntry{val: o.val, exp: o.exp}
		puts++
	}
	s.countPuts(puts, now)
	return nil
}

func (s *memStore) Scan(ctx context.Context, prefix string, fn func(key string, val []byte) bool) error {
	type kv struct {
		k string
		v []byte
	}
	now := s.now().UnixNano()
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	var snap []kv
	for k, e := range s.m {
		if strings.HasPrefix(k, prefix) && live(e.exp, now) {
			snap = append(snap, kv{k, clone(e.val)})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(snap, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	for _, e := range snap {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !fn(e.k, e.v) {
			return nil
		}
	}
	return nil
}

func (s *memStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.m = nil
	return nil
}
