package traces_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tarsopt/tarsopt/internal/tracetest"
	"github.com/tarsopt/tarsopt/traces"
)

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readSource(path string, opts traces.Options) ([]traces.Record, traces.Stats, error) {
	s, err := traces.Open(path, opts)
	if err != nil {
		return nil, traces.Stats{}, err
	}
	defer s.Close()
	out, err := tracetest.ReadAll(s)
	return out, s.Stats(), err
}

const good = `{"time":"2026-02-10T08:00:00Z","model":"m","input":1,"output":2}`

func lines(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }

// Each row: a file with one bad record among good ones, the error that stops reading by default, and
// the reason it is counted under with --skip-invalid.
func TestSourceBadRecords(t *testing.T) {
	tests := []struct {
		name   string
		bad    string
		errSub string
		key    string
	}{
		{"truncated line", `{"time":"2026-02-10T08:00:01Z","model":"m","inpu`, ":3: truncated record", "truncated record"},
		{"wrong JSON type", `{"time":"2026-02-10T08:00:01Z","model":"m","input":"5"}`, ":3: input: wrong JSON type", "input: wrong JSON type"},
		{"negative tokens", `{"time":"2026-02-10T08:00:01Z","model":"m","input":-5}`, ":3: input: negative token count: -5", "input: negative token count"},
		{"absurd tokens", `{"time":"2026-02-10T08:00:01Z","model":"m","output":10000001}`, ":3: output: token count over 10M: 10000001", "output: token count over 10M"},
		{"unparsable time", `{"time":"10/02/2026 08:00","model":"m"}`, ":3: time: bad timestamp", "time: bad timestamp"},
		{"epoch time", `{"time":"1970-01-01T00:00:00Z","model":"m"}`, ":3: time: year out of range", "time: year out of range"},
		{"out of order", `{"time":"2026-02-10T07:00:00Z","model":"m"}`, ":3: time: out of order", "time: out of order"},
		{"unknown enum", `{"time":"2026-02-10T08:00:01Z","model":"m","service_tier":"gold"}`, ":3: service_tier: unknown value", "service_tier: unknown value"},
		{"missing model", `{"time":"2026-02-10T08:00:01Z"}`, ":3: model: missing", "model: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "t.jsonl", lines(`{"tarsopt_trace":1}`, good, tt.bad, strings.Replace(good, "08:00:00", "08:00:02", 1)))
			_, _, err := readSource(p, traces.Options{})
			if err == nil || !strings.Contains(err.Error(), p+tt.errSub) {
				t.Fatalf("default: error = %v, want it to contain %q", err, p+tt.errSub)
			}
			recs, st, err := readSource(p, traces.Options{SkipInvalid: true, MaxInvalid: 0.5})
			if err != nil {
				t.Fatalf("--skip-invalid: %v", err)
			}
			if len(recs) != 2 || st.Invalid != 1 || st.Reasons[tt.key] != 1 {
				t.Errorf("--skip-invalid: %d records, stats %+v; want 2 records and 1 invalid under %q", len(recs), st, tt.key)
			}
			_, _, err = readSource(p, traces.Options{SkipInvalid: true, MaxInvalid: 0.01})
			if err == nil || !strings.Contains(err.Error(), "too many invalid records: 1 of 3 (33.33%), over the limit of 1%") {
				t.Errorf("over --max-invalid: error = %v", err)
			}
		})
	}
}

func TestSourceSort(t *testing.T) {
	p := writeFile(t, "t.jsonl", lines(
		`{"time":"2026-02-10T08:00:02Z","model":"c"}`,
		`{"time":"2026-02-10T08:00:00Z","model":"a"}`,
		`{"time":"2026-02-10T08:00:02Z","model":"d"}`,
		`{"time":"2026-02-10T08:00:01Z","model":"b"}`))
	recs, _, err := readSource(p, traces.Options{Sort: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Model)
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "d"}, got); diff != "" {
		t.Errorf("sorted order (-want +got):\n%s", diff) // stable: c before d
	}
}

func TestSourceWholeFileProblems(t *testing.T) {
	var gz bytes.Buffer
	{
		p := filepath.Join(t.TempDir(), "x.jsonl.gz")
		w, err := traces.Create(p, traces.Meta{}, traces.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		recs := tracetest.Records(rand.New(rand.NewPCG(5, 6)), 2000)
		for i := range recs {
			w.Write(&recs[i])
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		gz.Write(b)
	}
	corrupt := bytes.Clone(gz.Bytes())
	corrupt[len(corrupt)/2] ^= 0xFF
	tests := []struct {
		name   string
		file   string
		data   []byte
		errSub string
	}{
		{"empty file", "e.jsonl", nil, "e.jsonl: empty file"},
		{"only blank lines", "e.jsonl", []byte("\n\r\n  \n"), "e.jsonl: empty file"},
		{"corrupted gzip", "c.jsonl.gz", corrupt, "corrupt gzip data"},
		{"truncated gzip", "c.jsonl.gz", gz.Bytes()[:gz.Len()-20], "corrupt gzip data: truncated stream"},
		{"xz", "c.jsonl.xz", []byte("\xfd7zXZ\x00rest"), "unsupported compression xz"},
		{"unknown format", "c.bin", []byte("hello world"), "unknown trace format"},
		{"bad header", "h.jsonl", lines(`{"tarsopt_trace":9}`), "h.jsonl:1: tarsopt_trace: bad header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, tt.file, tt.data)
			_, _, err := readSource(p, traces.Options{SkipInvalid: true, MaxInvalid: 1})
			if err == nil || !strings.Contains(err.Error(), tt.errSub) {
				t.Errorf("error = %v, want it to contain %q", err, tt.errSub)
			}
			if e, ok := traces.AsError(err); !ok || !e.Fatal {
				t.Errorf("error %v: want a fatal *traces.Error, even with --skip-invalid", err)
			}
		})
	}
	if _, _, err := readSource(writeFile(t, "e.jsonl", nil), traces.Options{}); !errors.Is(err, traces.ErrEmpty) {
		t.Errorf("empty file: %v, want ErrEmpty", err)
	}
}

// Every text format and compression, written by Create and read back by Open with the format and
// compression detected from content alone (the file names carry no extension).
func TestCreateOpenRoundTrip(t *testing.T) {
	recs := tracetest.Records(rand.New(rand.NewPCG(7, 8)), 500)
	m := traces.Meta{Version: traces.FormatVersion, BlockSize: 16, Source: "test", End: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	for _, format := range []string{"jsonl", "csv"} {
		for _, c := range []traces.Compression{traces.None, traces.Gzip, traces.Zstd} {
			t.Run(format+"/"+c.String(), func(t *testing.T) {
				dir := t.TempDir()
				p := filepath.Join(dir, "trace")
				w, err := traces.Create(p, m, traces.CreateOptions{Format: format, Compression: c})
				if err != nil {
					t.Fatal(err)
				}
				for i := range recs {
					if err := w.Write(&recs[i]); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if ents, _ := os.ReadDir(dir); len(ents) != 1 {
					t.Errorf("Create left %d files in its folder, want 1", len(ents))
				}
				s, err := traces.Open(p, traces.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if s.FormatName() != format || s.Compression() != c {
					t.Errorf("detected %s/%s, want %s/%s", s.FormatName(), s.Compression(), format, c)
				}
				if diff := cmp.Diff(m, s.Meta()); diff != "" {
					t.Errorf("meta (-want +got):\n%s", diff)
				}
				got := readAll(t, s)
				if diff := cmp.Diff(recs, got, cmpRecords...); diff != "" {
					t.Errorf("round trip (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestCreateDeterministic(t *testing.T) {
	recs := tracetest.Records(rand.New(rand.NewPCG(9, 9)), 300)
	var files [][]byte
	for i := 0; i < 2; i++ {
		for _, name := range []string{"a.jsonl.gz", "a.csv.zst"} {
			p := filepath.Join(t.TempDir(), name)
			w, err := traces.Create(p, traces.Meta{Source: "x"}, traces.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i := range recs {
				w.Write(&recs[i])
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(p)
			files = append(files, b)
		}
	}
	if !bytes.Equal(files[0], files[2]) || !bytes.Equal(files[1], files[3]) {
		t.Error("writing the same records twice gave different bytes")
	}
}

func TestOpenStdin(t *testing.T) {
	recs, _, err := readSource("-", traces.Options{Stdin: bytes.NewReader(lines(good))})
	if err != nil || len(recs) != 1 || recs[0].Pos.File != "stdin" {
		t.Fatalf("stdin: %d records, %v", len(recs), err)
	}
}

func TestCSVErrors(t *testing.T) {
	tests := []struct {
		name, data, errSub string
	}{
		{"unknown column", "time,model,tokens\n", "c.csv:1: tokens: unknown column"},
		{"missing model column", "time,input\n2026-02-10T08:00:00Z,5\n", "c.csv:1: model: missing column"},
		{"bad cell", "time,model,input\n2026-02-10T08:00:00Z,m,x\n", `c.csv:2: input: not an integer: "x"`},
		{"cell count", "# {\"tarsopt_trace\":1}\ntime,model\n2026-02-10T08:00:00Z,m,extra\n", "c.csv:3: wrong number of cells"},
		{"negative", "time,model,output\r\n2026-02-10T08:00:00Z,m,-1\r\n", "c.csv:2: output: negative token count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readSource(writeFile(t, "c.csv", []byte(tt.data)), traces.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.errSub) {
				t.Errorf("error = %v, want %q", err, tt.errSub)
			}
		})
	}
}

func FuzzCSV(f *testing.F) {
	recs := tracetest.Records(rand.New(rand.NewPCG(3, 4)), 6)
	var buf bytes.Buffer
	w, _ := traces.NewCSVWriter(&buf, traces.Meta{BlockSize: 64})
	for i := range recs {
		w.Write(&recs[i])
	}
	f.Add(buf.Bytes())
	f.Add([]byte("time,model,input\n2026-02-10T08:00:00Z,m,5\n"))
	f.Add([]byte("\xEF\xBB\xBFtime,model\r\n2026-02-10T08:00:00Z,\"m,\"\"x\"\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := traces.NewCSVReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		var r traces.Record
		for i := 0; i < 1000; i++ {
			err := d.Read(&r)
			if err == io.EOF {
				return
			}
			if err != nil {
				if e, ok := traces.AsError(err); !ok || e.Fatal {
					return
				}
				continue
			}
			// Whatever decodes must re-encode and decode to the same record.
			var out bytes.Buffer
			w, _ := traces.NewCSVWriter(&out, d.Meta())
			w.Write(&r)
			d2, err := traces.NewCSVReader(&out, "re")
			if err != nil {
				t.Fatal(err)
			}
			var r2 traces.Record
			if err := d2.Read(&r2); err != nil {
				t.Fatalf("re-reading %q: %v", out.String(), err)
			}
			if diff := cmp.Diff(r, r2, cmpRecords...); diff != "" {
				t.Fatalf("re-encoded record differs:\n%s", diff)
			}
		}
	})
}

func FuzzOpen(f *testing.F) {
	f.Add(lines(good))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0})
	f.Add([]byte("time,model\n2026-02-10T08:00:00Z,m\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := traces.Open("-", traces.Options{SkipInvalid: true, MaxInvalid: 1, Stdin: bytes.NewReader(data)})
		if err != nil {
			return
		}
		defer s.Close()
		var r traces.Record
		for i := 0; i < 1000; i++ {
			if err := s.Read(&r); err != nil {
				return
			}
			if e := r.Validate(); e != nil {
				t.Fatalf("Source returned an invalid record: %v", e)
			}
		}
	})
}

// A sorter that spills keeps the order stable across runs, and cleans up its files.
func TestSorterSpills(t *testing.T) {
	recs := tracetest.Records(rand.New(rand.NewPCG(21, 22)), 2500)
	rng := rand.New(rand.NewPCG(1, 1))
	shuffled := slices.Clone(recs)
	for i := range shuffled {
		shuffled[i].ID = strconv.Itoa(i) // the insertion order, to check stability
		shuffled[i].Time = shuffled[i].Time.Truncate(time.Minute)
	}
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	want := slices.Clone(shuffled)
	slices.SortStableFunc(want, func(a, b traces.Record) int { return a.Time.Compare(b.Time) })
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "tarsopt-sort-*"))
	s := traces.Sorter{Run: 300}
	for i := range shuffled {
		if err := s.Add(&shuffled[i]); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.Finish()
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, r)
	r.Close()
	if diff := cmp.Diff(want, got, cmpRecords...); diff != "" {
		t.Errorf("sorted (-want +got):\n%s", diff)
	}
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "tarsopt-sort-*"))
	if len(after) > len(before) {
		t.Errorf("%d temporary files left", len(after)-len(before))
	}
}
