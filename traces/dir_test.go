package traces_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/traces"
)

// A directory reads as one trace: the files of its trace folder in name order, sorted by time,
// other files ignored.
func TestOpenDirectory(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, traces.DirTraceSubdir)
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	write := func(name string, mins ...int) {
		f, err := os.Create(filepath.Join(sub, name))
		if err != nil {
			t.Fatal(err)
		}
		w, err := traces.NewJSONLWriter(f, traces.Meta{Source: "live"})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mins {
			r := traces.Record{Time: t0.Add(time.Duration(m) * time.Minute), Model: "claude-haiku-4-5", ID: name + string(rune('a'+m))}
			r.Input = int64(m)
			r.Set(traces.FieldInput)
			if err := w.Write(&r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	write("calls-000002.jsonl", 1, 4)
	write("calls-000001.jsonl", 3, 0, 2) // completion order, not arrival order
	if err := os.WriteFile(filepath.Join(sub, "calls-000003.jsonl"), nil, 0o600); err != nil {
		t.Fatal(err) // an empty segment, just rotated to
	}
	if err := os.WriteFile(filepath.Join(dir, "model-routing.log"), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := traces.Open(dir, traces.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var got []int64
	var r traces.Record
	for {
		err := src.Read(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Input)
	}
	if want := []int64{0, 1, 2, 3, 4}; !equal(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}
	if src.Meta().Source != "live" {
		t.Errorf("meta source %q", src.Meta().Source)
	}

	empty := t.TempDir()
	if _, err := traces.Open(empty, traces.Options{}); err == nil {
		t.Fatal("empty directory opened without error")
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
