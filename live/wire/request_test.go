package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tarsopt/tarsopt/internal/jsonscan"
)

// sameJSON reports whether a and b decode to equal values.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("invalid JSON %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

func mustParse(t testing.TB, body string) *Request {
	t.Helper()
	r, err := ParseRequest([]byte(body))
	if err != nil {
		t.Fatalf("ParseRequest(%s): %v", body, err)
	}
	return r
}

var manyKeys = func() string {
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	return b.String()
}()

func TestParseRequestErrors(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		body, want string
	}{
		{``, `body: empty`},
		{`[]`, `body: not a JSON object`},
		{`"x"`, `body: not a JSON object`},
		{`{"model":"m",` + msgs, `body: malformed JSON at byte 56: unexpected end of input`},
		{`{"model":"m",` + msgs + `}x`, `body: malformed JSON at byte 57: data after the value`},
		{`{` + msgs + `}`, `model: missing`},
		{`{"model":3,` + msgs + `}`, `model: not a string`},
		{`{"model":"",` + msgs + `}`, `model: empty`},
		{`{"model":"m"}`, `messages: missing`},
		{`{"model":"m","messages":[]}`, `messages: empty`},
		{`{"model":"m","messages":{}}`, `messages: not an array`},
		{`{"model":"m","messages":[3]}`, `messages[0]: not an object`},
		{`{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"system","content":"c"}]}`, `messages[2].role: want "user" or "assistant"`},
		{`{"model":"m","messages":[{"role":3,"content":"a"}]}`, `messages[0].role: want "user" or "assistant"`},
		{`{"model":"m","messages":[{"content":"a"}]}`, `messages[0].role: missing`},
		{`{"model":"m","messages":[{"role":"user"}]}`, `messages[0].content: missing`},
		{`{"model":"m","messages":[{"role":"user","content":3}]}`, `messages[0].content: want a string or an array of content blocks`},
		{`{"model":"m","messages":[{"role":"user","content":["x"]}]}`, `messages[0].content[0]: not an object`},
		{`{"model":"m","messages":[{"role":"user","role":"user","content":"a"}]}`, `messages[0].role: duplicate key`},
		{`{"model":"m","max_tokens":1.5,` + msgs + `}`, `max_tokens: not an integer`},
		{`{"model":"m","max_tokens":"10",` + msgs + `}`, `max_tokens: not an integer`},
		{`{"model":"m","max_tokens":99999999999999999999,` + msgs + `}`, `max_tokens: integer out of range`},
		{`{"model":"m","stream":"yes",` + msgs + `}`, `stream: not a boolean`},
		{`{"model":"m","temperature":"hot",` + msgs + `}`, `temperature: not a number`},
		{`{"model":"m","system":3,` + msgs + `}`, `system: want a string or an array of text blocks`},
		{`{"model":"m","system":["x"],` + msgs + `}`, `system[0]: not an object`},
		{`{"model":"m","tools":{},` + msgs + `}`, `tools: not an array`},
		{`{"model":"m","model":"n",` + msgs + `}`, `model: duplicate key`},
		{`{"model":"m",` + manyKeys + `"k7":1,` + msgs + `}`, `k7: duplicate key`},
		{`{"model":"m","top_p":01,` + msgs + `}`, `body: malformed JSON at byte 22: want ',' or '}'`},
		{`{"model":"m","x":[1,],` + msgs + `}`, `x: malformed JSON at byte 20: unexpected ']'`},
		{`{"model":"m","x":"a` + "\x01" + `",` + msgs + `}`, `x: malformed JSON at byte 19: control character in string`},
		{`{"model":"m","x":"\q",` + msgs + `}`, `x: malformed JSON at byte 18: bad escape`},
		{`{"model":"m","x":tru,` + msgs + `}`, `x: malformed JSON at byte 17: bad literal`},
		{`{"model":"m","x":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `,` + msgs + `}`, `x: malformed JSON at byte 530: nesting too deep`},
	}
	for _, tt := range tests {
		_, err := ParseRequest([]byte(tt.body))
		if err == nil {
			t.Errorf("ParseRequest(%.80s) succeeded, want %q", tt.body, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseRequest(%.80s) = %q, want %q", tt.body, err, tt.want)
		}
		var re *RequestError
		if !errors.As(err, &re) {
			t.Errorf("error %v is not a *RequestError", err)
		}
	}
}

const fullRequest = `{"model":"claude-sonnet-4-5","max_tokens":1024,"metadata":{"user_id":"u1"},` +
	`"system":[{"type":"text","text":"You are terse."}],"temperature":0.5,"stream":true,` +
	`"tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],` +
	`"tool_choice":{"type":"auto"},"top_p":0.9,"stop_sequences":["\n\nHuman:"],"thinking":{"type":"enabled","budget_tokens":2000},` +
	`"messages":[{"role":"user","content":"Weather in Paris?"},` +
	`{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},` +
	`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"18C"}]}],` +
	`"service_tier":"auto","x_future":{"a":[1,2]}}`

func TestParseRequestFields(t *testing.T) {
	r := mustParse(t, fullRequest)
	if r.Model != "claude-sonnet-4-5" || r.MaxTokens != 1024 || !r.Stream || r.Temperature == nil || *r.Temperature != 0.5 {
		t.Errorf("fields: %+v", r)
	}
	if string(r.System) != `[{"type":"text","text":"You are terse."}]` {
		t.Errorf("System = %s", r.System)
	}
	if len(r.Messages) != 3 || r.Messages[0].Role != "user" || string(r.Messages[0].Content) != `"Weather in Paris?"` || r.Messages[1].Role != "assistant" {
		t.Errorf("Messages = %+v", r.Messages)
	}
	if got := r.Marshal(); string(got) != fullRequest {
		t.Errorf("Marshal of an unchanged compact request:\n got %s\nwant %s", got, fullRequest)
	}
	// Escaped strings and white space.
	in := `{ "model" : "claude\u002dx" , "messages" : [ { "role" : "user" , "content" : "a\"b" } ] , "temperature" : null , "system" : null }`
	r = mustParse(t, in)
	if r.Model != "claude-x" || r.Temperature != nil || r.System != nil || r.MaxTokens != 0 || r.Stream {
		t.Errorf("fields: %+v", r)
	}
	out := r.Marshal()
	if !sameJSON(t, out, []byte(in)) {
		t.Errorf("Marshal = %s, want the equivalent of %s", out, in)
	}
}

func TestAppendDoesNotWriteTheBody(t *testing.T) {
	r := mustParse(t, `{"model":"m","system":"s","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}],"x":1}`)
	r.Messages[0].Content = append(r.Messages[0].Content[:1], `zzzzzzzzzzzzz"`...)
	r.System = append(r.System[:1], `yyyyyy"`...)
	want := `{"model":"m","system":"yyyyyy","messages":[{"role":"user","content":"zzzzzzzzzzzzz"},{"role":"assistant","content":"b"}],"x":1}`
	if got := string(r.Marshal()); got != want {
		t.Errorf("Marshal after appends:\n got %s\nwant %s", got, want)
	}
}

func TestMarshalChanges(t *testing.T) {
	temp := 0.2
	tests := []struct {
		name   string
		in     string
		change func(r *Request)
		want   string
	}{
		{"model", `{"model":"a","messages":[{"role":"user","content":"x"}]}`,
			func(r *Request) { r.Model = "b\"c" },
			`{"model":"b\"c","messages":[{"role":"user","content":"x"}]}`},
		{"messages", `{"model":"a","messages":[{"role":"user","content":"x","extra":1},{"role":"assistant","content":"y"}]}`,
			func(r *Request) {
				r.Messages[0].Content = json.RawMessage(`[{"type":"text","text":"x2"}]`)
				r.Messages = append(r.Messages, Message{Role: "user", Content: json.RawMessage(`"z"`)})
			},
			`{"model":"a","messages":[{"role":"user","content":[{"type":"text","text":"x2"}],"extra":1},{"role":"assistant","content":"y"},{"role":"user","content":"z"}]}`},
		{"system set, tools removed", `{"model":"a","tools":[{"name":"t"}],"messages":[{"role":"user","content":"x"}]}`,
			func(r *Request) { r.System = json.RawMessage(`"be brief"`); r.Tools = nil },
			`{"model":"a","messages":[{"role":"user","content":"x"}],"system":"be brief"}`},
		{"scalars changed", `{"model":"a","max_tokens":10,"stream":false,"temperature":1,"messages":[{"role":"user","content":"x"}]}`,
			func(r *Request) { r.MaxTokens = 20; r.Stream = true; r.Temperature = &temp },
			`{"model":"a","max_tokens":20,"stream":true,"temperature":0.2,"messages":[{"role":"user","content":"x"}]}`},
		{"scalars added", `{"model":"a","messages":[{"role":"user","content":"x"}]}`,
			func(r *Request) { r.MaxTokens = 5; r.Stream = true; r.Temperature = &temp },
			`{"model":"a","messages":[{"role":"user","content":"x"}],"max_tokens":5,"stream":true,"temperature":0.2}`},
		{"temperature removed", `{"model":"a","temperature":1,"messages":[{"role":"user","content":"x"}]}`,
			func(r *Request) { r.Temperature = nil },
			`{"model":"a","messages":[{"role":"user","content":"x"}]}`},
		{"stream off", `{"stream":true,"model":"a","messages":[{"role":"user","content":"x"}]}`,
			func(r *Request) { r.Stream = false },
			`{"stream":false,"model":"a","messages":[{"role":"user","content":"x"}]}`},
		{"null system kept", `{"model":"a","system":null,"messages":[{"role":"user","content":"x"}]}`,
			func(r *Request) {},
			`{"model":"a","system":null,"messages":[{"role":"user","content":"x"}]}`},
	}
	for _, tt := range tests {
		r := mustParse(t, tt.in)
		tt.change(r)
		if got := string(r.Marshal()); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
		if _, err := ParseRequest(r.Marshal()); err != nil {
			t.Errorf("%s: Marshal does not parse: %v", tt.name, err)
		}
	}
}

func TestFingerprint(t *testing.T) {
	base := `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"temperature":0.5}`
	same := []string{
		// white space and key order
		"{ \"messages\" : [ { \"content\" : [ { \"text\" : \"hi\" , \"type\" : \"text\" } ] , \"role\" : \"user\" } ] ,\n \"model\":\"m\", \"temperature\":0.50, \"max_tokens\":100, \"tools\":[{\"input_schema\":{\"type\":\"object\"},\"name\":\"t\"}]}",
		// escapes
		`{"model":"\u006d","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"h\u0069"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"temperature":5e-1}`,
		// what does not change the answer
		`{"model":"m","max_tokens":100,"stream":true,"metadata":{"user_id":"x"},"service_tier":"auto","messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}],"tools":[{"name":"t","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral","ttl":"1h"}}],"temperature":0.5}`,
		// string content is one text block
		`{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"temperature":0.5}`,
		// a null is an absent key
		`{"model":"m","max_tokens":100,"system":null,"top_k":null,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"temperature":0.5}`,
	}
	different := []string{
		`{"model":"n","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"temperature":0.5}`,
		`{"model":"m","max_tokens":101,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"temperature":0.5}`,
		`{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"hi!"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"temperature":0.5}`,
		`{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"u","input_schema":{"type":"object"}}],"temperature":0.5}`,
		`{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"temperature":0.6}`,
		`{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}]}`,
		`{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"temperature":0.5,"top_p":0.9}`,
		`{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"temperature":0.5,"tool_choice":{"type":"any"}}`,
		`{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"temperature":0.5,"thinking":{"type":"enabled","budget_tokens":1024}}`,
		`{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"temperature":0.5,"system":"s"}`,
		`{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"temperature":0.5,"x_unknown":1}`,
		`{"model":"m","max_tokens":100,"messages":[{"role":"assistant","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"temperature":0.5}`,
		`{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"temperature":0.5}`,
	}
	fp := mustParse(t, base).Fingerprint()
	if fp == 0 {
		t.Fatal("Fingerprint is 0")
	}
	for _, s := range same {
		if got := mustParse(t, s).Fingerprint(); got != fp {
			t.Errorf("Fingerprint(%s) = %#x, want %#x as for the base request", s, got, fp)
		}
	}
	seen := map[uint64]string{fp: base}
	for _, s := range different {
		got := mustParse(t, s).Fingerprint()
		if prev, ok := seen[got]; ok {
			t.Errorf("Fingerprint(%s) = Fingerprint(%s)", s, prev)
		}
		seen[got] = s
	}
	// Escapes are compared by what they stand for.
	esc := [][2]string{
		{`"a\nb\u001fc"`, `"a\u000ab\u001Fc"`},
		{`"a/b\"c\\d\te"`, `"a\/b\u0022c\u005cd\u0009e"`},
		{`[{"type":"text","text":"x"}]`, `[{"typ\u0065":"text","\u0074ext":"x"}]`},
		{`[{"type":"text","text":"x"}]`, `[{"type":"text","text":"x","c\u0061che_control":{"type":"ephemeral"}}]`},
	}
	for _, e := range esc {
		a := mustParse(t, `{"model":"m","messages":[{"role":"user","content":`+e[0]+`}]}`).Fingerprint()
		b := mustParse(t, `{"model":"m","messages":[{"role":"user","content":`+e[1]+`}]}`).Fingerprint()
		if a != b {
			t.Errorf("content %s and %s have different fingerprints", e[0], e[1])
		}
	}
	// Changes through the struct count; a repeated nested key keeps its last value.
	r := mustParse(t, base)
	r.Model = "n"
	if r.Fingerprint() != mustParse(t, different[0]).Fingerprint() {
		t.Error("Fingerprint does not follow Model")
	}
	a := mustParse(t, `{"model":"m","x":{"k":1,"k":2},"messages":[{"role":"user","content":"a"}]}`).Fingerprint()
	b := mustParse(t, `{"model":"m","x":{"k":2},"messages":[{"role":"user","content":"a"}]}`).Fingerprint()
	if a != b {
		t.Error("a repeated key does not keep its last value")
	}
}

func TestQuoted(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n tab\t cr\r ctl\x01\x1f", "é🚀", "bad\xffutf8", "\u2028\u2029", "<&>"} {
		got := jsonscan.AppendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("jsonscan.AppendString(%q) = %s: %v", s, got, err)
			continue
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if back != want {
			t.Errorf("jsonscan.AppendString(%q) decodes to %q", s, back)
		}
		raw := got[1 : len(got)-1]
		if u := string(appendUnescaped(nil, raw)); u != want {
			t.Errorf("appendUnescaped(%s) = %q", raw, u)
		}
		if n := unescapedLen(raw, true); n != len(want) {
			t.Errorf("unescapedLen(%s) = %d, want %d", raw, n, len(want))
		}
	}
	// Surrogate pairs and lone surrogates decode as encoding/json decodes them.
	for _, raw := range []string{`\ud83d\ude80`, `\ud83d`, `\ude80x`, `\u00e9\/`} {
		var want string
		json.Unmarshal([]byte(`"`+raw+`"`), &want)
		if got := string(appendUnescaped(nil, []byte(raw))); got != want {
			t.Errorf("appendUnescaped(%s) = %q, want %q", raw, got, want)
		}
	}
}

// TestScannerAgainstEncodingJSON checks that the scanner accepts what encoding/json accepts.
func TestScannerAgainstEncodingJSON(t *testing.T) {
	docs := []string{`{}`, `[]`, `0`, `-0.5e+10`, `"a\u00e9"`, `{"a":[1,{"b":null}],"c":true,"d":false}`, `1.`, `01`, `-`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `"\x"`, `[`, `{"a":}`, `nul`, `1e`, `.5`, "\"\t\"", `[1 2]`, ` [ 1 , 2 ] `}
	for _, d := range docs {
		s := scanner{b: []byte(d)}
		err := s.skip()
		if err == nil {
			err = s.end()
		}
		if got, want := err == nil, json.Valid([]byte(d)); got != want {
			t.Errorf("scanner on %q: valid %v (%v), encoding/json %v", d, got, err, want)
		}
	}
}

func ExampleParseRequest() {
	r, err := ParseRequest([]byte(`{"model":"claude-haiku-4-5","max_tokens":64,"messages":[{"role":"user","content":"Hello"}]}`))
	if err != nil {
		panic(err)
	}
	r.Model = "claude-sonnet-4-5"
	fmt.Println(string(r.Marshal()))
	fmt.Println(r.Tokens())
	// Output:
	// {"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"Hello"}]}
	// {0 0 2 0 0}
}

func TestHasher(t *testing.T) {
	data := []byte(strings.Repeat("The quick brown fox jumps over the lazy dog. ", 5))
	seen := map[uint64]int{}
	for n := 0; n <= len(data); n++ {
		x := newHasher(42)
		for i := 0; i < n; i += 5 {
			x.write(data[i:min(i+5, n)])
		}
		y := newHasher(42)
		y.write(data[:n])
		if x.sum() != y.sum() {
			t.Fatalf("n %d: the streaming hash depends on how the input is cut", n)
		}
		h := hashBytes(42, data[:n])
		if m, ok := seen[h]; ok {
			t.Fatalf("hashBytes of %d and %d bytes collide", m, n)
		}
		seen[h] = n
		// One byte changed anywhere changes the hash.
		for i := 0; i < n; i += 9 {
			c := append([]byte(nil), data[:n]...)
			c[i] ^= 1
			if hashBytes(42, c) == h {
				t.Fatalf("n %d: flipping byte %d does not change the hash", n, i)
			}
		}
	}
}
