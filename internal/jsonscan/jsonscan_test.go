package jsonscan

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// read reads any value with the Scanner, as encoding/json would decode it into an any with
// UseNumber.
func read(s *Scanner) (any, error) {
	switch s.Peek() {
	case '{':
		m := map[string]any{}
		err := s.Object(func(k []byte) error {
			key := string(k)
			v, err := read(s)
			m[key] = v
			return err
		})
		return m, err
	case '[':
		a := []any{}
		err := s.Array(func() error {
			v, err := read(s)
			a = append(a, v)
			return err
		})
		return a, err
	case '"':
		b, err := s.String()
		return string(b), err
	case 't', 'f':
		return s.Bool()
	case 'n':
		if s.Null() {
			return nil, nil
		}
		return nil, ErrSyntax
	}
	n, err := s.Number()
	return json.Number(n), err
}

func TestAgainstEncodingJSON(t *testing.T) {
	docs := []string{
		`{"a":1,"b":"x\"y\\z","c":[1,{"d":"]}"}],"e":null,"f":true,"g":{"h":"\u00e9\ud83d\ude80"}}`,
		`{"message":{"id":"msg_1","usage":{"input_tokens":3,"cache_creation":{"ephemeral_1h_input_tokens":5}}},"content":[{"text":"a \\\" b"}]}`,
		`{}`,
		`{"k":"ends with backslash \\\\"}`,
	}
	for _, doc := range docs {
		var want any
		d := json.NewDecoder(bytes.NewReader([]byte(doc)))
		d.UseNumber()
		if err := d.Decode(&want); err != nil {
			t.Fatal(err)
		}
		var s Scanner
		s.Reset([]byte(doc))
		got, err := read(&s)
		if err == nil {
			err = s.End()
		}
		if err != nil {
			t.Errorf("%s: %v", doc, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-encoding/json +jsonscan):\n%s", doc, diff)
		}
		s.Reset([]byte(doc))
		if err := s.Skip(); err != nil || s.End() != nil {
			t.Errorf("Skip(%s): %v", doc, err)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tt := range []struct {
		doc  string
		want error
	}{
		{`{"a":`, ErrTruncated},
		{`{"a":"b`, ErrTruncated},
		{`{"a" 1}`, ErrSyntax},
		{`{"a":1 "b":2}`, ErrSyntax},
		{`[1]`, ErrType},
		{`{"a":[1,2}`, ErrSyntax}, // Array sees the brace where a comma or ] must be
		{`{"a":[1 2]}`, ErrSyntax},
		{`{"a":[1,`, ErrTruncated},
		{`{"a":[1,]}`, ErrSyntax},
	} {
		var s Scanner
		s.Reset([]byte(tt.doc))
		err := s.Object(func([]byte) error {
			if s.Peek() == '[' {
				return s.Array(s.Skip)
			}
			return s.Skip()
		})
		if err != tt.want {
			t.Errorf("%s: %v, want %v", tt.doc, err, tt.want)
		}
	}
}

func TestNoAllocations(t *testing.T) {
	doc := []byte(`{"type":"assistant","message":{"id":"msg_01","usage":{"input_tokens":3,"output_tokens":10}},"content":[{"type":"text","text":"hello world, a long line of text"}]}`)
	var s Scanner
	n := testing.AllocsPerRun(100, func() {
		s.Reset(doc)
		s.Object(func(k []byte) error {
			if string(k) == "message" {
				return s.Object(func(k []byte) error {
					if string(k) == "usage" {
						return s.Object(func([]byte) error { _, err := s.Int(); return err })
					}
					return s.Skip()
				})
			}
			return s.Skip()
		})
	})
	if n != 0 {
		t.Errorf("%v allocations per scan", n)
	}
}

// Whatever encoding/json accepts, the Scanner reads to the same value; it never panics on anything.
func FuzzScanner(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"c\\"d"}],"e":"\u00e9"}`))
	f.Add([]byte(`{"x":null,"y":true,"z":-1.5e3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Scanner
		s.Reset(data)
		got, err := read(&s)
		if err == nil {
			err = s.End()
		}
		var want any
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		werr := d.Decode(&want)
		if werr == nil && d.More() {
			werr = ErrSyntax
		}
		if werr != nil || !json.Valid(data) {
			return // the Scanner may accept more than encoding/json (skipped literals)
		}
		if err != nil {
			t.Fatalf("encoding/json accepts %q, jsonscan: %v", data, err)
		}
		if diff := cmp.Diff(want, got); diff != "" && bytes.Contains(data, []byte("{")) {
			// Invalid UTF-8 and lone surrogates decode differently: encoding/json replaces them.
			if json.Valid(data) && !bytes.Contains(data, []byte(`\u`)) && utf8Valid(data) {
				t.Fatalf("%q (-encoding/json +jsonscan):\n%s", data, diff)
			}
		}
	})
}
