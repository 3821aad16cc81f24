package wire

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestEstimateTokens(t *testing.T) {
	for chars, want := range map[int64]int64{-1: 0, 0: 0, 1: 1, 4: 1, 5: 2, 400: 100, 401: 101} {
		if got := EstimateTokens(chars); got != want {
			t.Errorf("EstimateTokens(%d) = %d, want %d", chars, got, want)
		}
	}
}

func TestTokens(t *testing.T) {
	user := func(content string) string {
		return `{"model":"m","messages":[{"role":"user","content":` + content + `}]}`
	}
	tests := []struct {
		name string
		body string
		want Breakdown
	}{
		{"string", user(`"abcde"`), Breakdown{New: 2}},
		{"escapes count decoded bytes", user(`"a\u00e9\n"`), Breakdown{New: 1}}, // 4 bytes
		{"text block", user(`[{"type":"text","text":"abcdefgh","cache_control":{"type":"ephemeral"}}]`), Breakdown{New: 2}},
		{"blocks add up before rounding", user(`[{"type":"text","text":"ab"},{"type":"text","text":"cd"}]`), Breakdown{New: 1}},
		{"image", user(`[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},{"type":"text","text":"a"}]`), Breakdown{New: 1601}},
		{"document", user(`[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"long long text"}}]`), Breakdown{New: 1600}},
		{"tool_result", user(`[{"type":"tool_result","tool_use_id":"toolu_1","content":"12345678"}]`), Breakdown{New: 2}},
		{"tool_result blocks", user(`[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"1234"},{"type":"image","source":{}}]}]`), Breakdown{New: 1601}},
		{"unknown block: its strings", user(`[{"type":"search_result","title":"abcd","source":"efgh","content":[{"type":"text","text":"ij"}],"citations":{"enabled":true}}]`), Breakdown{New: 3}},
		{"system string and tools", `{"model":"m","system":"abcd","tools":[{"name":"t","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"a"}]}`,
			Breakdown{System: 1 + 3, New: 1}}, // {"name":"t"} is 12 characters
		{"system blocks", `{"model":"m","system":[{"type":"text","text":"abcdefgh"},{"type":"text","text":"i"}],"messages":[{"role":"user","content":"a"}]}`,
			Breakdown{System: 3, New: 1}},
		{"assistant blocks", `{"model":"m","messages":[{"role":"user","content":"a"},` +
			`{"role":"assistant","content":[{"type":"thinking","thinking":"abcd","signature":"zzzzzzzzzzzz"},{"type":"redacted_thinking","data":"abcd"},{"type":"tool_use","id":"toolu_1","name":"get","input":{ "a" : 1 }}]},` +
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"ok"}]}]}`,
			// history: "a" (1) + thinking 4 + data 4 + "get" 3 + {"a":1} 7 = 18 (5); new: "ok" (1)
			Breakdown{History: 1 + 5, New: 1, Turns: 1, HumanTurns: 1}},
		{"turns", `{"model":"m","messages":[{"role":"user","content":"abcd"},{"role":"assistant","content":[{"type":"tool_use","id":"x","name":"n","input":{}}]},` +
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"x","content":"abcd"}]},{"role":"assistant","content":"abcd"},{"role":"user","content":"abcd"}]}`,
			Breakdown{History: 1 + 1 + 1 + 1, New: 1, Turns: 2, HumanTurns: 1}},
	}
	for _, tt := range tests {
		r := mustParse(t, tt.body)
		if got := r.Tokens(); got != tt.want {
			t.Errorf("%s: Tokens() = %+v, want %+v", tt.name, got, tt.want)
		}
	}
	// Tools are counted without white space.
	a := mustParse(t, `{"model":"m","tools":[{"name":"t","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"a"}]}`).Tokens()
	b := mustParse(t, `{"model":"m","tools":[ { "name" : "t" , "input_schema" : { "type" : "object" } } ],"messages":[{"role":"user","content":"a"}]}`).Tokens()
	if a != b {
		t.Errorf("white space in tools changes the estimate: %+v, %+v", a, b)
	}
}

func TestTokensMatchFake(t *testing.T) {
	// For string content, the estimate agrees with internal/fakeapi's, role names aside.
	r := mustParse(t, `{"model":"m","system":"0123456789abcdef","messages":[{"role":"user","content":"`+strings.Repeat("x", 400)+`"}]}`)
	if got := r.Tokens(); got.System != 4 || got.New != 100 {
		t.Errorf("Tokens() = %+v", got)
	}
}

func TestPrefixHashes(t *testing.T) {
	long := func(s string, n int) string { return strings.Repeat(s, n) }
	r1 := mustParse(t, `{"model":"m","system":"`+long("sys ", 100)+`","tools":[{"name":"t","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"`+long("question ", 50)+`"}]}`)
	r2 := mustParse(t, `{"model":"m","system":"`+long("sys ", 100)+`","tools":[{"name":"t","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"`+long("question ", 50)+`"},`+
		`{"role":"assistant","content":"`+long("answer ", 60)+`"},{"role":"user","content":"`+long("more ", 80)+`"}]}`)
	for _, bt := range []int{1, 7, 16, 64} {
		h1, h2 := r1.PrefixHashes(bt), r2.PrefixHashes(bt)
		if want := int(r1.Tokens().Total()) / bt; len(h1) != want {
			t.Errorf("blockTokens %d: %d hashes for %d tokens, want %d", bt, len(h1), r1.Tokens().Total(), want)
		}
		if want := int(r2.Tokens().Total()) / bt; len(h2) != want {
			t.Errorf("blockTokens %d: %d hashes, want %d", bt, len(h2), want)
		}
		if !reflect.DeepEqual(h1, h2[:len(h1)]) {
			t.Errorf("blockTokens %d: requests sharing a prefix do not share its hashes", bt)
		}
		if h2[len(h1)] == h1[len(h1)-1] {
			t.Errorf("blockTokens %d: hash repeats", bt)
		}
	}
	// A different system prompt changes the first block after the tools; cache_control changes
	// nothing; the model is not part of the hashes.
	r3 := mustParse(t, `{"model":"other","system":"`+long("SYS ", 100)+`","tools":[{"name":"t","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"`+long("question ", 50)+`"}]}`)
	h1, h3 := r1.PrefixHashes(4), r3.PrefixHashes(4) // the tools are 12 tokens: blocks 0 to 2
	if h1[2] != h3[2] || h1[3] == h3[3] {
		t.Errorf("a different system prompt: hashes %x vs %x", h1[:4], h3[:4])
	}
	r4 := mustParse(t, string(r1.Marshal()))
	r4.Model = "other"
	if n := r4.AddCacheControl("1h", 4); n != 3 {
		t.Fatalf("AddCacheControl added %d", n)
	}
	if !reflect.DeepEqual(r1.PrefixHashes(4), r4.PrefixHashes(4)) {
		t.Error("cache_control or the model changes the prefix hashes")
	}
	// Roles count.
	a := mustParse(t, `{"model":"m","messages":[{"role":"user","content":"`+long("x", 40)+`"},{"role":"user","content":"y"}]}`)
	b := mustParse(t, `{"model":"m","messages":[{"role":"assistant","content":"`+long("x", 40)+`"},{"role":"user","content":"y"}]}`)
	if a.PrefixHashes(2)[0] == b.PrefixHashes(2)[0] {
		t.Error("roles are not part of the hashes")
	}
	// Images take ImageTokens of the stream, identified by their source.
	img := func(data string) *Request {
		return mustParse(t, `{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"`+data+`"}}]}]}`)
	}
	if h := img("AAAA").PrefixHashes(100); len(h) != 16 {
		t.Errorf("an image makes %d blocks of 100 tokens, want 16", len(h))
	} else if h[15] == img("BBBB").PrefixHashes(100)[15] {
		t.Error("different images share hashes")
	}
	// The cap, and nonsense block sizes.
	big := mustParse(t, `{"model":"m","messages":[{"role":"user","content":"`+long("abcd", 5000)+`"}]}`)
	if n := len(big.PrefixHashes(1)); n != MaxPrefixBlocks {
		t.Errorf("%d hashes, want the cap %d", n, MaxPrefixBlocks)
	}
	if big.PrefixHashes(0) != nil || big.PrefixHashes(-3) != nil {
		t.Error("PrefixHashes(<=0) is not nil")
	}
}

// conv builds a request from a compact notation: "u:text" a user message, "a:text" an assistant
// message, "a:use:ID" an assistant tool_use, "u:res:ID" a user tool_result, "u:res:ID+text" a
// tool_result with text after it. Texts are padded to 40 characters (10 tokens).
func conv(t testing.TB, msgs ...string) *Request {
	t.Helper()
	pad := func(s string) string { return s + strings.Repeat(".", max(0, 40-len(s))) }
	var parts []string
	for _, m := range msgs {
		role, rest, _ := strings.Cut(m, ":")
		role = map[string]string{"u": "user", "a": "assistant"}[role]
		var content string
		switch {
		case strings.HasPrefix(rest, "use:"):
			id := strings.TrimPrefix(rest, "use:")
			content = fmt.Sprintf(`[{"type":"tool_use","id":%q,"name":"t","input":{"q":%q}}]`, id, pad(id)[:30])
		case strings.HasPrefix(rest, "res:"):
			id, text, _ := strings.Cut(strings.TrimPrefix(rest, "res:"), "+")
			content = fmt.Sprintf(`[{"type":"tool_result","tool_use_id":%q,"content":%q}`, id, pad("result "+id))
			if text != "" {
				content += fmt.Sprintf(`,{"type":"text","text":%q}`, pad(text))
			}
			content += "]"
		default:
			content = fmt.Sprintf("%q", pad(rest))
		}
		parts = append(parts, fmt.Sprintf(`{"role":%q,"content":%s}`, role, content))
	}
	return mustParse(t, `{"model":"m","system":"sys","messages":[`+strings.Join(parts, ",")+`]}`)
}

// notation returns the first word of each message's text or its tool id, as conv writes them.
func notation(r *Request) []string {
	var out []string
	for _, m := range r.Messages {
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			out = append(out, m.Role[:1]+":"+strings.TrimRight(s, "."))
			continue
		}
		var blocks []map[string]any
		json.Unmarshal(m.Content, &blocks)
		switch b := blocks[0]; b["type"] {
		case "tool_use":
			out = append(out, "a:use:"+b["id"].(string))
		case "tool_result":
			x := "u:res:" + b["tool_use_id"].(string)
			if len(blocks) > 1 {
				x += "+" + strings.TrimRight(blocks[1]["text"].(string), ".")
			}
			out = append(out, x)
		}
	}
	return out
}

func TestPrune(t *testing.T) {
	tests := []struct {
		name       string
		msgs       []string
		keepTurns  int
		keepTokens int64
		want       []string // messages left
	}{
		{"within limits", []string{"u:q1", "a:r1", "u:q2"}, 5, 1000, nil},
		{"one message", []string{"u:q1"}, 0, 0, nil},
		{"keep one turn", []string{"u:q1", "a:r1", "u:q2", "a:r2", "u:q3"}, 1, -1,
			[]string{"u:q2", "a:r2", "u:q3"}},
		{"keep no turn", []string{"u:q1", "a:r1", "u:q2", "a:r2", "u:q3"}, 0, -1,
			[]string{"u:q3"}},
		{"token budget", []string{"u:q1", "a:r1", "u:q2", "a:r2", "u:q3"}, -1, 25,
			[]string{"u:q2", "a:r2", "u:q3"}},
		{"token budget, whole turns only", []string{"u:q1", "a:r1", "u:q2", "a:r2", "u:q3"}, -1, 15,
			[]string{"u:q3"}},
		{"both limits: the stricter wins", []string{"u:q1", "a:r1", "u:q2", "a:r2", "u:q3", "a:r3", "u:q4"}, 2, 25,
			[]string{"u:q3", "a:r3", "u:q4"}},
		{"an agent loop is one turn", []string{"u:q1", "a:r1", "u:q2", "a:use:t1", "u:res:t1", "a:use:t2", "u:res:t2", "a:done", "u:q3"}, 1, -1,
			[]string{"u:q2", "a:use:t1", "u:res:t1", "a:use:t2", "u:res:t2", "a:done", "u:q3"}},
		{"the ongoing loop loses its oldest exchanges, the task and the last tool_use stay", []string{"u:q1", "a:use:t1", "u:res:t1", "a:use:t2", "u:res:t2"}, 0, 0,
			[]string{"u:q1", "a:use:t2", "u:res:t2"}},
		{"within the token budget, a loop is one turn", []string{"u:q1", "a:use:t1", "u:res:t1", "a:use:t2", "u:res:t2"}, 0, -1, nil},
		{"earlier turns go, then the loop's oldest exchanges", []string{"u:q0", "a:r0", "u:q1", "a:use:t1", "u:res:t1", "a:use:t2", "u:res:t2"}, 0, 0,
			[]string{"u:q1", "a:use:t2", "u:res:t2"}},
		{"a loop's exchanges go until the budget holds", []string{"u:q1", "a:use:t1", "u:res:t1", "a:use:t2", "u:res:t2", "a:use:t3", "u:res:t3"}, -1, 40,
			[]string{"u:q1", "a:use:t2", "u:res:t2", "a:use:t3", "u:res:t3"}},
		{"tool_use/tool_result across the cut: cut later", []string{"u:q0", "a:use:t1", "u:res:t1+q1", "a:r1", "u:q2"}, 1, -1,
			[]string{"u:q2"}},
		{"tool_use/tool_result across the cut: the turn before goes whole", []string{"u:q0", "a:r0", "u:q1", "a:use:t1", "u:res:t1+q2", "a:r2", "u:q3", "a:r3", "u:q4"}, 2, -1,
			[]string{"u:q3", "a:r3", "u:q4"}},
		{"a leading assistant message goes with the first cut", []string{"a:r0", "u:q1", "a:r1", "u:q2"}, 1, -1,
			[]string{"u:q1", "a:r1", "u:q2"}},
		{"consecutive assistant messages stay in their turn", []string{"u:q1", "a:r1", "a:r1b", "u:q2", "a:r2", "u:q3"}, 1, -1,
			[]string{"u:q2", "a:r2", "u:q3"}},
		{"an assistant last message (prefill) is never first", []string{"u:q0", "a:r0", "u:q1", "a:pre"}, 0, 0,
			[]string{"u:q1", "a:pre"}},
	}
	for _, tt := range tests {
		r := conv(t, tt.msgs...)
		before := r.Tokens()
		sys := r.System
		removed, err := r.Prune(tt.keepTurns, tt.keepTokens)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		want := tt.want
		if want == nil {
			want = tt.msgs
		}
		if got := notation(r); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: left %v, want %v", tt.name, got, want)
		}
		after := r.Tokens()
		if removed != before.History-after.History || after.New != before.New || after.System != before.System || string(r.System) != string(sys) {
			t.Errorf("%s: removed %d; before %+v, after %+v", tt.name, removed, before, after)
		}
		if tt.want == nil && removed != 0 {
			t.Errorf("%s: removed %d, want 0", tt.name, removed)
		}
		if r.Messages[0].Role != "user" {
			t.Errorf("%s: first message is %s", tt.name, r.Messages[0].Role)
		}
		if _, err := ParseRequest(r.Marshal()); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	// Removed tokens of a known case: two turns of 10-token messages.
	r := conv(t, "u:q1", "a:r1", "u:q2")
	if removed, _ := r.Prune(0, -1); removed != 20 {
		t.Errorf("removed %d, want 20", removed)
	}
	// Content set to invalid JSON is an error, and nothing changes.
	r = conv(t, "u:q1", "a:r1", "u:q2")
	r.Messages[1].Content = json.RawMessage(`[{`)
	if _, err := r.Prune(0, 0); err == nil || len(r.Messages) != 3 {
		t.Errorf("Prune on invalid content: %v, %d messages", err, len(r.Messages))
	}
}

func TestAddCacheControl(t *testing.T) {
	const eph = `{"type":"ephemeral"}`
	const hour = `{"type":"ephemeral","ttl":"1h"}`
	tests := []struct {
		name  string
		body  string
		ttl   string
		max   int
		added int
		want  string // the JSON of tools, system and messages after
	}{
		{"all three, strings converted",
			`{"model":"m","tools":[{"name":"a"},{"name":"b"}],"system":"sys","messages":[{"role":"user","content":"q1"},{"role":"assistant","content":"r1"},{"role":"user","content":"q2"}]}`,
			"", 4, 3,
			`{"model":"m","tools":[{"name":"a"},{"name":"b","cache_control":` + eph + `}],"system":[{"type":"text","text":"sys","cache_control":` + eph + `}],"messages":[{"role":"user","content":"q1"},{"role":"assistant","content":"r1"},{"role":"user","content":[{"type":"text","text":"q2","cache_control":` + eph + `}]}]}`},
		{"1h",
			`{"model":"m","system":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"messages":[{"role":"user","content":[{"type":"text","text":"q"},{"type":"tool_result","tool_use_id":"x","content":"r"}]}]}`,
			"1h", 4, 2,
			`{"model":"m","system":[{"type":"text","text":"a"},{"type":"text","text":"b","cache_control":` + hour + `}],"messages":[{"role":"user","content":[{"type":"text","text":"q"},{"type":"tool_result","tool_use_id":"x","content":"r","cache_control":` + hour + `}]}]}`},
		{"the limit: the last user message first",
			`{"model":"m","tools":[{"name":"a"}],"system":"sys","messages":[{"role":"user","content":"q"}]}`,
			"5m", 1, 1,
			`{"model":"m","tools":[{"name":"a"}],"system":"sys","messages":[{"role":"user","content":[{"type":"text","text":"q","cache_control":` + eph + `}]}]}`},
		{"existing breakpoints count",
			`{"model":"m","tools":[{"name":"a"}],"system":"sys","messages":[{"role":"user","content":[{"type":"text","text":"1","cache_control":{"type":"ephemeral"}},{"type":"text","text":"2","cache_control":{"type":"ephemeral"}}]},{"role":"assistant","content":[{"type":"text","text":"3","cache_control":{"type":"ephemeral"}}]},{"role":"user","content":"q"}]}`,
			"", 4, 1,
			`{"model":"m","tools":[{"name":"a"}],"system":"sys","messages":[{"role":"user","content":[{"type":"text","text":"1","cache_control":{"type":"ephemeral"}},{"type":"text","text":"2","cache_control":{"type":"ephemeral"}}]},{"role":"assistant","content":[{"type":"text","text":"3","cache_control":{"type":"ephemeral"}}]},{"role":"user","content":[{"type":"text","text":"q","cache_control":` + eph + `}]}]}`},
		{"never where one exists; nested ones count",
			`{"model":"m","system":[{"type":"text","text":"s","cache_control":null}],"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"x","content":[{"type":"text","text":"r","cache_control":{"type":"ephemeral"}}]},{"type":"text","text":"q","cache_control":{"type":"ephemeral"}}]}]}`,
			"", 2, 0, ``},
		{"limit above the API's is capped",
			`{"model":"m","tools":[{"name":"a","cache_control":{"type":"ephemeral"}}],"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"1","cache_control":{"type":"ephemeral"}}]},{"role":"assistant","content":[{"type":"text","text":"2","cache_control":{"type":"ephemeral"}}]},{"role":"user","content":"q"}]}`,
			"", 10, 0, ``},
		{"1h not after an existing 5m",
			`{"model":"m","tools":[{"name":"a"}],"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"q"}]}`,
			"1h", 4, 1,
			`{"model":"m","tools":[{"name":"a","cache_control":` + hour + `}],"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"q"}]}`},
		{"5m not before an existing 1h",
			`{"model":"m","tools":[{"name":"a"}],"system":"s","messages":[{"role":"user","content":[{"type":"text","text":"q","cache_control":{"type":"ephemeral","ttl":"1h"}}]}]}`,
			"5m", 4, 0, ``},
		{"the last user message, not the last message; empty text gets none",
			`{"model":"m","system":"","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"prefill"}]}`,
			"", 4, 1,
			`{"model":"m","system":"","messages":[{"role":"user","content":[{"type":"text","text":"q","cache_control":` + eph + `}]},{"role":"assistant","content":"prefill"}]}`},
		{"empty content", `{"model":"m","messages":[{"role":"user","content":""}]}`, "", 4, 0, ``},
		{"unknown ttl", `{"model":"m","messages":[{"role":"user","content":"q"}]}`, "2h", 4, 0, ``},
		{"zero limit", `{"model":"m","messages":[{"role":"user","content":"q"}]}`, "", 0, 0, ``},
	}
	for _, tt := range tests {
		r := mustParse(t, tt.body)
		fp, tok, ph := r.Fingerprint(), r.Tokens(), r.PrefixHashes(1)
		if got := r.AddCacheControl(tt.ttl, tt.max); got != tt.added {
			t.Errorf("%s: added %d, want %d", tt.name, got, tt.added)
		}
		want := tt.want
		if want == "" {
			want = tt.body
		}
		out := r.Marshal()
		if !sameJSON(t, out, []byte(want)) {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, out, want)
		}
		if r.Fingerprint() != fp || r.Tokens() != tok || !reflect.DeepEqual(r.PrefixHashes(1), ph) {
			t.Errorf("%s: cache_control changed the fingerprint, the estimate or the prefix hashes", tt.name)
		}
		if tt.added > 0 && r.AddCacheControl(tt.ttl, tt.max) != 0 {
			t.Errorf("%s: a second call added more", tt.name)
		}
	}
}
