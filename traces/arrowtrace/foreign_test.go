package arrowtrace

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/traces"
)

// Files written by plain arrow-go code, as pandas, Polars or DuckDB would write them.

var mem = memory.NewGoAllocator()

// column is a test column: a field and a function that appends its n values.
type testCol struct {
	name     string
	typ      arrow.DataType
	nullable bool
	fill     func(b array.Builder)
}

func buildBatch(t testing.TB, cols []testCol, md *arrow.Metadata) arrow.RecordBatch {
	t.Helper()
	fields := make([]arrow.Field, len(cols))
	arrs := make([]arrow.Array, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.name, Type: c.typ, Nullable: c.nullable}
		b := array.NewBuilder(mem, c.typ)
		c.fill(b)
		arrs[i] = b.NewArray()
		b.Release()
	}
	s := arrow.NewSchema(fields, md)
	rec := array.NewRecordBatch(s, arrs, -1)
	for _, a := range arrs {
		a.Release()
	}
	return rec
}

func writeIPCFile(t testing.TB, rec arrow.RecordBatch) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeIPCStream(t testing.TB, rec arrow.RecordBatch, opts ...ipc.Option) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, append([]ipc.Option{ipc.WithSchema(rec.Schema()), ipc.WithAllocator(mem)}, opts...)...)
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeParquet(t testing.TB, rec arrow.RecordBatch, storeSchema bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var opts []pqarrow.WriterOption
	if storeSchema {
		opts = append(opts, pqarrow.WithStoreSchema())
	}
	w, err := pqarrow.NewFileWriter(rec.Schema(), &buf, parquet.NewWriterProperties(), pqarrow.NewArrowWriterProperties(opts...))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// minimalCols are time as timestamp[ms] without a zone, model dictionary-encoded (or plain) and
// input as int32, one row with input null.
func minimalCols(dictModel bool) []testCol {
	modelType := arrow.DataType(arrow.BinaryTypes.String)
	if dictModel {
		modelType = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	}
	return []testCol{
		{"model", modelType, true, func(b array.Builder) {
			for _, s := range []string{"gpt-4o", "claude-haiku-4-5", "gpt-4o"} {
				if db, ok := b.(*array.BinaryDictionaryBuilder); ok {
					db.AppendString(s)
				} else {
					b.(*array.StringBuilder).Append(s)
				}
			}
		}},
		{"input", arrow.PrimitiveTypes.Int32, true, func(b array.Builder) {
			b.(*array.Int32Builder).AppendValues([]int32{100, 0, 7}, []bool{true, false, true})
		}},
		{"time", &arrow.TimestampType{Unit: arrow.Millisecond}, false, func(b array.Builder) {
			for i := range 3 {
				b.(*array.TimestampBuilder).Append(arrow.Timestamp(t0.Add(time.Duration(i) * 1500 * time.Millisecond).UnixMilli()))
			}
		}},
	}
}

func minimalWant() []traces.Record {
	var out []traces.Record
	for i, m := range []string{"gpt-4o", "claude-haiku-4-5", "gpt-4o"} {
		r := traces.Record{Time: t0.Add(time.Duration(i) * 1500 * time.Millisecond), Model: m}
		if i != 1 {
			r.SetInt(traces.FieldInput, []int64{100, 0, 7}[i])
		}
		out = append(out, r)
	}
	return out
}

func TestForeignFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		c     codec
		write func(testing.TB, arrow.RecordBatch) []byte
		dict  bool
	}{
		{"arrow/dict", codecs[0], writeIPCFile, true},
		{"arrow/plain", codecs[0], writeIPCFile, false},
		{"arrows/dict", codecs[1], func(t testing.TB, r arrow.RecordBatch) []byte { return writeIPCStream(t, r) }, true},
		{"arrows/zstd", codecs[1], func(t testing.TB, r arrow.RecordBatch) []byte { return writeIPCStream(t, r, ipc.WithZstd()) }, false},
		{"arrows/lz4", codecs[1], func(t testing.TB, r arrow.RecordBatch) []byte { return writeIPCStream(t, r, ipc.WithLZ4()) }, true},
		{"parquet/plain", codecs[2], func(t testing.TB, r arrow.RecordBatch) []byte { return writeParquet(t, r, false) }, false},
		{"parquet/dict-schema", codecs[2], func(t testing.TB, r arrow.RecordBatch) []byte { return writeParquet(t, r, true) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := buildBatch(t, minimalCols(tc.dict), nil)
			defer rec.Release()
			got, m, err := decodeAll(t, tc.c, tc.write(t, rec))
			if err != nil {
				t.Fatal(err)
			}
			if d := diffRecords(minimalWant(), got); d != "" {
				t.Errorf("records differ (-want +got):\n%s", d)
			}
			if m.Version != 0 {
				t.Errorf("Meta = %+v, want zero", m)
			}
		})
	}
}

// TestCompatibleTypes reads columns whose types differ from the canonical ones but convert
// exactly.
func TestCompatibleTypes(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	_ = paris
	cols := []testCol{
		{"time", &arrow.TimestampType{Unit: arrow.Second, TimeZone: "Europe/Paris"}, false, func(b array.Builder) {
			b.(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{arrow.Timestamp(t0.Unix()), arrow.Timestamp(t0.Unix() + 1)}, nil)
		}},
		{"model", arrow.BinaryTypes.LargeString, false, func(b array.Builder) {
			b.(*array.LargeStringBuilder).AppendValues([]string{"a", "b"}, nil)
		}},
		{"session", arrow.BinaryTypes.StringView, true, func(b array.Builder) {
			b.(*array.StringViewBuilder).AppendValues([]string{"a-session-name-longer-than-twelve-bytes", ""}, []bool{true, false})
		}},
		{"query_type", &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}, true, func(b array.Builder) {
			db := b.(*array.BinaryDictionaryBuilder)
			db.AppendString("fact_lookup")
			db.AppendNull()
		}},
		{"priority", arrow.BinaryTypes.String, true, func(b array.Builder) {
			b.(*array.StringBuilder).AppendValues([]string{"low", ""}, nil)
		}},
		{"turn", arrow.PrimitiveTypes.Int64, true, func(b array.Builder) {
			b.(*array.Int64Builder).AppendValues([]int64{3, 4}, nil)
		}},
		{"input", arrow.PrimitiveTypes.Uint32, true, func(b array.Builder) {
			b.(*array.Uint32Builder).AppendValues([]uint32{10, 20}, nil)
		}},
		{"output", arrow.PrimitiveTypes.Int16, true, func(b array.Builder) {
			b.(*array.Int16Builder).AppendValues([]int16{1, 2}, nil)
		}},
		{"temperature", arrow.PrimitiveTypes.Float32, true, func(b array.Builder) {
			b.(*array.Float32Builder).AppendValues([]float32{0.5, 1.25}, nil)
		}},
		{"fingerprint", arrow.PrimitiveTypes.Int64, true, func(b array.Builder) {
			b.(*array.Int64Builder).AppendValues([]int64{-1, 5}, nil)
		}},
		{"prefix", arrow.LargeListOf(arrow.PrimitiveTypes.Int64), true, func(b array.Builder) {
			lb := b.(*array.LargeListBuilder)
			lb.Append(true)
			lb.ValueBuilder().(*array.Int64Builder).AppendValues([]int64{-2, 3}, nil)
			lb.Append(true) // empty: absent
		}},
		{"latency", &arrow.DurationType{Unit: arrow.Millisecond}, true, func(b array.Builder) {
			b.(*array.DurationBuilder).AppendValues([]arrow.Duration{1500, 20}, nil)
		}},
		{"cost_usd", &arrow.Decimal128Type{Precision: 20, Scale: 4}, true, func(b array.Builder) {
			b.(*array.Decimal128Builder).AppendValues([]decimal128.Num{decimal128.FromI64(12345), decimal128.FromI64(-1)}, nil)
		}},
	}
	want := make([]traces.Record, 2)
	want[0] = traces.Record{Time: t0, Model: "a", Session: "a-session-name-longer-than-twelve-bytes", QueryType: traces.QueryFactLookup, Priority: traces.PriorityLow}
	want[1] = traces.Record{Time: t0.Add(time.Second), Model: "b"}
	for i := range want {
		r := &want[i]
		r.SetInt(traces.FieldTurn, int64(3+i))
		r.SetInt(traces.FieldInput, int64(10*(i+1)))
		r.SetInt(traces.FieldOutput, int64(i+1))
		r.SetFloat(traces.FieldTemperature, []float64{0.5, 1.25}[i])
		r.SetInt(traces.FieldFingerprint, []int64{-1, 5}[i])
		r.SetInt(traces.FieldLatency, int64([]time.Duration{1500 * time.Millisecond, 20 * time.Millisecond}[i]))
		r.SetInt(traces.FieldCost, []int64{int64(money.Dollar) + 2345*100000, -100000}[i])
	}
	want[0].Prefix = []uint64{1<<64 - 2, 3}

	rec := buildBatch(t, cols, nil)
	defer rec.Release()
	got, _, err := decodeAll(t, codecs[1], writeIPCStream(t, rec))
	if err != nil {
		t.Fatal(err)
	}
	if d := diffRecords(want, got); d != "" {
		t.Errorf("records differ (-want +got):\n%s", d)
	}
}

func TestFloatCost(t *testing.T) {
	cols := minimalCols(false)
	cols = append(cols, testCol{"cost_usd", arrow.PrimitiveTypes.Float64, true, func(b array.Builder) {
		b.(*array.Float64Builder).AppendValues([]float64{0.0123, 0, 1e300}, []bool{true, false, true})
	}})
	rec := buildBatch(t, cols, nil)
	defer rec.Release()
	d, err := codecs[2].read(writeParquet(t, rec, false), "f.parquet")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var r traces.Record
	if err := d.Read(&r); err != nil || r.Cost != 12_300_000 || !r.Has(traces.FieldCost) {
		t.Fatalf("row 0: cost %d, err %v", r.Cost, err)
	}
	if err := d.Read(&r); err != nil || r.Has(traces.FieldCost) {
		t.Fatalf("row 1: cost present %v, err %v", r.Has(traces.FieldCost), err)
	}
	err = d.Read(&r)
	if e, ok := traces.AsError(err); !ok || e.Fatal || e.Field != "cost_usd" || e.Reason != "bad amount" {
		t.Fatalf("row 2: err %v, want a non-fatal bad amount", err)
	}
	if err := d.Read(&r); err != io.EOF {
		t.Fatalf("after the last row: %v", err)
	}
}

// openErr opens data with c and returns the error from opening or from the first Read.
func openErr(t *testing.T, c codec, data []byte) error {
	t.Helper()
	d, err := c.read(data, "bad"+c.ext)
	if err != nil {
		return err
	}
	defer d.Close()
	var r traces.Record
	return d.Read(&r)
}

func wantFatal(t *testing.T, err error, contains ...string) {
	t.Helper()
	e, ok := traces.AsError(err)
	if !ok || !e.Fatal {
		t.Fatalf("err = %v, want a fatal *traces.Error", err)
	}
	for _, s := range contains {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func TestSchemaErrors(t *testing.T) {
	extra := append(minimalCols(false), testCol{"extra", arrow.PrimitiveTypes.Int64, true, func(b array.Builder) {
		b.(*array.Int64Builder).AppendValues([]int64{1, 2, 3}, nil)
	}})
	wrong := append(minimalCols(false), testCol{"output", arrow.BinaryTypes.String, true, func(b array.Builder) {
		b.(*array.StringBuilder).AppendValues([]string{"1", "2", "3"}, nil)
	}})
	dup := append(minimalCols(false), testCol{"input", arrow.PrimitiveTypes.Int64, true, func(b array.Builder) {
		b.(*array.Int64Builder).AppendValues([]int64{1, 2, 3}, nil)
	}})
	noModel := minimalCols(false)[1:]
	for _, tc := range []struct {
		name string
		cols []testCol
		want []string
	}{
		{"unknown", extra, []string{"extra: unknown column"}},
		{"wrong-type", wrong, []string{"output: wrong column type: want int64, got utf8"}},
		{"duplicate", dup, []string{"input: duplicate column"}},
		{"missing", noModel, []string{"model: missing column"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := buildBatch(t, tc.cols, nil)
			defer rec.Release()
			wantFatal(t, openErr(t, codecs[0], writeIPCFile(t, rec)), tc.want...)
			if tc.name != "duplicate" {
				wantFatal(t, openErr(t, codecs[2], writeParquet(t, rec, true)), tc.want...)
			}
		})
	}
}

func TestMetaErrors(t *testing.T) {
	md := arrow.NewMetadata([]string{traces.MetaKey}, []string{`{"tarsopt_trace":99}`})
	rec := buildBatch(t, minimalCols(false), &md)
	defer rec.Release()
	for i, data := range [][]byte{writeIPCFile(t, rec), writeIPCStream(t, rec), writeParquet(t, rec, true)} {
		wantFatal(t, openErr(t, codecs[i], data), traces.MetaKey, "bad header", "version 99")
	}
}

// TestValueErrors checks that undecodable values are non-fatal and reading goes on.
func TestValueErrors(t *testing.T) {
	cols := append(minimalCols(false),
		testCol{"query_type", arrow.BinaryTypes.String, true, func(b array.Builder) {
			b.(*array.StringBuilder).AppendValues([]string{"chat", "bogus", "tool"}, nil)
		}},
		testCol{"tenant", arrow.BinaryTypes.String, true, func(b array.Builder) {
			b.(*array.StringBuilder).AppendValues([]string{"ok", "ok", "bad\xff"}, nil)
		}},
		testCol{"priority", &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, true, func(b array.Builder) {
			db := b.(*array.BinaryDictionaryBuilder)
			db.AppendString("urgent")
			db.AppendString("urgent")
			db.AppendString("later")
		}},
	)
	rec := buildBatch(t, cols, nil)
	defer rec.Release()
	for _, c := range codecs {
		var data []byte
		switch c.name {
		case "arrow":
			data = writeIPCFile(t, rec)
		case "arrows":
			data = writeIPCStream(t, rec)
		default:
			data = writeParquet(t, rec, true)
		}
		t.Run(c.name, func(t *testing.T) {
			d, err := c.read(data, "v"+c.ext)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var r traces.Record
			if err := d.Read(&r); err != nil || r.QueryType != traces.QueryChat || r.Tenant != "ok" || r.Priority != traces.PriorityUrgent {
				t.Fatalf("row 0: %+v, err %v", r, err)
			}
			err = d.Read(&r)
			if e, ok := traces.AsError(err); !ok || e.Fatal || e.Field != "query_type" || e.Reason != "unknown value" || e.Pos != traces.RowPos("v"+c.ext, 1) {
				t.Fatalf("row 1: err %#v", err)
			}
			err = d.Read(&r)
			if e, ok := traces.AsError(err); !ok || e.Fatal || e.Key() != "tenant: invalid UTF-8" || !strings.HasPrefix(e.Error(), "v"+c.ext+": row 2: tenant") {
				t.Fatalf("row 2: err %v", err)
			}
			if err := d.Read(&r); err != io.EOF {
				t.Fatalf("after the last row: %v", err)
			}
			if err := d.Read(&r); err != io.EOF {
				t.Fatalf("Read after io.EOF: %v", err)
			}
		})
	}
}

func TestNotArrow(t *testing.T) {
	for _, c := range codecs {
		for _, data := range [][]byte{nil, []byte("hello, world"), []byte("ARROW1\x00\x00"), []byte("PAR1PAR1")} {
			err := openErr(t, c, data)
			var e *traces.Error
			if !errors.As(err, &e) || !e.Fatal || e.Pos.File != "bad"+c.ext || e.Pos.HasRow() {
				t.Errorf("%s: %q: err %v", c.name, data, err)
			}
		}
	}
}

// Columns of mostly distinct values (id, session) are checked for UTF-8 a batch at a time; a value
// that splits a character with its neighbour is still caught, though the batch's bytes as a whole
// are valid.
func TestBulkStringsSplitCharacter(t *testing.T) {
	cols := append(minimalCols(false),
		testCol{"id", arrow.BinaryTypes.String, true, func(b array.Builder) {
			// "a\xc3" + "\xa9b" is "aéb": valid together, invalid apart.
			b.(*array.StringBuilder).AppendValues([]string{"ok-é", "a\xc3", "\xa9b"}, nil)
		}},
		testCol{"session", arrow.BinaryTypes.String, true, func(b array.Builder) {
			b.(*array.StringBuilder).AppendValues([]string{"s1", "", "s3"}, []bool{true, false, true})
		}},
	)
	rec := buildBatch(t, cols, nil)
	defer rec.Release()
	for _, c := range codecs {
		var data []byte
		switch c.name {
		case "arrow":
			data = writeIPCFile(t, rec)
		case "arrows":
			data = writeIPCStream(t, rec)
		default:
			data = writeParquet(t, rec, true)
		}
		t.Run(c.name, func(t *testing.T) {
			d, err := c.read(data, "b"+c.ext)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var r traces.Record
			if err := d.Read(&r); err != nil || r.ID != "ok-é" || r.Session != "s1" {
				t.Fatalf("row 0: id %q session %q, err %v", r.ID, r.Session, err)
			}
			for row := 1; row <= 2; row++ {
				err := d.Read(&r)
				if e, ok := traces.AsError(err); !ok || e.Fatal || e.Key() != "id: invalid UTF-8" {
					t.Fatalf("row %d: err %v, want id: invalid UTF-8", row, err)
				}
			}
			if err := d.Read(&r); err != io.EOF {
				t.Fatalf("after the last row: %v", err)
			}
		})
	}
}
