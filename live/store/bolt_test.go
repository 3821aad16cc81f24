package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestBoltReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newFakeClock()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenBolt(path, c.now)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "job/1", "payload", 0)
	mustPut(t, s, "cache/x", "body", time.Minute)
	mustPut(t, s, "gone", "x", 0)
	if err := s.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = OpenBolt(path, c.now)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantGet(t, s, "job/1", "payload", true)
	wantGet(t, s, "cache/x", "body", true)
	wantGet(t, s, "gone", "", false)
	c.advance(time.Minute) // the expiry survived the reopen too
	wantGet(t, s, "cache/x", "", false)
	wantGet(t, s, "job/1", "payload", true)
}

func TestBoltFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "state.db")
	s, err := OpenBolt(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700}, {path, 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^c.mode != 0 {
			t.Errorf("%s has mode %v, want at most %v", c.path, got, c.mode)
		}
	}
}

func TestBoltOpenNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a bolt file\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := OpenBolt(path, nil)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("OpenBolt on garbage: err = %v, want an error naming %s", err, path)
	}
}

// boltCount returns the number of entries (live or expired) in the file.
func boltCount(t *testing.T, s Store) int {
	t.Helper()
	n := 0
	err := s.(*boltStore).db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketName).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBoltSweepEveryThousandPuts(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	s := openTestBolt(t, c.now)
	defer s.Close()
	bs := s.(*boltStore)
	put := func(prefix string, n int, exp int64) {
		t.Helper()
		var ops []op
		for i := range n {
			ops = append(ops, op{key: fmt.Sprintf("%s/%05d", prefix, i), val: []byte("x"), exp: exp})
		}
		if err := bs.writeBatch(context.Background(), ops); err != nil {
			t.Fatal(err)
		}
	}
	// Puts 1..1500: the sweep at the 1000th finds nothing expired yet.
	put("exp", 1500, c.now().Add(time.Second).UnixNano())
	c.advance(2 * time.Second)
	put("live", 499, 0) // Puts 1501..1999: no sweep
	if n := boltCount(t, s); n != 1500+499 {
		t.Fatalf("before the sweep: %d entries, want %d", n, 1500+499)
	}
	mustPut(t, s, "last", "v", 0) // Put 2000 sweeps up to 1000 expired keys
	if n := boltCount(t, s); n != 500+499+1 {
		t.Fatalf("after one sweep: %d entries, want %d", n, 500+499+1)
	}
	wantGet(t, s, "live/00000", "x", true)
	wantGet(t, s, "exp/01499", "", false)
}

func TestBoltSweepResumes(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	s := openTestBolt(t, c.now)
	defer s.Close()
	bs := s.(*boltStore)
	// 11,000 live keys followed by 1,500 expired ones: the first sweep stops
	// after examining 10,000 live keys, the second deletes 1,000 expired keys
	// and stops, the third deletes the remaining 500 and wraps around.
	exp := c.now().Add(time.Second).UnixNano()
	var ops []op
	for i := range 12500 {
		o := op{key: fmt.Sprintf("k/%05d", i), val: []byte("v")}
		if i >= 11000 {
			o.exp = exp
		}
		ops = append(ops, o)
	}
	if err := bs.writeBatch(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Minute)
	now := c.now().UnixNano()
	bs.sweepFrom = nil // forget where writeBatch's own sweep stopped
	var deleted []int
	for range 4 {
		before := boltCount(t, s)
		err := bs.db.Update(func(tx *bolt.Tx) error { return bs.sweep(tx.Bucket(bucketName), now) })
		if err != nil {
			t.Fatal(err)
		}
		deleted = append(deleted, before-boltCount(t, s))
	}
	if want := []int{0, 1000, 500, 0}; !slices.Equal(deleted, want) {
		t.Fatalf("sweeps deleted %v keys, want %v", deleted, want)
	}
	if got := len(scanAll(t, s, "", true)); got != 11000 {
		t.Fatalf("%d live keys after sweeping, want 11000", got)
	}
}

func TestBoltScanChunks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newFakeClock()
	s := openTestBolt(t, c.now)
	defer s.Close()
	exp := c.now().Add(time.Second).UnixNano()
	big := strings.Repeat("b", 8<<10) // 128 of these fill a chunk's byte budget
	var ops []op
	for i := range 1000 {
		o := op{key: fmt.Sprintf("k/%04d", i), val: []byte("small")}
		if i%10 == 0 {
			o.exp = exp
		}
		if i < 300 && i%2 == 1 {
			o.val = []byte(big)
		}
		ops = append(ops, o)
	}
	ops = append(ops, op{key: "k0", val: []byte("after the prefix")}, op{key: "k.", val: []byte("before it")})
	if err := s.(*boltStore).writeBatch(ctx, ops); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Minute)
	got := scanAll(t, s, "k/", true)
	if len(got) != 900 {
		t.Fatalf("Scan(k/) found %d keys, want 900", len(got))
	}
	for i, e := range got {
		n := i + i/9 + 1 // skips every tenth key, which expired
		if w := fmt.Sprintf("k/%04d", n); e.k != w {
			t.Fatalf("Scan(k/)[%d] = %q, want %q", i, e.k, w)
		}
		if wantBig := n < 300 && n%2 == 1; wantBig != (e.v == big) {
			t.Fatalf("Scan(k/)[%d] has a value of %d bytes", i, len(e.v))
		}
	}
	// Delete some keys while scanning, across chunk boundaries.
	n := 0
	err := s.Scan(ctx, "k/0", func(k string, v []byte) bool {
		n++
		if n%20 == 0 {
			if err := s.Delete(ctx, k); err != nil {
				t.Error(err)
			}
		}
		return true
	})
	if err != nil || n != 900 {
		t.Fatalf("deleting Scan visited %d keys, err %v; want 900", n, err)
	}
	if got := scanAll(t, s, "", true); len(got) != 900-45+2 {
		t.Fatalf("after deleting: %d keys, want %d", len(got), 900-45+2)
	}
}

const childEnv = "TARSOPT_STORE_TEST_CHILD_DB"

// TestBoltSurvivesKill runs a child process (this test binary) that Puts
// keys, says "ready" and is then killed with SIGKILL; every key it Put must
// be there when the file is reopened. While the child holds the file, a
// second opener must fail with the in-use error instead of hanging.
func TestBoltSurvivesKill(t *testing.T) {
	const n = 200
	if path := os.Getenv(childEnv); path != "" {
		boltChild(path, n)
		return
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestBoltSurvivesKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatalf("child exited without saying ready; stderr:\n%s", stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("child not ready after 30 s; stderr:\n%s", stderr.String())
	}

	start := time.Now()
	s, err := OpenBolt(path, nil)
	if err == nil {
		s.Close()
		t.Fatal("OpenBolt succeeded while another process had the file open")
	}
	if want := "store: " + path + " is in use by another process"; err.Error() != want {
		t.Errorf("second opener: err = %q, want %q", err, want)
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
		t.Errorf("second opener gave up after %v, want about 1 s", d)
	}

	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child: %v, want killed", err)
	}

	s, err = OpenBolt(path, nil)
	if err != nil {
		t.Fatalf("reopening after the kill: %v", err)
	}
	defer s.Close()
	for i := range n {
		wantGet(t, s, fmt.Sprintf("job/%04d", i), fmt.Sprintf("payload %d", i), true)
		wantGet(t, s, fmt.Sprintf("cache/%04d", i), fmt.Sprintf("body %d", i), true)
	}
}

// boltChild is the child of TestBoltSurvivesKill: it Puts n keys directly and
// n through NewBatched followed by Flush, says "ready" and waits to be killed.
func boltChild(path string, n int) {
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	s, err := OpenBolt(path, nil)
	if err != nil {
		fail(err)
	}
	cache := NewBatched(s, time.Hour)
	for i := range n {
		if err := s.Put(ctx, fmt.Sprintf("job/%04d", i), []byte(fmt.Sprintf("payload %d", i)), 0); err != nil {
			fail(err)
		}
		if err := cache.Put(ctx, fmt.Sprintf("cache/%04d", i), []byte(fmt.Sprintf("body %d", i)), time.Hour); err != nil {
			fail(err)
		}
	}
	if err := cache.(Flusher).Flush(ctx); err != nil {
		fail(err)
	}
	fmt.Println("ready")
	time.Sleep(time.Minute) // killed long before this
	fail(fmt.Errorf("not killed"))
}
