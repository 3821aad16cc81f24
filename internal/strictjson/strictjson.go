// Package strictjson decodes JSON into Go values the way a configuration file wants it: an unknown
// key, a value of the wrong type or trailing data is an error that names the JSON path of the value
// (such as strategies.router.bands[1].max) and its line and column.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Error is a decoding error at one place in the document.
type Error struct {
	Path string // JSON path of the offending value; "" for the document itself
	Line int    // 1-based line of the value, 0 when unknown
	Col  int    // 1-based column
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d col %d: ", e.Line, e.Col)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unmarshal decodes data into v (a non-nil pointer) like encoding/json, but rejects keys that v has
// no field for, values of the wrong type, and anything after the first value. Decoding over a
// value that holds data overlays it: struct fields the document leaves out keep their values,
// while a map or a list the document gives replaces the one there (a Keyed type decides for
// itself). Keys match json tags
// exactly (not case-insensitively, unlike encoding/json). Fields of type time.Duration take a
// string in Go's duration syntax ("90s", "1h30m"). Types that implement json.Unmarshaler are handed
// their raw value.
func Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return errors.New("strictjson: Unmarshal needs a non-nil pointer")
	}
	d := &decoder{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	d.dec.UseNumber()
	if err := d.value("", rv.Elem()); err != nil {
		return err
	}
	if _, err := d.dec.Token(); err != io.EOF {
		return d.errAt("", d.dec.InputOffset(), "unexpected data after the top-level value")
	}
	return nil
}

type decoder struct {
	data []byte
	dec  *json.Decoder
}

func (d *decoder) errAt(path string, off int64, format string, args ...any) error {
	line, col := position(d.data, off)
	return &Error{Path: path, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// position returns the 1-based line and column of byte offset off, skipping the white space that
// precedes a value.
func position(data []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(data)))
	for off < int64(len(data)) && (data[off] == ' ' || data[off] == '\n' || data[off] == '\t' || data[off] == '\r' || data[off] == ',' || data[off] == ':') {
		off++
	}
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

// Keyed is implemented by types that decide, member by member, what the members of an object
// decode into: a registry of plug-ins, each with its own settings type. Target returns a non-nil
// pointer for key, or an error (an unknown plug-in) that is reported at the key's path.
type Keyed interface {
	Target(key string) (any, error)
}

var (
	keyedType       = reflect.TypeFor[Keyed]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	durationType    = reflect.TypeFor[time.Duration]()
)

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// value decodes the next value of the stream into v.
func (d *decoder) value(path string, v reflect.Value) error {
	start := d.dec.InputOffset()
	if v.CanAddr() && v.Addr().Type().Implements(keyedType) {
		tok, err := d.dec.Token()
		if err != nil {
			return d.syntax(path, start, err)
		}
		if tok == nil {
			return nil
		}
		if tok != json.Delim('{') {
			return d.errAt(path, start, "want an object, got %s", kindName(tok))
		}
		k := v.Addr().Interface().(Keyed)
		for d.dec.More() {
			off := d.dec.InputOffset()
			kt, err := d.dec.Token()
			if err != nil {
				return d.syntax(path, off, err)
			}
			key := kt.(string)
			t, err := k.Target(key)
			if err != nil {
				return d.errAt(join(path, key), off, "%v", err)
			}
			tv := reflect.ValueOf(t)
			if tv.Kind() != reflect.Pointer || tv.IsNil() {
				return d.errAt(join(path, key), off, "strictjson: Target returned %T, want a non-nil pointer", t)
			}
			if err := d.value(join(path, key), tv.Elem()); err != nil {
				return err
			}
		}
		return d.close(path, start)
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) && v.Type() != durationType {
		var raw json.RawMessage
		if err := d.dec.Decode(&raw); err != nil {
			return d.syntax(path, start, err)
		}
		if err := v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(raw); err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Path = joinPath(path, e.Path)
				if e.Line == 0 {
					e.Line, e.Col = position(d.data, start)
				}
				return e
			}
			return d.errAt(path, start, "%v", err)
		}
		return nil
	}
	tok, err := d.dec.Token()
	if err != nil {
		return d.syntax(path, start, err)
	}
	if tok == nil { // null leaves the value as it is, as encoding/json does
		return nil
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.fromToken(path, start, tok, v.Elem())
	}
	return d.fromToken(path, start, tok, v)
}

func joinPath(outer, inner string) string {
	switch {
	case inner == "":
		return outer
	case outer == "":
		return inner
	case inner[0] == '[':
		return outer + inner
	}
	return outer + "." + inner
}

func (d *decoder) syntax(path string, off int64, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return d.errAt(path, se.Offset-1, "invalid JSON: %v", se)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return d.errAt(path, int64(len(d.data)), "unexpected end of JSON")
	}
	return d.errAt(path, off, "invalid JSON: %v", err)
}

func kindName(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

func (d *decoder) fromToken(path string, start int64, tok json.Token, v reflect.Value) error {
	wrong := func(want string) error {
		return d.errAt(path, start, "want %s, got %s", want, kindName(tok))
	}
	if v.Type() == durationType {
		s, ok := tok.(string)
		if !ok {
			return wrong(`a duration string such as "90s" or "1h"`)
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			return d.errAt(path, start, "want a duration such as \"90s\" or \"1h\", got %q", s)
		}
		v.SetInt(int64(dur))
		return nil
	}
	switch v.Kind() {
	case reflect.Interface:
		if v.NumMethod() != 0 {
			return d.errAt(path, start, "cannot decode into %s", v.Type())
		}
		x, err := d.generic(tok)
		if err != nil {
			return d.syntax(path, start, err)
		}
		if x == nil {
			return nil
		}
		v.Set(reflect.ValueOf(x))
		return nil
	case reflect.Struct:
		if tok != json.Delim('{') {
			return wrong("an object")
		}
		return d.object(path, v)
	case reflect.Map:
		if tok != json.Delim('{') {
			return wrong("an object")
		}
		if v.Type().Key().Kind() != reflect.String {
			return d.errAt(path, start, "cannot decode into %s", v.Type())
		}
		v.Set(reflect.MakeMap(v.Type())) // a map given replaces the one there
		for d.dec.More() {
			kt, err := d.dec.Token()
			if err != nil {
				return d.syntax(path, start, err)
			}
			key := kt.(string)
			ev := reflect.New(v.Type().Elem()).Elem()
			if err := d.value(join(path, key), ev); err != nil {
				return err
			}
			v.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), ev)
		}
		return d.close(path, start)
	case reflect.Slice:
		if tok != json.Delim('[') {
			return wrong("an array")
		}
		v.Set(v.Slice(0, 0))
		for i := 0; d.dec.More(); i++ {
			v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
			if err := d.value(fmt.Sprintf("%s[%d]", path, i), v.Index(i)); err != nil {
				return err
			}
		}
		return d.close(path, start)
	case reflect.Array:
		if tok != json.Delim('[') {
			return wrong("an array")
		}
		i := 0
		for ; d.dec.More(); i++ {
			if i >= v.Len() {
				return d.errAt(path, start, "want at most %d elements", v.Len())
			}
			if err := d.value(fmt.Sprintf("%s[%d]", path, i), v.Index(i)); err != nil {
				return err
			}
		}
		if i != v.Len() {
			return d.errAt(path, start, "want %d elements, got %d", v.Len(), i)
		}
		return d.close(path, start)
	case reflect.String:
		s, ok := tok.(string)
		if !ok {
			return wrong("a string")
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := tok.(bool)
		if !ok {
			return wrong("true or false")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := tok.(json.Number)
		if !ok {
			return wrong("an integer")
		}
		i, err := strconv.ParseInt(string(n), 10, v.Type().Bits())
		if err != nil {
			return d.errAt(path, start, "want an integer that fits in %d bits, got %s", v.Type().Bits(), n)
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := tok.(json.Number)
		if !ok {
			return wrong("a non-negative integer")
		}
		u, err := strconv.ParseUint(string(n), 10, v.Type().Bits())
		if err != nil {
			return d.errAt(path, start, "want a non-negative integer that fits in %d bits, got %s", v.Type().Bits(), n)
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		n, ok := tok.(json.Number)
		if !ok {
			return wrong("a number")
		}
		f, err := strconv.ParseFloat(string(n), v.Type().Bits())
		if err != nil {
			return d.errAt(path, start, "want a number, got %s", n)
		}
		v.SetFloat(f)
	default:
		return d.errAt(path, start, "cannot decode into %s", v.Type())
	}
	return nil
}

// object decodes the members of an object (its '{' already read) into struct v.
func (d *decoder) object(path string, v reflect.Value) error {
	fields := fieldsOf(v.Type())
	for d.dec.More() {
		off := d.dec.InputOffset()
		kt, err := d.dec.Token()
		if err != nil {
			return d.syntax(path, off, err)
		}
		key := kt.(string)
		idx, ok := fields.byName[key]
		if !ok {
			return d.errAt(join(path, key), off, "unknown key (known: %s)", strings.Join(fields.names, ", "))
		}
		if err := d.value(join(path, key), v.FieldByIndex(idx)); err != nil {
			return err
		}
	}
	return d.close(path, d.dec.InputOffset())
}

// close reads the end of an object or array.
func (d *decoder) close(path string, start int64) error {
	if _, err := d.dec.Token(); err != nil {
		return d.syntax(path, start, err)
	}
	return nil
}

type structFields struct {
	byName map[string][]int
	names  []string
}

// fieldsOf lists the JSON names of t's exported fields, embedded structs' fields included, as
// encoding/json names them.
func fieldsOf(t reflect.Type) structFields {
	sf := structFields{byName: map[string][]int{}}
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			idx := append(append([]int(nil), index...), i)
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if _, dup := sf.byName[name]; !dup {
				sf.names = append(sf.names, name)
			}
			sf.byName[name] = idx
		}
	}
	walk(t, nil)
	return sf
}

// generic decodes the rest of a value whose first token is tok into any, numbers as json.Number.
func (d *decoder) generic(tok json.Token) (any, error) {
	switch tok {
	case json.Delim('{'):
		m := map[string]any{}
		for d.dec.More() {
			kt, err := d.dec.Token()
			if err != nil {
				return nil, err
			}
			vt, err := d.dec.Token()
			if err != nil {
				return nil, err
			}
			x, err := d.generic(vt)
			if err != nil {
				return nil, err
			}
			m[kt.(string)] = x
		}
		_, err := d.dec.Token()
		return m, err
	case json.Delim('['):
		var a []any
		for d.dec.More() {
			vt, err := d.dec.Token()
			if err != nil {
				return nil, err
			}
			x, err := d.generic(vt)
			if err != nil {
				return nil, err
			}
			a = append(a, x)
		}
		_, err := d.dec.Token()
		return a, err
	}
	return tok, nil
}
