package arrowtrace

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tarsopt/tarsopt/internal/tracetest"
	"github.com/tarsopt/tarsopt/traces"
)

// codec is one of the package's formats, seen from the tests.
type codec struct {
	name  string // format name
	ext   string
	write func(io.Writer, traces.Meta) (*Writer, error)
	read  func(data []byte, name string) (*Reader, error)
}

var codecs = []codec{
	{"arrow", ".arrow", NewFileWriter, func(b []byte, name string) (*Reader, error) {
		return NewFileReader(bytes.NewReader(b), name)
	}},
	{"arrows", ".arrows", NewStreamWriter, func(b []byte, name string) (*Reader, error) {
		return NewStreamReader(bytes.NewReader(b), name)
	}},
	{"parquet", ".parquet", NewParquetWriter, func(b []byte, name string) (*Reader, error) {
		return NewParquetReader(bytes.NewReader(b), int64(len(b)), name)
	}},
}

func testMeta() traces.Meta {
	return traces.Meta{
		BlockSize:   64,
		Source:      "gen:arrowtrace-test",
		Start:       time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC),
		End:         time.Date(2026, 2, 11, 0, 0, 0, 0, time.UTC),
		Description: "round trip",
		Attrs:       map[string]string{"seed": "1", "profile": "tars-baseline"},
	}
}

// withBatchRows runs the test with smaller batches and row groups, so that few records make many.
func withBatchRows(t testing.TB, n int) {
	oldB, oldG := batchRows, rowGroupRows
	batchRows, rowGroupRows = n, n
	t.Cleanup(func() { batchRows, rowGroupRows = oldB, oldG })
}

func encode(t testing.TB, c codec, recs []traces.Record, m traces.Meta) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := c.write(&buf, m)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decodeAll reads every record, stopping at the first error (returned, nil at io.EOF).
func decodeAll(t testing.TB, c codec, data []byte) ([]traces.Record, traces.Meta, error) {
	t.Helper()
	d, err := c.read(data, "test"+c.ext)
	if err != nil {
		return nil, traces.Meta{}, err
	}
	defer d.Close()
	out, err := tracetest.ReadAll(d)
	return out, d.Meta(), err
}

var recordOpts = []cmp.Option{cmpopts.EquateEmpty(), cmp.AllowUnexported(traces.Record{}, traces.Pos{})}

// diffRecords compares records but not their Pos: quickly by their canonical JSON (which holds
// every present field exactly), and with go-cmp for a readable diff when they differ.
func diffRecords(want, got []traces.Record) string {
	same := len(want) == len(got)
	var a, b []byte
	for i := 0; same && i < len(want); i++ {
		a, b = traces.AppendJSON(a[:0], &want[i]), traces.AppendJSON(b[:0], &got[i])
		same = bytes.Equal(a, b) && want[i].Present() == got[i].Present()
	}
	if same {
		return ""
	}
	return cmp.Diff(want, clearPos(got), recordOpts...)
}

func clearPos(recs []traces.Record) []traces.Record {
	for i := range recs {
		recs[i].Pos = traces.Pos{}
	}
	return recs
}

func wantMeta() traces.Meta {
	m := testMeta()
	m.Version = traces.FormatVersion
	return m
}

func TestRoundTrip(t *testing.T) {
	recs := tracetest.Records(rand.New(rand.NewPCG(1, 2)), 2000)
	for _, rows := range []int{BatchRows, 300} {
		withBatchRows(t, rows)
		for _, c := range codecs {
			t.Run(c.name, func(t *testing.T) {
				data := encode(t, c, recs, testMeta())
				got, m, err := decodeAll(t, c, data)
				if err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if p := got[i].Pos; p != traces.RowPos("test"+c.ext, int64(i)) {
						t.Fatalf("record %d: Pos = %+v", i, p)
					}
				}
				if d := diffRecords(recs, got); d != "" {
					t.Errorf("records differ (-want +got):\n%s", d)
				}
				if d := cmp.Diff(wantMeta(), m); d != "" {
					t.Errorf("meta differs (-want +got):\n%s", d)
				}
			})
		}
	}
}

func TestEmptyTrace(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			data := encode(t, c, nil, testMeta())
			got, m, err := decodeAll(t, c, data)
			if err != nil || len(got) != 0 {
				t.Fatalf("got %d records, err %v", len(got), err)
			}
			if d := cmp.Diff(wantMeta(), m); d != "" {
				t.Errorf("meta differs (-want +got):\n%s", d)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	withBatchRows(t, 500)
	recs := tracetest.Records(rand.New(rand.NewPCG(3, 4)), 1200)
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			a := encode(t, c, recs, testMeta())
			b := encode(t, c, recs, testMeta())
			if !bytes.Equal(a, b) {
				t.Error("two writes of the same records differ")
			}
		})
	}
}

type closeRecorder struct {
	bytes.Buffer
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestCloseKeepsWriterOpen(t *testing.T) {
	recs := tracetest.Records(rand.New(rand.NewPCG(5, 6)), 10)
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			var out closeRecorder
			w, err := c.write(&out, testMeta())
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
			if out.closed {
				t.Error("Close closed the underlying writer")
			}
			if err := w.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if err := w.Write(&recs[0]); err == nil {
				t.Error("Write after Close succeeded")
			}
		})
	}
}

func TestWriteRefusesUnrepresentable(t *testing.T) {
	var w bytes.Buffer
	wr, err := NewStreamWriter(&w, traces.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	r := traces.Record{Model: "m"}
	if err := wr.Write(&r); err == nil {
		t.Error("zero time accepted")
	}
	r.Time = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := wr.Write(&r); err == nil {
		t.Error("year 2300 accepted")
	}
	r.Time = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r.SetInt(traces.FieldTurn, 1<<40)
	if err := wr.Write(&r); err == nil {
		t.Error("turn over int32 accepted")
	}
}

// readSource reads every record of a traces.Source.
func readSource(t *testing.T, s *traces.Source) ([]traces.Record, error) {
	t.Helper()
	var out []traces.Record
	var r traces.Record
	for {
		err := s.Read(&r)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, r.Clone())
	}
}

func TestOpen(t *testing.T) {
	withBatchRows(t, 200)
	recs := tracetest.Records(rand.New(rand.NewPCG(7, 8)), 1000)
	dir := t.TempDir()
	for _, c := range codecs {
		for _, comp := range []string{"", ".zst", ".gz"} {
			t.Run(c.name+comp, func(t *testing.T) {
				path := filepath.Join(dir, "trace"+c.ext+comp)
				w, err := traces.Create(path, testMeta(), traces.CreateOptions{})
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
				s, err := traces.Open(path, traces.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if s.FormatName() != c.name {
					t.Errorf("format %q, want %q", s.FormatName(), c.name)
				}
				got, err := readSource(t, s)
				if err != nil {
					t.Fatal(err)
				}
				if d := diffRecords(recs, got); d != "" {
					t.Errorf("records differ (-want +got):\n%s", d)
				}
				if d := cmp.Diff(wantMeta(), s.Meta()); d != "" {
					t.Errorf("meta differs (-want +got):\n%s", d)
				}
			})
		}
	}
}

func TestOpenStdin(t *testing.T) {
	recs := tracetest.Records(rand.New(rand.NewPCG(9, 10)), 300)
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			// A non-seekable stream: Parquet must be spooled.
			stdin := struct{ io.Reader }{bytes.NewReader(encode(t, c, recs, testMeta()))}
			s, err := traces.Open(traces.Stdio, traces.Options{Stdin: stdin})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := readSource(t, s)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffRecords(recs, got); d != "" {
				t.Errorf("records differ (-want +got):\n%s", d)
			}
		})
	}
}

func TestNegativeTokensReportedBySource(t *testing.T) {
	recs := tracetest.Records(rand.New(rand.NewPCG(11, 12)), 5)
	recs[3].SetInt(traces.FieldInput, -5)
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			data := encode(t, c, recs, traces.Meta{})
			// The decoder does not validate.
			got, _, err := decodeAll(t, c, data)
			if err != nil || len(got) != 5 || got[3].Input != -5 {
				t.Fatalf("decoded %d records, err %v", len(got), err)
			}
			path := filepath.Join(t.TempDir(), "neg"+c.ext)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := traces.Open(path, traces.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err = readSource(t, s)
			if err == nil || len(got) != 3 {
				t.Fatalf("read %d records, err %v; want 3 and an error", len(got), err)
			}
			msg := err.Error()
			if want := path + ": row 3: input: negative token count"; !strings.HasPrefix(msg, want) {
				t.Errorf("error %q, want prefix %q", msg, want)
			}
		})
	}
}

// TestTruncated cuts files at many lengths: reading must fail (or, for a stream cut at a batch
// boundary, end early with a prefix of the records), and never panic.
func TestTruncated(t *testing.T) {
	withBatchRows(t, 16)
	recs := tracetest.Records(rand.New(rand.NewPCG(13, 14)), 100)
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			data := encode(t, c, recs, testMeta())
			step := max(1, len(data)/300)
			for n := 0; n < len(data); n += step {
				checkTruncated(t, c, recs, data[:n])
			}
			for n := max(0, len(data)-64); n < len(data); n++ {
				checkTruncated(t, c, recs, data[:n])
			}
		})
	}
}

func checkTruncated(t *testing.T, c codec, recs []traces.Record, data []byte) {
	t.Helper()
	got, _, err := decodeAll(t, c, data)
	if err != nil {
		var e *traces.Error
		if !errors.As(err, &e) || !e.Fatal {
			t.Fatalf("cut at %d: error %v is not a fatal *traces.Error", len(data), err)
		}
	} else if c.name != "arrows" {
		t.Fatalf("cut at %d: read %d records without error", len(data), len(got))
	}
	if d := diffRecords(recs[:len(got)], got); d != "" {
		t.Fatalf("cut at %d: records differ (-want +got):\n%s", len(data), d)
	}
}

// TestCorrupt flips random bytes: reading must end in an error or io.EOF without panicking.
func TestCorrupt(t *testing.T) {
	withBatchRows(t, 16)
	recs := tracetest.Records(rand.New(rand.NewPCG(15, 16)), 60)
	rng := rand.New(rand.NewPCG(17, 18))
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			data := encode(t, c, recs, testMeta())
			for range 300 {
				bad := bytes.Clone(data)
				for range 1 + rng.IntN(4) {
					i := rng.IntN(len(bad))
					switch rng.IntN(3) {
					case 0:
						bad[i] ^= 1 << rng.IntN(8)
					case 1:
						bad[i] = 0xFF
					default:
						bad[i] = byte(rng.IntN(256))
					}
				}
				decodeCapped(bad, c, 10000)
			}
		})
	}
}

// decodeCapped reads at most max records, as the fuzz tests do, and reports whether it ended.
func decodeCapped(data []byte, c codec, max int) {
	d, err := c.read(data, "fuzz")
	if err != nil {
		return
	}
	defer d.Close()
	var r traces.Record
	for range max {
		err := d.Read(&r)
		if err == io.EOF {
			return
		}
		if e, ok := err.(*traces.Error); ok && e.Fatal {
			return
		} else if err != nil && !ok {
			panic("error not a *traces.Error: " + err.Error())
		}
	}
}
