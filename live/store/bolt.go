package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// bucketName is the one bbolt bucket holding every key. Each value is stored
// as an 8-byte big-endian expiry (Unix ns, 0 = none) followed by the value.
var bucketName = []byte("kv")

const (
	headerLen = 8
	// Compile-time check that MaxKeyLen is within bbolt's limit.
	_ = uint(bolt.MaxKeySize - MaxKeyLen)
	// lockTimeout is how long OpenBolt waits for another process to release
	// the file before giving up.
	lockTimeout = time.Second
	// sweepExamine bounds how many entries one sweep looks at, so a sweep
	// over a large file with few expired keys stays cheap; the next sweep
	// resumes where this one stopped.
	sweepExamine = 10 * sweepMax
	// scanChunk and scanChunkBytes bound how much Scan copies out of one read
	// transaction before calling fn (which may then write to the store).
	scanChunk      = 256
	scanChunkBytes = 1 << 20
)

type boltStore struct {
	db     *bolt.DB
	path   string
	now    func() time.Time
	closed atomic.Bool

	// Group commit of Put and Delete (see commit).
	gcMu      sync.Mutex
	gcQueue   []*gcWrite
	gcLeading bool // a caller is committing; new writes queue for it or its successor

	// Guarded by bbolt's writer lock: touched only inside Update.
	puts      int
	sweepFrom []byte // key the next sweep starts at; nil = start of bucket
}

// OpenBolt opens (creating if need be) the bbolt file at path, with the file
// mode 0600 and its parent directory 0700. now is the clock used for expiry
// (nil means time.Now). Put and Delete are durable when they return: each
// commits a transaction, which bbolt fsyncs (typically 1–10 ms on disk).
// Concurrent Puts and Deletes share commits (group commit): writes that
// arrive while a commit is in progress go together into the next one, so a
// lone writer waits for nobody and concurrent writers share fsyncs. For
// writes that need not be durable at once, such as cached responses, put
// [NewBatched] in front. Scan visits keys in key order. ctx is checked only
// by Scan.
//
// Only one process (and only one Store) may have the file open: if another
// holds it, OpenBolt fails after a 1 s wait with the error
// "store: PATH is in use by another process".
//
// Expired values are not returned; their space is reclaimed by a sweep that
// runs inside every 1,000th Put's transaction and deletes up to 1,000 expired
// keys. The store starts no goroutines.
func OpenBolt(path string, now func() time.Time) (Store, error) {
	return openBolt(path, now, false)
}

// openBolt is OpenBolt with bbolt's NoSync switch exposed for benchmarks.
// NoSync is not offered to callers: on power loss it can corrupt the whole
// file, which would take the deferred jobs with it.
func openBolt(path string, now func() time.Time, noSync bool) (Store, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        lockTimeout,
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
		NoSync:         noSync,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("store: %s is in use by another process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return &boltStore{db: db, path: path, now: now}, nil
}

func (s *boltStore) clock() time.Time { return s.now() }

// wrapErr maps bbolt's errors onto the package's.
func (s *boltStore) wrapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return ErrClosed
	default:
		return fmt.Errorf("store: %s: %w", s.path, err)
	}
}

// decode splits a stored value into its expiry and payload.
func decode(v []byte) (exp int64, payload []byte, err error) {
	if len(v) < headerLen {
		return 0, nil, fmt.Errorf("corrupt value of %d bytes (want at least %d)", len(v), headerLen)
	}
	return int64(binary.BigEndian.Uint64(v)), v[headerLen:], nil
}

func encode(exp int64, val []byte) []byte {
	buf := make([]byte, headerLen+len(val))
	binary.BigEndian.PutUint64(buf, uint64(exp))
	copy(buf[headerLen:], val)
	return buf
}

func (s *boltStore) Get(ctx context.Context, key string) (val []byte, ok bool, err error) {
	if s.closed.Load() {
		return nil, false, ErrClosed
	}
	if key == "" || len(key) > MaxKeyLen {
		return nil, false, nil
	}
	now := s.now().UnixNano()
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketName).Get([]byte(key))
		if v == nil {
			return nil
		}
		exp, payload, err := decode(v)
		if err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
		if live(exp, now) {
			val, ok = clone(payload), true
		}
		return nil
	})
	if err != nil {
		return nil, false, s.wrapErr(err)
	}
	return val, ok, nil
}

func (s *boltStore) Put(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if err := checkPut(key, ttl); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return s.commit(op{key: key, val: val, exp: expiryNanos(s.now(), ttl)})
}

func (s *boltStore) Delete(ctx context.Context, key string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if key == "" || len(key) > MaxKeyLen {
		return nil
	}
	return s.commit(op{key: key, del: true})
}

// gcWrite is one Put or Delete waiting in the group-commit queue.
type gcWrite struct {
	op   op
	done chan gcResult // receives exactly one result
}

type gcResult struct {
	err  error
	lead bool // the receiver is to commit the queue, its own write included
}

// commit writes o durably. Concurrent callers share transactions (group
// commit): a caller that finds no commit in progress commits at once; callers
// arriving meanwhile queue, and when that commit is done the first of them
// commits the whole queue in one transaction (one fsync) on behalf of all.
// A lone caller thus pays one commit and waits for nobody; a caller arriving
// during a commit waits for it and then for its own shared one. No goroutine
// is started.
func (s *boltStore) commit(o op) error {
	w := &gcWrite{op: o, done: make(chan gcResult, 1)}
	s.gcMu.Lock()
	s.gcQueue = append(s.gcQueue, w)
	if s.gcLeading {
		s.gcMu.Unlock()
		if r := <-w.done; !r.lead {
			return r.err
		}
		s.gcMu.Lock()
	}
	s.gcLeading = true
	batch := s.gcQueue
	s.gcQueue = nil
	s.gcMu.Unlock()

	ops := make([]op, len(batch))
	for i, b := range batch {
		ops[i] = b.op
	}
	err := s.writeBatch(context.Background(), ops)

	s.gcMu.Lock()
	if len(s.gcQueue) > 0 {
		s.gcQueue[0].done <- gcResult{lead: true}
	} else {
		s.gcLeading = false
	}
	s.gcMu.Unlock()
	for _, b := range batch {
		if b != w {
			b.done <- gcResult{err: err}
		}
	}
	return err
}

// writeBatch applies ops in one transaction (one fsync).
func (s *boltStore) writeBatch(ctx context.Context, ops []op) error {
	if s.closed.Load() {
		return ErrClosed
	}
	now := s.now().UnixNano()
	return s.wrapErr(s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName)
		puts := 0
		for _, o := range ops {
			if o.key == "" || len(o.key) > MaxKeyLen {
				continue // rejected by NewBatched's Put; deletes of such keys are no-ops
			}
			if o.del {
				if err := b.Delete([]byte(o.key)); err != nil {
					return err
				}
				continue
			}
			if err := b.Put([]byte(o.key), encode(o.exp, o.val)); err != nil {
				return err
			}
			puts++
		}
		return s.countPuts(b, puts, now)
	}))
}

// countPuts records n Puts and, every sweepEvery Puts, deletes up to sweepMax
// expired keys within the caller's write transaction.
func (s *boltStore) countPuts(b *bolt.Bucket, n int, now int64) error {
	before := s.puts / sweepEvery
	s.puts += n
	if s.puts/sweepEvery == before {
		return nil
	}
	return s.sweep(b, now)
}

func (s *boltStore) sweep(b *bolt.Bucket, now int64) error {
	var expired [][]byte
	examined := 0
	c := b.Cursor()
	start := s.sweepFrom
	// At most two passes: from sweepFrom to the end, then from the start of
	// the bucket back up to sweepFrom.
	for pass := 0; pass < 2; pass++ {
		var k, v []byte
		if pass == 0 && start != nil {
			k, v = c.Seek(start)
		} else {
			k, v = c.First()
		}
		for ; k != nil; k, v = c.Next() {
			if pass == 1 && start != nil && bytes.Compare(k, start) >= 0 {
				k = nil
				break
			}
			if examined >= sweepExamine || len(expired) >= sweepMax {
				break
			}
			examined++
			exp, _, err := decode(v)
			if err != nil || !live(exp, now) {
				expired = append(expired, clone(k))
			}
		}
		if k != nil {
			s.sweepFrom = clone(k) // stopped early: resume here next time
			break
		}
		s.sweepFrom = nil // reached the end (or the starting point)
		if pass == 0 && start == nil {
			break // the first pass already covered the whole bucket
		}
	}
	for _, k := range expired {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func (s *boltStore) Scan(ctx context.Context, prefix string, fn func(key string, val []byte) bool) error {
	type kv struct {
		k string
		v []byte
	}
	if s.closed.Load() {
		return ErrClosed
	}
	pfx := []byte(prefix)
	seek := pfx
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := s.now().UnixNano()
		var chunk []kv
		more := false
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketName).Cursor()
			n, size := 0, 0
			var k, v []byte
			if len(seek) == 0 {
				k, v = c.First()
			} else {
				k, v = c.Seek(seek)
			}
			for ; k != nil && bytes.HasPrefix(k, pfx); k, v = c.Next() {
				if n >= scanChunk || size >= scanChunkBytes {
					more = true
					break
				}
				n++
				// Resume after this key: the smallest key greater than k is k+"\x00".
				seek = append(clone(k), 0)
				exp, payload, err := decode(v)
				if err != nil {
					return fmt.Errorf("key %q: %w", k, err)
				}
				if !live(exp, now) {
					continue
				}
				size += len(payload)
				chunk = append(chunk, kv{string(k), clone(payload)})
			}
			return nil
		})
		if err != nil {
			return s.wrapErr(err)
		}
		for _, e := range chunk {
			if !fn(e.k, e.v) {
				return nil
			}
		}
		if !more {
			return nil
		}
	}
}

func (s *boltStore) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.wrapErr(s.db.Close())
}
