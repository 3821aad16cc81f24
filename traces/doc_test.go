package traces_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tarsopt/tarsopt/traces"
)

var update = flag.Bool("update", false, "rewrite generated documentation and golden files")

const docPath = "../docs/trace-format.md"

// fieldTable renders the field table of docs/trace-format.md from traces.FieldInfo.
func fieldTable() string {
	var b strings.Builder
	b.WriteString("| field | kind | unit | meaning |\n|---|---|---|---|\n")
	for _, f := range traces.AllFields() {
		fi := f.Info()
		kind := fi.Kind.String()
		if len(fi.Values) > 0 {
			kind += ": " + strings.Join(fi.Values, ", ")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", fi.Name, kind, fi.Unit, fi.Doc)
	}
	return b.String()
}

// The field table in docs/trace-format.md is the one the code defines.
func TestTraceFormatDoc(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	begin := bytes.Index(doc, []byte("<!-- fields:begin"))
	end := bytes.Index(doc, []byte("<!-- fields:end -->"))
	if begin < 0 || end < begin {
		t.Fatal("docs/trace-format.md lacks the fields:begin/end markers")
	}
	begin += bytes.IndexByte(doc[begin:], '\n') + 1
	want := fieldTable()
	if got := string(doc[begin:end]); got != want {
		if *update {
			out := append(append(append([]byte(nil), doc[:begin]...), want...), doc[end:]...)
			if err := os.WriteFile(docPath, out, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("docs/trace-format.md field table is out of date; run go test ./traces -run TestTraceFormatDoc -update")
	}
}
