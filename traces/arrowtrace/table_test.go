package arrowtrace

import (
	"bytes"
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

func TestWriteParquetTableReadsBack(t *testing.T) {
	cols := []Column{
		{Name: "max", Float: []float64{30, 40.5}},
		{Name: "index", Int: []int64{0, 1}},
		{Name: "ttl", String: []string{"5m", "1h"}},
		{Name: "pareto", Bool: []bool{true, false}},
	}
	var buf bytes.Buffer
	if err := WriteParquetTable(&buf, cols); err != nil {
		t.Fatal(err)
	}
	pf, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.NewGoAllocator())
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	if tbl.NumRows() != 2 || tbl.NumCols() != 4 {
		t.Fatalf("%d rows, %d columns", tbl.NumRows(), tbl.NumCols())
	}
	if v := tbl.Column(0).Data().Chunk(0).(*array.Float64).Value(1); v != 40.5 {
		t.Errorf("max[1] = %v", v)
	}
	if v := tbl.Column(2).Data().Chunk(0).(*array.String).Value(1); v != "1h" {
		t.Errorf("ttl[1] = %q", v)
	}
	if v := tbl.Column(3).Data().Chunk(0).(*array.Boolean).Value(0); !v {
		t.Error("pareto[0] = false")
	}
	if err := WriteParquetTable(&buf, []Column{{Name: "a", Float: []float64{1}}, {Name: "b", Int: []int64{1, 2}}}); err == nil {
		t.Error("columns of different lengths: no error")
	}
}
