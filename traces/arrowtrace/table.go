package arrowtrace

import (
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Column is one column of a results table (a sweep's points, a Monte Carlo's samples), for
// WriteParquetTable. Exactly one of its slices is set.
type Column struct {
	Name   string
	Float  []float64
	Int    []int64
	String []string
	Bool   []bool
}

func (c *Column) len() (int, arrow.DataType, error) {
	n, set := 0, 0
	var t arrow.DataType
	if c.Float != nil {
		n, t, set = len(c.Float), arrow.PrimitiveTypes.Float64, set+1
	}
	if c.Int != nil {
		n, t, set = len(c.Int), arrow.PrimitiveTypes.Int64, set+1
	}
	if c.String != nil {
		n, t, set = len(c.String), arrow.BinaryTypes.String, set+1
	}
	if c.Bool != nil {
		n, t, set = len(c.Bool), arrow.FixedWidthTypes.Boolean, set+1
	}
	if set != 1 {
		return 0, nil, fmt.Errorf("arrowtrace: column %q: want exactly one of Float, Int, String, Bool", c.Name)
	}
	return n, t, nil
}

// WriteParquetTable writes the columns, all of one length and none nullable, as one Parquet file
// (zstd-compressed, one row group) that DuckDB, pandas or polars read directly. It does not close
// w.
func WriteParquetTable(w io.Writer, cols []Column) error {
	mem := memory.NewGoAllocator()
	fields := make([]arrow.Field, len(cols))
	arrs := make([]arrow.Array, len(cols))
	rows := -1
	for i := range cols {
		c := &cols[i]
		n, t, err := c.len()
		if err != nil {
			return err
		}
		if rows >= 0 && n != rows {
			return fmt.Errorf("arrowtrace: column %q has %d rows, the first %d", c.Name, n, rows)
		}
		rows = n
		fields[i] = arrow.Field{Name: c.Name, Type: t}
		switch {
		case c.Float != nil:
			b := array.NewFloat64Builder(mem)
			b.AppendValues(c.Float, nil)
			arrs[i] = b.NewArray()
			b.Release()
		case c.Int != nil:
			b := array.NewInt64Builder(mem)
			b.AppendValues(c.Int, nil)
			arrs[i] = b.NewArray()
			b.Release()
		case c.String != nil:
			b := array.NewStringBuilder(mem)
			b.AppendValues(c.String, nil)
			arrs[i] = b.NewArray()
			b.Release()
		default:
			b := array.NewBooleanBuilder(mem)
			b.AppendValues(c.Bool, nil)
			arrs[i] = b.NewArray()
			b.Release()
		}
		defer arrs[i].Release()
	}
	schema := arrow.NewSchema(fields, nil)
	rec := array.NewRecordBatch(schema, arrs, int64(max(rows, 0)))
	defer rec.Release()
	// pqarrow closes a writer that is an io.Closer; the caller owns w.
	pw, err := pqarrow.NewFileWriter(schema, struct{ io.Writer }{w},
		parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithAllocator(mem)),
		pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
	if err != nil {
		return err
	}
	if err := pw.Write(rec); err != nil {
		pw.Close()
		return err
	}
	return pw.Close()
}
