package traces

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tarsopt/tarsopt/internal/jsonscan"
)

// The canonical JSONL format: an optional header line holding the Meta object (its first key is
// "tarsopt_trace"), then one JSON object per line, one record each, with the fields of FieldInfo
// under their names. Absent fields are left out (null is read as absent); unknown keys are errors.
// A UTF-8 byte order mark and CRLF line ends are accepted; blank lines are skipped.
func init() {
	RegisterFormat(Format{
		Name:       "jsonl",
		Extensions: []string{".jsonl", ".ndjson", ".json"},
		Match: func(head []byte) bool {
			head = bytes.TrimLeft(head, " \t\r\n")
			return len(head) > 0 && head[0] == '{'
		},
		NewReader: func(in Input) (Reader, error) { return NewJSONLReader(in.R, in.Name) },
		NewWriter: func(w io.Writer, m Meta) (Writer, error) { return NewJSONLWriter(w, m) },
	})
}

// maxLine bounds a JSONL line (and a CSV record): 64 MiB holds a prompt of 10M tokens in 64-token
// blocks with room to spare.
const maxLine = 64 << 20

// LineReader reads the lines of a text stream, reusing its buffer, and counts them. It removes a
// UTF-8 byte order mark at the start and the line end ("\n" or "\r\n"), reports a line over 64 MiB
// as a fatal *Error, and wraps read errors (a corrupt compressed stream) in fatal *Errors with the
// position. Importers of line-oriented logs use it too.
type LineReader struct {
	br   *bufio.Reader
	name string
	line int64
	buf  []byte
}

// NewLineReader returns a LineReader of r; name is the file name for errors.
func NewLineReader(r io.Reader, name string) *LineReader {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 1<<16 {
		br = bufio.NewReaderSize(r, 1<<16)
	}
	return &LineReader{br: br, name: name}
}

// Line returns the 1-based number of the line Next returned last.
func (l *LineReader) Line() int64 { return l.line }

// Next returns the next line without its line end, or io.EOF. The slice is valid until the next
// call.
func (l *LineReader) Next() ([]byte, error) {
	b, err := l.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		l.buf = append(l.buf[:0], b...)
		for err == bufio.ErrBufferFull {
			if len(l.buf) > maxLine {
				l.line++
				return nil, &Error{Pos: Pos{File: l.name, Line: l.line}, Reason: "line too long", Detail: "over 64 MiB", Fatal: true}
			}
			b, err = l.br.ReadSlice('\n')
			l.buf = append(l.buf, b...)
		}
		b = l.buf
	}
	if err != nil && err != io.EOF {
		return nil, readError(Pos{File: l.name, Line: l.line + 1}, err)
	}
	if len(b) == 0 && err == io.EOF {
		return nil, io.EOF
	}
	l.line++
	if l.line == 1 {
		b = bytes.TrimPrefix(b, utf8BOM)
	}
	b = bytes.TrimSuffix(b, []byte{'\n'})
	b = bytes.TrimSuffix(b, []byte{'\r'})
	return b, nil
}

// JSONLReader decodes canonical JSONL. It allocates only for strings it has not seen recently (ids;
// models, sessions and tenants are interned).
type JSONLReader struct {
	lr      *LineReader
	meta    Meta
	pending []byte // first record line, read while looking for the header
	pendOK  bool
	p       jsonParser
}

// NewJSONLReader returns a reader of canonical JSONL from r, reading the header line if there is
// one. name is the file name for error messages.
func NewJSONLReader(r io.Reader, name string) (*JSONLReader, error) {
	d := &JSONLReader{lr: NewLineReader(r, name)}
	d.p.intern = make(map[string]string)
	for {
		b, err := d.lr.Next()
		if err == io.EOF {
			return d, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		if isHeader(b) {
			if err := d.meta.UnmarshalJSON(b); err != nil {
				return nil, &Error{Pos: Pos{File: name, Line: d.lr.line}, Field: MetaKey, Reason: "bad header", Detail: err.Error(), Fatal: true}
			}
			return d, nil
		}
		d.pending, d.pendOK = append([]byte(nil), b...), true
		return d, nil
	}
}

// isHeader reports whether the JSON object on line b starts with the key "tarsopt_trace".
func isHeader(b []byte) bool {
	b = bytes.TrimLeft(b, " \t")
	if len(b) == 0 || b[0] != '{' {
		return false
	}
	b = bytes.TrimLeft(b[1:], " \t")
	return bytes.HasPrefix(b, []byte(`"`+MetaKey+`"`))
}

// Meta returns the header's metadata, or the zero Meta if the file has no header.
func (d *JSONLReader) Meta() Meta { return d.meta }

// Read implements Reader.
func (d *JSONLReader) Read(r *Record) error {
	var b []byte
	line := d.lr.line
	if d.pendOK {
		b, d.pendOK = d.pending, false
	} else {
		for {
			var err error
			b, err = d.lr.Next()
			if err != nil {
				return err
			}
			if len(bytes.TrimSpace(b)) != 0 {
				break
			}
		}
		line = d.lr.line
	}
	r.Reset()
	r.Pos = Pos{File: d.lr.name, Line: line}
	if e := d.p.parseRecord(b, r); e != nil {
		e.Pos = r.Pos
		return e
	}
	return nil
}

// jsonParser parses one flat JSON object into a Record.
type jsonParser struct {
	b      []byte
	i      int
	next   Field  // the field after the previous key, where lookupField starts
	scr    []byte // scratch for unescaped strings
	intern map[string]string
	last   [numFields]string // the previous record's value of each interned string field
}

const maxIntern = 1 << 14

func (p *jsonParser) internString(b []byte) string {
	if s, ok := p.intern[string(b)]; ok {
		return s
	}
	if len(p.intern) >= maxIntern {
		clear(p.intern)
	}
	s := string(b)
	p.intern[s] = s
	return s
}

func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) errAt(field, reason string) *Error {
	if p.i >= len(p.b) {
		return &Error{Field: field, Reason: "truncated record", Detail: "line ends at column " + strconv.Itoa(p.i+1)}
	}
	c := p.b[p.i]
	d := "unexpected " + strconv.QuoteRune(rune(c))
	if c >= utf8.RuneSelf {
		d = "unexpected byte 0x" + strconv.FormatUint(uint64(c), 16)
	}
	return &Error{Field: field, Reason: reason, Detail: d + " at column " + strconv.Itoa(p.i+1)}
}

func (p *jsonParser) parseRecord(b []byte, r *Record) *Error {
	p.b, p.i, p.next = b, 0, 0
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return p.errAt("", "malformed JSON")
	}
	p.i++
	var seen Fields
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return p.end()
	}
	for {
		p.ws()
		key, e := p.str("")
		if e != nil {
			return e
		}
		f, ok := p.lookupField(key)
		if !ok {
			return &Error{Field: string(key), Reason: "unknown field"}
		}
		name := fieldInfo[f].Name
		if seen.Has(f) {
			return &Error{Field: name, Reason: "duplicate field"}
		}
		seen |= 1 << f
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return p.errAt(name, "malformed JSON")
		}
		p.i++
		p.ws()
		if e := p.value(f, r); e != nil {
			return e
		}
		p.ws()
		if p.i >= len(p.b) {
			return p.errAt(name, "malformed JSON")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return p.end()
		default:
			return p.errAt(name, "malformed JSON")
		}
	}
}

// lookupField finds the field named key. Writers put keys in canonical order, so it first scans
// forward from the field after the previous key, which finds it in a comparison or two; any other
// order falls back to the map.
func (p *jsonParser) lookupField(key []byte) (Field, bool) {
	for f := p.next; f < numFields; f++ {
		if string(key) == fieldInfo[f].Name {
			p.next = f + 1
			return f, true
		}
	}
	f, ok := fieldByName[string(key)]
	if ok {
		p.next = f + 1
	}
	return f, ok
}

func (p *jsonParser) end() *Error {
	p.ws()
	if p.i != len(p.b) {
		return p.errAt("", "malformed JSON")
	}
	return nil
}

// jsonType names the JSON type of the value starting at p.i.
func (p *jsonParser) jsonType() string {
	switch c := p.b[p.i]; {
	case c == '"':
		return "string"
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == 't' || c == 'f':
		return "boolean"
	case c == '-' || (c >= '0' && c <= '9'):
		return "number"
	}
	return "invalid JSON"
}

func (p *jsonParser) wrongType(f Field, want string) *Error {
	return &Error{Field: fieldInfo[f].Name, Reason: "wrong JSON type", Detail: "want " + want + ", got " + p.jsonType()}
}

func (p *jsonParser) value(f Field, r *Record) *Error {
	name := fieldInfo[f].Name
	if p.i >= len(p.b) {
		return p.errAt(name, "malformed JSON")
	}
	if p.b[p.i] == 'n' {
		if bytes.HasPrefix(p.b[p.i:], []byte("null")) {
			p.i += 4
			return nil
		}
		return p.errAt(name, "malformed JSON")
	}
	kind := fieldInfo[f].Kind
	switch kind {
	case KindString, KindEnum, KindTime, KindHash:
		if p.b[p.i] != '"' {
			return p.wrongType(f, "string")
		}
		if kind == KindHash {
			if h, ok := p.hash16(); ok {
				r.Fingerprint = h
				r.present |= 1 << f
				return nil
			}
		}
		s, e := p.str(name)
		if e != nil {
			return e
		}
		if kind == KindString {
			if !utf8.Valid(s) {
				return &Error{Field: name, Reason: "invalid UTF-8"}
			}
			switch f {
			case FieldID, FieldOrigin:
				r.SetString(f, string(s))
			default:
				if string(s) != p.last[f] {
					p.last[f] = p.internString(s)
				}
				r.SetString(f, p.last[f])
			}
			return nil
		}
		if len(s) == 0 {
			return &Error{Field: name, Reason: "empty value"}
		}
		if ve := r.setText(f, s); ve != nil {
			return &Error{Field: name, Reason: ve.reason, Detail: ve.detail}
		}
		return nil
	case KindHashList:
		if p.b[p.i] != '[' {
			return p.wrongType(f, "array of strings")
		}
		p.i++
		r.Prefix = r.Prefix[:0]
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return nil
		}
		for {
			p.ws()
			if p.i >= len(p.b) {
				return p.errAt(name, "malformed JSON")
			}
			if p.b[p.i] != '"' {
				return p.wrongType(f, "array of strings")
			}
			h, ok := p.hash16()
			if !ok {
				s, e := p.str(name)
				if e != nil {
					return e
				}
				if h, ok = parseHash(s); !ok {
					return &Error{Field: name, Reason: "bad hash", Detail: strconv.Quote(string(s))}
				}
			}
			r.Prefix = append(r.Prefix, h)
			p.ws()
			if p.i >= len(p.b) {
				return p.errAt(name, "malformed JSON")
			}
			if p.b[p.i] == ']' {
				p.i++
				return nil
			}
			if p.b[p.i] != ',' {
				return p.errAt(name, "malformed JSON")
			}
			p.i++
		}
	}
	// Numbers.
	c := p.b[p.i]
	if c != '-' && (c < '0' || c > '9') {
		return p.wrongType(f, "number")
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			p.i++
			continue
		}
		break
	}
	num := p.b[start:p.i]
	if !validJSONNumber(num) {
		return &Error{Field: name, Reason: "bad number", Detail: strconv.Quote(string(num))}
	}
	if ve := r.setText(f, num); ve != nil {
		return &Error{Field: name, Reason: ve.reason, Detail: ve.detail}
	}
	return nil
}

// validJSONNumber checks the JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validJSONNumber(s []byte) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i >= len(s) {
		return false
	}
	if s[i] == '0' {
		i++
	} else if s[i] >= '1' && s[i] <= '9' {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	return i == len(s)
}

// str parses a JSON string at p.i and returns its unescaped bytes, valid until the next call.
func (p *jsonParser) str(field string) ([]byte, *Error) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, p.errAt(field, "malformed JSON")
	}
	p.i++
	start := p.i
	p.i += specialIndex(p.b[p.i:])
	if p.i >= len(p.b) {
		return nil, p.errAt(field, "malformed JSON")
	}
	switch c := p.b[p.i]; {
	case c == '"':
		s := p.b[start:p.i]
		p.i++
		return s, nil
	case c == '\\':
		return p.strSlow(field, start)
	default: // a control character
		return nil, p.errAt(field, "malformed JSON")
	}
}

// hash16 parses the common form of a hash, a string of exactly 16 hex digits, in one pass. It
// reports false, consuming nothing, for anything else.
func (p *jsonParser) hash16() (uint64, bool) {
	i := p.i
	if i+17 >= len(p.b) || p.b[i+17] != '"' {
		return 0, false
	}
	var h uint64
	var bad byte
	for _, c := range p.b[i+1 : i+17] {
		v := hexVal[c]
		bad |= v
		h = h<<4 | uint64(v&0xF)
	}
	if bad&0xF0 != 0 {
		return 0, false
	}
	p.i = i + 18
	return h, true
}

const (
	lows  = 0x0101010101010101
	highs = 0x8080808080808080
)

// specialIndex returns the index of the first byte of b that ends or complicates a JSON string
// ('"', '\\' or a control character), or len(b). It tests eight bytes at a time.
func specialIndex(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q := x ^ ('"' * lows)
		bs := x ^ ('\\' * lows)
		m := ((q - lows) &^ q) | ((bs - lows) &^ bs) | ((x - 0x20*lows) &^ x)
		if m &= highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return i
}

func (p *jsonParser) strSlow(field string, start int) ([]byte, *Error) {
	p.scr = append(p.scr[:0], p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return p.scr, nil
		case c < 0x20:
			return nil, p.errAt(field, "malformed JSON")
		case c != '\\':
			p.scr = append(p.scr, c)
			p.i++
			continue
		}
		p.i++
		if p.i >= len(p.b) {
			return nil, p.errAt(field, "malformed JSON")
		}
		switch e := p.b[p.i]; e {
		case '"', '\\', '/':
			p.scr = append(p.scr, e)
		case 'b':
			p.scr = append(p.scr, '\b')
		case 'f':
			p.scr = append(p.scr, '\f')
		case 'n':
			p.scr = append(p.scr, '\n')
		case 'r':
			p.scr = append(p.scr, '\r')
		case 't':
			p.scr = append(p.scr, '\t')
		case 'u':
			r, ok := p.hex4(p.i + 1)
			if !ok {
				return nil, p.errAt(field, "malformed JSON")
			}
			p.i += 4
			if utf16.IsSurrogate(r) {
				if p.i+6 < len(p.b) && p.b[p.i+1] == '\\' && p.b[p.i+2] == 'u' {
					if r2, ok := p.hex4(p.i + 3); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							r = dec
							p.i += 6
						} else {
							r = utf8.RuneError
						}
					}
				} else {
					r = utf8.RuneError
				}
			}
			p.scr = utf8.AppendRune(p.scr, r)
		default:
			return nil, p.errAt(field, "malformed JSON")
		}
		p.i++
	}
	return nil, p.errAt(field, "malformed JSON")
}

func (p *jsonParser) hex4(at int) (rune, bool) {
	if at+4 > len(p.b) {
		return 0, false
	}
	var r rune
	for _, c := range p.b[at : at+4] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// JSONLWriter encodes canonical JSONL: the header line, then one line per record with its present
// fields in canonical order.
type JSONLWriter struct {
	w   io.Writer
	buf []byte
}

// NewJSONLWriter writes the header line for m to w and returns a writer for the records.
func NewJSONLWriter(w io.Writer, m Meta) (*JSONLWriter, error) {
	h, err := m.MarshalJSON()
	if err != nil {
		return nil, err
	}
	h = append(h, '\n')
	if _, err := w.Write(h); err != nil {
		return nil, err
	}
	return &JSONLWriter{w: w, buf: make([]byte, 0, 1024)}, nil
}

// Write implements Writer.
func (e *JSONLWriter) Write(r *Record) error {
	e.buf = AppendJSON(e.buf[:0], r)
	e.buf = append(e.buf, '\n')
	_, err := e.w.Write(e.buf)
	return err
}

// Close implements Writer; it writes nothing more.
func (e *JSONLWriter) Close() error { return nil }

// AppendJSON appends r as one canonical JSON object (no newline) to b.
func AppendJSON(b []byte, r *Record) []byte {
	b = append(b, '{')
	first := true
	for f := Field(0); f < numFields; f++ {
		if !r.Has(f) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, fieldInfo[f].Name...)
		b = append(b, '"', ':')
		switch fieldInfo[f].Kind {
		case KindString:
			b = jsonscan.AppendString(b, r.stringField(f))
		case KindTime, KindEnum, KindHash:
			b = append(b, '"')
			b = r.AppendText(b, f)
			b = append(b, '"')
		case KindHashList:
			b = append(b, '[')
			for i, h := range r.Prefix {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, '"')
				b = appendHash(b, h)
				b = append(b, '"')
			}
			b = append(b, ']')
		default:
			b = r.AppendText(b, f)
		}
	}
	return append(b, '}')
}
