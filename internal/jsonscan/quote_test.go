package jsonscan

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzAppendString checks AppendString against encoding/json (without its HTML escaping): the
// same bytes for every string, valid JSON that decodes back to s with invalid UTF-8 replaced.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"b\\s", "\n\r\t\x00\x1f\x7f", "\u2028\u2029é", "\xff\xfe", "<a&b>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendString([]byte("x"), s)
		if got[0] != 'x' {
			t.Fatalf("%q: dst lost", s)
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if w := bytes.TrimSuffix(want.Bytes(), []byte("\n")); !bytes.Equal(got[1:], w) {
			t.Fatalf("%q: got %s, encoding/json %s", s, got[1:], w)
		}
	})
}
