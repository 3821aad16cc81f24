package traces

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

// The CSV format: an optional first line "# " followed by the Meta JSON, then a header row of field
// names, then one row per record. Every cell holds the field's text form (see Kind); an empty cell
// is an absent field. Columns may come in any order and any may be missing but time and model;
// unknown columns are errors. Prefix hashes are separated by spaces. pandas reads it with
// read_csv(path, comment='#').
func init() {
	RegisterFormat(Format{
		Name:       "csv",
		Extensions: []string{".csv"},
		Match:      matchCSV,
		NewReader:  func(in Input) (Reader, error) { return NewCSVReader(in.R, in.Name) },
		NewWriter:  func(w io.Writer, m Meta) (Writer, error) { return NewCSVWriter(w, m) },
	})
}

func matchCSV(head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if bytes.HasPrefix(line, []byte("#")) {
		return isHeader(bytes.TrimSpace(line[1:]))
	}
	cols := strings.Split(string(line), ",")
	hasTime := false
	for _, c := range cols {
		c = strings.Trim(strings.TrimSpace(c), `"`)
		if _, ok := fieldByName[c]; !ok {
			return false
		}
		hasTime = hasTime || c == "time"
	}
	return hasTime
}

// CSVReader decodes the CSV format.
type CSVReader struct {
	name   string
	cr     *csv.Reader
	meta   Meta
	cols   []Field
	offset int64 // lines before the csv.Reader's first line
	intern map[string]string
	done   bool
}

// NewCSVReader returns a reader of the CSV format from r, reading the metadata line and the header
// row. name is the file name for error messages.
func NewCSVReader(r io.Reader, name string) (*CSVReader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	d := &CSVReader{name: name, intern: make(map[string]string)}
	if bom, _ := br.Peek(3); bytes.Equal(bom, utf8BOM) {
		br.Discard(3)
	}
	if c, _ := br.Peek(1); len(c) == 1 && c[0] == '#' {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, readError(Pos{File: name, Line: 1}, err)
		}
		d.offset = 1
		line = bytes.TrimSpace(line[1:])
		if isHeader(line) {
			if err := d.meta.UnmarshalJSON(line); err != nil {
				return nil, &Error{Pos: Pos{File: name, Line: 1}, Field: MetaKey, Reason: "bad header", Detail: err.Error(), Fatal: true}
			}
		}
	}
	d.cr = csv.NewReader(br)
	d.cr.ReuseRecord = true
	header, err := d.cr.Read()
	if err == io.EOF {
		return nil, &Error{Pos: Pos{File: name, Line: d.offset + 1}, Reason: "missing header row", Fatal: true}
	}
	if err != nil {
		return nil, d.csvError(err)
	}
	seen := map[Field]bool{}
	for _, h := range header {
		f, ok := fieldByName[strings.TrimSpace(h)]
		if !ok {
			return nil, &Error{Pos: Pos{File: name, Line: d.offset + 1}, Field: h, Reason: "unknown column", Fatal: true}
		}
		if seen[f] {
			return nil, &Error{Pos: Pos{File: name, Line: d.offset + 1}, Field: h, Reason: "duplicate column", Fatal: true}
		}
		seen[f] = true
		d.cols = append(d.cols, f)
	}
	for _, f := range []Field{FieldTime, FieldModel} {
		if !seen[f] {
			return nil, &Error{Pos: Pos{File: name, Line: d.offset + 1}, Field: f.String(), Reason: "missing column", Fatal: true}
		}
	}
	d.cr.FieldsPerRecord = len(d.cols)
	return d, nil
}

// Meta returns the metadata line's Meta, or the zero Meta.
func (d *CSVReader) Meta() Meta { return d.meta }

func (d *CSVReader) csvError(err error) *Error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		e := &Error{Pos: Pos{File: d.name, Line: int64(pe.StartLine) + d.offset}, Reason: "malformed CSV", Detail: pe.Err.Error()}
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			e.Reason = "wrong number of cells"
			e.Detail = ""
		}
		return e
	}
	return readError(Pos{File: d.name}, err)
}

// Read implements Reader.
func (d *CSVReader) Read(r *Record) error {
	if d.done {
		return io.EOF
	}
	row, err := d.cr.Read()
	if err == io.EOF {
		d.done = true
		return io.EOF
	}
	r.Reset()
	if err != nil {
		e := d.csvError(err)
		if !errors.Is(err, csv.ErrFieldCount) {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				e.Fatal = true
			}
		}
		return e
	}
	line, _ := d.cr.FieldPos(0)
	r.Pos = Pos{File: d.name, Line: int64(line) + d.offset}
	for i, cell := range row {
		if cell == "" {
			continue
		}
		f := d.cols[i]
		if fieldInfo[f].Kind == KindString {
			if !utf8.ValidString(cell) {
				return &Error{Pos: r.Pos, Field: f.String(), Reason: "invalid UTF-8"}
			}
			if f == FieldID || f == FieldOrigin {
				r.SetString(f, strings.Clone(cell))
			} else {
				r.SetString(f, d.internString(cell))
			}
			continue
		}
		if ve := r.setText(f, []byte(cell)); ve != nil {
			return &Error{Pos: r.Pos, Field: f.String(), Reason: ve.reason, Detail: ve.detail}
		}
	}
	return nil
}

func (d *CSVReader) internString(s string) string {
	if v, ok := d.intern[s]; ok {
		return v
	}
	if len(d.intern) >= maxIntern {
		clear(d.intern)
	}
	v := strings.Clone(s)
	d.intern[v] = v
	return v
}

// CSVWriter encodes the CSV format with every field as a column, in canonical order.
type CSVWriter struct {
	w   io.Writer
	buf []byte
}

// NewCSVWriter writes the metadata line and the header row to w.
func NewCSVWriter(w io.Writer, m Meta) (*CSVWriter, error) {
	h, err := m.MarshalJSON()
	if err != nil {
		return nil, err
	}
	b := append([]byte("# "), h...)
	b = append(b, '\n')
	for f := Field(0); f < numFields; f++ {
		if f > 0 {
			b = append(b, ',')
		}
		b = append(b, fieldInfo[f].Name...)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	return &CSVWriter{w: w, buf: make([]byte, 0, 1024)}, nil
}

// Write implements Writer.
func (e *CSVWriter) Write(r *Record) error {
	b := e.buf[:0]
	for f := Field(0); f < numFields; f++ {
		if f > 0 {
			b = append(b, ',')
		}
		if fieldInfo[f].Kind != KindString {
			b = r.AppendText(b, f)
			continue
		}
		s := r.stringField(f)
		if !strings.ContainsAny(s, ",\"\r\n") && (s == "" || (s[0] != ' ' && s[0] != '\t')) {
			b = append(b, s...)
			continue
		}
		b = append(b, '"')
		b = append(b, strings.ReplaceAll(s, `"`, `""`)...)
		b = append(b, '"')
	}
	b = append(b, '\n')
	e.buf = b
	_, err := e.w.Write(b)
	return err
}

// Close implements Writer; it writes nothing more.
func (e *CSVWriter) Close() error { return nil }
