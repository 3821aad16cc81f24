package traces_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tarsopt/tarsopt/internal/tracetest"
	"github.com/tarsopt/tarsopt/traces"
	_ "github.com/tarsopt/tarsopt/traces/arrowtrace"
)

// Every encoder against every decoder: random records written in format A and read back, then
// written in format B and read back, equal the originals field for field, presence included.
func TestEveryFormatPair(t *testing.T) {
	recs := tracetest.Records(rand.New(rand.NewPCG(11, 12)), 400)
	meta := traces.Meta{Version: traces.FormatVersion, BlockSize: 64, Source: "pairs", Start: time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC),
		End: time.Date(2026, 2, 12, 0, 0, 0, 0, time.UTC), Description: "every format pair", Attrs: map[string]string{"a": "1", "b": "ü"}}
	formats := traces.Formats()
	if len(formats) < 5 {
		t.Fatalf("registered formats: %s", traces.FormatNames())
	}
	dir := t.TempDir()
	through := func(f traces.Format, in []traces.Record, m traces.Meta) ([]traces.Record, traces.Meta) {
		t.Helper()
		path := filepath.Join(dir, "t"+f.Extensions[0])
		w, err := traces.Create(path, m, traces.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range in {
			if err := w.Write(&in[i]); err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		s, err := traces.Open(path, traces.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.FormatName() != f.Name {
			t.Fatalf("wrote %s, detected %s", f.Name, s.FormatName())
		}
		return readAll(t, s), s.Meta()
	}
	for _, a := range formats {
		viaA, metaA := through(a, recs, meta)
		for _, b := range formats {
			t.Run(fmt.Sprintf("%s-then-%s", a.Name, b.Name), func(t *testing.T) {
				got, gotMeta := through(b, viaA, metaA)
				if diff := cmp.Diff(recs, got, cmpRecords...); diff != "" {
					t.Errorf("records (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(meta, gotMeta); diff != "" {
					t.Errorf("meta (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// Readers stream: decoding a long trace keeps the heap bounded. The trace is produced on the fly
// through a pipe, so the test holds no copy of it.
func TestStreamingMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	const n = 150_000
	for _, format := range []string{"jsonl", "csv", "arrows"} {
		t.Run(format, func(t *testing.T) {
			pr, pw := io.Pipe()
			go func() {
				f, _ := traces.LookupFormat(format)
				w, err := f.NewWriter(pw, traces.Meta{BlockSize: 64})
				if err != nil {
					pw.CloseWithError(err)
					return
				}
				rng := rand.New(rand.NewPCG(1, 1))
				base := tracetest.Records(rng, 1000)
				start := base[0].Time
				for i := 0; i < n; i++ {
					r := base[i%len(base)]
					r.Time = start.Add(time.Duration(i) * time.Millisecond)
					if err := w.Write(&r); err != nil {
						pw.CloseWithError(err)
						return
					}
				}
				w.Close()
				pw.Close()
			}()
			s, err := traces.Open("-", traces.Options{Stdin: pr})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var r traces.Record
			var early, late uint64
			count := 0
			for {
				err := s.Read(&r)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				count++
				if count == n/10 {
					early = heapAfterGC()
				}
			}
			late = heapAfterGC()
			if count != n {
				t.Fatalf("read %d records, want %d", count, n)
			}
			// Ten times more records read must not mean more live heap (allowing 4 MiB of noise).
			if late > early+4<<20 {
				t.Errorf("live heap grew from %d KiB after %d records to %d KiB after %d", early>>10, n/10, late>>10, n)
			}
		})
	}
}

// heapAfterGC returns the live heap after a collection.
func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
