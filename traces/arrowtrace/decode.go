package arrowtrace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/tarsopt/tarsopt/traces"
)

// Reader reads records from an Arrow IPC file, an Arrow IPC stream or a Parquet file, one record
// batch at a time, and decodes each batch 64 rows at a time, column by column. It implements
// traces.Reader. Its memory is one batch, whatever the length of the trace.
//
// Strings in the records it returns are copies (a value repeated in nearby rows is shared), so
// they stay valid and hold no reference to the file's data after the next Read; Prefix is reused
// as traces.Reader says.
// Call Close when done to release the current batch.
type Reader struct {
	name    string
	corrupt string // Reason for corrupt data: "corrupt arrow data" or "corrupt parquet data"
	meta    traces.Meta
	src     batchSource
	cols    []column

	rec  arrow.RecordBatch // current batch, owned by src
	i, n int               // next row in rec to decode, rows in rec
	row  int64             // index in the file of the next row Read returns
	err  error             // sticky: io.EOF or a fatal *traces.Error

	// The block of decoded rows that Read hands out.
	blk     []traces.Record
	errs    []*traces.Error // per row of blk: its first non-fatal problem
	bi, bn  int             // next row in blk, rows in blk
	pending *traces.Error   // fatal error to return after the rows of blk
	pres    []traces.Fields // scratch for decodeBlock
	arena   []byte          // memory for copies of short strings, see ownString
	unmap   func()          // releases the file mapping batches are read from, if any
}

// batchSource yields the record batches of a file.
type batchSource interface {
	// next returns the next batch, valid until the next call, or io.EOF after the last one.
	next() (arrow.RecordBatch, error)
	close()
}

func newReader(name, corrupt string, schema *arrow.Schema, meta traces.Meta, src batchSource) (*Reader, error) {
	cm, err := mapColumns(schema, name)
	if err != nil {
		return nil, err
	}
	d := &Reader{name: name, corrupt: corrupt, meta: meta, src: src}
	for _, c := range cm {
		d.cols = append(d.cols, column{idx: c.idx, f: c.field, kind: c.field.Info().Kind, name: c.field.String()})
	}
	return d, nil
}

// Meta returns the trace metadata stored in the file, or the zero Meta if there is none.
func (d *Reader) Meta() traces.Meta { return d.meta }

// Close releases the current batch. Reading after Close returns an error.
func (d *Reader) Close() error {
	if d.src != nil {
		d.src.close()
		d.src = nil
	}
	d.rec = nil
	if d.unmap != nil {
		// Nothing handed out refers to the mapping: strings and prefixes are copies.
		d.unmap()
		d.unmap = nil
	}
	if d.err == nil {
		d.err = errors.New("arrowtrace: read from a closed Reader")
	}
	return nil
}

// Read fills r with the next record and sets r.Pos to the file and the 0-based row index. It
// returns io.EOF after the last record. A value that cannot be decoded (an unknown enum name,
// invalid UTF-8) gives a non-fatal *traces.Error, and the next Read continues with the next row;
// corrupt data gives a fatal one.
func (d *Reader) Read(r *traces.Record) error {
	if d.bi >= d.bn {
		if err := d.fill(); err != nil {
			return err
		}
	}
	k := d.bi
	d.bi++
	b := &d.blk[k]
	p := r.Prefix[:0]
	*r = *b
	r.Prefix = append(p, b.Prefix...)
	r.Pos = traces.RowPos(d.name, d.row)
	d.row++
	if e := d.errs[k]; e != nil {
		e.Pos = r.Pos
		return e
	}
	return nil
}

// fill decodes the next block of rows, reading the next batch when the current one is done.
func (d *Reader) fill() (err error) {
	if d.err != nil {
		return d.err
	}
	if d.pending != nil {
		// Corrupt data after the rows of the last block.
		d.err, d.pending = d.pending, nil
		return d.err
	}
	defer func() {
		if p := recover(); p != nil {
			d.bi, d.bn = 0, 0
			err = d.fail(traces.RowPos(d.name, d.row), fmt.Errorf("%v", p))
		}
	}()
	for d.i >= d.n {
		if err := d.nextBatch(); err != nil {
			return err
		}
	}
	if d.blk == nil {
		d.blk = make([]traces.Record, blockRows)
		d.errs = make([]*traces.Error, blockRows)
		d.pres = make([]traces.Fields, blockRows)
	}
	n := min(blockRows, d.n-d.i)
	blk := d.blk[:n]
	for j := range blk {
		blk[j] = traces.Record{}
	}
	clear(d.errs[:n])
	m, fatal := d.decodeBlock(d.i, blk, d.errs[:n])
	d.i += n
	d.bi, d.bn = 0, m
	if fatal != nil {
		if m == 0 {
			d.err = fatal
			return fatal
		}
		d.pending = fatal
	}
	return nil
}

// fail records a fatal error about corrupt data at pos.
func (d *Reader) fail(pos traces.Pos, err error) error {
	e := fatalError(pos, d.corrupt, err)
	d.err = e
	return e
}

// fatalError returns the fatal error for err at pos: a read error if err comes from the underlying
// stream, else corrupt data (reason says of what format).
func fatalError(pos traces.Pos, corrupt string, err error) *traces.Error {
	e := &traces.Error{Pos: pos, Reason: corrupt, Detail: err.Error(), Fatal: true, Err: err}
	var io *ioError
	if errors.As(err, &io) {
		e.Reason, e.Detail, e.Err = "read error", io.err.Error(), io.err
	}
	return e
}

// ioError marks an error of the underlying stream, as opposed to bad content.
type ioError struct{ err error }

func (e *ioError) Error() string { return e.err.Error() }
func (e *ioError) Unwrap() error { return e.err }

func (d *Reader) nextBatch() error {
	d.rec = nil
	rec, err := d.src.next()
	if err == io.EOF {
		d.err = io.EOF
		return io.EOF
	}
	if err != nil {
		if e, ok := traces.AsError(err); ok && e.Fatal {
			d.err = e
			return e
		}
		return d.fail(traces.RowPos(d.name, d.row), err)
	}
	if err := d.bind(rec); err != nil {
		return d.fail(traces.RowPos(d.name, d.row), err)
	}
	d.rec, d.i, d.n = rec, 0, int(rec.NumRows())
	return nil
}

// op is how a column is decoded in the current batch.
type op uint8

const (
	opSkip       op = iota // all null in this batch
	opTime                 // i64 in unit
	opInt                  // i64 (tokens, turn, status, fingerprint)
	opDuration             // i64 × mult nanoseconds
	opFloat                // f64
	opStr                  // plain strings
	opDictStr              // dictionary-encoded strings
	opEnum                 // plain strings holding enum names
	opDictEnum             // dictionary-encoded enum names
	opList32               // list<uint64>
	opList64               // large_list<uint64>
	opDecimal              // decimal128 at scale
	opFloatMoney           // float64 dollars
)

// column decodes one column of the current batch into one field.
type column struct {
	idx  int // column index in the batch
	f    traces.Field
	kind traces.Kind
	name string

	op    op
	valid []byte // validity bitmap, nil when the column has no nulls
	voff  int    // offset of row 0 in valid

	i64  []int64
	f64  []float64
	unit arrow.TimeUnit
	mult int64 // nanoseconds per duration unit

	intDur bool // a duration column that Parquet made int64; unit says its unit

	str      stringValuer
	soff     []int32 // for utf8 arrays: offsets of rows 0..n, into sdata
	sdata    []byte
	bulk     []byte // a copy of sdata[bulkBase:] for the batch, valid UTF-8; see bindBulk
	bulkBase int
	cache    [cacheSize + 1]string // recent values of a string column, by strHash; cache[0] is ""
	ccode    [cacheSize + 1]uint8  // the codes of enum names in cache

	dict     arrow.Array // dictionary values, with their state cached by index
	dictData arrow.ArrayData
	dictStr  stringValuer
	dvals    []string
	codes    []uint8
	state    []uint8 // per dictionary index: 0 unresolved, then stOK, stNull or stBad

	off32  []int32 // list offsets (whole buffer; row i at loff+i)
	off64  []int64
	loff   int
	lvals  []uint64
	lvalid []byte // list element validity, nil when no element is null
	lvoff  int

	dec   []decimal128.Num
	scale int32

	scratch  []int64
	scratchF []float64
	scratchD []int64
}

const (
	stOK = iota + 1
	stNull
	stBad
)

// stringValuer is the string arrays' accessor: *array.String, *array.LargeString,
// *array.StringView.
type stringValuer interface{ Value(i int) string }

// bind resolves the typed arrays of batch rec for every column.
func (d *Reader) bind(rec arrow.RecordBatch) error {
	n := int(rec.NumRows())
	if int64(n) != rec.NumRows() || n < 0 {
		return fmt.Errorf("bad batch length %d", rec.NumRows())
	}
	if int(rec.NumCols()) <= d.cols[len(d.cols)-1].idx {
		return fmt.Errorf("batch has %d columns, schema more", rec.NumCols())
	}
	for k := range d.cols {
		c := &d.cols[k]
		arr := rec.Column(c.idx)
		if arr.Len() != n {
			return fmt.Errorf("column %s has %d rows in a batch of %d", c.name, arr.Len(), n)
		}
		c.valid, c.voff = nil, 0
		c.op = opSkip
		if n == 0 {
			continue
		}
		nulls := arr.NullN()
		if nulls >= n {
			continue
		}
		if nulls > 0 {
			c.valid, c.voff = arr.NullBitmapBytes(), arr.Data().Offset()
			if len(c.valid)*8 < c.voff+n {
				return fmt.Errorf("column %s: validity bitmap too short", c.name)
			}
		}
		if err := c.bindValues(arr, n); err != nil {
			return err
		}
	}
	return nil
}

func (c *column) bindValues(arr arrow.Array, n int) error {
	ok := true
	c.i64, c.f64, c.dec = nil, nil, nil
	switch c.kind {
	case traces.KindTime:
		a, is := arr.(*array.Timestamp)
		if ok = is; ok {
			c.op, c.i64, c.unit = opTime, asInt64s(a.Values()), arr.DataType().(*arrow.TimestampType).Unit
		}
	case traces.KindInt, traces.KindTokens, traces.KindHash:
		c.op = opInt
		c.i64, ok = intValues(arr, &c.scratch)
	case traces.KindDuration:
		switch a := arr.(type) {
		case *array.Duration:
			c.op, c.i64, c.unit = opDuration, asInt64s(a.Values()), arr.DataType().(*arrow.DurationType).Unit
		case *array.Int64:
			c.op, c.i64 = opDuration, a.Int64Values()
			ok = c.intDur
		default:
			ok = false
		}
		c.mult = int64(c.unit.Multiplier())
	case traces.KindFloat:
		c.op = opFloat
		switch a := arr.(type) {
		case *array.Float64:
			c.f64 = a.Float64Values()
		case *array.Float32:
			c.f64 = widen(a.Float32Values(), &c.scratchF)
		default:
			ok = false
		}
	case traces.KindString, traces.KindEnum:
		ok = c.bindString(arr)
	case traces.KindHashList:
		ok = c.bindList(arr)
	case traces.KindMoney:
		switch a := arr.(type) {
		case *array.Decimal128:
			c.op, c.dec, c.scale = opDecimal, a.Values(), arr.DataType().(*arrow.Decimal128Type).Scale
		case *array.Float64:
			c.op, c.f64 = opFloatMoney, a.Float64Values()
		default:
			ok = false
		}
	default:
		ok = false
	}
	if !ok {
		return fmt.Errorf("column %s: want %s, got %s", c.name, FieldType(c.f), arr.DataType())
	}
	if (c.i64 != nil && len(c.i64) < n) || (c.f64 != nil && len(c.f64) < n) || (c.dec != nil && len(c.dec) < n) {
		return fmt.Errorf("column %s: values buffer too short", c.name)
	}
	return nil
}

func (c *column) bindString(arr arrow.Array) bool {
	c.i64, c.f64, c.dec = nil, nil, nil
	if dict, ok := arr.(*array.Dictionary); ok {
		idx, ok := intValues(dict.Indices(), &c.scratchD)
		if !ok {
			return false
		}
		values := dict.Dictionary()
		sv, ok := values.(stringValuer)
		if !ok || !isString(values.DataType()) {
			return false
		}
		if len(idx) < arr.Len() {
			return false
		}
		c.i64 = idx
		if c.dictData != values.Data() {
			// A new dictionary: forget what was resolved for the previous one.
			c.dict, c.dictData, c.dictStr = values, values.Data(), sv
			m := values.Len()
			c.dvals = resize(c.dvals, m)
			c.codes = resize(c.codes, m)
			c.state = resize(c.state, m)
			clear(c.state)
		}
		c.op = opDictStr
		if c.kind == traces.KindEnum {
			c.op = opDictEnum
		}
		return true
	}
	if !isString(arr.DataType()) {
		return false
	}
	sv, ok := arr.(stringValuer)
	if !ok {
		return false
	}
	c.str, c.soff, c.sdata = sv, nil, nil
	if a, ok := arr.(*array.String); ok && a.Len() > 0 {
		// Direct access to the offsets and bytes, checked here once.
		off := a.ValueOffsets()
		if len(off) < a.Len()+1 {
			return false
		}
		var data []byte
		if b := a.Data().Buffers()[2]; b != nil {
			data = b.Bytes()
		}
		c.soff, c.sdata = off, data
	}
	c.op = opStr
	if c.kind == traces.KindEnum {
		c.op = opEnum
	}
	c.bindBulk(arr.Len())
	return true
}

// bindBulk prepares a column whose values are mostly distinct (ids, sessions) to be decoded in
// bulk: its string bytes for the whole batch are copied out once and checked for UTF-8 once, and
// each row's value is then a slice of that copy, instead of a per-row hash, copy and check. A
// record that keeps such a string keeps that column's copy alive, no more. Columns of repeated
// values (models, tenants) keep the per-row cache, which shares one copy of each value.
func (c *column) bindBulk(n int) {
	c.bulk, c.bulkBase = nil, 0
	if c.soff == nil || n == 0 || len(c.soff) < n+1 {
		return
	}
	switch c.f {
	case traces.FieldID, traces.FieldSession, traces.FieldParent, traces.FieldOrigin:
	default:
		return
	}
	lo, hi := int(c.soff[0]), int(c.soff[n])
	if lo < 0 || hi < lo || hi > len(c.sdata) {
		return // the per-row path reports the corrupt offsets
	}
	b := bytes.Clone(c.sdata[lo:hi])
	if !utf8.Valid(b) {
		return // the per-row path names the bad row
	}
	c.bulk, c.bulkBase = b, lo
}

func (c *column) bindList(arr arrow.Array) bool {
	var child arrow.Array
	switch a := arr.(type) {
	case *array.List:
		c.op, c.off32, c.loff, child = opList32, a.Offsets(), a.Data().Offset(), a.ListValues()
		if len(c.off32) < c.loff+a.Len()+1 {
			return false
		}
	case *array.LargeList:
		c.op, c.off64, c.loff, child = opList64, a.Offsets(), a.Data().Offset(), a.ListValues()
		if len(c.off64) < c.loff+a.Len()+1 {
			return false
		}
	default:
		return false
	}
	switch v := child.(type) {
	case *array.Uint64:
		c.lvals = v.Uint64Values()
	case *array.Int64:
		c.lvals = asUint64s(v.Int64Values())
	default:
		return false
	}
	c.lvalid, c.lvoff = nil, 0
	if child.NullN() > 0 {
		c.lvalid, c.lvoff = child.NullBitmapBytes(), child.Data().Offset()
	}
	return true
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// asInt64s reinterprets a slice of an int64-based type.
func asInt64s[T ~int64](s []T) []int64 {
	return unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func asUint64s(s []int64) []uint64 {
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// intValues returns the values of an integer array as int64s: directly for 64-bit arrays (uint64
// keeps its bits), widened into *scratch for narrower ones.
func intValues(arr arrow.Array, scratch *[]int64) ([]int64, bool) {
	switch a := arr.(type) {
	case *array.Int64:
		return a.Int64Values(), true
	case *array.Uint64:
		v := a.Uint64Values()
		return unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(v))), len(v)), true
	case *array.Int32:
		return widen(a.Int32Values(), scratch), true
	case *array.Int16:
		return widen(a.Int16Values(), scratch), true
	case *array.Int8:
		return widen(a.Int8Values(), scratch), true
	case *array.Uint32:
		return widen(a.Uint32Values(), scratch), true
	case *array.Uint16:
		return widen(a.Uint16Values(), scratch), true
	case *array.Uint8:
		return widen(a.Uint8Values(), scratch), true
	}
	return nil, false
}

func widen[T int8 | int16 | int32 | uint8 | uint16 | uint32 | float32, U int64 | float64](v []T, scratch *[]U) []U {
	s := resize(*scratch, len(v))
	for i, x := range v {
		s[i] = U(x)
	}
	*scratch = s
	return s
}

// toTime converts a timestamp in unit u to a UTC time.
func toTime(v int64, u arrow.TimeUnit) time.Time {
	switch u {
	case arrow.Nanosecond:
		return time.Unix(0, v).UTC()
	case arrow.Microsecond:
		return time.UnixMicro(v).UTC()
	case arrow.Millisecond:
		return time.UnixMilli(v).UTC()
	}
	return time.Unix(v, 0).UTC()
}

// cacheSize (a power of two) is the number of recent values a string column keeps, so that a value
// repeated in nearby rows costs a comparison instead of a copy.
const cacheSize = 256

// strHash picks the cache slot of a non-empty string from its length and three of its bytes: a
// slot from 1 on; slot 0 holds the empty string.
func strHash(s string) uint {
	n := uint(len(s))
	return (n*0x9e3779b1^uint(s[0])*0x85eb^uint(s[n-1])<<7^uint(s[n/2])*0xc2b3)&(cacheSize-1) + 1
}

// arenaSize is the size of the chunks that copied strings are carved from: one allocation serves
// many short strings, and a string kept by the caller keeps at most this much memory alive.
const arenaSize = 1 << 10

// ownString returns a copy of s that holds no reference to the batch, or ok false if s is not
// valid UTF-8. Repeated values are shared through the columns' caches rather than a global intern
// table: in real traces most sessions and every id are new, and a table would only grow and churn.
func (d *Reader) ownString(s string) (string, bool) {
	if !utf8.ValidString(s) {
		return "", false
	}
	if len(s) > arenaSize/8 {
		return strings.Clone(s), true
	}
	if cap(d.arena)-len(d.arena) < len(s) {
		d.arena = make([]byte, 0, arenaSize)
	}
	// Bytes once appended are never written again, so the string stays immutable.
	at := len(d.arena)
	d.arena = append(d.arena, s...)
	return unsafe.String(&d.arena[at], len(s)), true
}

// quote shows a bad value in an error, cut to 40 bytes.
func quote(s string) string {
	const max = 40
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}

// parseEnum returns the code of enum name s for field f, or 0 if s names none.
func parseEnum(f traces.Field, s string) uint8 { return traces.ParseEnum(f, s) }

// enumName returns the name of enum code for field f, a string the Reader owns.
func enumName(f traces.Field, code uint8) string { return traces.EnumName(f, code) }

func setEnum(r *traces.Record, f traces.Field, code uint8) { r.SetEnumCode(f, code) }

var pow10 = [...]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// decimalNanos converts a decimal128 at scale to nano-units, rounding half away from zero below
// the ninth decimal; ok is false when the value does not fit an int64.
func decimalNanos(n decimal128.Num, scale int32) (int64, bool) {
	lo, hi := n.LowBits(), n.HighBits()
	if scale == moneyScale && hi == int64(lo)>>63 {
		return int64(lo), true
	}
	if scale < 0 || scale > 38 {
		return 0, false
	}
	if scale > moneyScale {
		n = n.ReduceScaleBy(scale-moneyScale, true)
		scale = moneyScale
	}
	lo, hi = n.LowBits(), n.HighBits()
	if hi != int64(lo)>>63 {
		return 0, false
	}
	v := int64(lo)
	m := pow10[moneyScale-scale]
	if v > math.MaxInt64/m || v < math.MinInt64/m {
		return 0, false
	}
	return v * m, true
}

// Offsets in a Record of the fields that the column loops assign directly, by field.
var (
	int64Off, float64Off, stringOff, enumOff [traces.NumFields]uintptr
	hasInt64                                 traces.Fields
	turnOff, statusOff, fingerprintOff       uintptr
)

func init() {
	var r traces.Record
	base := uintptr(unsafe.Pointer(&r))
	at := func(p unsafe.Pointer) uintptr { return uintptr(p) - base }
	// The pointer types make the compiler check the type of each field.
	for f, p := range map[traces.Field]*int64{
		traces.FieldInput: &r.Input, traces.FieldCacheWrite5m: &r.CacheWrite5m, traces.FieldCacheWrite1h: &r.CacheWrite1h,
		traces.FieldCacheRead: &r.CacheRead, traces.FieldOutput: &r.Output, traces.FieldReasoning: &r.Reasoning,
		traces.FieldSystemTokens: &r.SystemTokens, traces.FieldHistoryTokens: &r.HistoryTokens, traces.FieldNewTokens: &r.NewTokens,
		traces.FieldMaxDelay: (*int64)(&r.MaxDelay), traces.FieldLatency: (*int64)(&r.Latency), traces.FieldTTFT: (*int64)(&r.TTFT),
		traces.FieldCost: (*int64)(&r.Cost),
	} {
		int64Off[f], hasInt64 = at(unsafe.Pointer(p)), hasInt64|1<<f
	}
	var (
		turn, status *int    = &r.Turn, &r.Status
		fingerprint  *uint64 = &r.Fingerprint
	)
	turnOff, statusOff, fingerprintOff = at(unsafe.Pointer(turn)), at(unsafe.Pointer(status)), at(unsafe.Pointer(fingerprint))
	for f, p := range map[traces.Field]*uint8{
		traces.FieldQueryType: (*uint8)(&r.QueryType), traces.FieldPriority: (*uint8)(&r.Priority),
		traces.FieldServiceTier: (*uint8)(&r.ServiceTier), traces.FieldSpeed: (*uint8)(&r.Speed),
	} {
		enumOff[f] = at(unsafe.Pointer(p))
	}
	for f, p := range map[traces.Field]*float64{traces.FieldTemperature: &r.Temperature, traces.FieldComplexity: &r.Complexity} {
		float64Off[f] = at(unsafe.Pointer(p))
	}
	for f, p := range map[traces.Field]*string{
		traces.FieldID: &r.ID, traces.FieldTenant: &r.Tenant, traces.FieldSession: &r.Session, traces.FieldAgent: &r.Agent,
		traces.FieldParent: &r.Parent, traces.FieldProvider: &r.Provider, traces.FieldModel: &r.Model,
		traces.FieldError: &r.Error, traces.FieldOrigin: &r.Origin,
	} {
		stringOff[f] = at(unsafe.Pointer(p))
	}
}

// corruptAt returns the fatal error for corrupt data in column c at row j of the block.
func (d *Reader) corruptAt(j int, c *column, detail string) *traces.Error {
	return &traces.Error{Pos: traces.RowPos(d.name, d.row+int64(j)), Field: c.name, Reason: d.corrupt, Detail: detail, Fatal: true}
}

// badString records the error for a string value that cacheString refused.
func (d *Reader) badString(errs []*traces.Error, j int, c *column, s string) {
	rowError(errs, j, c, "invalid UTF-8", quote(s))
	if c.op == opEnum && utf8.ValidString(s) {
		errs[j].Reason = "unknown value"
	}
}

// cacheString puts the owned copy of non-empty s (the enum name, for an enum column) in slot h of
// c's cache, or returns false if s is not valid UTF-8 or not a known enum name.
func (d *Reader) cacheString(c *column, h uint, s string) bool {
	if c.op == opEnum {
		code := parseEnum(c.f, s)
		if code == 0 {
			return false
		}
		c.cache[h], c.ccode[h] = enumName(c.f, code), code
		return true
	}
	v, ok := d.ownString(s)
	if ok {
		c.cache[h] = v
	}
	return ok
}

// stringsSlow decodes a string or enum column that is not plain utf8 (large_utf8, utf8_view), for
// the rows whose bit in vw is set.
func (d *Reader) stringsSlow(c *column, lo int, vw uint64, blk []traces.Record, errs []*traces.Error) {
	for m := vw; m != 0; m &= m - 1 {
		j := bits.TrailingZeros64(m)
		s := c.str.Value(lo + j)
		if s == "" {
			continue
		}
		h := strHash(s)
		if c.cache[h] != s && !d.cacheString(c, h, s) {
			d.badString(errs, j, c, s)
			continue
		}
		if c.op == opEnum {
			setEnum(&blk[j], c.f, c.ccode[h])
		} else {
			*fieldAt[string](&blk[j], stringOff[c.f]) = c.cache[h]
		}
	}
}

// fieldAt returns the address of the field at offset off in r.
func fieldAt[T any](r *traces.Record, off uintptr) *T {
	return (*T)(unsafe.Add(unsafe.Pointer(r), off))
}

// blockRows is how many rows decodeBlock decodes at a time, column by column: few enough that the
// records stay in cache between columns.
const blockRows = 64

// bit reports whether bit i of bitmap b is set.
func bit(b []byte, i int) bool { return b[i>>3]&(1<<(i&7)) != 0 }

// rowError records the first problem with row j of a block.
func rowError(errs []*traces.Error, j int, c *column, reason, value string) {
	if errs[j] == nil {
		errs[j] = &traces.Error{Field: c.name, Reason: reason, Detail: value}
	}
}

// validBits returns the validity of rows [i, i+n) of column c (0 < n ≤ 64) as the low n bits of
// a word: the loops below visit the rows that are not null by the word's set bits, or use the bits
// as masks, rather than branching on each row's validity, which mispredicts when nulls are
// scattered.
func (c *column) validBits(i, n int) uint64 {
	all := ^uint64(0) >> (64 - n)
	if c.valid == nil {
		return all
	}
	j := c.voff + i
	var w uint64
	if j&7 == 0 && j>>3+8 <= len(c.valid) {
		w = binary.LittleEndian.Uint64(c.valid[j>>3:])
	} else {
		for k := range n {
			if bit(c.valid, j+k) {
				w |= 1 << k
			}
		}
	}
	return w & all
}

// decodeBlock fills blk (zeroed records, at most 64) from the rows of the current batch starting
// at lo, one column at a time; errs receives each row's first non-fatal problem. It returns how
// many rows were decoded: fewer than len(blk) when corrupt data stops decoding, with the fatal
// error.
func (d *Reader) decodeBlock(lo int, blk []traces.Record, errs []*traces.Error) (int, *traces.Error) {
	var fatal *traces.Error
	pres := d.pres[:len(blk)]
	clear(pres)
	for k := range d.cols {
		c := &d.cols[k]
		if c.op == opSkip {
			continue
		}
		n := len(blk)
		vw := c.validBits(lo, n)
		f := c.f
		switch c.op {
		case opTime:
			vals := c.i64[lo : lo+n]
			for m := vw; m != 0; m &= m - 1 {
				j := bits.TrailingZeros64(m)
				blk[j].Time = toTime(vals[j], c.unit)
			}
		case opInt:
			vals := c.i64[lo : lo+n]
			switch {
			case hasInt64.Has(f):
				setInts[int64](blk, pres, f, vw, vals, int64Off[f])
			case f == traces.FieldTurn:
				setInts[int](blk, pres, f, vw, vals, turnOff)
			case f == traces.FieldStatus:
				setInts[int](blk, pres, f, vw, vals, statusOff)
			case f == traces.FieldFingerprint:
				setInts[uint64](blk, pres, f, vw, vals, fingerprintOff)
			}
		case opDuration:
			vals := c.i64[lo : lo+n]
			off, mult := int64Off[f], c.mult
			if mult == 1 {
				setInts[int64](blk, pres, f, vw, vals, off)
				break
			}
			for m := vw; m != 0; m &= m - 1 {
				j := bits.TrailingZeros64(m)
				v := vals[j]
				if v > math.MaxInt64/mult || v < math.MinInt64/mult {
					rowError(errs, j, c, "out of range", strconv.FormatInt(v, 10)+c.unit.String())
					continue
				}
				*fieldAt[int64](&blk[j], off) = v * mult
				pres[j] |= 1 << f
			}
		case opFloat:
			setFloats(blk, pres, f, vw, c.f64[lo:lo+n], float64Off[f])
		case opStr, opEnum:
			if c.soff == nil {
				d.stringsSlow(c, lo, vw, blk, errs)
				break
			}
			soff, data := c.soff[lo:lo+n+1], c.sdata
			size := len(data)
			if c.bulk != nil {
				bulk, base, off := c.bulk, c.bulkBase, stringOff[f]
				for m := vw; m != 0; m &= m - 1 {
					j := bits.TrailingZeros64(m)
					at, end := int(soff[j])-base, int(soff[j+1])-base
					if at < 0 || end < at || end > len(bulk) {
						fatal = d.corruptAt(j, c, fmt.Sprintf("string offsets [%d, %d) out of range [0, %d)", at+base, end+base, size))
						break
					}
					if end == at {
						continue
					}
					// The batch's bytes are valid UTF-8 as a whole; a value is too unless it
					// starts or ends inside a character.
					if !utf8.RuneStart(bulk[at]) || (end < len(bulk) && !utf8.RuneStart(bulk[end])) {
						d.badString(errs, j, c, string(bulk[at:end]))
						continue
					}
					*fieldAt[string](&blk[j], off) = unsafe.String(&bulk[at], end-at)
				}
				break
			}
			off, enum := stringOff[f], c.op == opEnum
			if enum {
				off = enumOff[f]
			}
			for m := vw; m != 0; m &= m - 1 {
				j := bits.TrailingZeros64(m)
				at, end := int(soff[j]), int(soff[j+1])
				if at < 0 || end < at || end > size {
					fatal = d.corruptAt(j, c, fmt.Sprintf("string offsets [%d, %d) out of range [0, %d)", at, end, size))
					break
				}
				n := end - at
				if n == 0 {
					continue
				}
				s := unsafe.String(&data[at], n)
				h := strHash(s)
				if c.cache[h] != s && !d.cacheString(c, h, s) {
					d.badString(errs, j, c, s)
					continue
				}
				if enum {
					*fieldAt[uint8](&blk[j], off) = c.ccode[h]
				} else {
					*fieldAt[string](&blk[j], off) = c.cache[h]
				}
			}
		case opDictStr, opDictEnum:
			idx := c.i64[lo : lo+n]
			off := stringOff[f]
			for m := vw; m != 0; m &= m - 1 {
				j := bits.TrailingZeros64(m)
				k := idx[j]
				if k < 0 || k >= int64(len(c.state)) {
					fatal = d.corruptAt(j, c, fmt.Sprintf("dictionary index %d out of range [0, %d)", k, len(c.state)))
					break
				}
				if c.state[k] == 0 {
					c.resolve(d, int(k))
				}
				switch c.state[k] {
				case stNull:
					continue
				case stBad:
					s := c.dictStr.Value(int(k))
					if c.op == opDictEnum && utf8.ValidString(s) {
						rowError(errs, j, c, "unknown value", quote(s))
					} else {
						rowError(errs, j, c, "invalid UTF-8", quote(s))
					}
					continue
				}
				if c.op == opDictEnum {
					setEnum(&blk[j], f, c.codes[k])
				} else {
					*fieldAt[string](&blk[j], off) = c.dvals[k]
				}
			}
		case opList32, opList64:
			for m := vw; m != 0; m &= m - 1 {
				j := bits.TrailingZeros64(m)
				i := c.loff + lo + j
				var a, b int64
				if c.op == opList32 {
					a, b = int64(c.off32[i]), int64(c.off32[i+1])
				} else {
					a, b = c.off64[i], c.off64[i+1]
				}
				if a < 0 || b < a || b > int64(len(c.lvals)) {
					fatal = d.corruptAt(j, c, fmt.Sprintf("list offsets [%d, %d) out of range [0, %d)", a, b, len(c.lvals)))
					break
				}
				if c.lvalid != nil && !allValid(c.lvalid, c.lvoff+int(a), c.lvoff+int(b)) {
					rowError(errs, j, c, "null hash", "")
					continue
				}
				// A view of the batch: Read copies it into the caller's Prefix.
				blk[j].Prefix = c.lvals[a:b:b]
			}
		case opDecimal:
			vals := c.dec[lo : lo+n]
			off := int64Off[f]
			for m := vw; m != 0; m &= m - 1 {
				j := bits.TrailingZeros64(m)
				v, ok := decimalNanos(vals[j], c.scale)
				if !ok {
					rowError(errs, j, c, "out of range", vals[j].ToString(c.scale))
					continue
				}
				*fieldAt[int64](&blk[j], off) = v
				pres[j] |= 1 << f
			}
		case opFloatMoney:
			vals := c.f64[lo : lo+n]
			off := int64Off[f]
			for m := vw; m != 0; m &= m - 1 {
				j := bits.TrailingZeros64(m)
				x := vals[j]
				v := math.Round(x * 1e9)
				if !(v >= math.MinInt64 && v < math.MaxInt64) {
					rowError(errs, j, c, "bad amount", strconv.FormatFloat(x, 'g', -1, 64))
					continue
				}
				*fieldAt[int64](&blk[j], off) = int64(v)
				pres[j] |= 1 << f
			}
		}
		if fatal != nil {
			blk = blk[:fatal.Pos.Row-d.row]
			if len(blk) == 0 {
				break
			}
		}
	}
	// Presence of the numeric fields, gathered without branching on each value.
	for j := range blk {
		blk[j].SetAll(pres[j])
	}
	return len(blk), fatal
}

// setInts assigns an integer column to the field at offset off (of type D) of the rows of blk and
// adds f to the presence of the rows whose bit in vw is set; the others get zero. It does not
// branch on validity.
func setInts[D ~int | ~int64 | ~uint64](blk []traces.Record, pres []traces.Fields, f traces.Field, vw uint64, vals []int64, off uintptr) {
	vals = vals[:len(blk)]
	pres = pres[:len(blk)]
	for j, v := range vals {
		b := vw >> j & 1
		*fieldAt[D](&blk[j], off) = D(v & -int64(b))
		pres[j] |= traces.Fields(b << f)
	}
}

// setFloats is setInts for float columns.
func setFloats(blk []traces.Record, pres []traces.Fields, f traces.Field, vw uint64, vals []float64, off uintptr) {
	vals = vals[:len(blk)]
	pres = pres[:len(blk)]
	for j, v := range vals {
		b := vw >> j & 1
		*fieldAt[float64](&blk[j], off) = math.Float64frombits(math.Float64bits(v) & -b)
		pres[j] |= traces.Fields(b << f)
	}
}

func allValid(bits []byte, from, to int) bool {
	for j := from; j < to; j++ {
		if bits[j>>3]&(1<<(j&7)) == 0 {
			return false
		}
	}
	return true
}

// resolve decodes dictionary entry k once for the whole dictionary's life.
func (c *column) resolve(d *Reader, k int) {
	if c.dict.IsNull(k) {
		c.state[k] = stNull
		return
	}
	s := c.dictStr.Value(k)
	if s == "" {
		c.state[k] = stNull
		return
	}
	if c.kind == traces.KindEnum {
		code := parseEnum(c.f, s)
		if code == 0 {
			c.state[k] = stBad
			return
		}
		c.codes[k], c.state[k] = code, stOK
		return
	}
	s, ok := d.ownString(s)
	if !ok {
		c.state[k] = stBad
		return
	}
	c.dvals[k], c.state[k] = s, stOK
}
