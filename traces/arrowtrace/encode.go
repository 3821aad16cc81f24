package arrowtrace

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/tarsopt/tarsopt/traces"
)

// Writer writes records to an Arrow IPC file, an Arrow IPC stream or a Parquet file. It gathers
// up to BatchRows records (RowGroupRows for Parquet) in column buffers and writes them as one
// record batch (one Parquet row group), so it holds one batch in memory at a time. Its output
// depends only on the records and the Meta: the same input gives byte-identical files.
//
// Write copies what it needs from the record; Close writes the last batch and the format's
// trailer but does not close the underlying io.Writer.
type Writer struct {
	rows   int // rows per batch
	schema *arrow.Schema
	sink   batchSink
	cols   []colEncoder // one per field, canonical order
	n      int          // rows in the current batch
	bytes  int          // variable-width bytes in the current batch
	err    error        // sticky error of the sink
	closed bool
}

// batchSink is where a Writer's batches go: an IPC writer or a Parquet writer.
type batchSink interface {
	write(rec arrow.RecordBatch) error
	close() error
}

var errClosed = errors.New("arrowtrace: write to a closed Writer")

func newWriter(m traces.Meta, rows int, sink func(*arrow.Schema) (batchSink, error)) (*Writer, error) {
	s, err := Schema(m)
	if err != nil {
		return nil, err
	}
	w := &Writer{rows: rows, schema: s}
	for _, f := range traces.AllFields() {
		w.cols = append(w.cols, newColEncoder(f))
	}
	if w.sink, err = sink(s); err != nil {
		return nil, err
	}
	return w, nil
}

// Earliest and latest times a timestamp[ns] holds.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// Write adds r to the current batch, writing the batch out when it is full. It refuses (without
// writing anything) a record whose Time is zero or outside the years 1678 to 2262 that a
// nanosecond timestamp spans, or whose Turn or Status does not fit an int32; Record.Validate
// rejects such records too.
func (w *Writer) Write(r *traces.Record) error {
	if w.closed {
		return errClosed
	}
	if w.err != nil {
		return w.err
	}
	if r.Time.IsZero() || r.Time.Before(minTime) || r.Time.After(maxTime) {
		return fmt.Errorf("arrowtrace: record time %s cannot be written as timestamp[ns]", r.Time)
	}
	for _, f := range [...]traces.Field{traces.FieldTurn, traces.FieldStatus} {
		if v, ok := r.Int(f); ok && (v < math.MinInt32 || v > math.MaxInt32) {
			return fmt.Errorf("arrowtrace: %s %d does not fit an int32", f, v)
		}
	}
	for _, c := range w.cols {
		w.bytes += c.append(r)
	}
	w.n++
	if w.n >= w.rows || w.bytes >= batchBytes {
		return w.flush()
	}
	return nil
}

// flush writes the current batch, if it has rows.
func (w *Writer) flush() error {
	if w.n == 0 {
		return nil
	}
	arrs := make([]arrow.Array, len(w.cols))
	for i, c := range w.cols {
		arrs[i] = array.MakeFromData(c.data(w.n))
	}
	rec := array.NewRecordBatch(w.schema, arrs, int64(w.n))
	err := w.sink.write(rec)
	rec.Release()
	for i, c := range w.cols {
		arrs[i].Release()
		c.reset()
	}
	w.n, w.bytes = 0, 0
	if err != nil {
		w.err = err
	}
	return err
}

// Close writes the last batch and the trailer. It does not close the underlying io.Writer.
// Calling Close again returns nil.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.err
	if err == nil {
		err = w.flush()
	}
	if cerr := w.sink.close(); err == nil {
		err = cerr
	}
	return err
}

// noCloseWriter hides the Close method of an io.Writer from libraries that close what they are
// given.
type noCloseWriter struct{ w io.Writer }

func (n noCloseWriter) Write(p []byte) (int, error) { return n.w.Write(p) }

// colEncoder gathers one column of a batch.
type colEncoder interface {
	// append adds field values of r and returns the variable-width bytes it added.
	append(r *traces.Record) int
	// data returns the column's n rows as Arrow data over the encoder's buffers, valid until reset.
	data(n int) arrow.ArrayData
	reset()
}

func newColEncoder(f traces.Field) colEncoder {
	switch f.Info().Kind {
	case traces.KindTime:
		return &timeEnc{}
	case traces.KindString, traces.KindEnum:
		return &stringEnc{f: f, offsets: []int32{0}}
	case traces.KindInt:
		return &fixedEnc[int32]{f: f, dt: FieldType(f), get: func(r *traces.Record, f traces.Field) (int32, bool) {
			v, ok := r.Int(f)
			return int32(v), ok
		}}
	case traces.KindTokens, traces.KindDuration:
		return &fixedEnc[int64]{f: f, dt: FieldType(f), get: (*traces.Record).Int}
	case traces.KindHash:
		return &fixedEnc[uint64]{f: f, dt: FieldType(f), get: func(r *traces.Record, f traces.Field) (uint64, bool) {
			v, ok := r.Int(f)
			return uint64(v), ok
		}}
	case traces.KindFloat:
		return &fixedEnc[float64]{f: f, dt: FieldType(f), get: (*traces.Record).Float}
	case traces.KindMoney:
		return &fixedEnc[decimal128.Num]{f: f, dt: FieldType(f), get: func(r *traces.Record, f traces.Field) (decimal128.Num, bool) {
			v, ok := r.Int(f)
			return decimal128.FromI64(v), ok
		}}
	case traces.KindHashList:
		return &listEnc{offsets: []int32{0}}
	}
	panic("arrowtrace: no encoder for field " + f.String())
}

// validity is a column's validity bitmap being built.
type validity struct {
	bits  []byte
	n     int
	nulls int
}

func (v *validity) append(ok bool) {
	if v.n>>3 >= len(v.bits) {
		v.bits = append(v.bits, 0)
	}
	if ok {
		v.bits[v.n>>3] |= 1 << (v.n & 7)
	} else {
		v.nulls++
	}
	v.n++
}

// buffer returns the bitmap, or nil when there are no nulls.
func (v *validity) buffer() *memory.Buffer {
	if v.nulls == 0 {
		return nil
	}
	return memory.NewBufferBytes(v.bits)
}

func (v *validity) reset() {
	clear(v.bits)
	v.bits = v.bits[:0]
	v.n, v.nulls = 0, 0
}

// bytesOf returns the memory of s as bytes.
func bytesOf[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(z)))
}

type timeEnc struct{ vals []int64 }

func (e *timeEnc) append(r *traces.Record) int {
	e.vals = append(e.vals, r.Time.UnixNano())
	return 0
}

func (e *timeEnc) data(n int) arrow.ArrayData {
	return array.NewData(timeType, n, []*memory.Buffer{nil, memory.NewBufferBytes(bytesOf(e.vals))}, nil, 0, 0)
}

func (e *timeEnc) reset() { e.vals = e.vals[:0] }

// fixedEnc gathers a fixed-width column; absent values are nulls holding zero.
type fixedEnc[T any] struct {
	f     traces.Field
	dt    arrow.DataType
	get   func(*traces.Record, traces.Field) (T, bool)
	vals  []T
	valid validity
}

func (e *fixedEnc[T]) append(r *traces.Record) int {
	v, ok := e.get(r, e.f)
	if !ok {
		var z T
		v = z
	}
	e.vals = append(e.vals, v)
	e.valid.append(ok)
	return 0
}

func (e *fixedEnc[T]) data(n int) arrow.ArrayData {
	return array.NewData(e.dt, n, []*memory.Buffer{e.valid.buffer(), memory.NewBufferBytes(bytesOf(e.vals))}, nil, e.valid.nulls, 0)
}

func (e *fixedEnc[T]) reset() {
	e.vals = e.vals[:0]
	e.valid.reset()
}

// stringEnc gathers a utf8 column; an absent string or enum is a null.
type stringEnc struct {
	f       traces.Field
	offsets []int32
	bytes   []byte
	valid   validity
}

func (e *stringEnc) append(r *traces.Record) int {
	n := len(e.bytes)
	ok := r.Has(e.f)
	if ok {
		e.bytes = r.AppendText(e.bytes, e.f)
	}
	e.offsets = append(e.offsets, int32(len(e.bytes)))
	e.valid.append(ok)
	return len(e.bytes) - n
}

func (e *stringEnc) data(n int) arrow.ArrayData {
	return array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{
		e.valid.buffer(), memory.NewBufferBytes(bytesOf(e.offsets)), memory.NewBufferBytes(e.bytes)}, nil, e.valid.nulls, 0)
}

func (e *stringEnc) reset() {
	e.offsets = e.offsets[:1]
	e.bytes = e.bytes[:0]
	e.valid.reset()
}

// listEnc gathers the prefix column; an absent (empty) prefix is a null.
type listEnc struct {
	offsets []int32
	vals    []uint64
	valid   validity
}

func (e *listEnc) append(r *traces.Record) int {
	e.vals = append(e.vals, r.Prefix...)
	e.offsets = append(e.offsets, int32(len(e.vals)))
	e.valid.append(len(r.Prefix) > 0)
	return 8 * len(r.Prefix)
}

func (e *listEnc) data(n int) arrow.ArrayData {
	child := array.NewData(arrow.PrimitiveTypes.Uint64, len(e.vals), []*memory.Buffer{nil, memory.NewBufferBytes(bytesOf(e.vals))}, nil, 0, 0)
	defer child.Release()
	return array.NewData(prefixType, n, []*memory.Buffer{e.valid.buffer(), memory.NewBufferBytes(bytesOf(e.offsets))},
		[]arrow.ArrayData{child}, e.valid.nulls, 0)
}

func (e *listEnc) reset() {
	e.offsets = e.offsets[:1]
	e.vals = e.vals[:0]
	e.valid.reset()
}
