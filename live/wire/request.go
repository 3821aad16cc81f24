package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"sync/atomic"

	"github.com/tarsopt/tarsopt/internal/jsonscan"
)

// RequestError is a request that ParseRequest rejects: Field is the JSON path of the offending value
// (such as messages[2].role, or "body" for the document itself) and Reason says what is wrong.
// A proxy answers it with status 400 and kind invalid_request_error.
type RequestError struct {
	Field  string
	Reason string
}

// Error returns "field: reason", such as `messages[2].role: want "user" or "assistant"`.
func (e *RequestError) Error() string { return e.Field + ": " + e.Reason }

func reqErr(field, reason string) error { return &RequestError{field, reason} }

// Message is one entry of a request's messages.
type Message struct {
	// Role is "user" or "assistant".
	Role string
	// Content is the message's content as JSON text: a string or an array of content blocks.
	// After ParseRequest it aliases the Request's private copy of the body; replace it (do not
	// modify its bytes) to change a message.
	Content json.RawMessage

	raw   []byte   // the message object as received; nil for a message built by the caller
	extra []member // other keys of the message object, verbatim
	pc    msgCache // what the parse learnt of it, with its role and content as received
}

// member is an object member: a key and its raw JSON value.
type member struct {
	key  string
	raw  []byte
	kraw []byte // the key as written, quotes included; nil to quote key
}

// Kinds of top-level fields.
const (
	fExtra = iota
	fModel
	fMaxTokens
	fStream
	fTemperature
	fSystem
	fTools
	fMessages
)

type field struct {
	key   string // decoded
	kraw  []byte // the key as written, quotes included
	raw   []byte
	kind  int
	khash uint64 // of an extra field: hashText(key)
	hash  uint64 // and the canonical hash of its value
}

// Request is a parsed POST /v1/messages body. The exported fields may be changed; Marshal writes
// them back. Every other top-level key is kept verbatim, in its place. The methods that only read
// (Fingerprint, Tokens, PrefixHashes, Marshal) may run concurrently; Prune and AddCacheControl
// change the request.
type Request struct {
	// Model is the model name. Required.
	Model string
	// MaxTokens is max_tokens, the output token limit; 0 when absent.
	MaxTokens int64
	// Stream is true when the client asked for server-sent events.
	Stream bool
	// Temperature is the sampling temperature; nil when absent or null.
	Temperature *float64
	// System is the system prompt as JSON text (a string or an array of text blocks); nil when
	// absent or null.
	System json.RawMessage
	// Tools is the tool definitions as JSON text (an array of objects); nil when absent or null.
	Tools json.RawMessage
	// Messages is the conversation, oldest first. The last one is the new message of the call.
	Messages []Message

	body   []byte  // private copy of the body; the raw slices alias it
	fields []field // the top-level members in their order

	// The values the fields had when parsed, to tell which ones the caller changed.
	origModel     string
	origMaxTokens int64
	origStream    bool
	origTemp      float64
	origHasTemp   bool
	origSystem    []byte
	origTools     []byte

	// What the parse computed for Tokens, Fingerprint, PrefixHashes and Marshal, valid while the
	// fields are as parsed.
	id              uint64 // of the parse, for the messages' caches
	st              segStore
	toolsC, systemC partCache
	nmsgs           int  // messages as parsed
	compact         bool // Marshal of the request as parsed is the body
}

// parses numbers the parses, so that a message knows the request it was parsed in.
var parses atomic.Uint64

// ParseRequest parses a Messages request body. The request refers to body instead of copying it
// (a copy of an agent's 100 KB request was a tenth of the proxy's work on it): body belongs to the
// request from then on, and the caller must not change it.
// It rejects a body that is not a JSON object, that lacks model or messages, whose known fields
// have the wrong JSON type, whose messages are empty or have a role other than user and
// assistant, or whose content is not a string or an array of objects. The error is a
// *RequestError naming the field.
func ParseRequest(body []byte) (*Request, error) {
	b := body
	r := &Request{body: b, id: parses.Add(1)}
	if r.parseFast() == nil {
		return r, nil
	}
	// The single pass met an error or a case it leaves to the general path.
	r = &Request{body: b, id: r.id}
	if err := r.parse(); err != nil {
		return nil, err
	}
	r.fillCaches()
	return r, nil
}

// parse is ParseRequest's general path: it validates the body and reads the fields, with the
// errors ParseRequest documents.
func (r *Request) parse() error {
	s := scanner{b: r.body}
	if s.peek() != '{' {
		if s.i >= len(s.b) {
			return reqErr("body", "empty")
		}
		return reqErr("body", "not a JSON object")
	}
	s.i++
	var scratch []byte
	seen := [fMessages + 1]bool{}
	var keys map[string]bool // the keys seen, once there are many
	for first := true; ; first = false {
		key, more, err := s.objectNext(first, &scratch)
		if err != nil {
			return reqErr("body", err.Error())
		}
		if !more {
			break
		}
		kraw := s.b[s.last:s.i]
		kraw = kraw[:bytes.LastIndexByte(kraw, '"')+1]
		kind := fExtra
		switch string(key) {
		case "model":
			kind = fModel
		case "max_tokens":
			kind = fMaxTokens
		case "stream":
			kind = fStream
		case "temperature":
			kind = fTemperature
		case "system":
			kind = fSystem
		case "tools":
			kind = fTools
		case "messages":
			kind = fMessages
		}
		name := string(key)
		if len(r.fields) < 16 {
			for _, f := range r.fields {
				if f.key == name {
					return reqErr(name, "duplicate key")
				}
			}
		} else {
			if keys == nil {
				keys = make(map[string]bool, 32)
				for _, f := range r.fields {
					keys[f.key] = true
				}
			}
			if keys[name] {
				return reqErr(name, "duplicate key")
			}
			keys[name] = true
		}
		s.ws()
		start := s.i
		if err := r.parseField(&s, kind, name); err != nil {
			return err
		}
		seen[kind] = true
		r.fields = append(r.fields, field{key: name, kraw: kraw, raw: s.b[start:s.i], kind: kind})
	}
	if err := s.end(); err != nil {
		return reqErr("body", err.Error())
	}
	if !seen[fModel] {
		return reqErr("model", "missing")
	}
	if !seen[fMessages] {
		return reqErr("messages", "missing")
	}
	return nil
}

// parseField reads the value of one top-level member.
func (r *Request) parseField(s *scanner, kind int, name string) error {
	c := s.peek()
	switch kind {
	case fModel:
		if c != '"' {
			if _, err := s.value(); err != nil {
				return reqErr(name, err.Error())
			}
			return reqErr(name, "not a string")
		}
		raw, esc, err := s.str()
		if err != nil {
			return reqErr(name, err.Error())
		}
		if len(raw) == 0 {
			return reqErr(name, "empty")
		}
		r.Model = string(raw)
		if esc {
			r.Model = string(appendUnescaped(nil, raw))
		}
		r.origModel = r.Model
		return nil
	case fMaxTokens:
		if c != '-' && (c < '0' || c > '9') {
			if _, err := s.value(); err != nil {
				return reqErr(name, err.Error())
			}
			return reqErr(name, "not an integer")
		}
		raw, err := s.number()
		if err != nil {
			return reqErr(name, err.Error())
		}
		if bytes.IndexAny(raw, ".eE") >= 0 {
			return reqErr(name, "not an integer")
		}
		v, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return reqErr(name, "integer out of range")
		}
		r.MaxTokens, r.origMaxTokens = v, v
		return nil
	case fStream:
		switch c {
		case 't':
			r.Stream = true
			if err := s.lit("true"); err != nil {
				return reqErr(name, err.Error())
			}
		case 'f':
			if err := s.lit("false"); err != nil {
				return reqErr(name, err.Error())
			}
		case 'n':
			if err := s.lit("null"); err != nil {
				return reqErr(name, err.Error())
			}
		default:
			if _, err := s.value(); err != nil {
				return reqErr(name, err.Error())
			}
			return reqErr(name, "not a boolean")
		}
		r.origStream = r.Stream
		return nil
	case fTemperature:
		if c == 'n' {
			if err := s.lit("null"); err != nil {
				return reqErr(name, err.Error())
			}
			return nil
		}
		if c != '-' && (c < '0' || c > '9') {
			if _, err := s.value(); err != nil {
				return reqErr(name, err.Error())
			}
			return reqErr(name, "not a number")
		}
		raw, err := s.number()
		if err != nil {
			return reqErr(name, err.Error())
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsInf(f, 0) {
			return reqErr(name, "number out of range")
		}
		r.Temperature = &f
		r.origTemp, r.origHasTemp = f, true
		return nil
	case fSystem, fTools:
		var raw []byte
		var err error
		if c == '[' {
			raw, err = s.objects(func() string { return name })
		} else {
			raw, err = s.value()
			if err != nil {
				err = reqErr(name, err.Error())
			}
		}
		if err != nil {
			return err
		}
		switch {
		case c == 'n':
			return nil
		case c == '"' && kind == fSystem, c == '[':
		case kind == fSystem:
			return reqErr(name, "want a string or an array of text blocks")
		default:
			return reqErr(name, "not an array")
		}
		raw = raw[:len(raw):len(raw)] // an append by the caller must not write into the body
		if kind == fSystem {
			r.System, r.origSystem = raw, raw
		} else {
			r.Tools, r.origTools = raw, raw
		}
		return nil
	case fMessages:
		return r.parseMessages(s)
	}
	if _, err := s.value(); err != nil {
		return reqErr(name, err.Error())
	}
	return nil
}

// objects reads and validates an array (s.i at its '[') that must hold only objects, such as
// content blocks, and returns its text.
func (s *scanner) objects(path func() string) ([]byte, error) {
	start := s.i
	s.i++
	for i, first := 0, true; ; i, first = i+1, false {
		more, err := s.arrayNext(first)
		if err != nil {
			return nil, reqErr(path(), err.Error())
		}
		if !more {
			return s.b[start:s.i], nil
		}
		if s.peek() != '{' {
			if _, err := s.value(); err != nil {
				return nil, reqErr(path(), err.Error())
			}
			return nil, reqErr(path()+"["+strconv.Itoa(i)+"]", "not an object")
		}
		if err := s.skip(); err != nil {
			return nil, reqErr(path(), err.Error())
		}
	}
}

func (r *Request) parseMessages(s *scanner) error {
	if s.peek() != '[' {
		if _, err := s.value(); err != nil {
			return reqErr("messages", err.Error())
		}
		return reqErr("messages", "not an array")
	}
	s.i++
	var scratch []byte
	r.Messages = make([]Message, 0, 16)
	for i, first := 0, true; ; i, first = i+1, false {
		more, err := s.arrayNext(first)
		if err != nil {
			return reqErr("messages", err.Error())
		}
		if !more {
			break
		}
		path := func(suffix string) string { return "messages[" + strconv.Itoa(i) + "]" + suffix }
		if s.peek() != '{' {
			if _, err := s.value(); err != nil {
				return reqErr(path(""), err.Error())
			}
			return reqErr(path(""), "not an object")
		}
		start := s.i
		s.i++
		var m Message
		hasRole, hasContent := false, false
		for first := true; ; first = false {
			key, more, err := s.objectNext(first, &scratch)
			if err != nil {
				return reqErr(path(""), err.Error())
			}
			if !more {
				break
			}
			kraw := s.b[s.last:s.i]
			kraw = kraw[:bytes.LastIndexByte(kraw, '"')+1]
			switch string(key) {
			case "role":
				if hasRole {
					return reqErr(path(".role"), "duplicate key")
				}
				hasRole = true
				c := s.peek()
				raw, err := s.value()
				if err != nil {
					return reqErr(path(".role"), err.Error())
				}
				switch {
				case c == '"' && string(raw) == `"user"`:
					m.Role = "user"
				case c == '"' && string(raw) == `"assistant"`:
					m.Role = "assistant"
				default:
					return reqErr(path(".role"), `want "user" or "assistant"`)
				}
			case "content":
				if hasContent {
					return reqErr(path(".content"), "duplicate key")
				}
				hasContent = true
				var raw []byte
				var err error
				if c := s.peek(); c == '[' {
					raw, err = s.objects(func() string { return path(".content") })
				} else {
					raw, err = s.value()
					if err != nil {
						err = reqErr(path(".content"), err.Error())
					} else if c != '"' {
						err = reqErr(path(".content"), "want a string or an array of content blocks")
					}
				}
				if err != nil {
					return err
				}
				m.Content = raw[:len(raw):len(raw)]
			default:
				k := string(key)
				raw, err := s.value()
				if err != nil {
					return reqErr(path("."+k), err.Error())
				}
				m.extra = append(m.extra, member{k, raw, kraw})
			}
		}
		if !hasRole {
			return reqErr(path(".role"), "missing")
		}
		if !hasContent {
			return reqErr(path(".content"), "missing")
		}
		m.raw = s.b[start:s.i]
		m.pc.setOrig(&m)
		r.Messages = append(r.Messages, m)
	}
	if len(r.Messages) == 0 {
		return reqErr("messages", "empty")
	}
	return nil
}

// Marshal returns the request as a body to send: the input with the changes made through the
// struct. Unchanged values are written as received (white space and escapes included); a changed
// value is written compactly in its key's place; a field absent from the input and set through the
// struct (MaxTokens != 0, Stream, Temperature, System, Tools) is appended at the end. A field set to
// its absent value (nil, or Stream false when it was absent) is left out. System, Tools and Content
// are written as they are: setting them to invalid JSON makes an invalid body. The result is a new
// slice, owned by the caller.
func (r *Request) Marshal() []byte {
	if r.compact && r.unchanged() {
		return bytes.Clone(r.body)
	}
	n := len(r.body) + 128 + len(r.System) + len(r.Tools) + len(r.Model)
	for i := range r.Messages {
		if m := &r.Messages[i]; !m.unchanged() {
			n += len(m.Content) + 64
		}
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	key := func(k string) {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = jsonscan.AppendString(b, k)
		b = append(b, ':')
	}
	rawKey := func(f *field) {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, f.kraw...)
		b = append(b, ':')
	}
	seen := [fMessages + 1]bool{}
	for i := range r.fields {
		f := r.fields[i]
		seen[f.kind] = true
		switch f.kind {
		case fModel:
			rawKey(&f)
			if r.Model == r.origModel {
				b = append(b, f.raw...)
			} else {
				b = jsonscan.AppendString(b, r.Model)
			}
		case fMaxTokens:
			rawKey(&f)
			if r.MaxTokens == r.origMaxTokens {
				b = append(b, f.raw...)
			} else {
				b = strconv.AppendInt(b, r.MaxTokens, 10)
			}
		case fStream:
			rawKey(&f)
			if r.Stream == r.origStream {
				b = append(b, f.raw...)
			} else {
				b = strconv.AppendBool(b, r.Stream)
			}
		case fTemperature:
			switch {
			case r.Temperature == nil && !r.origHasTemp,
				r.Temperature != nil && r.origHasTemp && *r.Temperature == r.origTemp:
				rawKey(&f)
				b = append(b, f.raw...)
			case r.Temperature != nil:
				rawKey(&f)
				b = appendFloat(b, *r.Temperature)
			}
		case fSystem, fTools:
			v, orig := r.System, r.origSystem
			if f.kind == fTools {
				v, orig = r.Tools, r.origTools
			}
			switch {
			case v == nil && orig == nil:
				rawKey(&f)
				b = append(b, f.raw...) // null
			case v != nil:
				rawKey(&f)
				b = append(b, v...)
			}
		case fMessages:
			rawKey(&f)
			b = r.appendMessages(b)
		default:
			rawKey(&f)
			b = append(b, f.raw...)
		}
	}
	if !seen[fModel] {
		key("model")
		b = jsonscan.AppendString(b, r.Model)
	}
	if !seen[fMaxTokens] && r.MaxTokens != 0 {
		key("max_tokens")
		b = strconv.AppendInt(b, r.MaxTokens, 10)
	}
	if !seen[fStream] && r.Stream {
		key("stream")
		b = append(b, "true"...)
	}
	if !seen[fTemperature] && r.Temperature != nil {
		key("temperature")
		b = appendFloat(b, *r.Temperature)
	}
	if !seen[fSystem] && r.System != nil {
		key("system")
		b = append(b, r.System...)
	}
	if !seen[fTools] && r.Tools != nil {
		key("tools")
		b = append(b, r.Tools...)
	}
	if !seen[fMessages] {
		key("messages")
		b = r.appendMessages(b)
	}
	return append(b, '}')
}

// unchanged reports whether the fields are as parsed, so that Marshal would write the body back.
func (r *Request) unchanged() bool {
	if r.Model != r.origModel || r.MaxTokens != r.origMaxTokens || r.Stream != r.origStream {
		return false
	}
	if r.Temperature == nil {
		if r.origHasTemp {
			return false
		}
	} else if !r.origHasTemp || *r.Temperature != r.origTemp {
		return false
	}
	if !sameRaw(r.System, r.origSystem) || !sameRaw(r.Tools, r.origTools) || len(r.Messages) != r.nmsgs {
		return false
	}
	for i := range r.Messages {
		m := &r.Messages[i]
		if m.pc.req != r.id || m.pc.idx != uint32(i) || !m.unchanged() {
			return false
		}
	}
	return true
}

// marshalsToBody reports whether Marshal of the request as parsed writes the body as it is: no
// white space between the members of the body and between its messages.
func (r *Request) marshalsToBody() bool {
	n := 1 + len(r.fields)
	for _, f := range r.fields {
		n += len(f.kraw) + 1
		if f.kind == fMessages {
			n += 1 + len(r.Messages)
			for i := range r.Messages {
				n += len(r.Messages[i].raw)
			}
		} else {
			n += len(f.raw)
		}
	}
	return n == len(r.body)
}

// appendFloat writes f as a JSON number (null for NaN and infinities, which JSON cannot hold).
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

func (r *Request) appendMessages(b []byte) []byte {
	b = append(b, '[')
	for i := range r.Messages {
		if i > 0 {
			b = append(b, ',')
		}
		b = r.Messages[i].appendJSON(b)
	}
	return append(b, ']')
}

func (m *Message) unchanged() bool {
	return m.pc.req != 0 && m.Role == roleNames[m.pc.role] && bytes.Equal(m.Content, m.pc.content(m))
}

func (m *Message) appendJSON(b []byte) []byte {
	if m.unchanged() {
		return append(b, m.raw...)
	}
	b = append(b, `{"role":`...)
	b = jsonscan.AppendString(b, m.Role)
	if len(m.Content) > 0 {
		b = append(b, `,"content":`...)
		b = append(b, m.Content...)
	}
	for _, e := range m.extra {
		b = append(b, ',')
		if e.kraw != nil {
			b = append(b, e.kraw...)
		} else {
			b = jsonscan.AppendString(b, e.key)
		}
		b = append(b, ':')
		b = append(b, e.raw...)
	}
	return append(b, '}')
}

// Keys' hashes, for Fingerprint.
var (
	hkModel       = hashText("model")
	hkMaxTokens   = hashText("max_tokens")
	hkTemperature = hashText("temperature")
	hkSystem      = hashText("system")
	hkTools       = hashText("tools")
	hkMessages    = hashText("messages")
	hkRole        = hashText("role")
	hkContent     = hashText("content")
	hkType        = hashText("type")
	hkText        = hashText("text")
	hkTextType    = hkText // the value "text" of type
)

// Fingerprint returns a 64-bit hash of everything in the request that can change the answer: the
// model, system, messages, tools, tool_choice, temperature, top_p, top_k, max_tokens,
// stop_sequences, thinking and any key the package does not know, but not stream, metadata or
// service_tier, nor cache_control on content blocks and tools (which change the cost, not the
// answer). Values are compared as JSON values: white space, the order of object keys, string escapes
// and the spelling of numbers (1, 1.0) do not matter, a null top-level value is the same as an
// absent one, and string content (of system, a message or a tool result) is the same as one text
// block holding it. Equal fingerprints mean identical requests (up to 64-bit collisions). The result is
// never 0. It reflects the struct's current fields.
func (r *Request) Fingerprint() uint64 {
	var arr [16]pair
	c := canon{pairs: arr[:0]}
	add := func(k, v uint64) { c.pairs = append(c.pairs, pair{k, v}) }
	add(hkModel, hashText(r.Model))
	if r.MaxTokens != 0 || r.has(fMaxTokens) {
		add(hkMaxTokens, hashInt(r.MaxTokens))
	}
	if r.Temperature != nil {
		add(hkTemperature, hashFloat(*r.Temperature))
	}
	if len(r.System) > 0 && !isNull(r.System) {
		if pc := r.systemCache(); pc != nil {
			add(hkSystem, pc.hash)
		} else {
			add(hkSystem, c.hashOrRaw(r.System, modeBlocks))
		}
	}
	if len(r.Tools) > 0 && !isNull(r.Tools) {
		if pc := r.toolsCache(); pc != nil {
			add(hkTools, pc.hash)
		} else {
			add(hkTools, c.hashOrRaw(r.Tools, modeBlocks))
		}
	}
	msgs := newHasher(tagArray)
	for i := range r.Messages {
		m := &r.Messages[i]
		if m.unchanged() {
			msgs.add(m.pc.hash)
		} else {
			msgs.add(c.message(m))
		}
	}
	add(hkMessages, msgs.sum())
	for _, f := range r.fields {
		if f.kind != fExtra || isNull(f.raw) {
			continue
		}
		switch f.key {
		case "stream", "metadata", "service_tier":
			continue
		}
		add(f.khash, f.hash)
	}
	fp := c.object(0)
	if fp == 0 {
		fp = 1
	}
	return fp
}

// message returns the hash of a message: an object of its role, content and other keys.
func (c *canon) message(m *Message) uint64 {
	base := len(c.pairs)
	c.pairs = append(c.pairs, pair{hkRole, hashText(m.Role)})
	if len(m.Content) > 0 {
		h := c.hashOrRaw(m.Content, modeBlocks)
		c.pairs = append(c.pairs, pair{hkContent, h})
	}
	for _, e := range m.extra {
		h := c.hashOrRaw(e.raw, modePlain)
		c.pairs = append(c.pairs, pair{hashText(e.key), h})
	}
	return c.object(base)
}

func (r *Request) has(kind int) bool {
	for _, f := range r.fields {
		if f.kind == kind {
			return true
		}
	}
	return false
}

// fillCaches computes, the general way, what the single pass of ParseRequest computes.
func (r *Request) fillCaches() {
	var rc recorder
	var c canon
	w := walker{rec: &rc}
	part := func(raw []byte, tools bool) partCache {
		rc.begin()
		s0 := len(rc.segs)
		if tools {
			w.tools(raw)
		} else {
			w.system(raw)
		}
		pc := partCache{ok: true, chars: w.chars, media: w.media, s0: uint32(s0), s1: uint32(len(rc.segs))}
		w.chars, w.media = 0, 0
		if len(raw) > 0 && !isNull(raw) {
			pc.hash = c.hashOrRaw(raw, modeBlocks)
		}
		return pc
	}
	r.toolsC = part(r.Tools, true)
	r.systemC = part(r.System, false)
	for i := range r.Messages {
		m := &r.Messages[i]
		rc.begin()
		s0 := len(rc.segs)
		w.other = 0
		w.content(m.Content, 0)
		mc := &m.pc
		mc.req, mc.idx, mc.human = r.id, uint32(i), w.other > 0 || isEmptyList(m.Content)
		mc.chars, mc.media, mc.s0, mc.s1 = w.chars, uint32(w.media), uint32(s0), uint32(len(rc.segs))
		w.chars, w.media = 0, 0
		mc.hash = c.message(m)
	}
	for i := range r.fields {
		if f := &r.fields[i]; f.kind == fExtra {
			f.khash = hashText(f.key)
			f.hash = c.hashOrRaw(f.raw, modePlain)
		}
	}
	r.st = segStore{body: r.body, aux: rc.aux, segs: rc.segs}
	r.nmsgs = len(r.Messages)
	r.compact = r.marshalsToBody()
}

func isNull(raw []byte) bool { return string(bytes.TrimSpace(raw)) == "null" }
