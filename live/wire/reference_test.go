package wire

// This file keeps, for tests only, the implementation of Fingerprint, Tokens and PrefixHashes that
// the single-pass parser replaced: the fuzz targets check the new one against it.

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"strconv"

	"github.com/tarsopt/tarsopt/internal/hash64"
)

// refHasher is a streaming 64-bit hash, eight bytes per multiplication (a multiply-rotate chain, each
// step a bijection of the state, finished by SplitMix64). Not cryptographic: it separates honest
// inputs, it does not resist an adversary who wants a collision.
type refHasher struct {
	h   uint64
	n   uint64
	buf [8]byte
	bn  int
}

const (
	refK1 = 0x9e3779b97f4a7c15
	refK2 = 0xd6e8feb86659fd93
)

func refNewHasher(seed uint64) refHasher { return refHasher{h: seed} }

func (x *refHasher) word(w uint64) { x.h = bits.RotateLeft64((x.h^w)*refK2, 29) }

func (x *refHasher) write(p []byte) {
	x.n += uint64(len(p))
	if x.bn > 0 {
		c := copy(x.buf[x.bn:], p)
		x.bn += c
		p = p[c:]
		if x.bn < 8 {
			return
		}
		x.word(binary.LittleEndian.Uint64(x.buf[:]))
		x.bn = 0
	}
	for len(p) >= 8 {
		x.word(binary.LittleEndian.Uint64(p))
		p = p[8:]
	}
	x.bn = copy(x.buf[:], p)
}

// add hashes a 64-bit value (of a refHasher that only adds).
func (x *refHasher) add(v uint64) {
	x.word(v)
	x.n += 8
}

func (x *refHasher) writeString(s string) {
	// Short strings only (keys, roles): copy through the buffer.
	for len(s) > 0 {
		var b [32]byte
		n := copy(b[:], s)
		x.write(b[:n])
		s = s[n:]
	}
}

func (x *refHasher) sum() uint64 {
	h := x.h
	if x.bn > 0 {
		var w uint64
		for i := x.bn - 1; i >= 0; i-- {
			w = w<<8 | uint64(x.buf[i])
		}
		h = bits.RotateLeft64((h^w)*refK2, 29)
	}
	return hash64.Mix(h ^ x.n*refK1)
}

// Strings hash by their canonical JSON encoding: the decoded text with '"', '\\', '\n', '\r' and
// '\t' escaped by their short forms, other control characters as \u00XX, and nothing else escaped.
// Valid JSON text without backslashes is canonical as it stands, so most strings hash without
// being decoded.

// refCanonicalEscapes reports whether every escape in a string's raw content is a canonical one.
func refCanonicalEscapes(raw []byte) bool {
	for {
		j := bytes.IndexByte(raw, '\\')
		if j < 0 {
			return true
		}
		if j+1 >= len(raw) {
			return false
		}
		switch raw[j+1] {
		case '"', '\\', 'n', 'r', 't':
		default:
			return false
		}
		raw = raw[j+2:]
	}
}

// refAppendCanonical appends the canonical encoding of decoded text.
func refAppendCanonical(dst, text []byte) []byte {
	for {
		j := special(text)
		dst = append(dst, text[:j]...)
		if j == len(text) {
			return dst
		}
		switch c := text[j]; c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		text = text[j+1:]
	}
}

func refHashCanonical(b []byte) uint64 { return refHashBytes(tagString, b) }

// refHashBytes hashes b in one call, like refHasher but two words at a time for long inputs (two
// independent chains, which halves the latency).
func refHashBytes(seed uint64, b []byte) uint64 {
	h, n := seed, uint64(len(b))
	if len(b) >= 64 {
		h2 := seed ^ refK1
		for len(b) >= 16 {
			h = bits.RotateLeft64((h^binary.LittleEndian.Uint64(b))*refK2, 29)
			h2 = bits.RotateLeft64((h2^binary.LittleEndian.Uint64(b[8:]))*refK2, 29)
			b = b[16:]
		}
		h ^= hash64.Mix(h2)
	}
	for len(b) >= 8 {
		h = bits.RotateLeft64((h^binary.LittleEndian.Uint64(b))*refK2, 29)
		b = b[8:]
	}
	if len(b) > 0 {
		var w uint64
		for i := len(b) - 1; i >= 0; i-- {
			w = w<<8 | uint64(b[i])
		}
		h = bits.RotateLeft64((h^w)*refK2, 29)
	}
	return hash64.Mix(h ^ n*refK1)
}

// refHashText hashes a Go string as a JSON string.
func refHashText(s string) uint64 {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return refHashCanonical(refAppendCanonical(nil, []byte(s)))
		}
	}
	x := refNewHasher(tagString)
	x.writeString(s)
	return x.sum()
}

// refHashString hashes a JSON string from its raw content, decoding into *scratch when its escapes are
// not canonical.
func refHashString(raw []byte, escaped bool, scratch *[]byte) uint64 {
	if escaped && !refCanonicalEscapes(raw) {
		text := appendUnescaped((*scratch)[:0], raw)
		n := len(text)
		text = refAppendCanonical(text, text)
		*scratch = text
		raw = text[n:]
	}
	return refHashCanonical(raw)
}

// refHashRawString hashes a JSON string from its raw content, decoded: a mark for PrefixHashes.
func refHashRawString(raw []byte, escaped bool) uint64 {
	x := refNewHasher(tagString)
	if !escaped {
		x.write(raw)
	} else {
		writeUnescaped(raw, true, x.write)
	}
	return x.sum()
}

func refHashInt(v int64) uint64 { return hash64.Combine(tagInt, uint64(v)) }

// refHashFloat hashes a number given as a float64: integral values hash as integers, so that 1, 1.0
// and 1e0 are one value.
func refHashFloat(f float64) uint64 {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return refHashInt(int64(f))
	}
	if math.IsNaN(f) {
		f = math.NaN()
	}
	return hash64.Combine(tagFloat, math.Float64bits(f))
}

// refHashNumber hashes a number by its value.
func refHashNumber(raw []byte) uint64 {
	if bytes.IndexAny(raw, ".eE") < 0 {
		if v, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return refHashInt(v)
		}
	}
	f, _ := strconv.ParseFloat(string(raw), 64)
	return refHashFloat(f)
}

type refPair struct{ k, v uint64 }

// refCanon computes canonical hashes of JSON values: insensitive to white space, to the order of object
// keys (a repeated key counts once, with its last value, as encoding/json decodes it), to string
// escapes and to the spelling of numbers.
type refCanon struct {
	pairs   []refPair
	scratch []byte
}

func (c *refCanon) hash(raw []byte, mode int) (uint64, error) {
	s := trusted(raw)
	h, err := c.value(&s, mode, 0)
	if err == nil {
		err = s.end()
	}
	return h, err
}

func (c *refCanon) value(s *scanner, mode, depth int) (uint64, error) {
	if depth > maxDepth {
		return 0, s.errf("nesting too deep")
	}
	switch s.peek() {
	case '"':
		raw, esc, err := s.str()
		h := refHashString(raw, esc && s.odd, &c.scratch)
		if mode == modeBlocks {
			// String content is short for one text block: hash it as that block.
			base := len(c.pairs)
			c.pairs = append(c.pairs, refPair{refHkType, refHkTextType}, refPair{refHkText, h})
			x := refNewHasher(tagArray)
			x.add(c.object(base))
			h = x.sum()
		}
		return h, err
	case '{':
		s.i++
		base := len(c.pairs)
		for first := true; ; first = false {
			key, esc, more, err := s.objectNextRaw(first)
			if err != nil {
				return 0, err
			}
			if !more {
				break
			}
			k := refHashString(key, esc && s.odd, &c.scratch)
			if esc {
				c.scratch = appendUnescaped(c.scratch[:0], key)
				key = c.scratch
			}
			if mode == modeBlock && string(key) == "cache_control" {
				if err := s.skip(); err != nil {
					return 0, err
				}
				continue
			}
			sub := modePlain
			if mode == modeBlock && string(key) == "content" {
				sub = modeBlocks
			}
			v, err := c.value(s, sub, depth+1)
			if err != nil {
				return 0, err
			}
			c.pairs = append(c.pairs, refPair{k, v})
		}
		h := c.object(base)
		return h, nil
	case '[':
		s.i++
		sub := modePlain
		if mode == modeBlocks {
			sub = modeBlock
		}
		x := refNewHasher(tagArray)
		for first := true; ; first = false {
			more, err := s.arrayNext(first)
			if err != nil {
				return 0, err
			}
			if !more {
				break
			}
			v, err := c.value(s, sub, depth+1)
			if err != nil {
				return 0, err
			}
			x.add(v)
		}
		return x.sum(), nil
	case 't':
		return tagTrue, s.lit("true")
	case 'f':
		return tagFalse, s.lit("false")
	case 'n':
		return tagNull, s.lit("null")
	}
	raw, err := s.number()
	if err != nil {
		return 0, err
	}
	return refHashNumber(raw), nil
}

// object hashes the pairs from base on, sorted by key hash, a repeated key keeping its last value,
// and drops them from c.pairs.
func (c *refCanon) object(base int) uint64 {
	ps := c.pairs[base:]
	slices.SortStableFunc(ps, func(a, b refPair) int {
		switch {
		case a.k < b.k:
			return -1
		case a.k > b.k:
			return 1
		}
		return 0
	})
	x := refNewHasher(tagObject)
	for i, p := range ps {
		if i+1 < len(ps) && ps[i+1].k == p.k {
			continue // a later value of the same key wins
		}
		x.add(p.k)
		x.add(p.v)
	}
	c.pairs = c.pairs[:base]
	return x.sum()
}

// Keys' hashes, for Fingerprint.
var (
	refHkModel       = refHashText("model")
	refHkMaxTokens   = refHashText("max_tokens")
	refHkTemperature = refHashText("temperature")
	refHkSystem      = refHashText("system")
	refHkTools       = refHashText("tools")
	refHkMessages    = refHashText("messages")
	refHkRole        = refHashText("role")
	refHkContent     = refHashText("content")
	refHkType        = refHashText("type")
	refHkText        = refHashText("text")
	refHkTextType    = refHkText // the value "text" of type
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
func refFingerprint(r *Request) uint64 {
	var arr [64]refPair
	c := refCanon{pairs: arr[:0]}
	add := func(k, v uint64) { c.pairs = append(c.pairs, refPair{k, v}) }
	add(refHkModel, refHashText(r.Model))
	if r.MaxTokens != 0 || r.has(fMaxTokens) {
		add(refHkMaxTokens, refHashInt(r.MaxTokens))
	}
	if r.Temperature != nil {
		add(refHkTemperature, refHashFloat(*r.Temperature))
	}
	if len(r.System) > 0 && !isNull(r.System) {
		add(refHkSystem, c.hashOrRaw(r.System, modeBlocks))
	}
	if len(r.Tools) > 0 && !isNull(r.Tools) {
		add(refHkTools, c.hashOrRaw(r.Tools, modeBlocks))
	}
	msgs := refNewHasher(tagArray)
	for i := range r.Messages {
		m := &r.Messages[i]
		base := len(c.pairs)
		add(refHkRole, refHashText(m.Role))
		if len(m.Content) > 0 {
			add(refHkContent, c.hashOrRaw(m.Content, modeBlocks))
		}
		for _, e := range m.extra {
			add(refHashText(e.key), c.hashOrRaw(e.raw, modePlain))
		}
		msgs.add(c.object(base))
	}
	add(refHkMessages, msgs.sum())
	for _, f := range r.fields {
		if f.kind != fExtra || isNull(f.raw) {
			continue
		}
		switch f.key {
		case "stream", "metadata", "service_tier":
			continue
		}
		add(refHashText(f.key), c.hashOrRaw(f.raw, modePlain))
	}
	fp := c.object(0)
	if fp == 0 {
		fp = 1
	}
	return fp
}

// hashOrRaw is the canonical hash of raw, or, when raw is not valid JSON (set by a caller), a hash
// of its bytes.
func (c *refCanon) hashOrRaw(raw []byte, mode int) uint64 {
	base := len(c.pairs)
	h, err := c.hash(raw, mode)
	if err != nil {
		c.pairs = c.pairs[:base]
		x := refNewHasher(0xbad)
		x.write(raw)
		return x.sum()
	}
	return h
}

func refTokens(r *Request) Breakdown {
	var w refWalker
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

func refPrefixHashes(r *Request, blockTokens int) []uint64 {
	if blockTokens <= 0 {
		return nil
	}
	size := int64(blockTokens) * CharsPerToken
	p := &refPrefixer{size: size, h: refNewHasher(0)}
	p.out = make([]uint64, 0, min(MaxPrefixBlocks, int64(len(r.body))/size+1))
	w := refWalker{p: p}
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

// refPrefixer cuts a character stream into blocks and chains their hashes.
type refPrefixer struct {
	size  int64 // characters per block
	pos   int64 // characters in the current block
	h     refHasher
	chain uint64
	out   []uint64
}

func (p *refPrefixer) full() bool { return len(p.out) >= MaxPrefixBlocks }

func (p *refPrefixer) emit() {
	p.chain = hash64.Combine(p.chain, p.h.sum())
	p.out = append(p.out, p.chain)
	p.h = refNewHasher(0)
	p.pos = 0
}

func (p *refPrefixer) write(b []byte) {
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
func (p *refPrefixer) advance(n int64) {
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
func (p *refPrefixer) mark(v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	p.h.write(b[:])
}

// refWalker extracts the text a model reads from a prompt part: it counts its characters and, with a
// refPrefixer, feeds them to it.
type refWalker struct {
	chars   int64
	media   int64
	other   int // blocks that are not tool_result (string content counts as one)
	p       *refPrefixer
	scratch []byte
}

func (w *refWalker) write(b []byte) {
	w.chars += int64(len(b))
	if w.p != nil {
		w.p.write(b)
	}
}

// span counts a JSON string's decoded text.
func (w *refWalker) span(sp span) {
	if w.p == nil {
		w.chars += int64(sp.n)
		return
	}
	writeUnescaped(sp.raw, sp.esc, w.write)
}

// json counts a JSON value's text without white space.
func (w *refWalker) json(raw []byte) {
	if w.p == nil {
		w.chars += int64(forCompact(raw, func([]byte) {}))
		return
	}
	forCompact(raw, w.write)
}

func (w *refWalker) mark(v uint64) {
	if w.p != nil {
		w.p.mark(v)
	}
}

// image counts an image or document; v identifies its source.
func (w *refWalker) image(source []byte) {
	w.media++
	if w.p != nil {
		x := refNewHasher(0x1a6e)
		x.write(source)
		w.p.mark(x.sum())
		w.p.advance(ImageTokens * CharsPerToken)
	}
}

// end closes a prompt part and returns its tokens; with a refPrefixer, the part's characters are
// padded to a multiple of four.
func (w *refWalker) end() int64 {
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
func (w *refWalker) tools(raw []byte) {
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
func (w *refWalker) system(raw []byte) {
	if len(raw) > 0 {
		w.content(raw, 0)
	}
}

var (
	refMarkUser      = refHashText("user")
	refMarkAssistant = refHashText("assistant")
)

func (w *refWalker) message(m *Message) {
	switch m.Role {
	case "user":
		w.mark(refMarkUser)
	case "assistant":
		w.mark(refMarkAssistant)
	default:
		w.mark(refHashText(m.Role))
	}
	w.content(m.Content, 0)
}

// content walks a content value: a string, or an array of blocks. It counts the blocks that are
// not tool results in w.other, for Tokens' HumanTurns.
func (w *refWalker) content(raw []byte, depth int) {
	s := trusted(raw)
	switch s.peek() {
	case '"':
		// String content is short for one text block: it hashes as that block.
		v, esc, err := s.str()
		if err == nil {
			w.mark(refHkTextType)
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

// block walks one block; raw is its text.
func (w *refWalker) block(f *blockFields, raw []byte, depth int) {
	t := f.typeName()
	if f.typ.ok {
		w.mark(refHashRawString(f.typ.raw, f.typ.esc))
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
			w.mark(refHashRawString(f.id.raw, f.id.esc))
		}
		w.span(f.name)
		if f.input != nil {
			w.json(f.input)
		}
	case string(t) == "image" || string(t) == "document":
		w.image(f.source)
	case isToolResult(t):
		if f.toolID.ok {
			w.mark(refHashRawString(f.toolID.raw, f.toolID.esc))
		}
		other := w.other
		switch {
		case f.contentStr.ok:
			w.mark(refHkTextType)
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
func (w *refWalker) generic(raw []byte, depth int) {
	s := trusted(raw)
	w.genericValue(&s, depth)
}

func (w *refWalker) genericValue(s *scanner, depth int) {
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
