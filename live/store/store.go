// Package store keeps the live proxy's state that must survive a restart:
// the response cache's answers and the deferred jobs. Backends: in memory
// (tests), bbolt (the default: one file, crash-safe), Redis (several proxies
// sharing one cache).
//
// All backends implement [Store]. Writes to the bbolt and Redis backends are
// durable (as durable as the Redis server is configured to be) when Put or
// Delete returns; [NewBatched] trades that for latency by acknowledging writes
// at once and committing them in groups in the background.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// Store is a key-value store with expiry. Keys and values are bytes; values
// returned are the caller's to keep. Values passed in are copied (or written
// out) before the call returns, so the caller may reuse them. All methods are
// safe for concurrent use by multiple goroutines.
type Store interface {
	// Get returns the value stored under key. ok is false (and err nil) if the
	// key is absent or has expired.
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	// Put stores val under key, replacing any previous value and expiry. The
	// key expires ttl after the call; ttl 0 means no expiry; a negative ttl is
	// an error. Keys must be non-empty and at most MaxKeyLen bytes.
	Put(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Delete removes key. Deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// Scan calls fn for every live key with the given prefix, in key order
	// (bbolt, memory) or any order (Redis), until fn returns false. The empty
	// prefix matches every key. fn may call the Store's other methods
	// (including Delete of the key it was given); keys written during the
	// scan may or may not be visited. val is the caller's to keep.
	Scan(ctx context.Context, prefix string, fn func(key string, val []byte) bool) error
	// Close releases the store's resources. Using the Store after Close
	// returns ErrClosed.
	Close() error
}

// MaxKeyLen is the longest key, in bytes, that Put accepts (bbolt's limit,
// applied to every backend so that they behave alike).
const MaxKeyLen = 32768

// ErrClosed is returned by operations on a Store that has been closed.
var ErrClosed = errors.New("store: closed")

// Open opens the store described by spec, as given on the command line:
//
//   - "" or "bolt": the bbolt file dataDir/state.db (see [OpenBolt]);
//   - "memory": an in-memory store that forgets everything on exit;
//   - "redis://[user:password@]host:port/db" (or "rediss://" for TLS): Redis
//     (see [OpenRedis]).
//
// Expiry uses the wall clock.
func Open(spec string, dataDir string) (Store, error) {
	switch {
	case spec == "" || spec == "bolt":
		if dataDir == "" {
			return nil, errors.New("store: bolt store needs a data directory")
		}
		return OpenBolt(filepath.Join(dataDir, "state.db"), time.Now)
	case spec == "memory":
		return OpenMemory(time.Now), nil
	case strings.HasPrefix(spec, "redis://") || strings.HasPrefix(spec, "rediss://"):
		return OpenRedis(spec)
	default:
		return nil, fmt.Errorf("store: unknown store %s (want \"bolt\", \"memory\" or \"redis://host:port/db\")", redactSpec(spec))
	}
}

// redactSpec renders spec for an error message without any password it
// might contain: if it has user information, only what follows it is shown.
func redactSpec(spec string) string {
	if i := strings.LastIndexByte(spec, '@'); i >= 0 {
		return fmt.Sprintf("%q", "…@"+spec[i+1:])
	}
	return fmt.Sprintf("%q", spec)
}

// redactURL renders u without its password or query.
func redactURL(u *url.URL) string {
	v := *u
	v.RawQuery = ""
	v.ForceQuery = false
	v.Fragment = ""
	v.RawFragment = ""
	return v.Redacted()
}

// checkPut validates the arguments common to every backend's Put.
func checkPut(key string, ttl time.Duration) error {
	if key == "" {
		return errors.New("store: empty key")
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("store: key of %d bytes is longer than the limit of %d", len(key), MaxKeyLen)
	}
	if ttl < 0 {
		return fmt.Errorf("store: negative ttl %v for key %q", ttl, key)
	}
	return nil
}

// expiryNanos returns the expiry time for a value put at now with ttl, as Unix
// nanoseconds; 0 means no expiry.
func expiryNanos(now time.Time, ttl time.Duration) int64 {
	if ttl == 0 {
		return 0
	}
	e := now.Add(ttl).UnixNano()
	if e <= 0 { // clocks before 1970: still "expires", never "no expiry"
		e = 1
	}
	return e
}

// live reports whether a value with expiry exp (Unix ns, 0 = none) is live at now.
func live(exp int64, now int64) bool { return exp == 0 || now < exp }

// clocked is implemented by backends with an injectable clock, so that
// wrappers such as NewBatched can apply expiry with the same clock.
type clocked interface {
	clock() time.Time
}

// op is one write in a batch: a Put (del false) or a Delete.
type op struct {
	key string
	val []byte // owned by the op
	exp int64  // absolute expiry, Unix ns; 0 = none
	del bool
}

// batchWriter is implemented by backends that can apply many writes at once
// (bbolt: one transaction; Redis: one pipeline; memory: one lock).
type batchWriter interface {
	writeBatch(ctx context.Context, ops []op) error
}

func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
