package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// fakeClock is an injectable clock for expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// backend opens a fresh, empty Store for one test and returns a function
// that moves its clock forward.
type backend struct {
	name    string
	ordered bool // Scan visits keys in key order
	open    func(t testing.TB) (Store, func(time.Duration))
}

// closeBoth closes a NewBatched Store and then the Store under it.
type closeBoth struct {
	Store
	under Store
}

func (c closeBoth) Flush(ctx context.Context) error { return c.Store.(Flusher).Flush(ctx) }

func (c closeBoth) Close() error {
	return errors.Join(c.Store.Close(), c.under.Close())
}

func openTestBolt(t testing.TB, now func() time.Time) Store {
	t.Helper()
	s, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"), now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openTestRedis(t testing.TB) (Store, *miniredis.Miniredis) {
	t.Helper()
	m := miniredis.RunT(t)
	s, err := OpenRedis("redis://" + m.Addr() + "/0")
	if err != nil {
		t.Fatal(err)
	}
	return s, m
}

func batchedBolt(maxDelay time.Duration) func(t testing.TB) (Store, func(time.Duration)) {
	return func(t testing.TB) (Store, func(time.Duration)) {
		c := newFakeClock()
		under := openTestBolt(t, c.now)
		return closeBoth{NewBatched(under, maxDelay), under}, c.advance
	}
}

var backends = []backend{
	{"memory", true, func(t testing.TB) (Store, func(time.Duration)) {
		c := newFakeClock()
		return OpenMemory(c.now), c.advance
	}},
	{"bolt", true, func(t testing.TB) (Store, func(time.Duration)) {
		c := newFakeClock()
		return openTestBolt(t, c.now), c.advance
	}},
	{"redis", false, func(t testing.TB) (Store, func(time.Duration)) {
		s, m := openTestRedis(t)
		return s, m.FastForward
	}},
	// Writes mostly still pending when read back.
	{"batched-bolt", true, batchedBolt(time.Hour)},
	// Writes mostly already committed when read back.
	{"batched-bolt-eager", true, batchedBolt(0)},
}

// forEach runs test against a fresh Store of every backend.
func forEach(t *testing.T, test func(t *testing.T, s Store, advance func(time.Duration), ordered bool)) {
	for _, be := range backends {
		t.Run("backend="+be.name, func(t *testing.T) {
			t.Parallel()
			s, advance := be.open(t)
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			test(t, s, advance, be.ordered)
		})
	}
}

// flush commits a batched Store's pending writes; other Stores are left alone.
func flush(t *testing.T, s Store) {
	t.Helper()
	if f, ok := s.(Flusher); ok {
		if err := f.Flush(context.Background()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
	}
}

func mustPut(t *testing.T, s Store, key, val string, ttl time.Duration) {
	t.Helper()
	if err := s.Put(context.Background(), key, []byte(val), ttl); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func wantGet(t *testing.T, s Store, key, want string, wantOK bool) {
	t.Helper()
	got, ok, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if ok != wantOK || string(got) != want {
		t.Fatalf("Get(%q) = %q, %v; want %q, %v", key, got, ok, want, wantOK)
	}
}

type kv struct{ k, v string }

func scanAll(t *testing.T, s Store, prefix string, ordered bool) []kv {
	t.Helper()
	var got []kv
	err := s.Scan(context.Background(), prefix, func(k string, v []byte) bool {
		got = append(got, kv{k, string(v)})
		return true
	})
	if err != nil {
		t.Fatalf("Scan(%q): %v", prefix, err)
	}
	if ordered {
		if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i].k < got[j].k }) {
			t.Fatalf("Scan(%q) not in key order: %v", prefix, got)
		}
	} else {
		slices.SortFunc(got, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	}
	return got
}

func TestBasic(t *testing.T) {
	forEach(t, func(t *testing.T, s Store, _ func(time.Duration), _ bool) {
		ctx := context.Background()
		wantGet(t, s, "k", "", false)
		mustPut(t, s, "k", "v1", 0)
		wantGet(t, s, "k", "v1", true)
		mustPut(t, s, "k", "v2", 0) // overwrite
		wantGet(t, s, "k", "v2", true)
		flush(t, s)
		wantGet(t, s, "k", "v2", true)
		if err := s.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		wantGet(t, s, "k", "", false)
		flush(t, s)
		wantGet(t, s, "k", "", false)
		if err := s.Delete(ctx, "never-there"); err != nil {
			t.Fatalf("Delete of absent key: %v", err)
		}

		// Empty and binary values round-trip.
		mustPut(t, s, "empty", "", 0)
		wantGet(t, s, "empty", "", true)
		bin := string([]byte{0, 1, 2, 255, 0})
		mustPut(t, s, "bin\x00key", bin, 0)
		wantGet(t, s, "bin\x00key", bin, true)
		flush(t, s)
		wantGet(t, s, "empty", "", true)
		wantGet(t, s, "bin\x00key", bin, true)

		// Bad arguments.
		if err := s.Put(ctx, "", []byte("x"), 0); err == nil {
			t.Error("Put with empty key: no error")
		}
		if err := s.Put(ctx, "neg", []byte("x"), -time.Second); err == nil {
			t.Error("Put with negative ttl: no error")
		}
		if err := s.Put(ctx, strings.Repeat("k", MaxKeyLen+1), []byte("x"), 0); err == nil {
			t.Error("Put with over-long key: no error")
		}
		long := strings.Repeat("k", MaxKeyLen)
		mustPut(t, s, long, "longest", 0)
		flush(t, s)
		wantGet(t, s, long, "longest", true)
	})
}

func TestExpiry(t *testing.T) {
	forEach(t, func(t *testing.T, s Store, advance func(time.Duration), ordered bool) {
		mustPut(t, s, "minute", "m", time.Minute)
		mustPut(t, s, "forever", "f", 0)
		mustPut(t, s, "hour", "h", time.Hour)
		mustPut(t, s, "renewed", "r", time.Minute)
		flush(t, s) // these go through the backend's own expiry
		mustPut(t, s, "pending", "p", time.Minute)

		advance(59 * time.Second)
		wantGet(t, s, "minute", "m", true)
		wantGet(t, s, "pending", "p", true)
		mustPut(t, s, "renewed", "r2", time.Minute) // overwrite resets the ttl
		mustPut(t, s, "hour", "h2", 0)              // overwrite without ttl removes it

		advance(2 * time.Second)
		wantGet(t, s, "minute", "", false)
		wantGet(t, s, "pending", "", false)
		wantGet(t, s, "forever", "f", true)
		wantGet(t, s, "renewed", "r2", true)
		got := scanAll(t, s, "", ordered)
		want := []kv{{"forever", "f"}, {"hour", "h2"}, {"renewed", "r2"}}
		if !slices.Equal(got, want) {
			t.Fatalf("Scan after expiry = %v, want %v", got, want)
		}

		advance(1000 * time.Hour)
		wantGet(t, s, "renewed", "", false)
		wantGet(t, s, "hour", "h2", true)
		wantGet(t, s, "forever", "f", true)

		// Putting again after expiry brings a key back.
		mustPut(t, s, "minute", "m2", time.Minute)
		wantGet(t, s, "minute", "m2", true)
	})
}

func TestScan(t *testing.T) {
	forEach(t, func(t *testing.T, s Store, _ func(time.Duration), ordered bool) {
		ctx := context.Background()
		for _, k := range []string{"job/3", "job/1", "cache/a", "job/2", "job", "jobs/1", "x*[1", "xy1", "x*[", "x\\1"} {
			mustPut(t, s, k, "v:"+k, 0)
		}
		got := scanAll(t, s, "job/", ordered)
		want := []kv{{"job/1", "v:job/1"}, {"job/2", "v:job/2"}, {"job/3", "v:job/3"}}
		if !slices.Equal(got, want) {
			t.Fatalf("Scan(job/) = %v, want %v", got, want)
		}
		if got := scanAll(t, s, "", ordered); len(got) != 10 {
			t.Fatalf("Scan(\"\") found %d keys, want 10: %v", len(got), got)
		}
		if got := scanAll(t, s, "nothing/", ordered); len(got) != 0 {
			t.Fatalf("Scan(nothing/) = %v", got)
		}
		// Glob metacharacters in the prefix are literal (Redis uses MATCH).
		got = scanAll(t, s, "x*[", ordered)
		want = []kv{{"x*[", "v:x*["}, {"x*[1", "v:x*[1"}}
		if !slices.Equal(got, want) {
			t.Fatalf("Scan(x*[) = %v, want %v", got, want)
		}
		if got := scanAll(t, s, "x\\", ordered); len(got) != 1 || got[0].k != "x\\1" {
			t.Fatalf("Scan(x\\) = %v", got)
		}

		// Stop early.
		var n int
		var first []string
		err := s.Scan(ctx, "job", func(k string, v []byte) bool {
			n++
			first = append(first, k)
			return n < 2
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("Scan called fn %d times after it returned false on call 2", n)
		}
		if ordered && !slices.Equal(first, []string{"job", "job/1"}) {
			t.Fatalf("Scan(job) stopped early visited %v", first)
		}

		// fn may delete what it is given (draining a job queue).
		err = s.Scan(ctx, "job/", func(k string, v []byte) bool {
			if err := s.Delete(ctx, k); err != nil {
				t.Errorf("Delete(%q) inside Scan: %v", k, err)
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := scanAll(t, s, "job/", ordered); len(got) != 0 {
			t.Fatalf("after draining, Scan(job/) = %v", got)
		}
		wantGet(t, s, "job", "v:job", true)

		// A scan longer than one internal chunk.
		for i := range 300 {
			mustPut(t, s, fmt.Sprintf("many/%04d", i), "v", 0)
		}
		got = scanAll(t, s, "many/", ordered)
		if len(got) != 300 {
			t.Fatalf("Scan(many/) found %d keys, want 300", len(got))
		}
		for i, e := range got {
			if w := fmt.Sprintf("many/%04d", i); e.k != w {
				t.Fatalf("Scan(many/)[%d] = %q, want %q", i, e.k, w)
			}
		}

		// A cancelled context stops the scan.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Scan(cctx, "many/", func(string, []byte) bool { return true }); !errors.Is(err, context.Canceled) {
			t.Fatalf("Scan with cancelled ctx: err = %v, want context.Canceled", err)
		}
	})
}

func TestNoAliasing(t *testing.T) {
	forEach(t, func(t *testing.T, s Store, _ func(time.Duration), _ bool) {
		ctx := context.Background()
		in := []byte("original")
		if err := s.Put(ctx, "k", in, 0); err != nil {
			t.Fatal(err)
		}
		copy(in, "CLOBBERD")
		wantGet(t, s, "k", "original", true)

		got, _, err := s.Get(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		copy(got, "CLOBBERD")
		wantGet(t, s, "k", "original", true)

		var kept []byte
		err = s.Scan(ctx, "", func(k string, v []byte) bool {
			kept = v
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		copy(kept, "CLOBBERD")
		wantGet(t, s, "k", "original", true)
		mustPut(t, s, "k2", "other", 0)
		if string(kept) != "CLOBBERD" {
			t.Fatalf("value kept from Scan changed to %q", kept)
		}
		flush(t, s)
		wantGet(t, s, "k", "original", true)
	})
}

func TestConcurrent(t *testing.T) {
	forEach(t, func(t *testing.T, s Store, _ func(time.Duration), ordered bool) {
		ctx := context.Background()
		const goroutines, iters = 16, 12
		var wg sync.WaitGroup
		errc := make(chan error, goroutines)
		for g := range goroutines {
			wg.Go(func() {
				err := func() error {
					for i := range iters {
						k := fmt.Sprintf("g%02d/%03d", g, i)
						v := []byte(fmt.Sprintf("value %d %d", g, i))
						if err := s.Put(ctx, k, v, time.Hour); err != nil {
							return err
						}
						got, ok, err := s.Get(ctx, k)
						if err != nil {
							return err
						}
						if !ok || !bytes.Equal(got, v) {
							return fmt.Errorf("Get(%q) = %q, %v right after Put", k, got, ok)
						}
						if err := s.Put(ctx, "shared", v, 0); err != nil {
							return err
						}
						if _, _, err := s.Get(ctx, "shared"); err != nil {
							return err
						}
						if i%3 == 0 {
							if err := s.Delete(ctx, k); err != nil {
								return err
							}
						}
						if i%4 == 0 {
							err := s.Scan(ctx, fmt.Sprintf("g%02d/", g), func(string, []byte) bool { return true })
							if err != nil {
								return err
							}
						}
					}
					return nil
				}()
				if err != nil {
					errc <- err
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		flush(t, s)
		for g := range goroutines {
			got := scanAll(t, s, fmt.Sprintf("g%02d/", g), ordered)
			if want := iters - (iters+2)/3; len(got) != want {
				t.Fatalf("goroutine %d left %d keys, want %d: %v", g, len(got), want, got)
			}
		}
		v, ok, err := s.Get(ctx, "shared")
		if err != nil || !ok || !strings.HasPrefix(string(v), "value ") {
			t.Fatalf("Get(shared) = %q, %v, %v", v, ok, err)
		}
	})
}

func TestClosed(t *testing.T) {
	for _, be := range backends {
		t.Run("backend="+be.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, _ := be.open(t)
			mustPut(t, s, "k", "v", 0)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if _, _, err := s.Get(ctx, "k"); !errors.Is(err, ErrClosed) {
				t.Errorf("Get after Close: %v, want ErrClosed", err)
			}
			if err := s.Put(ctx, "k", nil, 0); !errors.Is(err, ErrClosed) {
				t.Errorf("Put after Close: %v, want ErrClosed", err)
			}
			if err := s.Scan(ctx, "", func(string, []byte) bool { return true }); !errors.Is(err, ErrClosed) {
				t.Errorf("Scan after Close: %v, want ErrClosed", err)
			}
		})
	}
}

func miniredisT(t *testing.T) *miniredis.Miniredis { return miniredis.RunT(t) }
