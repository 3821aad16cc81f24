package importers

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/traces"
)

// wekaAbsent are the fields a WEKA record never has.
var wekaAbsent = []traces.Field{
	traces.FieldTenant, traces.FieldPriority, traces.FieldMaxDelay, traces.FieldServiceTier,
	traces.FieldTemperature, traces.FieldCacheWrite5m, traces.FieldCacheWrite1h, traces.FieldCacheRead,
	traces.FieldReasoning, traces.FieldHistoryTokens, traces.FieldNewTokens,
	traces.FieldFingerprint, traces.FieldComplexity, traces.FieldStatus, traces.FieldError,
	traces.FieldCost,
}

// wekaRequest is a request entry of a WEKA trace, decoded independently of the importer.
type wekaRequest struct {
	T        float64       `json:"t"`
	Type     string        `json:"type"`
	In       int64         `json:"in"`
	HashIDs  []uint64      `json:"hash_ids"`
	AgentID  string        `json:"agent_id"`
	Requests []wekaRequest `json:"requests"`
}

// wekaHashIDs returns the hash ids of a WEKA file's requests by origin ("path#/requests/1/...").
func wekaHashIDs(t *testing.T, path string) map[string][]uint64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Requests []wekaRequest }
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string][]uint64{}
	var walk func(base string, rs []wekaRequest)
	walk = func(base string, rs []wekaRequest) {
		for i, r := range rs {
			o := fmt.Sprintf("%s/%d", base, i)
			if r.Type == "subagent" {
				walk(o+"/requests", r.Requests)
				continue
			}
			out[o] = r.HashIDs
		}
	}
	walk(path+"#/requests", doc.Requests)
	return out
}

func TestWEKAFixture(t *testing.T) {
	files := publicFixtures["weka"]
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s := importPaths(t, "weka", Options{Start: start, Seed: 7}, files...)
	if len(s.bad) != 0 || len(s.skips) != 0 {
		t.Fatalf("bad %v, skips %v", s.badStrings(), s.skips)
	}
	// trace_0048: 21 requests; trace_0274: 57 main requests and sub-agents of 11, 13 and 24.
	if len(s.records) != 21+57+11+13+24 {
		t.Fatalf("got %d records, want 126", len(s.records))
	}
	validateAll(t, s.records)

	sessions := map[string]int{}
	ids := map[string]bool{}
	byFile := map[string][]traces.Record{}
	for i := range s.records {
		r := &s.records[i]
		checkAbsent(t, r, wekaAbsent...)
		if r.Provider != "anthropic" || !r.Has(traces.FieldInput) || !r.Has(traces.FieldOutput) || !r.Has(traces.FieldTurn) {
			t.Errorf("%s: %s", r.Origin, showRecord(r))
		}
		// Four requests of trace_0048 have no api_time (nor ttft, nor stop): interrupted streams.
		noLatency := slices.Contains([]string{"6", "7", "14", "18"}, strings.TrimPrefix(r.Origin, files[0]+"#/requests/"))
		if r.Has(traces.FieldLatency) == noLatency || (noLatency && r.Has(traces.FieldTTFT)) {
			t.Errorf("%s: latency present %v", r.Origin, r.Has(traces.FieldLatency))
		}
		if r.Turn != sessions[r.Session] {
			t.Errorf("%s: turn %d in session %s, want %d", r.Origin, r.Turn, r.Session, sessions[r.Session])
		}
		sessions[r.Session]++
		if ids[r.ID] {
			t.Errorf("duplicate ID %s", r.ID)
		}
		ids[r.ID] = true
		// SystemTokens: system_tokens + tool_tokens, the document's for the main conversations
		// (trace_0048: 2942 + 12262; trace_0274: 4360 + 12439), the container's for the sub-agents
		// (each of trace_0274's three Explore agents: 2304 + 7771).
		wantSys := map[string]int64{"trace_0048": 15204, "trace_0274": 16799}[r.Session]
		if strings.Contains(r.Session, "/") {
			wantSys = 10075
		}
		if !r.Has(traces.FieldSystemTokens) || r.SystemTokens != wantSys {
			t.Errorf("%s: SystemTokens %d (present %v), want %d", r.Origin, r.SystemTokens, r.Has(traces.FieldSystemTokens), wantSys)
		}
		if r.Agent != r.Session {
			t.Errorf("%s: agent %q, session %q", r.Origin, r.Agent, r.Session)
		}
		if (r.Parent != "") != strings.Contains(r.Session, "/") {
			t.Errorf("%s: parent %q in session %q", r.Origin, r.Parent, r.Session)
		}
		if r.Parent != "" && !ids[r.Parent] {
			t.Errorf("%s: parent %s does not come before it", r.Origin, r.Parent)
		}
		byFile[r.Pos.File] = append(byFile[r.Pos.File], *r)
	}
	if want := map[string]int{"trace_0048": 21, "trace_0274": 57, "trace_0274/agent_001": 11, "trace_0274/agent_002": 13, "trace_0274/agent_003": 24}; fmt.Sprint(sessions) != fmt.Sprint(want) {
		t.Errorf("sessions %v, want %v", sessions, want)
	}
	// Each file's records come in time order, numbered in that order.
	for f, recs := range byFile {
		for i, r := range recs {
			if i > 0 && r.Time.Before(recs[i-1].Time) {
				t.Errorf("%s: %s before %s", f, r.Origin, recs[i-1].Origin)
			}
			if want := fmt.Sprintf("%s:%d", traceName(f), i); r.ID != want {
				t.Errorf("%s: ID %s, want %s", r.Origin, r.ID, want)
			}
		}
	}

	// trace_0048 is conversation 0 and trace_0274 conversation 1: each starts in its 10-minute slot.
	a, b := byFile[files[0]], byFile[files[1]]
	start0, start1 := a[0].Time, b[0].Time
	if start0.Before(start) || !start0.Before(start.Add(10*time.Minute)) || start1.Before(start.Add(10*time.Minute)) || !start1.Before(start.Add(20*time.Minute)) {
		t.Errorf("conversation starts %v and %v, want in [%v, +10m) and [+10m, +20m)", start0, start1, start)
	}

	// trace_0048 requests/0: {"t":0.0,"type":"s","model":"claude-opus-4-5-20251101","in":42383,
	// "out":314,"hash_ids":[1,...,662],"input_types":["text"],...,"api_time":8.42,"ttft":4.75}
	r := &a[0]
	if r.ID != "trace_0048:0" || r.Session != "trace_0048" || r.Turn != 0 || r.Parent != "" ||
		r.Model != "claude-opus-4-5-20251101" || r.Input != 42383 || r.Output != 314 ||
		r.Latency != 8420*time.Millisecond || !r.Has(traces.FieldTTFT) || r.TTFT != 4750*time.Millisecond ||
		r.QueryType != traces.QueryChat || len(r.Prefix) != 662 || r.Origin != files[0]+"#/requests/0" || r.Pos.Line != 1 {
		t.Errorf("trace_0048 requests/0: %s", showRecord(r))
	}
	// requests/1: "t":14.0, "in":44019,"out":261, input_types text, tool_result, tool_use,
	// api_time 4.99, ttft 2.51.
	r = &a[1]
	if !r.Time.Equal(start0.Add(14*time.Second)) || r.Turn != 1 || r.Input != 44019 || r.Output != 261 ||
		r.Latency != 4990*time.Millisecond || r.TTFT != 2510*time.Millisecond || r.QueryType != traces.QueryTool || len(r.Prefix) != 687 {
		t.Errorf("trace_0048 requests/1: %s", showRecord(r))
	}
	// trace_0274 requests/1 is the sub-agent agent_001 at t=160.959; its first request:
	// {"t":0.0,"type":"n","model":"claude-haiku-4-5-20251001","in":13368,"out":189,...,
	// "input_types":["text"],...,"api_time":2.01} (no ttft)
	r = &b[1]
	if r.Origin != files[1]+"#/requests/1/requests/0" || !r.Time.Equal(start1.Add(160959*time.Millisecond)) ||
		r.Session != "trace_0274/agent_001" || r.Parent != "trace_0274:0" || r.Turn != 0 || r.ID != "trace_0274:1" ||
		r.Model != "claude-haiku-4-5-20251001" || r.Input != 13368 || r.Output != 189 || r.Latency != 2010*time.Millisecond ||
		r.Has(traces.FieldTTFT) || r.QueryType != traces.QueryChat || len(r.Prefix) != 208 {
		t.Errorf("trace_0274 requests/1/requests/0: %s", showRecord(r))
	}
	// Its second request, "t":5.0.
	if r := &b[2]; r.Origin != files[1]+"#/requests/1/requests/1" || !r.Time.Equal(start1.Add(165959*time.Millisecond)) || r.Turn != 1 {
		t.Errorf("trace_0274 requests/1/requests/1: %s", showRecord(r))
	}
	if got := (wekaImporter{}).BlockSize(); got != 64 {
		t.Errorf("BlockSize() = %d", got)
	}
}

// TestWEKATimes checks that conversation start times are a function of the seed.
func TestWEKATimes(t *testing.T) {
	files := publicFixtures["weka"]
	times := func(seed uint64) []time.Time {
		var out []time.Time
		for _, r := range importPaths(t, "weka", Options{Seed: seed}, files...).records {
			out = append(out, r.Time)
		}
		return out
	}
	a, b, c := times(1), times(1), times(2)
	if !slices.EqualFunc(a, b, time.Time.Equal) {
		t.Error("the same seed gave different times")
	}
	if a[0].Equal(c[0]) || a[len(a)-1].Equal(c[len(c)-1]) {
		t.Errorf("seeds 1 and 2 gave the same conversation starts %v, %v", a[0], c[0])
	}
	// Within a conversation, the seed moves all requests alike.
	if a[1].Sub(a[0]) != c[1].Sub(c[0]) {
		t.Error("the seed changed the gaps within a conversation")
	}
}

// TestWEKAPrefix checks the chaining: within a conversation, requests share prefix[i] exactly when
// they share the first i+1 hash ids (sub-agents included); across conversations, whose ids both
// start at 1, no hash is shared.
func TestWEKAPrefix(t *testing.T) {
	files := publicFixtures["weka"]
	s := importPaths(t, "weka", Options{}, files...)
	owner := map[uint64]string{}
	perFile := map[string]map[uint64]int{}
	var seqs idSequences
	sharedSub := false
	for _, f := range files {
		perFile[f] = map[uint64]int{}
	}
	for _, f := range files {
		want := wekaHashIDs(t, f)
		for _, r := range s.records {
			if r.Pos.File != f {
				continue
			}
			ids, ok := want[r.Origin]
			if !ok {
				t.Fatalf("no request %s", r.Origin)
			}
			if len(r.Prefix) != len(ids) {
				t.Fatalf("%s: %d prefix hashes for %d ids", r.Origin, len(r.Prefix), len(ids))
			}
			key := 0
			for i, h := range r.Prefix {
				key = seqs.next(key, ids[i])
				if k, ok := perFile[f][h]; ok && k != key {
					t.Fatalf("%s: hash %x stands for two id sequences", r.Origin, h)
				}
				perFile[f][h] = key
				if o, ok := owner[h]; ok && o != f {
					t.Fatalf("%s and %s share prefix hash %x", o, f, h)
				}
				owner[h] = f
			}
			if strings.Contains(r.Session, "/agent_002") && r.Turn == 0 {
				// agent_001 and agent_002 are both Explore sub-agents: same system prompt.
				for _, q := range s.records {
					if q.Session == "trace_0274/agent_001" && q.Turn == 0 && q.Prefix[0] == r.Prefix[0] {
						sharedSub = true
					}
				}
			}
		}
		seen := map[int]bool{}
		for _, k := range perFile[f] {
			if seen[k] {
				t.Fatalf("%s: one id sequence has two hashes", f)
			}
			seen[k] = true
		}
	}
	if !sharedSub {
		t.Error("the sub-agents' common prefix is not shared")
	}

	// The same document under another trace id is another conversation.
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	copyPath := writeTemp(t, "copy.json", strings.Replace(string(data), `"id":"trace_0048"`, `"id":"trace_9999"`, 1))
	for _, r := range importPaths(t, "weka", Options{}, copyPath).records {
		if r.Session != "trace_9999" {
			t.Fatalf("copy: session %q", r.Session)
		}
		for _, h := range r.Prefix {
			if _, ok := owner[h]; ok {
				t.Fatalf("copy shares hash %x with %s", h, owner[h])
			}
		}
	}
}

func TestWEKABadInputs(t *testing.T) {
	// A pretty-printed document, so that lines tell the requests apart.
	p := writeTemp(t, "trace_0001.json", `{
  "id": "t1",
  "models": ["claude-opus-4-5-20251101"],
  "block_size": 64,
  "requests": [
    {"t": 0.0, "type": "n", "in": 130, "out": 1, "hash_ids": [1, 2], "api_time": 1.5},
    {"t": 1.0, "type": "n", "model": "m", "in": 130, "out": 1, "hash_ids": [1, 2, 3], "api_time": 1.5},
    {"t": 2.0, "type": "n", "model": "m", "in": "abc", "out": 1, "hash_ids": [1, 2]},
    {"type": "n", "model": "m", "in": 64, "out": 1, "hash_ids": [1]},
    {"t": 3.0, "type": "subagent", "agent_id": "agent_001", "requests": [
      {"t": 0.5, "type": "n", "model": "h", "in": 64, "out": 1, "hash_ids": [9], "api_time": 0.25, "ttft": 0.125}
    ]},
    {"type": "subagent", "agent_id": "agent_002", "requests": [
      {"t": 0.5, "type": "n", "model": "h", "in": 64, "out": 1, "hash_ids": [9]}
    ]},
    {"t": 4.0, "type": "n", "model": "m", "in": 128, "out": -2, "hash_ids": [1, 2]},
    {"t": 5.0, "type": "n", "model": "m", "in": 128, "out": 2, "hash_ids": [1, 2], "api_time": "x"},
    7
  ]
}
`)
	s := importPaths(t, "weka", Options{}, p)
	want := []string{
		p + ":7: hash_ids: more blocks than tokens: 3 ids for 130 tokens, at most 2 at /requests/1",
		p + ":8: in: wrong JSON type: want number, got string at /requests/2",
		p + ":9: t: missing: at /requests/3",
		p + ":13: t: missing: at /requests/5",
		p + ":16: out: negative token count: \"-2\" at /requests/6",
		p + ":17: api_time: wrong JSON type: want number, got string at /requests/7",
		p + ":18: requests: wrong JSON type: want object, got number at /requests/8",
	}
	if got := s.badStrings(); !slices.Equal(got, want) {
		t.Errorf("bad requests:\n got %q\nwant %q", got, want)
	}
	if len(s.records) != 2 {
		t.Fatalf("got %d records, want 2", len(s.records))
	}
	// requests/0 has no model: the document's only model stands in.
	if r := &s.records[0]; r.Model != "claude-opus-4-5-20251101" || r.Origin != p+"#/requests/0" || r.Pos.Line != 6 || len(r.Prefix) != 2 || r.Session != "t1" {
		t.Errorf("requests/0: %s", showRecord(r))
	}
	if r := &s.records[1]; r.Session != "t1/agent_001" || r.Parent != "t1:0" || r.Pos.Line != 11 || r.TTFT != 125*time.Millisecond || r.Latency != 250*time.Millisecond ||
		r.Time.Sub(s.records[0].Time) != 3500*time.Millisecond {
		t.Errorf("requests/4/requests/0: %s", showRecord(r))
	}

	// Problems of the whole file: it is skipped, with one error.
	for name, c := range map[string]struct{ doc, want string }{
		"truncated":  {`{"id":"x","requests":[{"t":0`, ":1: malformed JSON: unexpected end at byte 28"},
		"block size": {`{"id":"x","block_size":128,"requests":[]}`, ": block_size: unsupported block size: 128, want 64"},
		"requests":   {`{"id":"x","requests":{}}`, ":1: requests: wrong JSON type: want array, got object"},
		"trailing":   {`{"id":"x","requests":[]} {}`, ":1: malformed JSON: unexpected '{' at byte 25"},
		"id type":    {`{"id":7,"requests":[]}`, ":1: id: wrong JSON type: want string, got number"},
	} {
		p := writeTemp(t, "bad.json", c.doc)
		s := importPaths(t, "weka", Options{}, p)
		if got := s.badStrings(); len(s.records) != 0 || !slices.Equal(got, []string{p + c.want}) {
			t.Errorf("%s: %d records, bad %q, want %q", name, len(s.records), got, p+c.want)
		}
	}

	// A sink that stops at a bad request stops the import with it.
	err := wekaImporter{}.Import([]string{p}, Options{}, &recordingSink{stopOnBad: true})
	if e, ok := traces.AsError(err); !ok || e.Error() != want[0] {
		t.Errorf("stopping import: %v", err)
	}
}

func TestWEKAGzip(t *testing.T) {
	src := publicFixtures["weka"][1]
	plain := importPaths(t, "weka", Options{Seed: 3}, src)
	gz := importPaths(t, "weka", Options{Seed: 3}, gzipCopy(t, src))
	sameRecords(t, gz.records, plain.records)
}

func FuzzWEKA(f *testing.F) {
	f.Add([]byte(`{"id":"t","models":["m"],"block_size":64,"hash_id_scope":"local","requests":[{"t":0.0,"type":"s","model":"m","in":130,"out":5,"hash_ids":[1,2],"input_types":["text"],"api_time":1.5,"ttft":0.5},{"t":2.5,"type":"subagent","agent_id":"a","requests":[{"t":0.0,"type":"n","in":64,"out":1,"hash_ids":[3],"api_time":0.1}]}]}`))
	f.Add([]byte("{\"requests\":[{\"t\":1e-3,\"in\":0,\"out\":0,\"hash_ids\":[],\"model\":\"\\u00e9\"},null,{\"requests\":[[]]}],\"hash_id_scope\":\"global\"}\n"))
	// One directory per fuzzing process: a temporary directory per input would dominate the cost.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "trace.json")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		wekaImporter{}.Import([]string{p}, Options{Seed: 1}, &countingSink{})
	})
}

// TestWEKASystemTokens checks SystemTokens: the document's system_tokens + tool_tokens for the
// main conversation, a container's own for its sub-agent (never its parent's), either count
// alone, null as absent, and bad values reported like any other field's.
func TestWEKASystemTokens(t *testing.T) {
	p := writeTemp(t, "trace_0002.json", `{
  "id": "t2",
  "block_size": 64,
  "system_tokens": 1000,
  "requests": [
    {"t": 0.0, "model": "m", "in": 3000, "out": 1, "hash_ids": [1]},
    {"t": 1.0, "type": "subagent", "agent_id": "a1", "tool_tokens": 700, "system_tokens": 300, "requests": [
      {"t": 0.0, "model": "h", "in": 2000, "out": 1, "hash_ids": [2]},
      {"t": 1.0, "type": "subagent", "agent_id": "a2", "tool_tokens": 50, "requests": [
        {"t": 0.0, "model": "h", "in": 500, "out": 1}
      ]}
    ]},
    {"t": 2.0, "type": "subagent", "agent_id": "a3", "system_tokens": null, "requests": [
      {"t": 0.0, "model": "h", "in": 600, "out": 1}
    ]},
    {"t": 3.0, "type": "subagent", "agent_id": "a4", "system_tokens": "many", "requests": [
      {"t": 0.0, "model": "h", "in": 600, "out": 1}
    ]}
  ]
}
`)
	s := importPaths(t, "weka", Options{}, p)
	want := []string{p + ":16: system_tokens: wrong JSON type: want number, got string at /requests/3"}
	if got := s.badStrings(); !slices.Equal(got, want) {
		t.Errorf("bad requests:\n got %q\nwant %q", got, want)
	}
	type sys struct {
		session string
		tokens  int64
		present bool
	}
	var got []sys
	for i := range s.records {
		r := &s.records[i]
		got = append(got, sys{r.Session, r.SystemTokens, r.Has(traces.FieldSystemTokens)})
	}
	wantSys := []sys{{"t2", 1000, true}, {"t2/a1", 1000, true}, {"t2/a2", 50, true}, {"t2/a3", 0, false}}
	if !slices.Equal(got, wantSys) {
		t.Errorf("system tokens %v, want %v", got, wantSys)
	}

	// At the top level, a bad count spoils the file, as a bad id does.
	for name, c := range map[string]struct{ doc, want string }{
		"negative": {`{"id":"x","tool_tokens":-5,"requests":[]}`, `:1: tool_tokens: negative token count: "-5"`},
		"string":   {`{"id":"x","system_tokens":"5","requests":[]}`, ":1: system_tokens: wrong JSON type: want number, got string"},
	} {
		p := writeTemp(t, "bad.json", c.doc)
		s := importPaths(t, "weka", Options{}, p)
		if got := s.badStrings(); len(s.records) != 0 || !slices.Equal(got, []string{p + c.want}) {
			t.Errorf("%s: %d records, bad %q, want %q", name, len(s.records), got, p+c.want)
		}
	}
}
