package wire

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tarsopt/tarsopt/internal/jsonscan"
)

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(fullRequest))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{ "model" : "m\u00e9" , "max_tokens" : 5, "temperature": 1e-1, "system": [{"type":"text","text":"s"}], "messages" : [ {"role":"user","content":[{"type":"image","source":{}}]} ] }`))
	f.Add([]byte(`{"model":"m","system":"s","tools":[{"name":"a"}],"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"a","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r"}]}]}]}`))
	f.Add([]byte(`{"model":"m","x":{"k":1,"k":2},"stream":null,"temperature":null,"messages":[{"role":"assistant","content":"a","extra":[1]}]}`))
	f.Add(realisticRequest(2000))
	f.Add([]byte("{\"model\":\"0\",\"\xf7\":{},\"messages\":[{\"role\":\"user\",\"content\":[]}]}")) // a key that is not UTF-8
	for _, b := range pathBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// The single pass, the general parse and the uncached methods agree, and fingerprints
		// and prefix hashes are equal when the reference implementation's are.
		checkAgainstReference(t, body)
		r, err := ParseRequest(body)
		if err != nil {
			return
		}
		fp, tok := r.Fingerprint(), r.Tokens()
		r.PrefixHashes(3)
		out := r.Marshal()
		r2, err := ParseRequest(out)
		if err != nil {
			t.Fatalf("Marshal of %q = %q does not parse: %v", body, out, err)
		}
		if r2.Fingerprint() != fp || r2.Tokens() != tok {
			t.Fatalf("Marshal of %q = %q: fingerprint or estimate changed", body, out)
		}
		if out2 := r2.Marshal(); !bytes.Equal(out, out2) {
			t.Fatalf("Marshal is not stable: %q then %q", out, out2)
		}
		// Cache breakpoints change neither the answer's fingerprint nor the estimate.
		if r2.AddCacheControl("1h", 4) > 0 {
			r3, err := ParseRequest(r2.Marshal())
			if err != nil {
				t.Fatalf("after AddCacheControl, %q does not parse: %v", r2.Marshal(), err)
			}
			if r3.Fingerprint() != fp || r3.Tokens() != tok {
				t.Fatalf("AddCacheControl changed the fingerprint or the estimate of %q", out)
			}
		}
		// Pruning leaves a valid request.
		if removed, err := r2.Prune(1, 10); err != nil || removed < 0 {
			t.Fatalf("Prune: %d, %v", removed, err)
		}
		if _, err := ParseRequest(r2.Marshal()); err != nil {
			t.Fatalf("after Prune, %q does not parse: %v", r2.Marshal(), err)
		}
	})
}

func FuzzEventReader(f *testing.F) {
	f.Add([]byte(fullStream))
	f.Add([]byte("event: a\r\ndata: 1\r\n\r\n: c\rdata\rdata:x\r\r\n\n"))
	f.Add([]byte("\xEF\xBB\xBFdata: {\"type\":\"message_start\",\"message\":{}}\n\ndata: {\"type\":\"error\",\"error\":{}}"))
	f.Add([]byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0}\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		er := NewEventReader(bytes.NewReader(in))
		var raw []byte
		var a Accumulator
		for {
			ev, err := er.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if len(ev.Raw) == 0 {
				t.Fatal("an event with no bytes")
			}
			raw = append(raw, ev.Raw...)
			a.Add(ev)
		}
		if !bytes.Equal(raw, in) {
			t.Fatalf("Raw concatenated = %q, want %q", raw, in)
		}
		a.Message()
		a.Usage()
	})
}

// realisticRequest returns a Claude Code-like request of about size bytes: tools with JSON schemas,
// a system prompt in blocks, and an agent loop of tool_use and tool_result messages.
func realisticRequest(size int) []byte {
	var b strings.Builder
	b.WriteString(`{"model":"claude-sonnet-4-5","max_tokens":8192,"stream":true,"metadata":{"user_id":"user_0123456789abcdef"},"tools":[`)
	tools := []string{"Read", "Write", "Edit", "Bash", "Grep", "Glob"}
	for i, name := range tools {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"name":%q,"description":"%s tool: reads or changes files in the working tree; use it when the task needs it, and prefer the narrowest call.","input_schema":{"type":"object","properties":{"path":{"type":"string","description":"Absolute path"},"limit":{"type":"integer","description":"Lines to read"},"pattern":{"type":"string"}},"required":["path"],"additionalProperties":false}}`, name, name)
	}
	b.WriteString(`],"system":[{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude."},{"type":"text","text":"`)
	b.WriteString(strings.Repeat(`You are an interactive tool that helps users with software engineering tasks.\n`, 12))
	b.WriteString(`","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"Fix the failing test in the parser package, then run the tests."}]}`)
	for i := 0; b.Len() < size-400; i++ {
		fmt.Fprintf(&b, `,{"role":"assistant","content":[{"type":"text","text":"Let me look at the file."},{"type":"tool_use","id":"toolu_%04d","name":"Read","input":{"path":"/src/parser/parse_%d.go","limit":200}}]}`, i, i)
		fmt.Fprintf(&b, `,{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_%04d","content":"`, i)
		b.WriteString(strings.Repeat(`func parse(s string) (int, error) {\n\treturn strconv.Atoi(s)\n}\n`, 10))
		b.WriteString(`"}]}`)
	}
	b.WriteString(`],"temperature":1}`)
	return []byte(b.String())
}

func BenchmarkParseFingerprint(b *testing.B) {
	body := realisticRequest(20 << 10)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r, err := ParseRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		r.Fingerprint()
		r.Tokens()
		r.Marshal()
	}
}

func BenchmarkPrefixHashes(b *testing.B) {
	r, err := ParseRequest(realisticRequest(20 << 10))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.PrefixHashes(64)
	}
}

func BenchmarkAccumulate(b *testing.B) {
	var buf bytes.Buffer
	msg := `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":` +
		string(jsonscan.AppendString(nil, strings.Repeat("The plan saves what it claims. ", 200))) + `}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1500}}`
	if err := WriteEvents(&buf, []byte(msg)); err != nil {
		b.Fatal(err)
	}
	stream := buf.Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		er := NewEventReader(bytes.NewReader(stream))
		var a Accumulator
		for {
			ev, err := er.Next()
			if err != nil {
				break
			}
			a.Add(ev)
		}
		a.Message()
	}
}
