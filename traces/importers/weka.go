package importers

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tarsopt/tarsopt/traces"
)

// wekaImporter reads the agentic coding traces of GitHub callanjfox/kv-cache-tester (folder
// traces/, published by WEKA): anonymized Claude Code conversations captured through a proxy, one
// JSON document per file (trace_0001.json, ...), with 64-token prefix block hashes, think times and
// sub-agents. Every request of a conversation, sub-agents' included, becomes a record:
//
//	t              → Time (see "Timeline" below)
//	model          → Model, as written (claude-opus-4-5-20251101, ...); a request without one takes
//	                 its container's "models" (or the document's) when that lists exactly one.
//	                 Provider is "anthropic".
//	in             → Input. The trace's in is the whole prompt (uncached + cache read + cache write)
//	                 and does not split it, so Input holds all of it and the cache fields stay absent:
//	                 a replay derives them from Prefix.
//	out            → Output
//	api_time       → Latency (seconds of server time), where present: a few requests have no
//	                 api_time, no ttft, an empty stop and no output_types (interrupted streams, it
//	                 seems); they keep their tokens, without Latency, and without Error since the
//	                 trace does not say they failed
//	ttft           → TTFT, where present (streaming traces)
//	hash_ids       → Prefix, chained: Prefix[0] = chainHash(stringHash("weka:" + trace id),
//	                 hash_ids[0]), Prefix[i] = chainHash(Prefix[i-1], hash_ids[i]). The ids are local to
//	                 the conversation (hash_id_scope "local"; sub-agents share the conversation's
//	                 namespace), so seeding the chain with the trace id keeps different conversations
//	                 from ever sharing a prefix while requests of one conversation (and its
//	                 sub-agents) that share leading ids share leading hashes. With hash_id_scope
//	                 "global" the seed is stringHash("weka") for every file. One id per full 64-token
//	                 block: len(hash_ids) is floor(in/64) upstream; more ids than that is a bad
//	                 request ("hash_ids: more blocks than tokens"), fewer is accepted.
//	input_types    → QueryType tool when the request carries a "tool_result", chat when it carries
//	                 only "text" (a user message); absent otherwise
//	id             → the trace id: ID = "<trace id>:<n>", n = 0, 1, ... over the file's records in
//	                 time order; Session and Agent = "<trace id>" for the main conversation and
//	                 "<trace id>/<agent_id>" for a sub-agent's requests (agent_id missing:
//	                 "subagent-<k>", k counting the file's sub-agents from 1); Turn = 0, 1, ... within
//	                 each session in time order
//	(sub-agent)    → Parent = ID of the last request before the sub-agent container in the list that
//	                 holds it (the main conversation's request that spawned it); absent for the main
//	                 conversation and for a sub-agent that comes first
//	(file)         → Origin = "<path>#<JSON pointer>", such as "trace_0274.json#/requests/1/requests/3"
//	                 (the files are one line each, so a line number would not tell requests apart);
//	                 Pos.Line is the line where the request's object starts
//	block_size     → checked: must be 64 (absent is taken as 64), else the file is bad and skipped
//	system_tokens, → SystemTokens = system_tokens + tool_tokens (either alone when the other is
//	tool_tokens      absent or null): the document's for the main conversation's requests, a
//	                 sub-agent container's own for its requests (a sub-agent has its own system
//	                 prompt and tools: a container without them leaves SystemTokens absent, it does
//	                 not inherit its parent's). They are the prompt's head (tools, then system, in
//	                 Anthropic's order), the same for every request of the conversation or sub-agent.
//	                 A value of the wrong type or a negative one is an error like any other field's:
//	                 at the document's top level it spoils the file, in a container it drops the
//	                 container's requests.
//
// The block size, 64 tokens, is not in the records: BlockSize reports it for the trace's metadata.
//
// Not imported: type (n/s), output_types, stop, think_time (implied by the gaps between t and the
// previous request's end), totals, and the containers' subagent_type, duration_ms, status,
// total_tokens and tool_use_count. Absent: Tenant, cache fields, Reasoning, the prompt breakdown
// other than SystemTokens (HistoryTokens, NewTokens), Fingerprint, Status, Error, Cost.
//
// # Timeline
//
// The traces hold no absolute time: t counts seconds from the conversation's start (inside a
// sub-agent, from the sub-agent's start, which is at the container's t on its parent's timeline).
// A request's time is start_k + the container t's that enclose it + its t, where start_k places
// conversation k on the import's timeline by a seeded rule: the files of the import are sorted by
// base name (then path), and the k-th (from 0) starts at
//
//	start_k = Options.Start + k × 10 minutes + jitter_k
//
// with jitter_k uniform over [0, 10 min) in whole milliseconds, drawn from a PCG seeded with
// (Options.Seed, stringHash(trace id)). The same files and seed give the same times; another seed
// moves each conversation within its ten-minute slot, keeping their order. A conversation that
// lasts longer than ten minutes overlaps the next ones, as concurrent users' would. A file's
// records are handed to the sink in time order.
//
// A WEKA file is one JSON document, read whole (memory grows with the largest file, not with the
// number of files).
type wekaImporter struct{}

func init() { Register(wekaImporter{}) }

func (wekaImporter) Kind() string { return "weka" }

func (wekaImporter) Describe() string {
	return "WEKA agentic coding traces (callanjfox/kv-cache-tester JSON: Claude Code conversations with 64-token block hash ids and sub-agents)"
}

// BlockSize returns the tokens per prefix hash of the records the importer makes: 64.
func (wekaImporter) BlockSize() int { return wekaBlock }

const (
	wekaBlock    = 64
	wekaSpacing  = 10 * time.Minute
	wekaMaxDepth = 16 // sub-agents within sub-agents
)

// Sniff accepts a JSON document that has requests with hash_ids and either hash_id_scope or
// api_time in its first bytes.
func (wekaImporter) Sniff(name string, head []byte) bool {
	h := bytes.TrimSpace(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")))
	if len(h) == 0 || h[0] != '{' {
		return false
	}
	has := func(s string) bool { return bytes.Contains(h, []byte(s)) }
	if has(`"tarsopt_trace"`) || has(`"sessionId"`) {
		return false
	}
	return has(`"requests"`) && has(`"hash_ids"`) && (has(`"hash_id_scope"`) || has(`"api_time"`))
}

func (wekaImporter) Import(paths []string, opts Options, sink Sink) error {
	files, err := Files(paths, func(p string) bool { return hasExt(p, ".json") })
	if err != nil {
		return err
	}
	slices.SortStableFunc(files, func(a, b string) int {
		if c := strings.Compare(filepath.Base(a), filepath.Base(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	d := &wekaDoc{intern: map[string]string{}}
	d.s.doc = true
	for k, path := range files {
		if err := d.importFile(path, k, opts, sink); err != nil {
			return err
		}
	}
	return nil
}

// wekaItem is one request of a conversation, as parsed.
type wekaItem struct {
	off     int64 // nanoseconds from the conversation's start
	model   string
	in, out int64
	api     int64 // nanoseconds; -1 when absent
	ttft    int64 // nanoseconds; -1 when absent
	lo, hi  int   // its hash ids, wekaDoc.ids[lo:hi]
	qt      traces.QueryType
	cont    int // index of the sub-agent container that holds it, -1 for the main conversation
	parent  int // index of the request that spawned its sub-agent, -1 for none
	origin  string
	line    int64
}

// wekaContainer is one sub-agent.
type wekaContainer struct {
	agentID string
	models  []string
	head    wekaHead
}

// wekaHead is the system_tokens and tool_tokens of a document or a sub-agent container.
type wekaHead struct {
	system, tools       int64
	hasSystem, hasTools bool
}

// parse reads key ("system_tokens" or "tool_tokens") into h; it reports false for another key.
func (h *wekaHead) parse(s *jsonScan, key string) (bool, *traces.Error) {
	var e *traces.Error
	switch key {
	case "system_tokens":
		h.system, h.hasSystem, e = s.tokens(key)
	case "tool_tokens":
		h.tools, h.hasTools, e = s.tokens(key)
	default:
		return false, nil
	}
	return true, e
}

// set gives r SystemTokens when the head has either count.
func (h *wekaHead) set(r *traces.Record) {
	if h.hasSystem || h.hasTools {
		r.SystemTokens = h.system + h.tools
		r.Set(traces.FieldSystemTokens)
	}
}

// wekaDoc parses one WEKA document; its buffers are reused from file to file.
type wekaDoc struct {
	data   []byte // the document
	s      jsonScan
	path   string
	id     string
	block  int64
	scope  string
	models []string
	head   wekaHead // the document's system_tokens and tool_tokens
	items  []wekaItem
	ids    []int64
	conts  []wekaContainer
	bad    []*traces.Error // requests that cannot be imported
	intern map[string]string

	lineOff int   // lineAt's last offset
	line    int64 // the line at lineOff

	order []int    // items in time order
	rank  []int    // position of each item in order
	idStr []string // ID of each item
	turns []int32  // next turn of each session: main, then each container
	sess  []string // session of each container
	r     traces.Record
}

func (d *wekaDoc) reset(path string, data []byte) {
	d.s.reset(data)
	d.path = path
	d.id, d.block, d.scope, d.models, d.head = "", wekaBlock, "", nil, wekaHead{}
	d.items, d.ids, d.conts, d.bad = d.items[:0], d.ids[:0], d.conts[:0], d.bad[:0]
	d.lineOff, d.line = 0, 1
}

// lineAt returns the 1-based line of byte offset off.
func (d *wekaDoc) lineAt(off int) int64 {
	off = min(off, len(d.s.b))
	if off < d.lineOff {
		d.lineOff, d.line = 0, 1
	}
	d.line += int64(bytes.Count(d.s.b[d.lineOff:off], []byte{'\n'}))
	d.lineOff = off
	return d.line
}

func (d *wekaDoc) internString(b []byte) string {
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.intern) < 4096 {
		d.intern[s] = s
	}
	return s
}

// traceName is the trace id of a file without one: its base name without extensions.
func traceName(path string) string {
	base := filepath.Base(path)
	for _, ext := range []string{".gz", ".zst", ".json"} {
		if len(base) > len(ext) && strings.EqualFold(base[len(base)-len(ext):], ext) {
			base = base[:len(base)-len(ext)]
		}
	}
	return base
}

func (d *wekaDoc) importFile(path string, k int, opts Options, sink Sink) error {
	rc, _, err := traces.OpenStream(path, nil)
	if err != nil {
		return err
	}
	buf := bytes.NewBuffer(d.data[:0])
	_, err = buf.ReadFrom(rc)
	rc.Close()
	if err != nil {
		return &traces.Error{Pos: traces.Pos{File: path}, Reason: "read error", Detail: err.Error(), Fatal: true, Err: err}
	}
	d.data = buf.Bytes() // reused for the next file
	d.reset(path, d.data)
	if e := d.parse(); e != nil {
		e.Pos = traces.Pos{File: path, Line: d.lineAt(d.s.i)}
		return sink.Bad(e)
	}
	if d.block != wekaBlock {
		return sink.Bad(&traces.Error{Pos: traces.Pos{File: path}, Field: "block_size", Reason: "unsupported block size", Detail: strconv.FormatInt(d.block, 10) + ", want 64"})
	}
	for _, e := range d.bad {
		if err := sink.Bad(e); err != nil {
			return err
		}
	}
	if d.id == "" {
		d.id = traceName(path)
	}
	seed := stringHash("weka:" + d.id)
	if d.scope == "global" {
		seed = stringHash("weka")
	}
	rng := rand.New(rand.NewPCG(opts.Seed, stringHash(d.id)))
	jitter := time.Duration(rng.Int64N(int64(wekaSpacing/time.Millisecond))) * time.Millisecond
	start := opts.start().Add(time.Duration(k)*wekaSpacing + jitter)

	// Time order, IDs, sessions.
	n := len(d.items)
	d.order = d.order[:0]
	for i := range n {
		d.order = append(d.order, i)
	}
	slices.SortStableFunc(d.order, func(a, b int) int {
		x, y := d.items[a].off, d.items[b].off
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	d.rank = slices.Grow(d.rank[:0], n)[:n]
	d.idStr = slices.Grow(d.idStr[:0], n)[:n]
	prefix := d.id + ":"
	for pos, i := range d.order {
		d.rank[i] = pos
		d.idStr[i] = prefix + strconv.Itoa(pos)
	}
	d.turns = slices.Grow(d.turns[:0], len(d.conts)+1)[:len(d.conts)+1]
	clear(d.turns)
	d.sess = d.sess[:0]
	for c := range d.conts {
		agent := d.conts[c].agentID
		if agent == "" {
			agent = "subagent-" + strconv.Itoa(c+1)
		}
		d.sess = append(d.sess, d.id+"/"+agent)
	}

	r := &d.r
	for _, i := range d.order {
		it := &d.items[i]
		pos := traces.Pos{File: path, Line: it.line}
		model := it.model
		if model == "" {
			if it.cont >= 0 && len(d.conts[it.cont].models) == 1 {
				model = d.conts[it.cont].models[0]
			} else if len(d.models) == 1 {
				model = d.models[0]
			} else {
				if err := badRow(sink, pos, "model", "missing", "at "+it.origin[strings.IndexByte(it.origin, '#')+1:]); err != nil {
					return err
				}
				continue
			}
		}
		r.Reset()
		r.Pos = pos
		r.Time = start.Add(time.Duration(it.off))
		r.ID = d.idStr[i]
		session := d.id
		if it.cont >= 0 {
			session = d.sess[it.cont]
		}
		r.Session, r.Agent = session, session
		if it.parent >= 0 {
			r.Parent = d.idStr[it.parent]
		}
		r.SetInt(traces.FieldTurn, int64(d.turns[it.cont+1]))
		d.turns[it.cont+1]++
		r.Provider = "anthropic"
		r.Model = model
		r.QueryType = it.qt
		r.SetInt(traces.FieldInput, it.in)
		r.SetInt(traces.FieldOutput, it.out)
		if it.cont >= 0 {
			d.conts[it.cont].head.set(r)
		} else {
			d.head.set(r)
		}
		if it.api >= 0 {
			r.SetInt(traces.FieldLatency, it.api)
		}
		if it.ttft >= 0 {
			r.SetInt(traces.FieldTTFT, it.ttft)
		}
		h := seed
		for _, id := range d.ids[it.lo:it.hi] {
			h = chainHash(h, uint64(id))
			r.Prefix = append(r.Prefix, h)
		}
		r.Origin = it.origin
		if err := sink.Record(r); err != nil {
			return err
		}
	}
	return nil
}

// parse reads the document. It returns a syntax error, which spoils the whole file; problems of
// single requests go to d.bad.
func (d *wekaDoc) parse() *traces.Error {
	s := &d.s
	if !s.eat('{') {
		return s.syntaxError("")
	}
	if !s.eat('}') {
		for {
			key, ok := s.str()
			if !ok {
				return s.syntaxError("")
			}
			if !s.eat(':') {
				return s.syntaxError("")
			}
			var e *traces.Error
			switch string(key) {
			case "id":
				var v []byte
				if v, e = d.stringValue("id"); e == nil && v != nil {
					d.id = string(v)
				}
			case "block_size":
				var v int64
				var ok bool
				if v, ok, e = s.tokens("block_size"); ok {
					d.block = v
				}
			case "hash_id_scope":
				var v []byte
				if v, e = d.stringValue("hash_id_scope"); e == nil && v != nil {
					d.scope = string(v)
				}
			case "models":
				d.models, e = d.stringArray("models")
			case "requests":
				e = d.list(d.path+"#/requests", 0, -1)
			case "system_tokens", "tool_tokens":
				_, e = d.head.parse(s, string(key))
			default:
				if !s.skip(0) {
					return s.syntaxError("")
				}
			}
			if e != nil {
				// A top-level field of the wrong type spoils the file as a syntax error does.
				return e
			}
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				break
			}
			return s.syntaxError("")
		}
	}
	if s.ws(); s.i != len(s.b) {
		return s.syntaxError("")
	}
	return nil
}

// stringValue parses a string or null (nil).
func (d *wekaDoc) stringValue(field string) ([]byte, *traces.Error) {
	s := &d.s
	if s.null() {
		return nil, nil
	}
	if s.peek() != '"' {
		return nil, s.wrongType(field, "string")
	}
	v, ok := s.str()
	if !ok {
		return nil, s.syntaxError(field)
	}
	return v, nil
}

// stringArray parses an array of strings (interned) or null.
func (d *wekaDoc) stringArray(field string) ([]string, *traces.Error) {
	s := &d.s
	if s.null() {
		return nil, nil
	}
	if s.peek() != '[' {
		return nil, s.wrongType(field, "array of strings")
	}
	s.i++
	var out []string
	if s.eat(']') {
		return out, nil
	}
	for {
		if s.peek() != '"' {
			got := s.jsonType()
			if !s.skip(1) {
				return nil, s.syntaxError(field)
			}
			return nil, s.finishArray(field, &traces.Error{Field: field, Reason: "wrong JSON type", Detail: "want array of strings, got " + got + " element"})
		}
		v, ok := s.str()
		if !ok {
			return nil, s.syntaxError(field)
		}
		out = append(out, d.internString(v))
		if s.eat(',') {
			continue
		}
		if s.eat(']') {
			return out, nil
		}
		return nil, s.syntaxError(field)
	}
}

// inputTypes parses input_types into a query type; a value of another shape gives none.
func (d *wekaDoc) inputTypes() (traces.QueryType, bool) {
	s := &d.s
	if s.peek() != '[' {
		return 0, s.skip(1)
	}
	s.i++
	tool, text, other := false, false, false
	if !s.eat(']') {
		for {
			if s.peek() == '"' {
				v, ok := s.str()
				if !ok {
					return 0, false
				}
				switch string(v) {
				case "tool_result":
					tool = true
				case "text":
					text = true
				default:
					other = true
				}
			} else if !s.skip(1) {
				return 0, false
			} else {
				other = true
			}
			if s.eat(',') {
				continue
			}
			if s.eat(']') {
				break
			}
			return 0, false
		}
	}
	switch {
	case tool:
		return traces.QueryTool, true
	case text && !other:
		return traces.QueryChat, true
	}
	return 0, true
}

// list parses an array of requests; base is the origin of the array (path#pointer), cont the
// container that holds it (-1 for the main conversation).
func (d *wekaDoc) list(base string, depth, cont int) *traces.Error {
	s := &d.s
	if s.null() {
		return nil
	}
	if s.peek() != '[' {
		return s.wrongType("requests", "array")
	}
	s.i++
	if s.eat(']') {
		return nil
	}
	last := -1
	for n := 0; ; n++ {
		if e := d.elem(base+"/"+strconv.Itoa(n), depth, cont, &last); e != nil {
			return e
		}
		if s.eat(',') {
			continue
		}
		if s.eat(']') {
			return nil
		}
		return s.syntaxError("")
	}
}

// elem parses one entry of a requests array: a request, appended to d.items, or a sub-agent
// container, whose requests are. last is the index of the list's last request so far.
func (d *wekaDoc) elem(origin string, depth, cont int, last *int) *traces.Error {
	s := &d.s
	s.ws()
	pos := traces.Pos{File: d.path, Line: d.lineAt(s.i)}
	at := origin[strings.IndexByte(origin, '#')+1:]
	var bad *traces.Error
	note := func(e *traces.Error) {
		if bad == nil {
			bad = e
		}
	}
	defer func() {
		if bad != nil {
			bad.Pos = pos
			if bad.Detail != "" {
				bad.Detail += " "
			}
			bad.Detail += "at " + at
			d.bad = append(d.bad, bad)
		}
	}()
	if s.peek() != '{' {
		e := s.wrongType("requests", "object")
		if e.Reason == "malformed JSON" {
			return e
		}
		note(e)
		return nil
	}
	s.i++
	it := wekaItem{api: -1, ttft: -1, cont: cont, parent: -1, origin: origin, line: pos.Line}
	var hasT, hasIn, hasOut, hasIDs, isCont bool
	var agentID string
	var models []string
	var head wekaHead
	first := len(d.items)
	mine := -1 // this container's index
	if !s.eat('}') {
		for {
			key, ok := s.str()
			if !ok {
				return s.syntaxError("")
			}
			if !s.eat(':') {
				return s.syntaxError("")
			}
			var e *traces.Error
			switch string(key) {
			case "t":
				it.off, hasT, e = s.scaled("t", int64(time.Second), "bad time offset")
			case "type":
				var v []byte
				v, e = d.stringValue("type")
				isCont = isCont || string(v) == "subagent"
			case "model":
				var v []byte
				if v, e = d.stringValue("model"); v != nil {
					it.model = d.internString(v)
				}
			case "in":
				it.in, hasIn, e = s.tokens("in")
			case "out":
				it.out, hasOut, e = s.tokens("out")
			case "hash_ids":
				it.lo = len(d.ids)
				d.ids, hasIDs, e = s.intArray("hash_ids", d.ids)
				it.hi = len(d.ids)
			case "api_time":
				var ok bool
				if it.api, ok, e = s.scaled("api_time", int64(time.Second), "bad duration"); !ok {
					it.api = -1
				}
			case "ttft":
				var ok bool
				if it.ttft, ok, e = s.scaled("ttft", int64(time.Second), "bad duration"); !ok {
					it.ttft = -1
				}
			case "input_types":
				var ok bool
				if it.qt, ok = d.inputTypes(); !ok {
					return s.syntaxError("input_types")
				}
			case "agent_id":
				var v []byte
				if v, e = d.stringValue("agent_id"); v != nil {
					agentID = string(v)
				}
			case "models":
				models, e = d.stringArray("models")
			case "system_tokens", "tool_tokens":
				_, e = head.parse(s, string(key))
			case "requests":
				isCont = true
				if depth >= wekaMaxDepth {
					return &traces.Error{Field: "requests", Reason: "malformed JSON", Detail: "sub-agents nested too deep"}
				}
				if mine < 0 {
					mine = len(d.conts)
					d.conts = append(d.conts, wekaContainer{})
				}
				e = d.list(origin+"/requests", depth+1, mine)
			default:
				if !s.skip(0) {
					return s.syntaxError("")
				}
			}
			if e != nil {
				if e.Reason == "malformed JSON" {
					return e
				}
				note(e)
			}
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				break
			}
			return s.syntaxError("")
		}
	}
	if isCont {
		if mine < 0 {
			return nil // a sub-agent that made no request
		}
		d.conts[mine] = wekaContainer{agentID: agentID, models: models, head: head}
		if bad == nil && !hasT {
			note(&traces.Error{Field: "t", Reason: "missing"})
		}
		if bad != nil {
			d.items = d.items[:first]
			return nil
		}
		for j := first; j < len(d.items); j++ {
			d.items[j].off += it.off
			if d.items[j].cont == mine {
				d.items[j].parent = *last
			}
		}
		return nil
	}
	switch {
	case bad != nil:
	case !hasT:
		note(&traces.Error{Field: "t", Reason: "missing"})
	case !hasIn:
		note(&traces.Error{Field: "in", Reason: "missing"})
	case !hasOut:
		note(&traces.Error{Field: "out", Reason: "missing"})
	case hasIDs && int64(it.hi-it.lo) > it.in/wekaBlock:
		note(&traces.Error{Field: "hash_ids", Reason: "more blocks than tokens", Detail: strconv.Itoa(it.hi-it.lo) + " ids for " + strconv.FormatInt(it.in, 10) + " tokens, at most " + strconv.FormatInt(it.in/wekaBlock, 10)})
	}
	if bad != nil {
		return nil
	}
	d.items = append(d.items, it)
	*last = len(d.items) - 1
	return nil
}
