package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"slices"
	"sync"
	"unsafe"
)

// This file holds ParseRequest's single pass: it validates the body and, as it goes, computes what
// Tokens, Fingerprint and PrefixHashes need of each part of the prompt (the tools, the system
// prompt, each message's content): its canonical hash, its characters and images, and its
// segments, the text that PrefixHashes hashes, recorded as references to the body. Strings are
// hashed and recorded as they are written when their escapes are canonical (what JSON.stringify
// writes), so that most text is neither decoded nor copied.
//
// The pass covers requests as clients write them. On anything else (an error, a key with escapes
// at the top level, deep nesting, more than 16 top-level keys) it gives up, and ParseRequest takes
// its general path: the validating parse, then fillCaches, which computes the same caches with the
// general walker and canonical hash. Within the pass, a content block whose members it does not
// read in one go (a repeated or escaped key, a block type it does not know, a tool result whose
// content comes before its type) is walked by the general walker, from the block's text.

// errBail is the pass giving up: the general path decides.
var errBail = errors.New("wire: left to the general path")

// fastMaxDepth bounds the nesting the pass follows.
const fastMaxDepth = 100

type fastParser struct {
	s      scanner // validating, over the body
	m      bodyMasks
	rec    recorder
	pairs  []pair   // members of the objects being hashed
	key    []byte   // a decoded key
	text   []byte   // canonical text of a string being hashed
	msgs   []msgRec // the messages read
	extras []extraRec
	w      walker // the general walker, for the blocks the pass leaves to it

	// The part being read.
	chars, media int64
	other        int  // as walker.other
	empty        bool // the part is an empty array

	masked bool // a segment relies on the escape masks: the store keeps them
}

// msgRec is a message read, without pointers.
type msgRec struct {
	start, end uint32 // the message object
	pc         msgCache
	extras     int32 // its first extraRec, or -1
}

// extraRec is a member of a message other than role and content.
type extraRec struct {
	msg            int32  // its message
	esc            bool   // the key has escapes
	kq, ke, vs, ve uint32 // the key's quotes, the value
}

var fastPool = sync.Pool{New: func() any { return new(fastParser) }}

// parseFast is the single pass; errBail (or any error) leaves the request to the general path.
func (r *Request) parseFast() error {
	if uint64(len(r.body)) >= 1<<32-1 {
		return errBail // segments hold 32-bit offsets
	}
	p := fastPool.Get().(*fastParser)
	p.s = scanner{b: r.body}
	p.m.reset(r.body)
	err := p.request(r)
	p.s = scanner{}
	p.rec.segs, p.rec.aux, p.pairs, p.masked = p.rec.segs[:0], p.rec.aux[:0], p.pairs[:0], false
	p.msgs, p.extras = p.msgs[:0], p.extras[:0]
	if cap(p.rec.aux) > 1<<22 || cap(p.rec.segs) > 1<<18 || cap(p.msgs) > 1<<14 || cap(p.m.blk) > 1<<16 {
		p.rec, p.msgs, p.m = recorder{}, nil, bodyMasks{}
	}
	fastPool.Put(p)
	return err
}

// bodyString returns b, a slice of the body, as a string without copying: the body is never
// written.
func bodyString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (p *fastParser) request(r *Request) error {
	s := &p.s
	if s.peek() != '{' {
		return errBail
	}
	s.i++
	r.fields = make([]field, 0, 12)
	var seen [fMessages + 1]bool
	for first := true; ; first = false {
		key, esc, more, err := p.objectNext(first)
		if err != nil || esc {
			return errBail
		}
		if !more {
			break
		}
		if len(r.fields) == 16 {
			return errBail // the general parse checks many keys for repeats with a map
		}
		f := field{kraw: s.b[s.last : s.last+len(key)+2]}
		switch string(key) {
		case "model":
			f.kind, f.key = fModel, "model"
		case "max_tokens":
			f.kind, f.key = fMaxTokens, "max_tokens"
		case "stream":
			f.kind, f.key = fStream, "stream"
		case "temperature":
			f.kind, f.key = fTemperature, "temperature"
		case "system":
			f.kind, f.key = fSystem, "system"
		case "tools":
			f.kind, f.key = fTools, "tools"
		case "messages":
			f.kind, f.key = fMessages, "messages"
		default:
			f.kind, f.key = fExtra, bodyString(key)
		}
		for i := range r.fields {
			if r.fields[i].key == f.key {
				return errBail
			}
		}
		s.ws()
		start := s.i
		switch f.kind {
		case fSystem, fTools:
			err = p.part(r, f.kind)
		case fMessages:
			err = p.messages()
		case fExtra:
			f.khash = hashBytes(tagString, key) // no escapes: the key is canonical
			f.hash, err = p.value(modePlain, 1)
		default:
			err = r.parseField(s, f.kind, f.key)
		}
		if err != nil {
			return errBail
		}
		seen[f.kind] = true
		f.raw = s.b[start:s.i]
		r.fields = append(r.fields, f)
	}
	if s.end() != nil || !seen[fModel] || !seen[fMessages] {
		return errBail
	}
	r.st.body = r.body
	if len(p.rec.segs) > 0 {
		r.st.segs = slices.Clone(p.rec.segs)
	}
	if len(p.rec.aux) > 0 {
		r.st.aux = bytes.Clone(p.rec.aux)
	}
	if p.masked {
		r.st.escw = make([]uint64, p.m.done)
		for k := range r.st.escw {
			r.st.escw[k] = p.m.blk[k].esc
		}
	}
	p.build(r)
	r.compact = r.marshalsToBody()
	return nil
}

// build makes the request's messages from their records.
func (p *fastParser) build(r *Request) {
	b := r.body
	r.Messages = make([]Message, len(p.msgs))
	r.nmsgs = len(p.msgs)
	for i := range p.msgs {
		rec := &p.msgs[i]
		m := &r.Messages[i]
		m.pc = rec.pc
		m.pc.req = r.id
		m.Role = roleNames[rec.pc.role]
		m.raw = b[rec.start:rec.end]
		co := rec.start + rec.pc.co
		m.Content = b[co : co+rec.pc.cn : co+rec.pc.cn]
		for k := rec.extras; k >= 0 && int(k) < len(p.extras) && p.extras[k].msg == int32(i); k++ {
			e := &p.extras[k]
			kraw := b[e.kq : e.ke+1]
			key := bodyString(kraw[1 : len(kraw)-1])
			if e.esc {
				key = string(appendUnescaped(nil, kraw[1:len(kraw)-1]))
			}
			m.extra = append(m.extra, member{key, b[e.vs:e.ve], kraw})
		}
	}
}

// begin starts a part, returning its first segment.
func (p *fastParser) begin() uint32 {
	p.chars, p.media, p.other, p.empty = 0, 0, 0, false
	p.rec.begin()
	return uint32(len(p.rec.segs))
}

// done returns the cache of the part begun at s0, hashing h.
func (p *fastParser) done(s0 uint32, h uint64) partCache {
	return partCache{ok: true, hash: h, chars: p.chars, media: p.media, s0: s0, s1: uint32(len(p.rec.segs))}
}

// part reads the system prompt or the tools.
func (p *fastParser) part(r *Request, kind int) error {
	s := &p.s
	c := s.peek()
	if c == 'n' {
		return s.lit("null")
	}
	if c != '[' && (kind == fTools || c != '"') {
		return errBail
	}
	start := s.i
	s0 := p.begin()
	var h uint64
	var err error
	if kind == fTools {
		h, err = p.tools()
	} else {
		h, err = p.content(0, 0, true)
	}
	if err != nil {
		return err
	}
	raw := s.b[start:s.i:s.i]
	if kind == fSystem {
		r.System, r.origSystem, r.systemC = raw, raw, p.done(s0, h)
	} else {
		r.Tools, r.origTools, r.toolsC = raw, raw, p.done(s0, h)
	}
	return nil
}

func (p *fastParser) messages() error {
	s := &p.s
	if s.peek() != '[' {
		return errBail
	}
	s.i++
	for first := true; ; first = false {
		more, err := s.arrayNext(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if s.peek() != '{' {
			return errBail
		}
		if err := p.message(); err != nil {
			return err
		}
	}
	if len(p.msgs) == 0 {
		return errBail
	}
	return nil
}

var (
	userValue      = []byte(`"user"`)
	assistantValue = []byte(`"assistant"`)
	userOpen       = []byte(`{"role":"user","content":`)
	assistantOpen  = []byte(`{"role":"assistant","content":`)
)

func (p *fastParser) message() error {
	s := &p.s
	start := s.i
	p.msgs = append(p.msgs, msgRec{start: uint32(start), extras: -1})
	rec := &p.msgs[len(p.msgs)-1]
	var ch uint64
	hasRole, hasContent := false, false
	base := len(p.pairs)
	first := true
	switch b := s.b[s.i:]; {
	case bytes.HasPrefix(b, userOpen):
		rec.pc.role, s.i = 1, s.i+len(userOpen)
	case bytes.HasPrefix(b, assistantOpen):
		rec.pc.role, s.i = 2, s.i+len(assistantOpen)
	default:
		s.i++
	}
	if rec.pc.role != 0 {
		// As JSON.stringify writes a message: role, then content.
		hasRole, hasContent, first = true, true, false
		var err error
		if ch, err = p.messageContent(rec); err != nil {
			return err
		}
	}
	for ; ; first = false {
		raw, esc, more, err := p.objectNext(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		key := raw
		if esc {
			p.key = appendUnescaped(p.key[:0], raw)
			key = p.key
		}
		switch string(key) {
		case "role":
			if hasRole {
				return errBail
			}
			hasRole = true
			s.ws()
			switch v := s.b[s.i:]; {
			case bytes.HasPrefix(v, userValue):
				rec.pc.role = 1
				s.i += len(userValue)
			case bytes.HasPrefix(v, assistantValue):
				rec.pc.role = 2
				s.i += len(assistantValue)
			default:
				return errBail
			}
		case "content":
			if hasContent {
				return errBail
			}
			hasContent = true
			if ch, err = p.messageContent(rec); err != nil {
				return err
			}
		default:
			kq := s.last
			kh := p.keyHash(raw, esc)
			s.ws()
			vs := s.i
			h, err := p.value(modePlain, 2)
			if err != nil {
				return err
			}
			if rec.extras < 0 {
				rec.extras = int32(len(p.extras))
			}
			p.extras = append(p.extras, extraRec{msg: int32(len(p.msgs) - 1), esc: esc, kq: uint32(kq),
				ke: uint32(kq + len(raw) + 1), vs: uint32(vs), ve: uint32(s.i)})
			p.pairs = append(p.pairs, pair{kh, h})
		}
	}
	if !hasRole || !hasContent {
		return errBail
	}
	rec.end = uint32(s.i)
	rec.pc.idx = uint32(len(p.msgs) - 1)
	p.pairs = append(p.pairs, pair{hkRole, roleMark(roleNames[rec.pc.role])}, pair{hkContent, ch})
	if rec.extras < 0 {
		rec.pc.hash = distinctObjectHash(p.pairs[base:])
	} else {
		rec.pc.hash = objectHash(p.pairs[base:])
	}
	p.pairs = p.pairs[:base]
	return nil
}

// messageContent reads the content of the message rec (s.i after its colon).
func (p *fastParser) messageContent(rec *msgRec) (uint64, error) {
	s := &p.s
	if c := s.peek(); c != '[' && c != '"' {
		return 0, errBail
	}
	cstart := s.i
	s0 := p.begin()
	h, err := p.content(0, 0, true)
	if err != nil {
		return 0, err
	}
	pc := &rec.pc
	pc.co, pc.cn = uint32(cstart)-rec.start, uint32(s.i-cstart)
	pc.chars, pc.media, pc.s0, pc.s1 = p.chars, uint32(p.media), s0, uint32(len(p.rec.segs))
	pc.human = p.other > 0 || p.empty
	return h, nil
}

// fstr is a string the pass read: its canonical text, in the body or in aux.
type fstr struct {
	h      uint64
	off    uint32
	n      uint32
	chars  uint32 // characters of its text
	ok     bool
	aux    bool
	masked bool // its escapes are two-byte ones, marked in the masks
}

// quickEnd returns the end of the string whose content starts at i when it ends in the same
// 64-byte block without escapes or control characters, else -1.
func (p *fastParser) quickEnd(i int) int {
	k, sh := i>>6, uint(i&63)
	if k >= p.m.done {
		return -1
	}
	blk := &p.m.blk[k]
	t := bits.TrailingZeros64(blk.quote >> sh)
	if t == 64 || ((blk.esc|blk.bad)>>sh)&(1<<t-1) != 0 {
		return -1
	}
	return i + t
}

// set sets a string field by field: the block reading it is hot, and a whole struct copied from
// narrower stores stalls on them.
func (sp *fstr) set(off, n, chars uint32, h uint64) {
	sp.h, sp.off, sp.n, sp.chars = h, off, n, chars
	sp.ok, sp.aux, sp.masked = true, false, false
}

// str reads a string, validating it, and hashes it into *sp.
func (p *fastParser) str(sp *fstr) error {
	s := &p.s
	start := s.i + 1
	if end := p.quickEnd(start); end >= 0 {
		s.last, s.i = start-1, end+1
		sp.set(uint32(start), uint32(end-start), uint32(end-start), hashBytes(tagString, s.b[start:end]))
		return nil
	}
	start, end, extra, canon, masked, err := p.strScan()
	if err != nil {
		return err
	}
	raw := s.b[start:end]
	if canon {
		sp.set(uint32(start), uint32(end-start), uint32(end-start-extra), hashBytes(tagString, raw))
		sp.masked = masked
		return nil
	}
	a0 := len(p.rec.aux)
	var chars int
	p.rec.aux, chars = appendCanonicalRaw(p.rec.aux, raw)
	c := p.rec.aux[a0:]
	sp.set(uint32(a0), uint32(len(c)), uint32(chars), hashBytes(tagString, c))
	sp.aux = true
	return nil
}

// strHash reads a string, validating it, and returns its hash.
func (p *fastParser) strHash() (uint64, error) {
	s := &p.s
	start := s.i + 1
	if end := p.quickEnd(start); end >= 0 {
		s.last, s.i = start-1, end+1
		return hashBytes(tagString, s.b[start:end]), nil
	}
	start, end, _, canon, _, err := p.strScan()
	if err != nil {
		return 0, err
	}
	raw := s.b[start:end]
	if !canon {
		p.text, _ = appendCanonicalRaw(p.text[:0], raw)
		raw = p.text
	}
	return hashBytes(tagString, raw), nil
}

func (p *fastParser) keyHash(raw []byte, esc bool) uint64 {
	if esc {
		return hashString(raw, true, &p.text)
	}
	return hashBytes(tagString, raw)
}

// value reads a value, validating it, and returns its canonical hash in the mode.
func (p *fastParser) value(mode, depth int) (uint64, error) {
	if depth > fastMaxDepth {
		return 0, errBail
	}
	s := &p.s
	switch s.peek() {
	case '"':
		h, err := p.strHash()
		if mode == modeBlocks {
			h = wrapText(h)
		}
		return h, err
	case '{':
		s.i++
		base := len(p.pairs)
		for first := true; ; first = false {
			raw, esc, more, err := p.objectNext(first)
			if err != nil {
				return 0, err
			}
			if !more {
				break
			}
			kh := p.keyHash(raw, esc)
			sub := modePlain
			if mode == modeBlock {
				key := raw
				if esc {
					p.key = appendUnescaped(p.key[:0], raw)
					key = p.key
				}
				switch string(key) {
				case "cache_control":
					if _, err := p.value(modePlain, depth+1); err != nil {
						return 0, err
					}
					continue
				case "content":
					sub = modeBlocks
				}
			}
			v, err := p.value(sub, depth+1)
			if err != nil {
				return 0, err
			}
			p.pairs = append(p.pairs, pair{kh, v})
		}
		h := objectHash(p.pairs[base:])
		p.pairs = p.pairs[:base]
		return h, nil
	case '[':
		s.i++
		sub := modePlain
		if mode == modeBlocks {
			sub = modeBlock
		}
		x := newHasher(tagArray)
		for first := true; ; first = false {
			more, err := s.arrayNext(first)
			if err != nil {
				return 0, err
			}
			if !more {
				return x.sum(), nil
			}
			v, err := p.value(sub, depth+1)
			if err != nil {
				return 0, err
			}
			x.add(v)
		}
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
	return hashNumber(raw), nil
}

// body records text of the body, where every byte is a character.
func (p *fastParser) body(start, end int) {
	p.chars += int64(end - start)
	p.rec.span(segBody, start, end-start, end-start)
}

// lit records a piece of text that is not in the body.
func (p *fastParser) lit(b []byte) {
	p.chars += int64(len(b))
	p.rec.text(b, len(b))
}

// span records a string's text.
func (p *fastParser) span(sp *fstr) {
	p.chars += int64(sp.chars)
	switch {
	case sp.aux:
		p.rec.span(segAux, int(sp.off), int(sp.n), int(sp.chars))
	case sp.n != sp.chars && sp.masked:
		p.rec.spanMasked(int(sp.off), int(sp.n), int(sp.chars))
		p.masked = true
	default:
		p.rec.span(segBody, int(sp.off), int(sp.n), int(sp.chars))
	}
}

// compact records the JSON text at [start, end) of the body without white space; ws tells whether
// it has any.
func (p *fastParser) compact(start, end int, ws bool) {
	if !ws {
		p.body(start, end)
		return
	}
	a0 := len(p.rec.aux)
	p.rec.aux = appendCompact(p.rec.aux, p.s.b[start:end])
	n := len(p.rec.aux) - a0
	p.chars += int64(n)
	p.rec.span(segAux, a0, n, n)
}

var (
	litComma = []byte(",")
	litQuote = []byte(`"`)
	litColon = []byte(`":`)
)

// tools reads the tool definitions (s.i at the array's '['), as walker.tools walks them.
func (p *fastParser) tools() (uint64, error) {
	s := &p.s
	s.i++
	x := newHasher(tagArray)
	for first := true; ; first = false {
		more, err := s.arrayNext(first)
		if err != nil {
			return 0, err
		}
		if !more {
			return x.sum(), nil
		}
		if s.peek() != '{' {
			return 0, errBail
		}
		h, err := p.tool()
		if err != nil {
			return 0, err
		}
		x.add(h)
	}
}

// tool reads one tool definition: its text is its JSON without white space and cache_control.
func (p *fastParser) tool() (uint64, error) {
	s := &p.s
	b := s.b
	p.rec.mark(0x7001)
	p.body(s.i, s.i+1) // {
	s.i++
	base := len(p.pairs)
	n := 0
	for first := true; ; first = false {
		raw, esc, more, err := p.objectNext(first)
		if err != nil {
			return 0, err
		}
		if !more {
			break
		}
		kq, colon := s.last, s.i // the key's opening quote; after the colon
		kh := p.keyHash(raw, esc)
		key := raw
		if esc {
			p.key = appendUnescaped(p.key[:0], raw)
			key = p.key
		}
		sub := modePlain
		switch string(key) {
		case "cache_control":
			if _, err := p.value(modePlain, 2); err != nil {
				return 0, err
			}
			continue
		case "content":
			sub = modeBlocks
		}
		if n > 0 {
			if b[kq-1] == ',' {
				p.body(kq-1, kq)
			} else {
				p.lit(litComma)
			}
		}
		n++
		if !esc && colon == kq+len(raw)+3 {
			p.body(kq, colon)
		} else {
			p.lit(litQuote)
			p.lit(key)
			p.lit(litColon)
		}
		s.ws()
		vstart, w0 := s.i, s.wsn
		v, err := p.value(sub, 2)
		if err != nil {
			return 0, err
		}
		p.compact(vstart, s.i, s.wsn != w0)
		p.pairs = append(p.pairs, pair{kh, v})
	}
	p.body(s.i-1, s.i) // }
	h := objectHash(p.pairs[base:])
	p.pairs = p.pairs[:base]
	return h, nil
}

// content reads a content value (s.i at it), hashing it in modeBlocks and walking it as
// walker.content does; top content (of the system prompt or a message) must be a string or an
// array of objects.
func (p *fastParser) content(tdepth, depth int, top bool) (uint64, error) {
	s := &p.s
	c := s.peek()
	switch c {
	case '"':
		var sp fstr
		if err := p.str(&sp); err != nil {
			return 0, err
		}
		p.other++
		p.rec.mark(hkTextType)
		p.span(&sp)
		return wrapText(sp.h), nil
	case '[':
		s.i++
		x := newHasher(tagArray)
		for first := true; ; first = false {
			more, err := s.arrayNext(first)
			if err != nil {
				return 0, err
			}
			if !more {
				p.empty = top && first
				return x.sum(), nil
			}
			var h uint64
			if s.peek() == '{' {
				h, err = p.block(tdepth, depth+1)
			} else if top {
				return 0, errBail
			} else {
				start, w0 := s.i, s.wsn
				h, err = p.value(modeBlock, depth+1)
				if err == nil {
					p.compact(start, s.i, s.wsn != w0)
					p.other++
				}
			}
			if err != nil {
				return 0, err
			}
			x.add(h)
		}
	}
	if top {
		return 0, errBail
	}
	start, w0 := s.i, s.wsn
	h, err := p.value(modeBlocks, depth)
	if err == nil && c != 'n' {
		p.compact(start, s.i, s.wsn != w0)
	}
	return h, err
}

// frange is a value the pass read: its text, whether it has white space, and its hash.
type frange struct {
	ok         bool
	ws         bool
	start, end int
	h          uint64
}

// set sets a value field by field (see fstr.set).
func (fr *frange) set(start, end int, ws bool, h uint64) {
	fr.start, fr.end, fr.h, fr.ws, fr.ok = start, end, h, ws, true
}

// fblock holds the members of a content block that the walker reads (see readBlockAt).
type fblock struct {
	typ, text, thinking, data, name, id, toolID, contentStr fstr
	input, source, content                                  frange
	seen                                                    uint16 // of the keys above, by bit
	kind                                                    uint8  // of the type, when known
	unusual                                                 bool   // a repeated or escaped key
	eager                                                   bool   // the content was walked as it was read
	eagerID                                                 bool   // after tool_use_id
}

// plain returns the text of a string without escapes, or false.
func (p *fastParser) plain(sp *fstr) ([]byte, bool) {
	if !sp.ok || sp.aux || sp.n != sp.chars {
		return nil, false
	}
	return p.s.b[sp.off : sp.off+sp.n], true
}

// Members of a block that the walker reads, by key.
const (
	kOther = iota
	kCache
	kType
	kText
	kThinking
	kData
	kName
	kID
	kToolID
	kContent
	kInput
	kSource
)

func blockKey(key []byte) int {
	switch string(key) {
	case "cache_control":
		return kCache
	case "type":
		return kType
	case "text":
		return kText
	case "thinking":
		return kThinking
	case "data":
		return kData
	case "name":
		return kName
	case "id":
		return kID
	case "tool_use_id":
		return kToolID
	case "content":
		return kContent
	case "input":
		return kInput
	case "source":
		return kSource
	}
	return kOther
}

// keyLit is a key as JSON.stringify writes it after the member before: `,"key":`.
type keyLit struct {
	lit            []byte
	w0, w1, m0, m1 uint64 // its (first) 16 bytes, and the masks of those that are its
	id             int
	h              uint64 // hash of the key
}

func newKeyLit(key string) keyLit {
	k := keyLit{lit: []byte(`,"` + key + `":`), id: blockKey([]byte(key)), h: hashText(key)}
	var buf, mask [16]byte
	copy(buf[:], k.lit)
	for i := range min(16, len(k.lit)) {
		mask[i] = 0xff
	}
	k.w0, k.w1 = binary.LittleEndian.Uint64(buf[:]), binary.LittleEndian.Uint64(buf[8:])
	k.m0, k.m1 = binary.LittleEndian.Uint64(mask[:]), binary.LittleEndian.Uint64(mask[8:])
	return k
}

// at reports whether b starts with the key.
func (k *keyLit) at(b []byte) bool {
	if len(b) >= 16 && len(k.lit) <= 16 {
		return binary.LittleEndian.Uint64(b)&k.m0 == k.w0 && binary.LittleEndian.Uint64(b[8:])&k.m1 == k.w1
	}
	return bytes.HasPrefix(b, k.lit)
}

// Walker kinds of block types.
const (
	tkOther       = iota + 1 // a type the walker does not know, or none: the block's strings
	tkText                   // text
	tkThinking               // thinking
	tkRedacted               // redacted_thinking
	tkToolUse                // tool_use, server_tool_use, mcp_tool_use
	tkMedia                  // image, document
	tkToolResult             // tool_result
	tkOtherResult            // *_tool_result
)

func typeKind(t []byte) uint8 {
	switch string(t) {
	case "text":
		return tkText
	case "thinking":
		return tkThinking
	case "redacted_thinking":
		return tkRedacted
	case "tool_use", "server_tool_use", "mcp_tool_use":
		return tkToolUse
	case "image", "document":
		return tkMedia
	case "tool_result":
		return tkToolResult
	}
	if isToolResult(t) {
		return tkOtherResult
	}
	return tkOther
}

// blockShape is a common block type: the members that usually follow its type, in order.
type blockShape struct {
	open []byte // {"type":"T"
	h    uint64 // hash of T
	kind uint8
	keys []keyLit
}

var blockShapes = func() []blockShape {
	var shapes []blockShape
	for _, s := range [][]string{
		{"text", "text"},
		{"tool_use", "id", "name", "input"},
		{"tool_result", "tool_use_id", "content"},
		{"thinking", "thinking", "signature"},
		{"redacted_thinking", "data"},
		{"image", "source"},
		{"document", "source"},
	} {
		sh := blockShape{open: []byte(`{"type":"` + s[0] + `"`), h: hashText(s[0]), kind: typeKind([]byte(s[0]))}
		for _, k := range s[1:] {
			sh.keys = append(sh.keys, newKeyLit(k))
		}
		shapes = append(shapes, sh)
	}
	return shapes
}()

var typeOpen = []byte(`{"type":"`)

// block reads a content block (s.i at its '{'), hashing it in modeBlock and walking it as
// walker.block does.
func (p *fastParser) block(tdepth, depth int) (uint64, error) {
	if depth > fastMaxDepth {
		return 0, errBail
	}
	s := &p.s
	bstart := s.i
	base := len(p.pairs)
	seg0, aux0 := len(p.rec.segs), len(p.rec.aux)
	chars0, media0, other0 := p.chars, p.media, p.other
	var f fblock
	first := true
	var keys []keyLit // the members expected next
	others := false   // a member the walker does not read, whose key may repeat
	if b := s.b[s.i:]; bytes.HasPrefix(b, typeOpen) {
		// {"type":"T" for a common T: its type member and the keys that usually follow are known.
		for k := range blockShapes {
			sh := &blockShapes[k]
			if n := len(sh.open); n <= len(b) && b[n-1] == '"' && b[len(typeOpen)] == sh.open[len(typeOpen)] &&
				bytes.Equal(b[len(typeOpen):n], sh.open[len(typeOpen):]) {
				n := uint32(len(sh.open) - len(typeOpen) - 1)
				f.typ.set(uint32(s.i+len(typeOpen)), n, n, sh.h)
				f.seen |= 1 << kType
				f.kind = sh.kind
				p.pairs = append(p.pairs, pair{hkType, sh.h})
				s.i += len(sh.open)
				first, keys = false, sh.keys
				break
			}
		}
	}
	if first {
		s.i++ // {
	}
	for ; ; first = false {
		var id int
		var kh uint64
		if len(keys) > 0 && keys[0].at(s.b[s.i:]) {
			id, kh = keys[0].id, keys[0].h
			s.i += len(keys[0].lit)
			keys = keys[1:]
		} else {
			keys = nil
			raw, esc, more, err := p.objectNext(first)
			if err != nil {
				return 0, err
			}
			if !more {
				break
			}
			kh = p.keyHash(raw, esc)
			key := raw
			if esc {
				f.unusual = true
				p.key = appendUnescaped(p.key[:0], raw)
				key = p.key
			}
			id = blockKey(key)
		}
		if id == kCache {
			if _, err := p.value(modePlain, depth+1); err != nil {
				return 0, err
			}
			continue
		}
		if id == kOther {
			others = true
		}
		v, err := p.member(&f, id, tdepth, depth)
		if err != nil {
			return 0, err
		}
		p.pairs = append(p.pairs, pair{kh, v})
	}
	var h uint64
	if others || f.unusual {
		h = objectHash(p.pairs[base:])
	} else {
		h = distinctObjectHash(p.pairs[base:]) // known keys, each once
	}
	p.pairs = p.pairs[:base]
	if !p.walkBlock(&f, s.b[bstart:s.i], tdepth) {
		// Left to the general walker, from the block's text.
		p.rec.segs, p.rec.aux = p.rec.segs[:seg0], p.rec.aux[:aux0]
		p.chars, p.media, p.other = chars0, media0, other0
		w := p.general()
		fb, _ := readBlock(s.b[bstart:s.i], &w.scratch)
		w.block(&fb, s.b[bstart:s.i], tdepth)
		p.endGeneral()
	}
	return h, nil
}

// member reads the value of a block's member id (s.i after its colon) and returns its hash.
func (p *fastParser) member(f *fblock, id, tdepth, depth int) (uint64, error) {
	s := &p.s
	var dst *fstr
	switch id {
	case kType:
		dst = &f.typ
	case kText:
		dst = &f.text
	case kThinking:
		dst = &f.thinking
	case kData:
		dst = &f.data
	case kName:
		dst = &f.name
	case kID:
		dst = &f.id
	case kToolID:
		dst = &f.toolID
	case kContent:
		dst = &f.contentStr
	}
	if id != kOther {
		if f.seen&(1<<id) != 0 {
			f.unusual = true
		}
		f.seen |= 1 << id
	}
	c := s.peek()
	switch {
	case dst != nil && c == '"':
		if err := p.str(dst); err != nil {
			return 0, err
		}
		if id == kContent {
			return wrapText(dst.h), nil
		}
		return dst.h, nil
	case id == kContent:
		start := s.i
		var v uint64
		var err error
		t, ok := p.plain(&f.typ)
		if c == '[' && tdepth < 8 && ok && !f.unusual && isToolResult(t) {
			// The tool result's content, walked as it is read: type and tool_use_id came
			// before it.
			p.rec.mark(f.typ.h)
			if f.toolID.ok {
				p.rec.mark(f.toolID.h)
			}
			f.eager, f.eagerID = true, f.toolID.ok
			other := p.other
			v, err = p.content(tdepth+1, depth+1, false)
			p.other = other
		} else {
			v, err = p.value(modeBlocks, depth+1)
		}
		f.content.set(start, s.i, false, 0)
		return v, err
	}
	start, w0 := s.i, s.wsn
	v, err := p.value(modePlain, depth+1)
	switch id {
	case kInput:
		f.input.set(start, s.i, s.wsn != w0, v)
	case kSource:
		f.source.set(start, s.i, false, v)
	}
	return v, err
}

// general returns the general walker, recording into the pass's recorder.
func (p *fastParser) general() *walker {
	p.w.rec = &p.rec
	p.w.chars, p.w.media, p.w.other = 0, 0, 0
	return &p.w
}

// endGeneral adds what the general walker counted.
func (p *fastParser) endGeneral() {
	p.chars += p.w.chars
	p.media += p.w.media
	p.other += p.w.other
	p.w.rec = nil
}

// walkBlock walks a block as walker.block does, from its members; raw is its text. It returns
// false for a block it leaves to the general walker.
func (p *fastParser) walkBlock(f *fblock, raw []byte, tdepth int) bool {
	if f.unusual {
		return false
	}
	kind := f.kind
	if kind == 0 {
		t, ok := p.plain(&f.typ)
		if f.typ.ok && !ok {
			return false // a type with escapes
		}
		kind = typeKind(t)
	}
	if f.eager {
		if f.toolID.ok != f.eagerID {
			return false // tool_use_id came after the content: its mark is out of place
		}
		if kind != tkToolResult {
			p.other++
		}
		return true
	}
	if f.typ.ok {
		p.rec.mark(f.typ.h)
	}
	if kind != tkToolResult {
		p.other++
	}
	switch kind {
	case tkText:
		p.span(&f.text)
	case tkThinking:
		p.span(&f.thinking)
	case tkRedacted:
		p.span(&f.data)
	case tkToolUse:
		if f.id.ok {
			p.rec.mark(f.id.h)
		}
		p.span(&f.name)
		if f.input.ok {
			p.compact(f.input.start, f.input.end, f.input.ws)
		}
	case tkMedia:
		p.media++
		if f.source.ok {
			p.rec.image(imageMarkOf(f.source.h))
		} else {
			p.rec.image(imageMark(nil))
		}
	case tkToolResult, tkOtherResult:
		if f.toolID.ok {
			p.rec.mark(f.toolID.h)
		}
		switch {
		case f.contentStr.ok:
			p.rec.mark(hkTextType)
			p.span(&f.contentStr)
		case f.content.ok && tdepth < 8:
			other := p.other
			w := p.general()
			w.content(p.s.b[f.content.start:f.content.end], tdepth+1)
			p.endGeneral()
			p.other = other
		}
	default:
		w := p.general()
		w.generic(raw, 0)
		p.endGeneral()
	}
	return true
}

// objectNext is scanner.objectNextRaw, reading the key from the masks.
func (p *fastParser) objectNext(first bool) (key []byte, escaped, more bool, err error) {
	s := &p.s
	c := s.peek()
	if c == '}' {
		s.i++
		return nil, false, false, nil
	}
	if !first {
		if c != ',' {
			return nil, false, false, errBail
		}
		s.i++
		c = s.peek()
	}
	if c != '"' {
		return nil, false, false, errBail
	}
	start := s.i + 1
	if end := p.quickEnd(start); end >= 0 {
		s.last, s.i = start-1, end+1
		if s.i < len(s.b) && s.b[s.i] == ':' {
			s.i++
			return s.b[start:end], false, true, nil
		}
		if s.peek() != ':' {
			return nil, false, false, errBail
		}
		s.i++
		return s.b[start:end], false, true, nil
	}
	start, end, extra, canon, _, err := p.strScan()
	if err != nil {
		return nil, false, false, err
	}
	if s.peek() != ':' {
		return nil, false, false, errBail
	}
	s.i++
	return s.b[start:end], extra > 0 || !canon, true, nil
}
