package arrowtrace

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/tarsopt/tarsopt/traces"
)

const corruptParquet = "corrupt parquet data"

// NewParquetReader returns a Reader of the Parquet file in r, size bytes long. It reads one row
// group at a time, in batches of up to BatchRows rows. name is the file name for errors.
func NewParquetReader(r io.ReaderAt, size int64, name string) (_ *Reader, err error) {
	fail := func(err error) error {
		return fatalError(traces.Pos{File: name}, corruptParquet, err)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fail(fmt.Errorf("%v", p))
		}
	}()
	mem := newAllocator()
	props := parquet.NewReaderProperties(mem)
	// Read pages as they are decoded rather than whole column chunks, which in files from other
	// tools (a million rows per row group) can be hundreds of megabytes.
	props.BufferedStreamEnabled = true
	props.BufferSize = 1 << 20
	pf, err := file.NewParquetReader(io.NewSectionReader(r, 0, size), file.WithReadProps(props))
	if err != nil {
		return nil, fail(err)
	}
	var meta traces.Meta
	if kv := pf.MetaData().KeyValueMetadata(); kv != nil {
		v := kv.FindValue(traces.MetaKey)
		var s string
		if v != nil {
			s = *v
		}
		if meta, err = readMeta(s, v != nil, name); err != nil {
			return nil, err
		}
	}
	// Read repeated strings as dictionaries: each distinct value is then decoded once per row group.
	aprops := pqarrow.ArrowReadProperties{BatchSize: BatchRows}
	sc := pf.MetaData().Schema
	for _, f := range dictFields() {
		if i := sc.ColumnIndexByName(f.String()); i >= 0 {
			aprops.SetReadDict(i, true)
		}
	}
	// pqarrow reads Arrow durations (stored as INT64 with the Arrow schema saying duration) only
	// as int64: have it do so, and convert here.
	durs, err := int64Durations(pf, mem)
	if err != nil {
		return nil, fail(err)
	}
	fr, err := pqarrow.NewFileReader(pf, aprops, mem)
	if err != nil {
		return nil, fail(err)
	}
	schema, err := fr.Schema()
	if err != nil {
		return nil, fail(err)
	}
	if len(durs) > 0 {
		fields := schema.Fields()
		for i, fl := range fields {
			if u, ok := durs[fl.Name]; ok && fl.Type.ID() == arrow.INT64 {
				fields[i].Type = &arrow.DurationType{Unit: u}
			} else {
				delete(durs, fl.Name)
			}
		}
		md := schema.Metadata()
		schema = arrow.NewSchema(fields, &md)
	}
	d, err := newReader(name, corruptParquet, schema, meta, &pqSource{fr: fr, nrg: pf.NumRowGroups()})
	if err != nil {
		return nil, err
	}
	for i := range d.cols {
		c := &d.cols[i]
		if u, ok := durs[c.name]; ok {
			c.intDur, c.unit = true, u
		}
	}
	return d, nil
}

// int64Durations rewrites the Arrow schema stored in Parquet file pf so that its duration columns
// read as int64, and returns their units by column name.
func int64Durations(pf *file.Reader, mem memory.Allocator) (map[string]arrow.TimeUnit, error) {
	kv := pf.MetaData().KeyValueMetadata()
	if kv == nil {
		return nil, nil
	}
	v := kv.FindValue(arrowSchemaKey)
	if v == nil {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(*v)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(*v); err != nil {
			return nil, fmt.Errorf("%s: %w", arrowSchemaKey, err)
		}
	}
	ir, err := ipc.NewReaderFromMessageReader(&msgReader{r: bytes.NewReader(b), refs: 1}, ipc.WithAllocator(mem))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", arrowSchemaKey, err)
	}
	s := ir.Schema()
	ir.Release()
	durs := map[string]arrow.TimeUnit{}
	fields := s.Fields()
	for i, fl := range fields {
		if t, ok := fl.Type.(*arrow.DurationType); ok {
			durs[fl.Name] = t.Unit
			fields[i].Type = arrow.PrimitiveTypes.Int64
		}
	}
	if len(durs) == 0 {
		return nil, nil
	}
	md := s.Metadata()
	*v = serializeSchema(arrow.NewSchema(fields, &md), mem)
	return durs, nil
}

// dictFields lists the string and enum fields whose values repeat: all but id and origin.
func dictFields() []traces.Field {
	var fs []traces.Field
	for _, f := range traces.AllFields() {
		k := f.Info().Kind
		if (k == traces.KindString || k == traces.KindEnum) && f != traces.FieldID && f != traces.FieldOrigin {
			fs = append(fs, f)
		}
	}
	return fs
}

// pqSource yields the batches of a Parquet file, row group by row group.
type pqSource struct {
	fr   *pqarrow.FileReader
	nrg  int // number of row groups
	rg   int // row group being read
	rr   pqarrow.RecordReader
	want int64 // rows the row group holds
	got  int64 // rows read from it so far
}

func (s *pqSource) next() (arrow.RecordBatch, error) {
	for {
		if s.rr == nil {
			if s.rg >= s.nrg {
				return nil, io.EOF
			}
			s.want = s.fr.ParquetReader().MetaData().RowGroup(s.rg).NumRows()
			s.got = 0
			rr, err := s.fr.GetRecordReader(context.Background(), nil, []int{s.rg})
			if err != nil {
				return nil, err
			}
			s.rr = rr
		}
		if s.rr.Next() {
			rec := s.rr.RecordBatch()
			s.got += rec.NumRows()
			if s.got > s.want {
				return nil, fmt.Errorf("row group %d holds more than its %d rows", s.rg, s.want)
			}
			return rec, nil
		}
		if err := s.rr.Err(); err != nil {
			return nil, err
		}
		if s.got != s.want {
			return nil, fmt.Errorf("row group %d: read %d of its %d rows", s.rg, s.got, s.want)
		}
		s.rr.Release()
		s.rr = nil
		s.rg++
	}
}

func (s *pqSource) close() {
	if s.rr != nil {
		s.rr.Release()
		s.rr = nil
	}
}

// NewParquetWriter returns a Writer of Parquet to w: zstd compression, dictionary encoding for
// repeated strings, row groups of RowGroupRows rows, and m's JSON as key-value metadata under
// traces.MetaKey.
//
// Parquet has no duration type, so durations are INT64 nanoseconds; the Arrow schema is stored
// under "ARROW:schema", as pyarrow does, so that Arrow-based readers (pyarrow, pandas, Polars,
// this package) restore duration[ns] and the other exact column types.
func NewParquetWriter(w io.Writer, m traces.Meta) (*Writer, error) {
	return newWriter(m, rowGroupRows, func(s *arrow.Schema) (batchSink, error) {
		mem := memory.NewGoAllocator()
		opts := []parquet.WriterProperty{
			parquet.WithAllocator(mem),
			parquet.WithVersion(parquet.V2_LATEST),
			parquet.WithCompression(compress.Codecs.Zstd),
			parquet.WithStoreDecimalAsInteger(true),
			parquet.WithMaxRowGroupLength(int64(rowGroupRows)),
			// Dictionaries for the strings that repeat; numbers and hashes compress as well
			// without, and decode faster.
			parquet.WithDictionaryDefault(false),
		}
		for _, f := range dictFields() {
			opts = append(opts, parquet.WithDictionaryFor(f.String(), true))
		}
		props := parquet.NewWriterProperties(opts...)
		physical, stored := parquetSchemas(s)
		fw, err := pqarrow.NewFileWriter(physical, noCloseWriter{w}, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
		if err != nil {
			return nil, err
		}
		if err := fw.AppendKeyValueMetadata(arrowSchemaKey, serializeSchema(stored, mem)); err != nil {
			return nil, err
		}
		return &pqSink{w: fw, schema: physical}, nil
	})
}

// arrowSchemaKey is the Parquet key-value metadata key of the serialized Arrow schema.
const arrowSchemaKey = "ARROW:schema"

// parquetSchemas returns the schema pqarrow writes (durations as int64) and the one to store for
// readers (the canonical one, with list elements named "element" as in the Parquet columns).
func parquetSchemas(s *arrow.Schema) (physical, stored *arrow.Schema) {
	md := s.Metadata()
	pf := make([]arrow.Field, 0, s.NumFields())
	sf := make([]arrow.Field, 0, s.NumFields())
	for _, fl := range s.Fields() {
		p, st := fl, fl
		switch t := fl.Type.(type) {
		case *arrow.DurationType:
			p.Type = arrow.PrimitiveTypes.Int64
		case *arrow.ListType:
			elem := t.ElemField()
			elem.Name = "element"
			st.Type = arrow.ListOfField(elem)
		}
		pf = append(pf, p)
		sf = append(sf, st)
	}
	return arrow.NewSchema(pf, &md), arrow.NewSchema(sf, &md)
}

// serializeSchema encodes s as pyarrow and pqarrow do: an IPC stream holding only the schema,
// base64-encoded.
func serializeSchema(s *arrow.Schema, mem memory.Allocator) string {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s), ipc.WithAllocator(mem))
	w.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// pqSink writes batches as row groups, retyping durations as int64.
type pqSink struct {
	w      *pqarrow.FileWriter
	schema *arrow.Schema
	cols   []arrow.Array
}

func (s *pqSink) write(rec arrow.RecordBatch) error {
	s.cols = s.cols[:0]
	for i, c := range rec.Columns() {
		if t := s.schema.Field(i).Type; !arrow.TypeEqual(t, c.DataType()) {
			d := c.Data()
			c = array.MakeFromData(array.NewData(t, d.Len(), d.Buffers(), d.Children(), d.NullN(), d.Offset()))
			defer c.Release()
		}
		s.cols = append(s.cols, c)
	}
	r := array.NewRecordBatch(s.schema, s.cols, rec.NumRows())
	defer r.Release()
	return s.w.Write(r)
}

func (s *pqSink) close() error { return s.w.Close() }
