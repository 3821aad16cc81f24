package wire

import (
	"bytes"
	"math/bits"
	"unsafe"

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
	if c := r.toolsCache(); c != nil {
		b.System = c.tokens()
	} else {
		w.tools(r.Tools)
		b.System = w.end()
	}
	if c := r.systemCache(); c != nil {
		b.System += c.tokens()
	} else {
		w.system(r.System)
		b.System += w.end()
	}
	last := len(r.Messages) - 1
	for i := range r.Messages {
		m := &r.Messages[i]
		var t int64
		var human bool
		if c := m.contentCache(); c != nil {
			t, human = c.tokens(), c.human
		} else {
			w.other = 0
			w.content(m.Content, 0)
			t = w.end()
			human = w.other > 0 || isEmptyList(m.Content)
		}
		if i == last {
			b.New = t
			continue
		}
		b.History += t
		if m.Role == "user" {
			b.Turns++
			if human {
				b.HumanTurns++
			}
		}
	}
	return b
}

// messageTokens is the estimate of one message, as Tokens counts it.
func messageTokens(m *Message) int64 {
	if c := m.contentCache(); c != nil {
		return c.tokens()
	}
	var w walker
	w.content(m.Content, 0)
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
	p := &prefixer{size: size}
	p.h.reset()
	p.out = make([]uint64, 0, min(MaxPrefixBlocks, int64(len(r.body))/size+1))
	w := walker{p: p}
	p.mark(0x7001)
	if c := r.toolsCache(); c != nil {
		p.play(&r.st, c)
		w.chars = c.chars
	} else {
		w.tools(r.Tools)
	}
	w.end()
	p.mark(0x5157)
	if c := r.systemCache(); c != nil {
		p.play(&r.st, c)
		w.chars = c.chars
	} else {
		w.system(r.System)
	}
	w.end()
	for i := range r.Messages {
		if p.full() {
			break
		}
		m := &r.Messages[i]
		p.mark(roleMark(m.Role))
		if c := m.contentCache(); c != nil && c.req == r.id {
			p.playSegs(&r.st, c.s0, c.s1)
			w.chars = c.chars
		} else {
			w.content(m.Content, 0)
		}
		w.end()
	}
	return p.out
}

// prefixer cuts a character stream into blocks and chains their hashes. Its text comes as
// canonical raw content (see canonicalEscapes) with the length of the text it encodes: a block
// holds a number of characters of text, and hashes their canonical encoding.
type prefixer struct {
	size  int64 // characters per block
	pos   int64 // characters in the current block
	h     streamHash
	chain uint64
	out   []uint64
}

func (p *prefixer) full() bool { return len(p.out) >= MaxPrefixBlocks }

func (p *prefixer) emit() {
	p.chain = hash64.Combine(p.chain, p.h.sum())
	p.out = append(p.out, p.chain)
	p.h.reset()
	p.pos = 0
}

// write adds text that is its own encoding: every byte is a character.
func (p *prefixer) write(b []byte) { p.text(b, int64(len(b))) }

// text adds canon, the canonical encoding of n characters of text.
func (p *prefixer) text(canon []byte, n int64) {
	for n > 0 && !p.full() {
		room := p.size - p.pos
		if n < room {
			p.h.write(canon)
			p.pos += n
			return
		}
		k := int(room)
		if int64(len(canon)) != n {
			k = canonIndex(canon, k)
		}
		p.h.write(canon[:k])
		p.emit()
		canon = canon[k:]
		n -= room
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
func (p *prefixer) mark(v uint64) { p.h.write8(v) }

// play feeds a recorded part.
func (p *prefixer) play(st *segStore, c *partCache) { p.playSegs(st, c.s0, c.s1) }

func (p *prefixer) playSegs(st *segStore, s0, s1 uint32) {
	for _, g := range st.segs[s0:s1] {
		if p.full() {
			return
		}
		switch g.kind() {
		case segMark:
			p.mark(g.v)
		case segImage:
			p.mark(g.v)
			p.advance(ImageTokens * CharsPerToken)
		case segBody:
			off, n := g.v>>32, g.v&(1<<32-1)
			if g.masked() {
				p.textMasked(st.body[off:off+n], int64(g.n), st.escw, int(off))
				continue
			}
			p.text(st.body[off:off+n], int64(g.n))
		case segAux:
			off, n := g.v>>32, g.v&(1<<32-1)
			p.text(st.aux[off:off+n], int64(g.n))
		}
	}
}

// textMasked is text for canonical text of the body, at off, with only two-byte escapes, whose
// escaped characters are marked in esc (a bit per byte of the body): every character is one byte
// that is not escaped (a plain byte, or an escape's backslash), so that a cut is found by counting
// bits.
func (p *prefixer) textMasked(canon []byte, n int64, esc []uint64, off int) {
	base := 0      // bytes of canon consumed
	var done int64 // characters consumed
	for done < n && !p.full() {
		room := p.size - p.pos
		if n-done < room {
			p.h.write(canon[base:])
			p.pos += n - done
			return
		}
		// The cut: at the room-th byte from base that is not escaped.
		cut := base + nthUnescaped(esc, off+base, int(room))
		p.h.write(canon[base:cut])
		p.emit()
		base, done = cut, done+room
	}
}

// nthUnescaped returns the distance from body offset at to its k-th (from 0) byte that is not
// escaped.
func nthUnescaped(esc []uint64, at, k int) int {
	w, sh := at>>6, at&63
	x := ^esc[w] >> sh
	for {
		if c := bits.OnesCount64(x); k >= c {
			k -= c
			w++
			x, sh = ^esc[w], 0
			continue
		}
		return w<<6 + sh + selectBit(x, k) - at
	}
}

// selectBit returns the position of the k-th (from 0) set bit of x, which has more than k.
func selectBit(x uint64, k int) int {
	pos := 0
	if c := bits.OnesCount32(uint32(x)); k >= c {
		k -= c
		x >>= 32
		pos += 32
	}
	if c := bits.OnesCount16(uint16(x)); k >= c {
		k -= c
		x >>= 16
		pos += 16
	}
	if c := bits.OnesCount8(uint8(x)); k >= c {
		k -= c
		x >>= 8
		pos += 8
	}
	for ; k > 0; k-- {
		x &= x - 1
	}
	return pos + bits.TrailingZeros64(x)
}

// A part of the prompt (the tools, the system prompt, a message's content) is recorded at parse
// time as segments: what PrefixHashes feeds its prefixer, in order.
type segKind uint32

const (
	segMark  segKind = iota // v is a mark
	segImage                // v is an image's mark; ImageTokens tokens follow
	segBody                 // text in the body: v is offset<<32 | length
	segAux                  // text in the store's aux
)

type seg struct {
	v uint64
	n uint32 // characters of the text (its length, unless it is a string with escapes)
	x uint32 // kind<<30 | segMasked
}

// segMasked marks a string of the body whose escapes are marked in segStore.escw.
const segMasked = 1

func (g *seg) kind() segKind { return segKind(g.x >> 30) }
func (g *seg) masked() bool  { return g.x&segMasked != 0 }

// segStore holds the recorded parts of a request.
type segStore struct {
	body []byte // the request's body
	aux  []byte // text that is not in the body as it must be hashed
	segs []seg
	escw []uint64 // the escaped characters of the body, a bit per byte, when a segment needs them
}

// recorder records segments.
type recorder struct {
	segs []seg
	aux  []byte
	part int // the first segment of the part being recorded: span merges no further back
}

// begin starts a part.
func (rc *recorder) begin() { rc.part = len(rc.segs) }

func (rc *recorder) mark(v uint64)  { rc.segs = append(rc.segs, seg{v: v, x: uint32(segMark) << 30}) }
func (rc *recorder) image(v uint64) { rc.segs = append(rc.segs, seg{v: v, x: uint32(segImage) << 30}) }

// span records text at [off, off+n) of the body (segBody) or of aux, encoding chars characters.
func (rc *recorder) span(kind segKind, off, n, chars int) {
	if n == 0 {
		return
	}
	if k := len(rc.segs) - 1; k >= rc.part && n == chars {
		if g := &rc.segs[k]; g.kind() == kind && !g.masked() && g.v&(1<<32-1) == uint64(g.n) && int(g.v>>32)+int(g.n) == off {
			g.v += uint64(n)
			g.n += uint32(n)
			return
		}
	}
	rc.segs = append(rc.segs, seg{v: uint64(off)<<32 | uint64(n), n: uint32(chars), x: uint32(kind) << 30})
}

// spanMasked records a string of the body with two-byte escapes, marked in the escape masks.
func (rc *recorder) spanMasked(off, n, chars int) {
	rc.segs = append(rc.segs, seg{v: uint64(off)<<32 | uint64(n), n: uint32(chars), x: uint32(segBody)<<30 | segMasked})
}

// text records canonical text, copying it.
func (rc *recorder) text(canon []byte, chars int) {
	off := len(rc.aux)
	rc.aux = append(rc.aux, canon...)
	rc.span(segAux, off, len(canon), chars)
}

// partCache is what the parse learnt of a part: its tokens, its hash and its segments.
type partCache struct {
	ok     bool
	hash   uint64 // canonical hash, in modeBlocks
	chars  int64  // characters of text
	media  int64  // images and documents
	s0, s1 uint32 // segments
}

func (c *partCache) tokens() int64 { return EstimateTokens(c.chars) + c.media*ImageTokens }

// msgCache is what the parse learnt of a message. It holds no pointer: the messages of a large
// request cost the garbage collector little to scan.
type msgCache struct {
	req    uint64 // the parse (Request.id) that made it; 0 for none
	hash   uint64 // of the message, with its role and content as parsed
	chars  int64  // characters of text of the content
	co, cn uint32 // the content as parsed: raw[co:co+cn]
	s0, s1 uint32 // its segments, in request req
	idx    uint32 // position of the message as parsed
	media  uint32 // images and documents
	role   uint8  // as parsed: 1 user, 2 assistant
	human  bool   // its content is not purely tool results (Breakdown.HumanTurns)
}

var roleNames = [3]string{"", "user", "assistant"}

func (c *msgCache) tokens() int64 { return EstimateTokens(c.chars) + int64(c.media)*ImageTokens }

// content returns m's content as parsed.
func (c *msgCache) content(m *Message) []byte { return m.raw[c.co : c.co+c.cn] }

// setOrig records m's role and content as parsed (a slice of m.raw).
func (c *msgCache) setOrig(m *Message) {
	c.role = 1
	if m.Role == "assistant" {
		c.role = 2
	}
	c.co, c.cn = 0, uint32(len(m.Content))
	if len(m.Content) > 0 {
		c.co = uint32(uintptr(unsafe.Pointer(&m.Content[0])) - uintptr(unsafe.Pointer(&m.raw[0])))
	}
}

// toolsCache returns the tools' cache while r.Tools is as parsed.
func (r *Request) toolsCache() *partCache {
	if r.toolsC.ok && sameRaw(r.Tools, r.origTools) {
		return &r.toolsC
	}
	return nil
}

// systemCache returns the system prompt's cache while r.System is as parsed.
func (r *Request) systemCache() *partCache {
	if r.systemC.ok && sameRaw(r.System, r.origSystem) {
		return &r.systemC
	}
	return nil
}

// contentCache returns the message's cache while its content is as parsed.
func (m *Message) contentCache() *msgCache {
	if m.pc.req != 0 && bytes.Equal(m.Content, m.pc.content(m)) {
		return &m.pc
	}
	return nil
}

// sameRaw reports whether a JSON field holds what it held: the same text, and nil as it was.
func sameRaw(v, orig []byte) bool { return bytes.Equal(v, orig) && (v == nil) == (orig == nil) }

var (
	markUser      = hashText("user")
	markAssistant = hashText("assistant")
)

func roleMark(role string) uint64 {
	switch role {
	case "user":
		return markUser
	case "assistant":
		return markAssistant
	}
	return hashText(role)
}

// imageMark identifies an image or document by its source (raw JSON; nil when absent).
func imageMark(source []byte) uint64 {
	if len(source) == 0 {
		return hash64.Mix(0x1a6e)
	}
	var c canon
	return imageMarkOf(c.hashOrRaw(source, modePlain))
}

// imageMarkOf is the mark of an image whose source hashes h.
func imageMarkOf(h uint64) uint64 { return hash64.Combine(0x1a6e, h) }

// walker extracts the text a model reads from a prompt part: it counts its characters and, with a
// prefixer, feeds them to it, or, with a recorder, records them.
type walker struct {
	chars   int64
	media   int64
	other   int // blocks that are not tool_result (string content counts as one)
	p       *prefixer
	rec     *recorder
	scratch []byte // keys
	text    []byte // canonical text
}

func (w *walker) feeds() bool { return w.p != nil || w.rec != nil }

func (w *walker) write(b []byte) {
	w.chars += int64(len(b))
	if w.p != nil {
		w.p.write(b)
	}
	if w.rec != nil {
		w.rec.text(b, len(b))
	}
}

// span counts a JSON string's decoded text.
func (w *walker) span(sp span) {
	w.chars += int64(sp.n)
	if !w.feeds() || len(sp.raw) == 0 {
		return
	}
	canon := sp.raw
	if sp.esc && !canonicalEscapes(sp.raw) {
		w.text, _ = appendCanonicalRaw(w.text[:0], sp.raw)
		canon = w.text
	}
	if w.p != nil {
		w.p.text(canon, int64(sp.n))
	}
	if w.rec != nil {
		w.rec.text(canon, sp.n)
	}
}

// json counts a JSON value's text without white space.
func (w *walker) json(raw []byte) {
	if !w.feeds() {
		w.chars += int64(forCompact(raw, func([]byte) {}))
		return
	}
	forCompact(raw, w.write)
}

func (w *walker) mark(v uint64) {
	if w.p != nil {
		w.p.mark(v)
	}
	if w.rec != nil {
		w.rec.mark(v)
	}
}

// markString marks a JSON string, by its text.
func (w *walker) markString(sp span) {
	if w.feeds() {
		w.mark(hashString(sp.raw, sp.esc, &w.text))
	}
}

// image counts an image or document; source identifies it.
func (w *walker) image(source []byte) {
	w.media++
	if !w.feeds() {
		return
	}
	v := imageMark(source)
	if w.p != nil {
		w.p.mark(v)
		w.p.advance(ImageTokens * CharsPerToken)
	}
	if w.rec != nil {
		w.rec.image(v)
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
		w.markString(f.typ)
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
			w.markString(f.id)
		}
		w.span(f.name)
		if f.input != nil {
			w.json(f.input)
		}
	case string(t) == "image" || string(t) == "document":
		w.image(f.source)
	case isToolResult(t):
		if f.toolID.ok {
			w.markString(f.toolID)
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
