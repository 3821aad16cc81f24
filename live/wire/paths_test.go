package wire

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// parseGeneral parses body the general way: ParseRequest's validating parse, then fillCaches.
func parseGeneral(body []byte) (*Request, error) {
	r := &Request{body: append([]byte(nil), body...), id: parses.Add(1)}
	if err := r.parse(); err != nil {
		return nil, err
	}
	r.fillCaches()
	return r, nil
}

// uncached returns a copy of r whose methods compute everything the general way, from its fields.
func uncached(r *Request) *Request {
	c := *r
	c.toolsC, c.systemC = partCache{}, partCache{}
	c.Messages = append([]Message(nil), r.Messages...)
	for i := range c.Messages {
		c.Messages[i].pc = msgCache{}
	}
	c.fields = append([]field(nil), r.fields...)
	var cn canon
	for i := range c.fields {
		if f := &c.fields[i]; f.kind == fExtra {
			f.khash, f.hash = hashText(f.key), cn.hashOrRaw(f.raw, modePlain)
		}
	}
	return &c
}

var blockSizes = []int{1, 3, 7, 64}

// checkPaths checks that the single pass, the general parse and the uncached methods agree on
// body, and that Tokens agrees with the reference implementation. It returns the request.
func checkPaths(t testing.TB, body []byte) *Request {
	t.Helper()
	fast, errFast := ParseRequest(body)
	gen, errGen := parseGeneral(body)
	if (errFast == nil) != (errGen == nil) || (errFast != nil && errFast.Error() != errGen.Error()) {
		t.Fatalf("%q: ParseRequest: %v; general parse: %v", body, errFast, errGen)
	}
	if errFast != nil {
		return nil
	}
	pf := &Request{body: fast.body, id: 1}
	onFast := pf.parseFast() == nil
	un := uncached(fast)
	for _, x := range []struct {
		name string
		r    *Request
	}{{"general", gen}, {"uncached", un}} {
		if a, b := fast.Fingerprint(), x.r.Fingerprint(); a != b {
			t.Fatalf("%q (single pass %v): Fingerprint %#x, %s %#x", body, onFast, a, x.name, b)
		}
		if a, b := fast.Tokens(), x.r.Tokens(); a != b {
			t.Fatalf("%q (single pass %v): Tokens %+v, %s %+v", body, onFast, a, x.name, b)
		}
		for _, bt := range blockSizes {
			if a, b := fast.PrefixHashes(bt), x.r.PrefixHashes(bt); !reflect.DeepEqual(a, b) {
				t.Fatalf("%q (single pass %v): PrefixHashes(%d) %x, %s %x", body, onFast, bt, a, x.name, b)
			}
		}
	}
	if a, b := fast.Marshal(), gen.Marshal(); string(a) != string(b) {
		t.Fatalf("%q: Marshal %q, general %q", body, a, b)
	}
	if a, b := fast.Tokens(), refTokens(fast); a != b {
		t.Fatalf("%q: Tokens %+v, reference %+v", body, a, b)
	}
	for _, bt := range blockSizes {
		if a, b := len(fast.PrefixHashes(bt)), len(refPrefixHashes(fast, bt)); a != b {
			t.Fatalf("%q: %d prefix hashes of %d tokens, reference %d", body, a, bt, b)
		}
	}
	return fast
}

// variants returns bodies that encode body's request differently (white space, key order,
// escapes, numbers) or change it, for comparing fingerprints and prefix hashes with the
// reference's.
func variants(body []byte) [][]byte {
	out := [][]byte{body}
	var v any
	if json.Unmarshal(body, &v) == nil {
		if b, err := json.Marshal(v); err == nil { // sorted keys, Go's escapes
			out = append(out, b)
		}
		if b, err := json.MarshalIndent(v, " ", "\t"); err == nil {
			out = append(out, b)
		}
	}
	if r, err := ParseRequest(body); err == nil {
		r.AddCacheControl("1h", 4)
		out = append(out, r.Marshal())
		if len(r.Messages) > 1 {
			r.Messages = r.Messages[1:]
			out = append(out, r.Marshal())
		}
	}
	return out
}

// checkAgainstReference checks, on the variants of body, that fingerprints are equal exactly when
// the reference's are, and likewise for each prefix hash, except that an image's source counts by
// its JSON value, where the reference took its text: a prefix hash may be equal where the
// reference's differ on requests with images.
func checkAgainstReference(t testing.TB, body []byte) {
	t.Helper()
	var rs []*Request
	for _, b := range variants(body) {
		if r := checkPaths(t, b); r != nil {
			rs = append(rs, r)
		}
	}
	for i := range rs {
		for j := range i {
			a, b := rs[i], rs[j]
			if (a.Fingerprint() == b.Fingerprint()) != (refFingerprint(a) == refFingerprint(b)) {
				t.Fatalf("fingerprints of %q and %q: equal %v, reference equal %v", a.body, b.body,
					a.Fingerprint() == b.Fingerprint(), refFingerprint(a) == refFingerprint(b))
			}
			for _, bt := range blockSizes {
				ha, hb := a.PrefixHashes(bt), b.PrefixHashes(bt)
				ra, rb := refPrefixHashes(a, bt), refPrefixHashes(b, bt)
				for k := range min(len(ha), len(hb)) {
					if (ha[k] == hb[k]) != (ra[k] == rb[k]) && (ra[k] == rb[k] || !strings.Contains(string(body), `"source"`)) {
						t.Fatalf("prefix hash %d of %d tokens of %q and %q: equal %v, reference equal %v",
							k, bt, a.body, b.body, ha[k] == hb[k], ra[k] == rb[k])
					}
				}
			}
		}
	}
}

var pathBodies = []string{
	fullRequest,
	`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
	`{ "model" : "m\u00e9" , "max_tokens" : 5, "temperature": 1e-1, "system": [{"type":"text","text":"s"}], "messages" : [ {"role":"user","content":[{"type":"image","source":{}}]} ] }`,
	`{"model":"m","system":"s","tools":[{"name":"a"}],"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"a","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r"}]}]}]}`,
	`{"model":"m","x":{"k":1,"k":2},"stream":null,"temperature":null,"messages":[{"role":"assistant","content":"a","extra":[1]}]}`,
	`{"model":"m","messages":[{"role":"user","content":"a\nb\u001fc \"q\" \\ \/ \u00e9 \ud83d\ude80 \u0008\b\f\t\r"}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"content":[{"type":"text","text":"x"}],"type":"tool_result","tool_use_id":"t"}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","content":[{"type":"text","text":"x"}],"tool_use_id":"t"}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"x"},"s",3,{"type":"image","source":{"a":1}},{"type":"tool_result","content":"deep"}]}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a","text":"b"},{"typ\u0065":"text","text":"c"},{"type":"t\u0065xt","text":"d"}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"search_result","title":"abcd","source":"efgh","content":[{"type":"text","text":"ij"}],"citations":{"enabled":true}},{"type":"web_search_tool_result","tool_use_id":"x","content":[{"type":"text","text":"r"}]}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_use","id":"i","name":"n","input":{ "a" : [ 1 , 2 ] , "b":"\n" }},{"type":"thinking","thinking":"t\nh","signature":"s"},{"type":"redacted_thinking","data":"d"},{"type":"document","source":{"data":"x"},"cache_control":{"type":"ephemeral"}}]}]}`,
	`{"model":"m","tools":[{"name":"a","cache_control":{"type":"ephemeral"},"input_schema":{"type":"object"}},{"cache_control":{},"name":"b"},{"n\u0061me":"c", "d" : 1.50 }],"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[]}]}`,
	`{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat(`line \"one\"\n\ttab \\ back`, 40) + `"},{"role":"assistant","content":[{"type":"text","text":"` + strings.Repeat(`x\u001fy\\z`, 50) + `"}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"` + strings.Repeat(`é \u00e9 \/`, 30) + `"}]}]}`,
	`{"model":"0","system":[{"":"0"}],"messages":[{"role":"user","content":[{"":"0"}]}]}`,
}

func TestPathsAgree(t *testing.T) {
	for _, b := range pathBodies {
		checkAgainstReference(t, []byte(b))
	}
	for _, n := range []int{2000, 20 << 10} {
		checkAgainstReference(t, realisticRequest(n))
	}
}

// TestSinglePassCovers checks that the single pass takes the requests clients send.
func TestSinglePassCovers(t *testing.T) {
	for i, b := range append(pathBodies[:4:4], string(realisticRequest(20<<10))) {
		r := &Request{body: []byte(b), id: 1}
		if err := r.parseFast(); err != nil {
			t.Errorf("body %d: the single pass gave up: %v", i, err)
		}
	}
}

// randomRequest writes a request of random shape: blocks of every kind, members in random order,
// sometimes repeated or escaped, white space, escapes of every kind in the text.
func randomRequest(rng *rand.Rand) []byte {
	var b strings.Builder
	ws := func() {
		if rng.IntN(6) == 0 {
			b.WriteString([]string{" ", "\n", "\t ", "\r\n  "}[rng.IntN(4)])
		}
	}
	str := func() {
		parts := []string{"a", "Let me look", "é", "🚀", `\n`, `\t`, `\"`, `\\`, `\/`, `\u00e9`, `\u001f`, `\u0008`, `\b`, `\f`, `\r`,
			`\ud83d\ude80`, `\ud83d`, "func parse(s string) (int, error) {", strings.Repeat("x", 70), `\\\\`, `\\\"`}
		b.WriteByte('"')
		for range rng.IntN(12) {
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		b.WriteByte('"')
	}
	key := func(k string) {
		if rng.IntN(40) == 0 && k != "" {
			k = `\u00` + strings.ToLower(string("0123456789ABCDEF"[k[0]>>4])+string("0123456789ABCDEF"[k[0]&15])) + k[1:]
		}
		b.WriteString(`"` + k + `"`)
		ws()
		b.WriteByte(':')
		ws()
	}
	var value func(depth int)
	value = func(depth int) {
		switch n := rng.IntN(8); {
		case n < 3 || depth > 3:
			str()
		case n == 3:
			b.WriteString([]string{"1", "1.0", "-2e3", "0", "true", "false", "null", "12345678901234567890"}[rng.IntN(8)])
		case n == 4:
			b.WriteByte('[')
			for i := range rng.IntN(4) {
				if i > 0 {
					b.WriteByte(',')
				}
				ws()
				value(depth + 1)
			}
			b.WriteByte(']')
		default:
			b.WriteByte('{')
			for i := range rng.IntN(4) {
				if i > 0 {
					b.WriteByte(',')
				}
				ws()
				key([]string{"a", "type", "text", "content", "cache_control", "id", "x"}[rng.IntN(7)])
				value(depth + 1)
			}
			b.WriteByte('}')
		}
	}
	obj := func(members []func()) {
		rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
		b.WriteByte('{')
		for i, m := range members {
			if i > 0 {
				b.WriteByte(',')
			}
			ws()
			m()
		}
		b.WriteByte('}')
	}
	member := func(k string, v func()) func() { return func() { key(k); v() } }
	lit := func(s string) func() { return func() { b.WriteString(s) } }
	var block func(depth int)
	block = func(depth int) {
		typ := []string{"text", "tool_use", "tool_result", "thinking", "redacted_thinking", "image", "document",
			"server_tool_use", "web_search_tool_result", "search_result", "unknown"}[rng.IntN(11)]
		ms := []func(){member("type", lit(`"`+typ+`"`))}
		add := func(k string, v func()) { ms = append(ms, member(k, v)) }
		switch typ {
		case "text":
			add("text", str)
		case "tool_use", "server_tool_use":
			add("id", str)
			add("name", str)
			add("input", func() { value(1) })
		case "tool_result", "web_search_tool_result":
			add("tool_use_id", str)
			if rng.IntN(2) == 0 || depth > 2 {
				add("content", str)
			} else {
				add("content", func() {
					b.WriteByte('[')
					for i := range rng.IntN(3) {
						if i > 0 {
							b.WriteByte(',')
						}
						if rng.IntN(5) == 0 {
							value(2)
						} else {
							block(depth + 1)
						}
					}
					b.WriteByte(']')
				})
			}
		case "thinking":
			add("thinking", str)
			add("signature", str)
		case "redacted_thinking":
			add("data", str)
		case "image", "document":
			add("source", func() { value(1) })
		default:
			add("title", str)
			add("content", func() { value(1) })
		}
		if rng.IntN(4) == 0 {
			add("cache_control", lit(`{"type":"ephemeral"}`))
		}
		if rng.IntN(15) == 0 {
			add(ms2key(rng), str) // a repeated member
		}
		if rng.IntN(3) > 0 {
			// In the order JSON.stringify writes: type first.
			first := ms[0]
			rest := ms[1:]
			b.WriteByte('{')
			ws()
			first()
			for _, m := range rest {
				b.WriteByte(',')
				ws()
				m()
			}
			b.WriteByte('}')
			return
		}
		obj(ms)
	}
	content := func() {
		if rng.IntN(4) == 0 {
			str()
			return
		}
		b.WriteByte('[')
		for i := range rng.IntN(4) {
			if i > 0 {
				b.WriteByte(',')
			}
			ws()
			block(0)
		}
		b.WriteByte(']')
	}
	var top []func()
	top = append(top, member("model", lit(`"claude-sonnet-4-5"`)))
	top = append(top, member("messages", func() {
		b.WriteByte('[')
		for i := range 1 + rng.IntN(6) {
			if i > 0 {
				b.WriteByte(',')
			}
			ws()
			role := []string{`"user"`, `"assistant"`}[rng.IntN(2)]
			ms := []func(){member("role", lit(role)), member("content", content)}
			if rng.IntN(8) == 0 {
				ms = append(ms, member("x_extra", func() { value(1) }))
			}
			if rng.IntN(2) == 0 {
				b.WriteByte('{')
				for j, m := range ms {
					if j > 0 {
						b.WriteByte(',')
					}
					m()
				}
				b.WriteByte('}')
			} else {
				obj(ms)
			}
		}
		b.WriteByte(']')
	}))
	if rng.IntN(2) == 0 {
		top = append(top, member("system", content))
	}
	if rng.IntN(2) == 0 {
		top = append(top, member("tools", func() {
			b.WriteByte('[')
			for i := range rng.IntN(3) {
				if i > 0 {
					b.WriteByte(',')
				}
				ms := []func(){member("name", str), member("input_schema", func() { value(0) })}
				if rng.IntN(3) == 0 {
					ms = append(ms, member("cache_control", lit(`{"type":"ephemeral"}`)))
				}
				obj(ms)
			}
			b.WriteByte(']')
		}))
	}
	if rng.IntN(3) == 0 {
		top = append(top, member("temperature", lit("0.5")), member("metadata", func() { value(1) }), member("top_k", func() { value(1) }))
	}
	obj(top)
	return []byte(b.String())
}

func ms2key(rng *rand.Rand) string {
	return []string{"type", "text", "id", "name", "content", "tool_use_id", "input", "source"}[rng.IntN(8)]
}

// TestPathsRandom checks the paths on random requests.
func TestPathsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	n := 1000
	if testing.Short() {
		n = 300
	}
	valid := 0
	for i := range n {
		body := randomRequest(rng)
		if r := checkPaths(t, body); r != nil {
			valid++
		}
		if i%10 == 0 {
			checkAgainstReference(t, body)
		}
	}
	if valid < n*9/10 {
		t.Errorf("only %d of %d random requests are valid", valid, n)
	}
}
