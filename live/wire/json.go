package wire

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/tarsopt/tarsopt/internal/hash64"
)

// This file holds the package's JSON machinery: a validating scanner over a document held in
// memory (no reflection, no allocation), string unescaping and quoting, and the canonical value
// hash that Fingerprint is built from.

// maxDepth bounds the nesting of arrays and objects, so that the recursive walkers have a bounded
// stack (encoding/json allows 10,000; no Messages request comes near 100).
const maxDepth = 512

// jsonError is a syntax error at a byte offset of the value being scanned.
type jsonError struct {
	off int
	msg string
}

func (e *jsonError) Error() string { return fmt.Sprintf("malformed JSON at byte %d: %s", e.off, e.msg) }

// scanner reads one JSON document held in memory. A trusted scanner reads JSON that has been
// validated already (by ParseRequest) at the speed of a byte search: it finds the ends of strings
// and containers without checking what is between. On invalid input it returns nonsense or an
// error, never a panic.
type scanner struct {
	b       []byte
	i       int
	trusted bool
	last    int  // offset of the opening quote of the last string read
	esc     int  // escapes in the last string a trusted scanner read
	odd     bool // whether one of them is not \" \\ \n \r \t
	wsn     int  // white space skipped so far
}

// trusted returns a trusted scanner of b.
func trusted(b []byte) scanner { return scanner{b: b, trusted: true} }

func (s *scanner) errf(msg string) error {
	if s.i >= len(s.b) {
		return &jsonError{s.i, "unexpected end of input"}
	}
	return &jsonError{s.i, msg}
}

func (s *scanner) ws() {
	i := s.i
	if i < len(s.b) && s.b[i] > ' ' {
		return
	}
	for i < len(s.b) {
		switch s.b[i] {
		case ' ', '\t', '\r', '\n':
			i++
			continue
		}
		break
	}
	s.wsn += i - s.i
	s.i = i
}

// peek skips white space and returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// value skips the next value, validating it, and returns its text.
func (s *scanner) value() ([]byte, error) {
	s.ws()
	start := s.i
	if err := s.skip(); err != nil {
		return nil, err
	}
	return s.b[start:s.i], nil
}

// end checks that only white space remains.
func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return &jsonError{s.i, "data after the value"}
	}
	return nil
}

// skip skips and validates one value, without recursion.
func (s *scanner) skip() error {
	if s.trusted {
		return s.skipFast()
	}
	// stack holds one bit per open container: 1 for an object, 0 for an array.
	var stack [maxDepth / 64]uint64
	depth := 0
	push := func(obj bool) bool {
		if depth >= maxDepth {
			return false
		}
		if obj {
			stack[depth/64] |= 1 << (depth % 64)
		} else {
			stack[depth/64] &^= 1 << (depth % 64)
		}
		depth++
		return true
	}
	inObject := func() bool { return stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0 }
	for {
		// A value is expected.
		s.ws()
		if s.i >= len(s.b) {
			return s.errf("")
		}
		closed := true
		switch c := s.b[s.i]; {
		case c == '{':
			s.i++
			if s.peek() == '}' {
				s.i++
				break
			}
			if !push(true) {
				return s.errf("nesting too deep")
			}
			if err := s.colonKey(); err != nil {
				return err
			}
			closed = false
		case c == '[':
			s.i++
			if s.peek() == ']' {
				s.i++
				break
			}
			if !push(false) {
				return s.errf("nesting too deep")
			}
			closed = false
		case c == '"':
			if _, _, err := s.str(); err != nil {
				return err
			}
		case c == 't':
			if err := s.lit("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := s.lit("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := s.lit("null"); err != nil {
				return err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if _, err := s.number(); err != nil {
				return err
			}
		default:
			return s.errf(fmt.Sprintf("unexpected %q", c))
		}
		if !closed {
			continue
		}
		// After a value: close containers or move to the next element.
		for {
			if depth == 0 {
				return nil
			}
			s.ws()
			if s.i >= len(s.b) {
				return s.errf("")
			}
			c := s.b[s.i]
			obj := inObject()
			if c == ',' {
				s.i++
				if obj {
					if err := s.colonKey(); err != nil {
						return err
					}
				}
				break
			}
			if (obj && c == '}') || (!obj && c == ']') {
				s.i++
				depth--
				continue
			}
			if obj {
				return s.errf("want ',' or '}'")
			}
			return s.errf("want ',' or ']'")
		}
	}
}

// colonKey reads an object key and its colon.
func (s *scanner) colonKey() error {
	if s.peek() != '"' {
		return s.errf("want a string key")
	}
	if _, _, err := s.str(); err != nil {
		return err
	}
	if s.peek() != ':' {
		return s.errf("want ':'")
	}
	s.i++
	return nil
}

func (s *scanner) lit(want string) error {
	if !bytes.HasPrefix(s.b[s.i:], []byte(want)) {
		return s.errf("bad literal")
	}
	s.i += len(want)
	return nil
}

// number reads a number, validating it against JSON's grammar, and returns its text.
func (s *scanner) number() ([]byte, error) {
	start := s.i
	b := s.b
	i := s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i - j
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		s.i = i
		return nil, s.errf("bad number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			s.i = i
			return nil, s.errf("bad number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			s.i = i
			return nil, s.errf("bad number")
		}
	}
	s.i = i
	return b[start:i], nil
}

// str reads a string and returns its text between the quotes, still escaped, and whether it holds
// escapes.
func (s *scanner) str() (raw []byte, escaped bool, err error) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false, s.errf("want a string")
	}
	s.last = s.i
	if s.trusted {
		return s.strFast()
	}
	s.i++
	start := s.i
	b := s.b
	for {
		// special, inlined: strings with many escapes call it once per escape.
		i := s.i
		for ; i+8 <= len(b); i += 8 {
			x := binary.LittleEndian.Uint64(b[i:])
			q := x ^ ('"' * lows)
			bs := x ^ ('\\' * lows)
			m := ((q - lows) &^ q) | ((bs - lows) &^ bs) | ((x - 0x20*lows) &^ x)
			if m &= highs; m != 0 {
				i += bits.TrailingZeros64(m) / 8
				goto found
			}
		}
		for ; i < len(b); i++ {
			if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
				break
			}
		}
	found:
		s.i = i
		if s.i >= len(s.b) {
			return nil, false, s.errf("")
		}
		switch c := s.b[s.i]; c {
		case '"':
			s.i++
			return s.b[start : s.i-1], escaped, nil
		case '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				s.i = len(s.b)
				return nil, false, s.errf("")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if _, ok := hex4(s.b, s.i+2); !ok {
					return nil, false, s.errf("bad \\u escape")
				}
				s.i += 6
			default:
				return nil, false, s.errf("bad escape")
			}
		default:
			return nil, false, s.errf("control character in string")
		}
	}
}

// strFast reads a string whose opening quote is at s.i without validating it. It leaves in s.esc
// the string's escape count and in s.odd whether any escape is not one of \" \\ \n \r \t.
func (s *scanner) strFast() ([]byte, bool, error) {
	b := s.b
	start := s.i + 1
	s.esc, s.odd = 0, false
	// Most strings have no escapes: two byte searches settle them.
	q := bytes.IndexByte(b[start:], '"')
	if q < 0 {
		s.i = len(b)
		return nil, false, s.errf("")
	}
	j := bytes.IndexByte(b[start:start+q], '\\')
	if j < 0 {
		s.i = start + q + 1
		return b[start : start+q], false, nil
	}
	i := start + j
	for {
		for ; i+8 <= len(b); i += 8 {
			x := binary.LittleEndian.Uint64(b[i:])
			q := x ^ ('"' * lows)
			bs := x ^ ('\\' * lows)
			if m := (((q - lows) &^ q) | ((bs - lows) &^ bs)) & highs; m != 0 {
				i += bits.TrailingZeros64(m) / 8
				goto found
			}
		}
		for ; i < len(b) && b[i] != '"' && b[i] != '\\'; i++ {
		}
	found:
		if i >= len(b) {
			s.i = len(b)
			return nil, false, s.errf("")
		}
		if b[i] == '"' {
			s.i = i + 1
			return b[start:i], s.esc > 0, nil
		}
		s.esc++
		if i+1 < len(b) {
			switch b[i+1] {
			case '"', '\\', 'n', 'r', 't':
			default:
				s.odd = true
			}
		}
		i += 2
	}
}

// Escape classes, by the byte after the backslash.
const (
	escBad   = iota
	escShort // \" \\ \b \f \n \r \t: canonical
	escSlash // \/
	escU     // \uXXXX
)

var escClass = [256]uint8{'"': escShort, '\\': escShort, 'b': escShort, 'f': escShort, 'n': escShort,
	'r': escShort, 't': escShort, '/': escSlash, 'u': escU}

// strv reads and validates, as str does, the string whose opening quote is at s.i, and returns the
// bounds of its raw content and whether that content is canonical (see canonicalEscapes); when it
// is, the text is extra bytes shorter.
func (s *scanner) strv() (start, end, extra int, canon bool, err error) {
	b := s.b
	s.last = s.i
	i := s.i + 1
	start = i
	canon = true
	// Eight bytes at a time: m flags the bytes that may be '"', '\\' or control characters (the
	// lowest flag is exact, the others are checked), and one word's escapes are all handled from it.
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:])
		q := x ^ ('"' * lows)
		bs := x ^ ('\\' * lows)
		m := (((q - lows) &^ q) | ((bs - lows) &^ bs) | ((x - 0x20*lows) &^ x)) & highs
		for m != 0 {
			k := bits.TrailingZeros64(m) >> 3
			j := i + k
			switch c := b[j]; {
			case c == '"':
				s.i = j + 1
				return start, j, extra, canon, nil
			case c == '\\':
				n := 2
				if j+1 >= len(b) {
					s.i = len(b)
					return 0, 0, 0, false, s.errf("")
				}
				switch escClass[b[j+1]] {
				case escShort:
					extra++
				case escSlash:
					canon = false
				case escU:
					if _, ok := hex4(b, j+2); !ok {
						s.i = j
						return 0, 0, 0, false, s.errf("bad \\u escape")
					}
					if canon && !canonU(b[j+2:j+6]) {
						canon = false
					}
					extra += 5
					n = 6
				default:
					s.i = j
					return 0, 0, 0, false, s.errf("bad escape")
				}
				if e := k + n; e < 8 {
					m &^= 1<<(8*e) - 1
					continue
				}
				i = j + n
				goto next
			case c < 0x20:
				s.i = j
				return 0, 0, 0, false, s.errf("control character in string")
			default:
				m &= m - 1 // not a special byte
			}
		}
		i += 8
	next:
	}
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return start, i, extra, canon, nil
		case c == '\\':
			if i+1 >= len(b) {
				s.i = len(b)
				return 0, 0, 0, false, s.errf("")
			}
			switch escClass[b[i+1]] {
			case escShort:
				extra++
				i += 2
			case escSlash:
				canon = false
				i += 2
			case escU:
				if _, ok := hex4(b, i+2); !ok {
					s.i = i
					return 0, 0, 0, false, s.errf("bad \\u escape")
				}
				if canon && !canonU(b[i+2:i+6]) {
					canon = false
				}
				extra += 5
				i += 6
			default:
				s.i = i
				return 0, 0, 0, false, s.errf("bad escape")
			}
		case c < 0x20:
			s.i = i
			return 0, 0, 0, false, s.errf("control character in string")
		default:
			i++
		}
	}
	s.i = i
	return 0, 0, 0, false, s.errf("")
}

// decodedLen returns the length of the decoded text of raw, the string str just read.
func (s *scanner) decodedLen(raw []byte, escaped bool) int {
	switch {
	case !escaped:
		return len(raw)
	case s.trusted && !s.odd:
		return len(raw) - s.esc
	}
	return unescapedLen(raw, true)
}

// skipFast skips a value without validating it.
func (s *scanner) skipFast() error {
	depth := 0
	for {
		s.ws()
		if s.i >= len(s.b) {
			return s.errf("")
		}
		switch c := s.b[s.i]; c {
		case '"':
			if _, _, err := s.strFast(); err != nil {
				return err
			}
		case '{', '[':
			depth++
			s.i++
			continue
		case '}', ']':
			if depth == 0 {
				return s.errf(fmt.Sprintf("unexpected %q", c))
			}
			depth--
			s.i++
		case ',', ':':
			if depth == 0 {
				return s.errf(fmt.Sprintf("unexpected %q", c))
			}
			s.i++
			continue
		default:
			j := s.i + 1
			for j < len(s.b) {
				switch s.b[j] {
				case ' ', '\t', '\r', '\n', ',', ':', ']', '}', '"', '[', '{':
					goto done
				}
				j++
			}
		done:
			s.i = j
		}
		if depth == 0 {
			return nil
		}
	}
}

// objectNext moves to the next member of an object whose '{' has been read: it returns false at the
// closing '}' (which it reads), else the member's key, unescaped when needed into scratch, with the
// ':' read. Callers must read the member's value before calling it again. first is true for the
// first call on an object.
func (s *scanner) objectNext(first bool, scratch *[]byte) (key []byte, more bool, err error) {
	raw, esc, more, err := s.objectNextRaw(first)
	if esc {
		*scratch = appendUnescaped((*scratch)[:0], raw)
		raw = *scratch
	}
	return raw, more, err
}

// objectNextRaw is objectNext returning the key's raw content and whether it has escapes.
func (s *scanner) objectNextRaw(first bool) (key []byte, escaped, more bool, err error) {
	c := s.peek()
	if c == '}' {
		s.i++
		return nil, false, false, nil
	}
	if !first {
		if c != ',' {
			return nil, false, false, s.errf("want ',' or '}'")
		}
		s.i++
		s.ws()
	}
	raw, esc, err := s.str()
	if err != nil {
		return nil, false, false, err
	}
	if s.peek() != ':' {
		return nil, false, false, s.errf("want ':'")
	}
	s.i++
	return raw, esc, true, nil
}

// arrayNext moves to the next element of an array whose '[' has been read; false at the closing
// ']' (which it reads).
func (s *scanner) arrayNext(first bool) (bool, error) {
	c := s.peek()
	if c == ']' {
		s.i++
		return false, nil
	}
	if !first {
		if c != ',' {
			return false, s.errf("want ',' or ']'")
		}
		s.i++
	}
	return true, nil
}

const (
	lows  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special returns the index of the first '"', '\\' or control character in b, or len(b), testing
// eight bytes at a time.
func special(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q := x ^ ('"' * lows)
		bs := x ^ ('\\' * lows)
		m := ((q - lows) &^ q) | ((bs - lows) &^ bs) | ((x - 0x20*lows) &^ x)
		if m &= highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return i
}

func hex4(b []byte, at int) (rune, bool) {
	if at < 0 || at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// unescapeAt decodes the escape at raw[i] (a backslash) into out and returns the decoded bytes and
// the escape's length. A malformed escape decodes to itself; a lone surrogate to U+FFFD, as
// encoding/json does.
func unescapeAt(raw []byte, i int, out *[8]byte) (int, int) {
	if i+1 >= len(raw) {
		out[0] = '\\'
		return 1, 1
	}
	var c byte
	switch raw[i+1] {
	case '"', '\\', '/':
		c = raw[i+1]
	case 'b':
		c = '\b'
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'u':
		r, ok := hex4(raw, i+2)
		if !ok {
			out[0] = '\\'
			return 1, 1
		}
		n := 6
		if utf16.IsSurrogate(r) {
			r2, ok := rune(0), false
			if i+7 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
				r2, ok = hex4(raw, i+8)
			}
			if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
				r = dec
				n = 12
			} else {
				r = utf8.RuneError
			}
		}
		return utf8.EncodeRune(out[:], r), n
	default:
		out[0] = '\\'
		return 1, 1
	}
	out[0] = c
	return 1, 2
}

// appendUnescaped appends the decoded text of a string's raw content.
func appendUnescaped(dst, raw []byte) []byte {
	var buf [8]byte
	for len(raw) > 0 {
		j := bytes.IndexByte(raw, '\\')
		if j < 0 {
			return append(dst, raw...)
		}
		dst = append(dst, raw[:j]...)
		n, adv := unescapeAt(raw, j, &buf)
		dst = append(dst, buf[:n]...)
		raw = raw[j+adv:]
	}
	return dst
}

// unescapedLen is len(appendUnescaped(nil, raw)).
func unescapedLen(raw []byte, escaped bool) int {
	if !escaped {
		return len(raw)
	}
	var buf [8]byte
	n := 0
	for len(raw) > 0 {
		j := bytes.IndexByte(raw, '\\')
		if j < 0 {
			return n + len(raw)
		}
		if j+1 < len(raw) && raw[j+1] != 'u' {
			n += j + 1
			raw = raw[j+2:]
			continue
		}
		k, adv := unescapeAt(raw, j, &buf)
		n += j + k
		raw = raw[j+adv:]
	}
	return n
}

// writeUnescaped feeds the decoded text of a string's raw content to fn, in pieces.
func writeUnescaped(raw []byte, escaped bool, fn func([]byte)) {
	if !escaped {
		fn(raw)
		return
	}
	var buf [8]byte
	for len(raw) > 0 {
		j := bytes.IndexByte(raw, '\\')
		if j < 0 {
			fn(raw)
			return
		}
		if j > 0 {
			fn(raw[:j])
		}
		n, adv := unescapeAt(raw, j, &buf)
		fn(buf[:n])
		raw = raw[j+adv:]
	}
}

const hexDigits = "0123456789abcdef"

// appendCompact appends a valid JSON value without the white space outside its strings.
func appendCompact(dst, raw []byte) []byte {
	forCompact(raw, func(p []byte) { dst = append(dst, p...) })
	return dst
}

// forCompact feeds fn the pieces of raw (valid JSON) that remain when white space outside strings is
// removed, and returns their total length.
func forCompact(raw []byte, fn func([]byte)) int {
	n := 0
	start := 0
	for i := 0; i < len(raw); {
		switch raw[i] {
		case '"':
			// Skip the string: find its closing quote.
			j := i + 1
			for j < len(raw) {
				j += special(raw[j:])
				if j >= len(raw) {
					break
				}
				if raw[j] == '\\' {
					j += 2
					continue
				}
				if raw[j] == '"' {
					break
				}
				j++ // a control character: invalid, pass it on
			}
			i = min(j+1, len(raw))
		case ' ', '\t', '\r', '\n':
			if i > start {
				fn(raw[start:i])
				n += i - start
			}
			for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\r' || raw[i] == '\n') {
				i++
			}
			start = i
		default:
			i++
		}
	}
	if start < len(raw) {
		fn(raw[start:])
		n += len(raw) - start
	}
	return n
}

// hasher is a streaming 64-bit hash, eight bytes per multiplication (a multiply-rotate chain, each
// step a bijection of the state, finished by SplitMix64). Not cryptographic: it separates honest
// inputs, it does not resist an adversary who wants a collision. It hashes short inputs and lists
// of hashes; streamHash and hashBytes hash long text.
type hasher struct {
	h   uint64
	n   uint64
	buf [8]byte
	bn  int
}

const (
	hashK1 = 0x9e3779b97f4a7c15
	hashK2 = 0xd6e8feb86659fd93
	hashK3 = 0xc2b2ae3d27d4eb4f
	hashK4 = 0x165667b19e3779f9
)

func newHasher(seed uint64) hasher { return hasher{h: seed} }

func (x *hasher) word(w uint64) { x.h = bits.RotateLeft64((x.h^w)*hashK2, 29) }

func (x *hasher) write(p []byte) {
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

// add hashes a 64-bit value (of a hasher that only adds).
func (x *hasher) add(v uint64) {
	x.word(v)
	x.n += 8
}

func (x *hasher) sum() uint64 {
	h := x.h
	if x.bn > 0 {
		var w uint64
		for i := x.bn - 1; i >= 0; i-- {
			w = w<<8 | uint64(x.buf[i])
		}
		h = bits.RotateLeft64((h^w)*hashK2, 29)
	}
	return hash64.Mix(h ^ x.n*hashK1)
}

// streamHash hashes a stream of bytes cut anywhere, in four interleaved multiply-rotate chains
// (word i of the stream goes to chain i mod 4), so that long text hashes at the multiplier's
// throughput rather than its latency.
type streamHash struct {
	h     [4]uint64
	words uint64 // words hashed
	n     uint64 // bytes written
	buf   uint64 // the bytes of an incomplete word, little-endian
	bn    uint   // how many
}

func (x *streamHash) reset() { *x = streamHash{h: [4]uint64{0, hashK1, hashK3, hashK4}} }

func (x *streamHash) word(w uint64) {
	l := x.words & 3
	x.h[l] = bits.RotateLeft64((x.h[l]^w)*hashK2, 29)
	x.words++
}

func (x *streamHash) write(p []byte) {
	x.n += uint64(len(p))
	if x.bn > 0 {
		k := min(8-x.bn, uint(len(p)))
		if k == 0 {
			return
		}
		x.buf |= loadWord(p[:k]) << (8 * x.bn)
		x.bn += k
		p = p[k:]
		if x.bn < 8 {
			return
		}
		x.word(x.buf)
		x.buf, x.bn = 0, 0
	}
	for len(p) >= 8 && x.words&3 != 0 {
		x.word(binary.LittleEndian.Uint64(p))
		p = p[8:]
	}
	if len(p) >= 32 {
		h0, h1, h2, h3 := x.h[0], x.h[1], x.h[2], x.h[3]
		k := 0
		for ; len(p) >= 32; p = p[32:] {
			q := p[:32]
			h0 = bits.RotateLeft64((h0^binary.LittleEndian.Uint64(q))*hashK2, 29)
			h1 = bits.RotateLeft64((h1^binary.LittleEndian.Uint64(q[8:]))*hashK2, 29)
			h2 = bits.RotateLeft64((h2^binary.LittleEndian.Uint64(q[16:]))*hashK2, 29)
			h3 = bits.RotateLeft64((h3^binary.LittleEndian.Uint64(q[24:]))*hashK2, 29)
			k++
		}
		x.h = [4]uint64{h0, h1, h2, h3}
		x.words += 4 * uint64(k)
	}
	for len(p) >= 8 {
		x.word(binary.LittleEndian.Uint64(p))
		p = p[8:]
	}
	if len(p) > 0 {
		x.buf, x.bn = tailWord(p), uint(len(p))
	}
}

// loadWord returns the 1 to 8 bytes of b as a little-endian word.
func loadWord(b []byte) uint64 {
	if len(b) == 8 {
		return binary.LittleEndian.Uint64(b)
	}
	return tailWord(b)
}

// write8 writes v as eight little-endian bytes.
func (x *streamHash) write8(v uint64) {
	x.n += 8
	if x.bn == 0 {
		x.word(v)
		return
	}
	x.word(x.buf | v<<(8*x.bn))
	x.buf = v >> (64 - 8*x.bn)
}

func (x *streamHash) sum() uint64 {
	h := combineLanes(x.h[0], x.h[1], x.h[2], x.h[3])
	if x.bn > 0 {
		h = bits.RotateLeft64((h^x.buf)*hashK2, 29)
	}
	return hash64.Mix(h ^ x.n*hashK1)
}

// combineLanes folds four chains into one, in order (the result is mixed after).
func combineLanes(h0, h1, h2, h3 uint64) uint64 {
	h := bits.RotateLeft64((h0^h1)*hashK2, 29)
	h = bits.RotateLeft64((h^h2)*hashK3, 31)
	return bits.RotateLeft64((h^h3)*hashK4, 27)
}

// Tags that seed the hashes of JSON values of each type, so that values of different types never
// share a hash by construction.
const (
	tagString uint64 = 0x5a1c0de5 + iota
	tagInt
	tagFloat
	tagArray
	tagObject
	tagNull
	tagTrue
	tagFalse
)

// Strings hash by their canonical JSON encoding: the decoded text with '"', '\\', '\b', '\f', '\n',
// '\r' and '\t' escaped by their short forms, other control characters as \u00xx (lower-case hex),
// and nothing else escaped, as JavaScript's JSON.stringify writes them. Valid JSON text in that form
// is canonical as it stands, so most strings hash, and feed PrefixHashes, without being decoded.

// canonU reports whether the four hex digits of a \u escape are the canonical escape of their
// character: a control character without a short form, in lower-case hex.
func canonU(h []byte) bool {
	if len(h) < 4 || h[0] != '0' || h[1] != '0' {
		return false
	}
	c := h[3]
	switch h[2] {
	case '0':
		switch c {
		case '8', '9', 'a', 'c', 'd':
			return false
		}
	case '1':
	default:
		return false
	}
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
}

// canonicalEscapes reports whether every escape in a string's raw content is a canonical one.
func canonicalEscapes(raw []byte) bool {
	for {
		j := bytes.IndexByte(raw, '\\')
		if j < 0 {
			return true
		}
		if j+1 >= len(raw) {
			return false
		}
		switch raw[j+1] {
		case '"', '\\', 'b', 'f', 'n', 'r', 't':
			raw = raw[j+2:]
		case 'u':
			if j+6 > len(raw) || !canonU(raw[j+2:j+6]) {
				return false
			}
			raw = raw[j+6:]
		default:
			return false
		}
	}
}

// canonIndex returns the offset in canon, canonical raw content, at which the first need bytes of
// its text end.
func canonIndex(canon []byte, need int) int {
	i, c := 0, 0
	for {
		j := bytes.IndexByte(canon[i:], '\\')
		if j < 0 || c+j >= need {
			return min(i+need-c, len(canon))
		}
		c += j + 1
		i += j + 2
		if canon[i-1] == 'u' {
			i += 4
		}
		if i >= len(canon) {
			return len(canon)
		}
	}
}

// appendCanonical appends the canonical encoding of decoded text.
func appendCanonical(dst, text []byte) []byte {
	for {
		j := special(text)
		dst = append(dst, text[:j]...)
		if j == len(text) {
			return dst
		}
		switch c := text[j]; c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
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

// appendCanonicalRaw appends the canonical encoding of the text of a string's raw content, and
// returns the length of that text.
func appendCanonicalRaw(dst, raw []byte) ([]byte, int) {
	n := len(dst)
	dst = appendUnescaped(dst, raw)
	m := len(dst)
	dst = appendCanonical(dst, dst[n:m])
	return append(dst[:n], dst[m:]...), m - n
}

// mum multiplies a and b into 128 bits and folds them: one multiplication that mixes two words
// (as wyhash does).
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hashBytes hashes b in one call: up to 16 bytes with two mum, longer like hasher but four words at
// a time (four independent chains, which quarters the latency).
func hashBytes(seed uint64, b []byte) uint64 {
	if len(b) <= 16 {
		var w0, w1 uint64
		switch {
		case len(b) > 8:
			w0, w1 = binary.LittleEndian.Uint64(b), loadWord(b[8:])
		case len(b) > 0:
			w0 = loadWord(b)
		}
		return mum(mum(w0^hashK1, w1^seed^hashK2)^hashK3, uint64(len(b))^hashK4)
	}
	h, n := seed, uint64(len(b))
	if len(b) >= 64 {
		h1, h2, h3 := seed^hashK1, seed^hashK3, seed^hashK4
		for ; len(b) >= 32; b = b[32:] {
			q := b[:32]
			h = bits.RotateLeft64((h^binary.LittleEndian.Uint64(q))*hashK2, 29)
			h1 = bits.RotateLeft64((h1^binary.LittleEndian.Uint64(q[8:]))*hashK2, 29)
			h2 = bits.RotateLeft64((h2^binary.LittleEndian.Uint64(q[16:]))*hashK2, 29)
			h3 = bits.RotateLeft64((h3^binary.LittleEndian.Uint64(q[24:]))*hashK2, 29)
		}
		h = combineLanes(h, h1, h2, h3)
	}
	for len(b) >= 8 {
		h = bits.RotateLeft64((h^binary.LittleEndian.Uint64(b))*hashK2, 29)
		b = b[8:]
	}
	if len(b) > 0 {
		h = bits.RotateLeft64((h^tailWord(b))*hashK2, 29)
	}
	return hash64.Mix(h ^ n*hashK1)
}

// tailWord returns the 1 to 7 bytes of b as a little-endian word, without a loop: overlapping
// loads put each byte in its place.
func tailWord(b []byte) uint64 {
	n := len(b)
	if n >= 4 {
		return uint64(binary.LittleEndian.Uint32(b)) | uint64(binary.LittleEndian.Uint32(b[n-4:]))<<(8*(n-4))
	}
	return uint64(b[0]) | uint64(b[n>>1])<<(8*(n>>1)) | uint64(b[n-1])<<(8*(n-1))
}

// hashText hashes a Go string as a JSON string.
func hashText(s string) uint64 {
	b := unsafe.Slice(unsafe.StringData(s), len(s)) // read only
	if special(b) < len(b) {
		return hashBytes(tagString, appendCanonical(nil, b))
	}
	return hashBytes(tagString, b)
}

// hashString hashes a JSON string from its raw content, decoding into *scratch when its escapes are
// not canonical.
func hashString(raw []byte, escaped bool, scratch *[]byte) uint64 {
	if escaped && !canonicalEscapes(raw) {
		*scratch, _ = appendCanonicalRaw((*scratch)[:0], raw)
		raw = *scratch
	}
	return hashBytes(tagString, raw)
}

func hashInt(v int64) uint64 { return hash64.Combine(tagInt, uint64(v)) }

// hashFloat hashes a number given as a float64: integral values hash as integers, so that 1, 1.0
// and 1e0 are one value.
func hashFloat(f float64) uint64 {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return hashInt(int64(f))
	}
	if math.IsNaN(f) {
		f = math.NaN()
	}
	return hash64.Combine(tagFloat, math.Float64bits(f))
}

// hashNumber hashes a number (valid JSON) by its value.
func hashNumber(raw []byte) uint64 {
	if d := raw; len(d) > 0 && len(d) <= 18 {
		neg := d[0] == '-'
		if neg {
			d = d[1:]
		}
		v, ok := int64(0), len(d) > 0
		for _, c := range d {
			if c < '0' || c > '9' {
				ok = false
				break
			}
			v = v*10 + int64(c-'0')
		}
		if ok {
			if neg {
				v = -v
			}
			return hashInt(v)
		}
	}
	if bytes.IndexAny(raw, ".eE") < 0 {
		if v, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return hashInt(v)
		}
	}
	f, _ := strconv.ParseFloat(string(raw), 64)
	return hashFloat(f)
}

// Hashing modes: how the canonical hash treats the value. Content blocks (of system, messages,
// tools and tool results) have their cache_control dropped: it changes what the call costs, not
// what it answers.
const (
	modePlain  = iota
	modeBlocks // a value that may be a list of blocks: objects in it hash in modeBlock
	modeBlock  // a block: cache_control is left out, content hashes in modeBlocks
)

type pair struct{ k, v uint64 }

// wrapText is the hash, in modeBlocks, of string content hashing h: that of one text block
// holding it.
func wrapText(h uint64) uint64 {
	x := newHasher(tagArray)
	x.add(hash64.Mix(tagObject + pairTypeText + pairHash(hkText, h)))
	return x.sum()
}

// pairTypeText is the pair "type": "text".
var pairTypeText = pairHash(hkType, hkTextType)

// pairHash hashes one member of an object: its key's hash and its value's.
func pairHash(k, v uint64) uint64 { return mum(k^hashK3, v^hashK4) }

// distinctObjectHash is objectHash for members whose keys are known to be distinct.
func distinctObjectHash(ps []pair) uint64 {
	acc := tagObject
	for _, p := range ps {
		acc += pairHash(p.k, p.v)
	}
	return hash64.Mix(acc)
}

// objectHash hashes the members ps of an object, whatever their order, a repeated key keeping its
// last value: the sum of the members' hashes, mixed. It may reorder ps.
func objectHash(ps []pair) uint64 {
	acc := tagObject
	if len(ps) <= 16 {
	next:
		for i, p := range ps {
			for _, q := range ps[i+1:] {
				if q.k == p.k {
					continue next // a later value of the same key wins
				}
			}
			acc += pairHash(p.k, p.v)
		}
	} else {
		slices.SortStableFunc(ps, func(a, b pair) int { return cmp.Compare(a.k, b.k) })
		for i, p := range ps {
			if i+1 < len(ps) && ps[i+1].k == p.k {
				continue
			}
			acc += pairHash(p.k, p.v)
		}
	}
	return hash64.Mix(acc)
}

// canon computes canonical hashes of JSON values: insensitive to white space, to the order of object
// keys (a repeated key counts once, with its last value, as encoding/json decodes it), to string
// escapes and to the spelling of numbers.
type canon struct {
	pairs   []pair
	scratch []byte
}

func (c *canon) hash(raw []byte, mode int) (uint64, error) {
	s := trusted(raw)
	h, err := c.value(&s, mode, 0)
	if err == nil {
		err = s.end()
	}
	return h, err
}

func (c *canon) value(s *scanner, mode, depth int) (uint64, error) {
	if depth > maxDepth {
		return 0, s.errf("nesting too deep")
	}
	switch s.peek() {
	case '"':
		raw, esc, err := s.str()
		h := hashString(raw, esc && s.odd, &c.scratch)
		if mode == modeBlocks {
			// String content is short for one text block: hash it as that block.
			h = wrapText(h)
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
			k := hashString(key, esc && s.odd, &c.scratch)
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
			c.pairs = append(c.pairs, pair{k, v})
		}
		return c.object(base), nil
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
	return hashNumber(raw), nil
}

// object hashes the pairs from base on and drops them from c.pairs.
func (c *canon) object(base int) uint64 {
	h := objectHash(c.pairs[base:])
	c.pairs = c.pairs[:base]
	return h
}

// hashOrRaw is the canonical hash of raw, or, when raw is not valid JSON (set by a caller), a hash
// of its bytes.
func (c *canon) hashOrRaw(raw []byte, mode int) uint64 {
	base := len(c.pairs)
	h, err := c.hash(raw, mode)
	if err != nil {
		c.pairs = c.pairs[:base]
		return hashBytes(0xbad, raw)
	}
	return h
}

// errNotJSON is returned for a value that the caller set through a struct field and that is not
// valid JSON.
var errNotJSON = errors.New("not valid JSON")
