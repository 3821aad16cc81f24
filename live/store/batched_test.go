package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// plain hides a Store's optional interfaces (batchWriter, clocked), so that
// NewBatched falls back to one call per write.
type plain struct{ Store }

// gated is a Store whose Put waits for a token on gate, and fails when the
// token is false.
type gated struct {
	Store
	entered chan string
	gate    chan bool
}

func (g gated) Put(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	g.entered <- key
	if !<-g.gate {
		return errors.New("disk on fire")
	}
	return g.Store.Put(ctx, key, val, ttl)
}

func TestBatchedFallback(t *testing.T) {
	ctx := context.Background()
	mem := OpenMemory(nil)
	defer mem.Close()
	b := NewBatched(plain{mem}, time.Hour)
	mustPut(t, b, "a", "1", time.Hour)
	mustPut(t, b, "b", "2", 0)
	mustPut(t, b, "c", "3", 0)
	if err := b.Delete(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	wantGet(t, mem, "a", "", false) // not yet written
	wantGet(t, b, "a", "1", true)   // but visible through b
	if err := b.(Flusher).Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantGet(t, mem, "a", "1", true)
	wantGet(t, mem, "b", "2", true)
	wantGet(t, mem, "c", "", false)
	mustPut(t, b, "d", "4", 0)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	wantGet(t, mem, "d", "4", true) // Close flushed
}

// TestBatchedInflightAndBackpressure holds a flush in the underlying Store's
// Put to check reads of in-flight writes, the bound on pending writes, and
// the reporting of a failed batch.
func TestBatchedInflightAndBackpressure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := OpenMemory(nil)
	defer mem.Close()
	g := gated{plain{mem}, make(chan string, 1), make(chan bool)}
	b := NewBatched(g, 0)

	mustPut(t, b, "a", "old", 0)
	if k := <-g.entered; k != "a" { // the flush of "a" is now stuck in Put
		t.Fatalf("flushing %q, want a", k)
	}
	wantGet(t, b, "a", "old", true) // read from the in-flight batch
	mustPut(t, b, "a", "new", 0)    // queued behind it
	wantGet(t, b, "a", "new", true)

	// Fill the queue; the next write must wait for room.
	for i := 1; i < maxPendingOps; i++ {
		if err := b.Put(ctx, fmt.Sprintf("fill/%05d", i), nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := b.Put(tctx, "overflow", nil, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put with a full queue: err = %v, want context.DeadlineExceeded", err)
	}

	g.gate <- false // the batch holding "a"="old" fails
	// The next batch ("a"="new" and the fill) starts; let it through.
	go func() {
		for range g.entered {
			g.gate <- true
		}
	}()
	err := b.Put(ctx, "after", []byte("x"), 0)
	if !errors.Is(err, ErrFlushFailed) {
		// The failure may not be recorded yet; Flush reports it otherwise.
		err = b.(Flusher).Flush(ctx)
	}
	if !errors.Is(err, ErrFlushFailed) {
		t.Fatalf("after a failed batch: err = %v, want ErrFlushFailed", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v (the failure was already reported)", err)
	}
	close(g.entered)
	wantGet(t, mem, "a", "new", true)
	wantGet(t, mem, "after", "x", true)
	wantGet(t, mem, "fill/16383", "", true)
}

func TestBatchedRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, m := openTestRedis(t)
	defer s.Close()
	b := NewBatched(s, time.Hour)
	defer b.Close()
	mustPut(t, b, "k", "v", time.Minute)
	mustPut(t, b, "gone", "v", 0)
	if err := b.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if m.Exists("tarsopt:k") {
		t.Fatal("written before the flush")
	}
	if err := b.(Flusher).Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := m.Get("tarsopt:k"); err != nil || got != "v" {
		t.Fatalf("redis tarsopt:k = %q, %v", got, err)
	}
	if ttl := m.TTL("tarsopt:k"); ttl < 59*time.Second || ttl > time.Minute {
		t.Fatalf("redis TTL = %v, want about 1m", ttl)
	}
	if m.Exists("tarsopt:gone") {
		t.Fatal("deleted key written")
	}
}
