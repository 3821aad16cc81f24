package arrowtrace

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/tarsopt/tarsopt/traces"
)

// BatchRows is the most rows a Writer puts in one Arrow record batch, and the number of rows a
// Reader asks of Parquet at a time. A batch is cut early when its strings and prefix hashes
// reach 64 MiB, so that long prompts do not make batches huge. Batches of this size stay in the
// processor's cache between reading and decoding, which makes decoding faster than with batches of
// 64Ki rows (tens of megabytes), and they are still large enough that per-batch costs vanish.
const BatchRows = 1 << 13

// RowGroupRows is the most rows a Parquet Writer puts in one row group: Parquet readers want row
// groups larger than Arrow batches.
const RowGroupRows = 1 << 16

// batchRows, rowGroupRows and batchBytes are the flush thresholds; tests lower the row counts to
// exercise many batches with few records.
var (
	batchRows    = BatchRows
	rowGroupRows = RowGroupRows
	batchBytes   = 64 << 20
)

// Arrow types of the canonical columns, by field kind.
var (
	timeType   = &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}
	durType    = &arrow.DurationType{Unit: arrow.Nanosecond}
	moneyType  = &arrow.Decimal128Type{Precision: 18, Scale: 9}
	prefixType = arrow.ListOfNonNullable(arrow.PrimitiveTypes.Uint64)
)

// moneyScale is the scale of the cost column: money.Amount counts nano-dollars.
const moneyScale = 9

// FieldType returns the Arrow type of field f's column as writers write it:
//
//	time                          timestamp[ns, tz=UTC]
//	strings and enums             utf8 (an enum holds its name, such as "fact_lookup")
//	turn, status                  int32
//	token counts                  int64
//	durations                     duration[ns]
//	floats                        float64
//	fingerprint                   uint64
//	prefix                        list<uint64 not null>
//	cost_usd                      decimal128(18, 9): US dollars, exact to the nano-dollar
func FieldType(f traces.Field) arrow.DataType {
	switch f.Info().Kind {
	case traces.KindTime:
		return timeType
	case traces.KindString, traces.KindEnum:
		return arrow.BinaryTypes.String
	case traces.KindInt:
		return arrow.PrimitiveTypes.Int32
	case traces.KindTokens:
		return arrow.PrimitiveTypes.Int64
	case traces.KindDuration:
		return durType
	case traces.KindFloat:
		return arrow.PrimitiveTypes.Float64
	case traces.KindHash:
		return arrow.PrimitiveTypes.Uint64
	case traces.KindHashList:
		return prefixType
	case traces.KindMoney:
		return moneyType
	}
	panic("arrowtrace: no Arrow type for field " + f.String())
}

// required reports whether f's column is non-nullable: time and model.
func required(f traces.Field) bool { return f == traces.FieldTime || f == traces.FieldModel }

// Schema returns the canonical Arrow schema: one column per field in the order of
// traces.AllFields, named as Field.Info().Name, typed as FieldType says, nullable except time and
// model. The schema metadata holds m's JSON (Meta.MarshalJSON) under traces.MetaKey.
func Schema(m traces.Meta) (*arrow.Schema, error) {
	j, err := m.MarshalJSON()
	if err != nil {
		return nil, err
	}
	md := arrow.NewMetadata([]string{traces.MetaKey}, []string{string(j)})
	fields := make([]arrow.Field, 0, traces.NumFields)
	for _, f := range traces.AllFields() {
		fields = append(fields, arrow.Field{Name: f.Info().Name, Type: FieldType(f), Nullable: !required(f)})
	}
	return arrow.NewSchema(fields, &md), nil
}

// isString reports whether t holds text: utf8, large_utf8 or utf8_view.
func isString(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return true
	}
	return false
}

// isInt reports whether t is a signed or unsigned integer type.
func isInt(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return true
	}
	return false
}

// accepts reports whether a reader can decode field f from a column of type t: the canonical type
// or a compatible one.
func accepts(f traces.Field, t arrow.DataType) bool {
	switch f.Info().Kind {
	case traces.KindTime:
		return t.ID() == arrow.TIMESTAMP
	case traces.KindString, traces.KindEnum:
		if d, ok := t.(*arrow.DictionaryType); ok {
			return isInt(d.IndexType) && isString(d.ValueType)
		}
		return isString(t)
	case traces.KindInt, traces.KindTokens, traces.KindHash:
		return isInt(t)
	case traces.KindDuration:
		return t.ID() == arrow.DURATION
	case traces.KindFloat:
		return t.ID() == arrow.FLOAT64 || t.ID() == arrow.FLOAT32
	case traces.KindHashList:
		var elem arrow.DataType
		switch l := t.(type) {
		case *arrow.ListType:
			elem = l.Elem()
		case *arrow.LargeListType:
			elem = l.Elem()
		default:
			return false
		}
		return elem.ID() == arrow.UINT64 || elem.ID() == arrow.INT64
	case traces.KindMoney:
		return t.ID() == arrow.DECIMAL128 || t.ID() == arrow.FLOAT64
	}
	return false
}

// colMap says which field each column of a file's schema holds.
type colMap struct {
	idx   int // column index in the schema and in each batch
	field traces.Field
}

// mapColumns maps the columns of schema s to fields by name, checking that every column is a
// known field of an acceptable type, that none repeats, and that time and model are present.
func mapColumns(s *arrow.Schema, name string) ([]colMap, error) {
	var seen traces.Fields
	var cols []colMap
	pos := traces.Pos{File: name}
	for i, fl := range s.Fields() {
		f, ok := traces.FieldByName(fl.Name)
		if !ok {
			return nil, &traces.Error{Pos: pos, Field: fl.Name, Reason: "unknown column", Fatal: true}
		}
		if seen.Has(f) {
			return nil, &traces.Error{Pos: pos, Field: fl.Name, Reason: "duplicate column", Fatal: true}
		}
		seen |= 1 << f
		if !accepts(f, fl.Type) {
			return nil, wrongType(pos, f, fl.Type)
		}
		cols = append(cols, colMap{idx: i, field: f})
	}
	for _, f := range []traces.Field{traces.FieldTime, traces.FieldModel} {
		if !seen.Has(f) {
			return nil, &traces.Error{Pos: pos, Field: f.String(), Reason: "missing column", Fatal: true}
		}
	}
	return cols, nil
}

func wrongType(pos traces.Pos, f traces.Field, got arrow.DataType) *traces.Error {
	return &traces.Error{Pos: pos, Field: f.String(), Reason: "wrong column type",
		Detail: fmt.Sprintf("want %s, got %s", FieldType(f), got), Fatal: true}
}

// readMeta decodes the trace metadata JSON found under traces.MetaKey; a missing key gives the
// zero Meta.
func readMeta(v string, found bool, name string) (traces.Meta, error) {
	var m traces.Meta
	if !found {
		return m, nil
	}
	if err := m.UnmarshalJSON([]byte(v)); err != nil {
		return m, &traces.Error{Pos: traces.Pos{File: name}, Field: traces.MetaKey, Reason: "bad header", Detail: err.Error(), Fatal: true, Err: err}
	}
	return m, nil
}
