package wire

import (
	"bytes"
	"encoding/binary"

	"github.com/tarsopt/tarsopt/internal/hash64"
)

// ImageTokens is the flat estimate, in tokens, of one image or document block.
const ImageTokens = 1600

// CharsPerToken is the estimate's ratio: one token per four characters (UTF-8 bytes) of text.
const CharsPerToken = 4

// MaxPrefixBlocks caps the number of hashes PrefixHashes returns.
const MaxPrefixBlocks = 4096

// EstimateTokens returns the estimated tokens of chars characters (UTF-8 bytes) of text: one per
// four, rounded up.
func EstimateTokens(chars int64) int64 {
	if chars <= 0 {
		return 0
	}
	return (chars + CharsPerToken - 1) / CharsPerToken
}

// Breakdown is a request's estimated prompt, in tokens, split the way traces record it
// (system_tokens, history_tokens, new_tokens, turn).
type Breakdown struct {
	// System is the tool definitions plus the system prompt.
	System int64
	// History is every message before the last one.
	History int64
	// New is the last message (the user's new message, or the tool results of an agent loop).
	New int64
	// Turns is the number of user messages in History, tool results included: the 0-based turn of
	// the call within its conversation, as traces number calls.
	Turns int
	// HumanTurns is the number of user messages in History that are not purely tool_result
	// blocks: the turns that Prune counts.
	HumanTurns int
}

// Total is the whole estimated prompt: System + History + New.
func (b Breakdown) Total() int64 { return b.System + b.History + b.New }

// Tokens estimates the request's prompt, in tokens. The text counted is what the model reads:
// the text of string content and of text blocks; the name and input JSON (without white space) of
// tool_use, server_tool_use and mcp_tool_use blocks; the content of tool_result blocks (*_tool_result),
// counted like message content; the thinking text of thinking blocks and the data of
// redacted_thinking blocks; the tool definitions as JSON without white space and without
// cache_control; and, for block types the package does not know, the strings in the block except
// type, id, tool_use_id, signature, citations and cache_control. Images and documents count
// ImageTokens each. Each part (the tool definitions, the system prompt, each message) is rounded up
// on its own, so History is the sum of its messages' estimates and Prune's removed tokens add up.
func (r *Request) Tokens() Breakdown {
	var w walker
	var b Breakdown
	w.tools(r.Tools)
	b.System = w.end()
	w.system(r.System)
	b.System += w.end()
	last := len(r.Messages) - 1
	for i := range r.Messages {
		m := &r.Messages[i]
		w.other = 0
		w.message(m)
		t := w.end()
		if i == last {
			b.New = t
			continue
		}
		b.History += t
		if m.Role == "user" {
			b.Turns++
			if w.other > 0 || isEmptyList(m.Content) {
				b.HumanTurns++
			}
		}
	}
	return b
}

// messageTokens is the estimate of one message, as Tokens counts it.
func messageTokens(m *Message) int64 {
	var w walker
	w.message(m)
	return w.end()
}

// PrefixHashes returns the prompt's block hashes, for modelling a prompt cache: the prompt is
// serialised in the order the API reads it (tools, system, messages) into the stream of
// characters that Tokens counts (each part padded to a multiple of four characters, an image or
// document standing for ImageTokens tokens of its source), cut into blocks of blockTokens
// estimated tokens; hash i covers everything up to the end of block i (it chains the hashes of
// blocks 0..i), so requests that share a prefix share their first hashes, and a trailing partial
// block has no hash. Roles, block types and tool ids are part of the hashes; cache_control is not,
// nor is the model. At most MaxPrefixBlocks hashes; nil when blockTokens <= 0. The slice is new,
// owned by the caller.
func (r *Request) PrefixHashes(blockTokens int) []uint64 {
	if blockTokens <= 0 {
		return nil
	}
	size := int64(blockTokens) * CharsPerToken
	p := &prefixer{size: size, h: newHasher(0)}
	p.out = make([]uint64, 0, min(MaxPrefixBlocks, int64(len(r.body))/size+1))
	w := walker{p: p}
	w.mark(0x7001)
	w.tools(r.Tools)
	w.end()
	w.mark(0x5157)
	w.system(r.System)
	w.end()
	for i := range r.Messages {
		if p.full() {
			break
		}
		w.message(&r.Messages[i])
		w.end()
	}
	return p.out
}

// prefixer cuts a character stream into blocks and chains their hashes.
type prefixer struct {
	size  int64 // characters per block
	pos   int64 // characters in the current block
	h     hasher
	chain uint64
	out   []uint64
}

func (p *prefixer) full() bool { return len(p.out) >= MaxPrefixBlocks }

func (p *prefixer) emit() {
	p.chain = hash64.Combine(p.chain, p.h.sum())
	p.out = append(p.out, p.chain)
	p.h = newHasher(0)
	p.pos = 0
}

func (p *prefixer) write(b []byte) {
	for len(b) > 0 && !p.full() {
		n := min(int64(len(b)), p.size-p.pos)
		p.h.write(b[:n])
		p.pos += n
		b = b[n:]
		if p.pos == p.size {
			p.emit()
		}
	}
}

// advance moves n characters on without content: what they stand for was marked before.
func (p *prefixer) advance(n int64) {
	for n > 0 && !p.full() {
		k := min(n, p.size-p.pos)
		p.pos += k
		n -= k
		if p.pos == p.size {
			p.emit()
		}
	}
}

// mark hashes v into the current block without taking room in the stream.
func (p *prefixer) mark(v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	p.h.write(b[:])
}

// walker extracts the text a model reads from a prompt part: it counts its characters and, with a
// prefixer, feeds them to it.
type walker struct {
	chars   int64
	media   int64
	other   int // blocks that are not tool_result (string content counts as one)
	p       *prefixer
	scratch []byte
}

func (w *walker) write(b []byte) {
	w.chars += int64(len(b))
	if w.p != nil {
		w.p.write(b)
	}
}

func (w *walker) writeString(s string) {
	w.chars += int64(len(s))
	if w.p != nil {
		var b [32]byte
		for len(s) > 0 {
			n := copy(b[:], s)
			w.p.write(b[:n])
			s = s[n:]
		}
	}
}

// span counts a JSON string's decoded text.
func (w *walker) span(sp span) {
	if w.p == nil {
		w.chars += int64(sp.n)
		return
	}
	writeUnescaped(sp.raw, sp.esc, w.write)
}

// json counts a JSON value's text without white space.
func (w *walker) json(raw []byte) {
	if w.p == nil {
		w.chars += int64(forCompact(raw, func([]byte) {}))
		return
	}
	forCompact(raw, w.write)
}

func (w *walker) mark(v uint64) {
	if w.p != nil {
		w.p.mark(v)
	}
}

// image counts an image or document; v identifies its source.
func (w *walker) image(source []byte) {
	w.media++
	if w.p != nil {
		x := newHasher(0x1a6e)
		x.write(source)
		w.p.mark(x.sum())
		w.p.advance(ImageTokens * CharsPerToken)
	}
}

// end closes a prompt part and returns its tokens; with a prefixer, the part's characters are
// padded to a multiple of four.
func (w *walker) end() int64 {
	t := EstimateTokens(w.chars) + w.media*ImageTokens
	if w.p != nil {
		if pad := (CharsPerToken - w.chars%CharsPerToken) % CharsPerToken; pad > 0 {
			w.p.advance(pad)
		}
	}
	w.chars, w.media = 0, 0
	return t
}

// tools walks tool definitions: each as JSON without white space and without cache_control.
func (w *walker) tools(raw []byte) {
	if len(raw) == 0 {
		return
	}
	s := trusted(raw)
	if s.peek() != '[' {
		w.json(raw)
		return
	}
	s.i++
	for first := true; ; first = false {
		more, err := s.arrayNext(first)
		if err != nil || !more {
			return
		}
		if s.peek() != '{' {
			v, err := s.value()
			if err != nil {
				return
			}
			w.json(v)
			continue
		}
		s.i++
		w.mark(0x7001)
		w.write([]byte{'{'})
		n := 0
		for first := true; ; first = false {
			key, more, err := s.objectNext(first, &w.scratch)
			if err != nil {
				return
			}
			if !more {
				break
			}
			if string(key) == "cache_control" {
				if s.skip() != nil {
					return
				}
				continue
			}
			if n > 0 {
				w.write([]byte{','})
			}
			n++
			w.write([]byte{'"'})
			w.write(key)
			w.write([]byte{'"', ':'})
			v, err := s.value()
			if err != nil {
				return
			}
			w.json(v)
		}
		w.write([]byte{'}'})
	}
}

// system walks a system prompt: a string or text blocks.
func (w *walker) system(raw []byte) {
	if len(raw) > 0 {
		w.content(raw, 0)
	}
}

var (
	markUser      = hashText("user")
	markAssistant = hashText("assistant")
)

func (w *walker) message(m *Message) {
	switch m.Role {
	case "user":
		w.mark(markUser)
	case "assistant":
		w.mark(markAssistant)
	default:
		w.mark(hashText(m.Role))
	}
	w.content(m.Content, 0)
}

// content walks a content value: a string, or an array of blocks. It counts the blocks that are
// not tool results in w.other, for Tokens' HumanTurns.
func (w *walker) content(raw []byte, depth int) {
	s := trusted(raw)
	switch s.peek() {
	case '"':
		// String content is short for one text block: it hashes as that block.
		v, esc, err := s.str()
		if err == nil {
			w.mark(hkTextType)
			w.span(span{v, esc, true, s.decodedLen(v, esc)})
		}
		w.other++
	case '[':
		s.i++
		for first := true; ; first = false {
			more, err := s.arrayNext(first)
			if err != nil || !more {
				return
			}
			start := s.i
			f, ok := readBlockAt(&s, &w.scratch)
			if !ok {
				s.i = start
				v, err := s.value()
				if err != nil {
					return
				}
				w.json(v)
				w.other++
				continue
			}
			w.block(&f, s.b[start:s.i], depth)
		}
	case 'n', 0:
	default:
		w.json(raw)
	}
}

// span is a JSON string's raw content.
type span struct {
	raw []byte
	esc bool
	ok  bool
	n   int // length of the decoded text
}

// blockFields are the members of a content block that the walkers read.
type blockFields struct {
	typ                                    span
	text, thinking, data, name, id, toolID span
	contentStr                             span   // content, when a string
	input, content, source                 []byte // raw values (content when not a string)
	cacheControl                           []byte
}

// readBlock reads a block's members; ok is false when raw is not an object.
func readBlock(raw []byte, scratch *[]byte) (f blockFields, ok bool) {
	s := trusted(raw)
	return readBlockAt(&s, scratch)
}

// readBlockAt reads the block at s, leaving s after it; ok is false when it is not an object.
func readBlockAt(s *scanner, scratch *[]byte) (f blockFields, ok bool) {
	if s.peek() != '{' {
		return f, false
	}
	s.i++
	for first := true; ; first = false {
		key, more, err := s.objectNext(first, scratch)
		if err != nil {
			return f, false
		}
		if !more {
			return f, true
		}
		var dst *span
		switch string(key) {
		case "type":
			dst = &f.typ
		case "text":
			dst = &f.text
		case "thinking":
			dst = &f.thinking
		case "data":
			dst = &f.data
		case "name":
			dst = &f.name
		case "id":
			dst = &f.id
		case "tool_use_id":
			dst = &f.toolID
		case "content":
			dst = &f.contentStr
		}
		if dst != nil && s.peek() == '"' {
			v, esc, err := s.str()
			if err != nil {
				return f, false
			}
			*dst = span{v, esc, true, s.decodedLen(v, esc)}
			continue
		}
		v, err := s.value()
		if err != nil {
			return f, false
		}
		switch string(key) {
		case "input":
			f.input = v
		case "content":
			f.content = v
		case "source":
			f.source = v
		case "cache_control":
			f.cacheControl = v
		}
	}
}

// typeName returns the block's type, decoded; "" when it has none.
func (f *blockFields) typeName() []byte {
	if !f.typ.ok {
		return nil
	}
	if f.typ.esc {
		return appendUnescaped(nil, f.typ.raw)
	}
	return f.typ.raw
}

func isToolUse(t []byte) bool {
	switch string(t) {
	case "tool_use", "server_tool_use", "mcp_tool_use":
		return true
	}
	return false
}

func isToolResult(t []byte) bool {
	return string(t) == "tool_result" || bytes.HasSuffix(t, []byte("_tool_result"))
}

// block walks one block; raw is its text.
func (w *walker) block(f *blockFields, raw []byte, depth int) {
	t := f.typeName()
	if f.typ.ok {
		w.mark(hashRawString(f.typ.raw, f.typ.esc))
	}
	if string(t) != "tool_result" {
		w.other++
	}
	switch {
	case string(t) == "text":
		w.span(f.text)
	case string(t) == "thinking":
		w.span(f.thinking)
	case string(t) == "redacted_thinking":
		w.span(f.data)
	case isToolUse(t):
		if f.id.ok {
			w.mark(hashRawString(f.id.raw, f.id.esc))
		}
		w.span(f.name)
		if f.input != nil {
			w.json(f.input)
		}
	case string(t) == "image" || string(t) == "document":
		w.image(f.source)
	case isToolResult(t):
		if f.toolID.ok {
			w.mark(hashRawString(f.toolID.raw, f.toolID.esc))
		}
		other := w.other
		switch {
		case f.contentStr.ok:
			w.mark(hkTextType)
			w.span(f.contentStr)
		case f.content != nil && depth < 8:
			w.content(f.content, depth+1)
		}
		w.other = other
	default:
		w.generic(raw, 0)
	}
}

// generic counts the strings of a value, except those of keys that hold no text for the model.
func (w *walker) generic(raw []byte, depth int) {
	s := trusted(raw)
	w.genericValue(&s, depth)
}

func (w *walker) genericValue(s *scanner, depth int) {
	if depth > maxDepth {
		s.skip()
		return
	}
	switch s.peek() {
	case '"':
		v, esc, err := s.str()
		if err == nil {
			w.span(span{v, esc, true, s.decodedLen(v, esc)})
		}
	case '{':
		s.i++
		for first := true; ; first = false {
			key, more, err := s.objectNext(first, &w.scratch)
			if err != nil || !more {
				return
			}
			switch string(key) {
			case "type", "id", "tool_use_id", "signature", "citations", "cache_control":
				if s.skip() != nil {
					return
				}
				continue
			}
			w.genericValue(s, depth+1)
		}
	case '[':
		s.i++
		for first := true; ; first = false {
			more, err := s.arrayNext(first)
			if err != nil || !more {
				return
			}
			w.genericValue(s, depth+1)
		}
	default:
		if s.skip() != nil {
			s.i = len(s.b)
		}
	}
}

// pureToolResults reports whether content is a non-empty array of tool_result blocks only.
func pureToolResults(content []byte) bool {
	s := trusted(content)
	if s.peek() != '[' {
		return false
	}
	s.i++
	n := 0
	var scratch []byte
	for first := true; ; first = false {
		more, err := s.arrayNext(first)
		if err != nil {
			return false
		}
		if !more {
			return n > 0
		}
		f, ok := readBlockAt(&s, &scratch)
		if !ok || string(f.typeName()) != "tool_result" {
			return false
		}
		n++
	}
}

// isEmptyList reports whether content is an empty array.
func isEmptyList(content []byte) bool {
	s := trusted(content)
	if s.peek() != '[' {
		return false
	}
	s.i++
	return s.peek() == ']'
}
