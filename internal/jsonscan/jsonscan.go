// Package jsonscan reads the few fields an importer needs from large JSON lines without decoding
// the rest: values that are not asked for are skipped at the speed of a byte search. It validates
// what it reads and what it skips as far as the structure goes (brackets, strings, commas), but
// does not check that skipped numbers and literals are well formed.
package jsonscan

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Errors.
var (
	ErrSyntax    = errors.New("malformed JSON")
	ErrTruncated = errors.New("truncated JSON")
	ErrType      = errors.New("wrong JSON type")
)

// Scanner reads one JSON document held in memory. The zero value scans nothing; use Reset.
type Scanner struct {
	b   []byte
	i   int
	scr []byte
}

// Reset makes s scan b.
func (s *Scanner) Reset(b []byte) { s.b, s.i = b, 0 }

func (s *Scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// Peek returns the first byte of the next value ('{', '[', '"', 't', 'f', 'n', or a number's first
// byte), or 0 at the end.
func (s *Scanner) Peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *Scanner) fail() error {
	if s.i >= len(s.b) {
		return ErrTruncated
	}
	return ErrSyntax
}

// Object reads an object, calling fn with each key (valid until fn returns); fn must read or Skip
// the key's value. It returns ErrType if the next value is not an object.
func (s *Scanner) Object(fn func(key []byte) error) error {
	s.ws()
	if s.i >= len(s.b) {
		return ErrTruncated
	}
	if s.b[s.i] != '{' {
		return ErrType
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		key, err := s.String()
		if err != nil {
			if err == ErrType {
				return ErrSyntax
			}
			return err
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.fail()
		}
		s.i++
		if err := fn(key); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return ErrTruncated
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return ErrSyntax
		}
	}
}

// Array reads an array, calling fn before each element; fn must read or Skip the element. It
// returns ErrType if the next value is not an array.
func (s *Scanner) Array(fn func() error) error {
	s.ws()
	if s.i >= len(s.b) {
		return ErrTruncated
	}
	if s.b[s.i] != '[' {
		return ErrType
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return ErrTruncated
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return ErrSyntax
		}
	}
}

// End returns ErrSyntax unless only white space remains.
func (s *Scanner) End() error {
	s.ws()
	if s.i != len(s.b) {
		return ErrSyntax
	}
	return nil
}

// Null reads a null if there is one and reports whether it did.
func (s *Scanner) Null() bool {
	s.ws()
	if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return true
	}
	return false
}

// Bool reads true or false.
func (s *Scanner) Bool() (bool, error) {
	s.ws()
	switch {
	case bytes.HasPrefix(s.b[s.i:], []byte("true")):
		s.i += 4
		return true, nil
	case bytes.HasPrefix(s.b[s.i:], []byte("false")):
		s.i += 5
		return false, nil
	case s.i >= len(s.b):
		return false, ErrTruncated
	}
	return false, ErrType
}

// Number returns the text of a number.
func (s *Scanner) Number() ([]byte, error) {
	s.ws()
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			s.i++
			continue
		}
		break
	}
	if s.i == start {
		if start >= len(s.b) {
			return nil, ErrTruncated
		}
		return nil, ErrType
	}
	return s.b[start:s.i], nil
}

// Int reads an integer number (a JSON number without fraction or exponent).
func (s *Scanner) Int() (int64, error) {
	n, err := s.Number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(string(n), 10, 64) // no allocation: the conversion does not escape
	if err != nil {
		return 0, ErrSyntax
	}
	return v, nil
}

// String reads a string and returns its unescaped bytes, valid until the next call. Invalid UTF-8
// is returned as is; callers that keep the string check it.
func (s *Scanner) String() ([]byte, error) {
	s.ws()
	if s.i >= len(s.b) {
		return nil, ErrTruncated
	}
	if s.b[s.i] != '"' {
		return nil, ErrType
	}
	s.i++
	start := s.i
	s.i += special(s.b[s.i:])
	if s.i >= len(s.b) {
		return nil, ErrTruncated
	}
	switch c := s.b[s.i]; {
	case c == '"':
		out := s.b[start:s.i]
		s.i++
		return out, nil
	case c == '\\':
		return s.stringSlow(start)
	}
	return nil, ErrSyntax // a control character
}

func (s *Scanner) stringSlow(start int) ([]byte, error) {
	s.scr = append(s.scr[:0], s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.scr, nil
		case c < 0x20:
			return nil, ErrSyntax
		case c != '\\':
			s.scr = append(s.scr, c)
			s.i++
			continue
		}
		s.i++
		if s.i >= len(s.b) {
			return nil, ErrTruncated
		}
		switch e := s.b[s.i]; e {
		case '"', '\\', '/':
			s.scr = append(s.scr, e)
		case 'b':
			s.scr = append(s.scr, '\b')
		case 'f':
			s.scr = append(s.scr, '\f')
		case 'n':
			s.scr = append(s.scr, '\n')
		case 'r':
			s.scr = append(s.scr, '\r')
		case 't':
			s.scr = append(s.scr, '\t')
		case 'u':
			r, ok := hex4(s.b, s.i+1)
			if !ok {
				return nil, s.fail()
			}
			s.i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if s.i+6 < len(s.b) && s.b[s.i+1] == '\\' && s.b[s.i+2] == 'u' {
					r2, ok = hex4(s.b, s.i+3)
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					r = dec
					s.i += 6
				} else {
					r = utf8.RuneError
				}
			}
			s.scr = utf8.AppendRune(s.scr, r)
		default:
			return nil, ErrSyntax
		}
		s.i++
	}
	return nil, ErrTruncated
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
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

// Skip skips the next value of any type.
func (s *Scanner) Skip() error {
	s.ws()
	if s.i >= len(s.b) {
		return ErrTruncated
	}
	switch c := s.b[s.i]; c {
	case '"':
		return s.skipString()
	case '{', '[':
		return s.skipContainer()
	case 't', 'f':
		_, err := s.Bool()
		if err == ErrType {
			return ErrSyntax
		}
		return err
	case 'n':
		if !s.Null() {
			return s.fail()
		}
		return nil
	default:
		_, err := s.Number()
		if err == ErrType {
			return ErrSyntax
		}
		return err
	}
}

// Raw skips the next value and returns its JSON text, valid as long as the scanned document.
func (s *Scanner) Raw() ([]byte, error) {
	s.ws()
	start := s.i
	if err := s.Skip(); err != nil {
		return nil, err
	}
	return s.b[start:s.i], nil
}

// skipString skips a string without unescaping it.
func (s *Scanner) skipString() error {
	s.i++ // opening quote
	for {
		j := bytes.IndexByte(s.b[s.i:], '"')
		if j < 0 {
			s.i = len(s.b)
			return ErrTruncated
		}
		end := s.i + j
		// The quote ends the string unless an odd number of backslashes precede it.
		k := end
		for k > s.i && s.b[k-1] == '\\' {
			k--
		}
		s.i = end + 1
		if (end-k)%2 == 0 {
			return nil
		}
	}
}

// skipContainer skips an object or array by bracket depth, skipping strings whole.
func (s *Scanner) skipContainer() error {
	depth := 0
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch c {
		case '"':
			if err := s.skipString(); err != nil {
				return err
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				s.i++
				return nil
			}
			if depth < 0 {
				return ErrSyntax
			}
		}
		s.i++
	}
	return ErrTruncated
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
