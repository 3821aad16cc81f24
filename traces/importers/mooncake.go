package importers

import (
	"bytes"
	"github.com/tarsopt/tarsopt/internal/hash64"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tarsopt/tarsopt/traces"
)

// mooncakeImporter reads the Mooncake request traces (GitHub kvcache-ai/Mooncake, FAST25-release:
// conversation_trace.jsonl, synthetic_trace.jsonl, toolagent_trace.jsonl, and the older
// mooncake_trace.jsonl), Kimi's production traffic at Moonshot AI. One JSON object per line, one
// model call each:
//
//	timestamp      → Time = Options.Start (DefaultStart unless set) + timestamp milliseconds (the
//	                 trace's arrival offsets)
//	input_length   → Input (the whole prompt, as uncached: the trace has no cache fields, and which
//	                 blocks a cache would hold is the simulator's business, from Prefix)
//	output_length  → Output
//	hash_ids       → Prefix, chained: one hash per full 512-token block, Prefix[i] identifying the
//	                 first (i+1)×512 tokens: Prefix[i] = chainHash(Prefix[i-1], hash_ids[i]) for
//	                 i < floor(input_length/512), starting from a seed that names the trace file
//	                 (stringHash("mooncake:" + base name without .jsonl/.gz/.zst)), so that two
//	                 Mooncake files, whose ids are numbered independently, never share prefixes. The
//	                 id of a trailing partial block is dropped. len(hash_ids) must be
//	                 ceil(input_length/512), as it is on every row upstream: otherwise the row is bad
//	                 ("hash_ids: wrong length").
//	(placeholder)  → Model "mooncake-kimi", Provider "moonshot": the trace names no model. No price
//	                 book knows this name: costing needs --unknown-model=zero (or a mapping).
//	(file:line)    → Origin
//
// The block size, 512 tokens, is not in the records: BlockSize reports it for the trace's metadata.
//
// Absent, because the trace does not have them: ID, Tenant, Session, Agent, Parent, Turn, QueryType,
// every cache field, the prompt breakdown, Fingerprint, Latency, TTFT, Status, Error, Cost. Other
// keys on a line are ignored; blank lines are skipped.
type mooncakeImporter struct{}

func init() { Register(mooncakeImporter{}) }

func (mooncakeImporter) Kind() string { return "mooncake" }

func (mooncakeImporter) Describe() string {
	return "Mooncake (Kimi) request traces (kvcache-ai/Mooncake JSONL: arrival ms, input/output length, 512-token block hash ids)"
}

// BlockSize returns the tokens per prefix hash of the records the importer makes: 512.
func (mooncakeImporter) BlockSize() int { return mooncakeBlock }

const mooncakeBlock = 512

// Sniff accepts a file whose first line is a JSON object with the keys input_length, output_length
// and hash_ids.
func (mooncakeImporter) Sniff(name string, head []byte) bool {
	line := bytes.TrimSpace(firstLine(head))
	if len(line) == 0 || line[0] != '{' {
		return false
	}
	return bytes.Contains(line, []byte(`"input_length"`)) && bytes.Contains(line, []byte(`"output_length"`)) &&
		bytes.Contains(line, []byte(`"hash_ids"`)) && !bytes.Contains(line, []byte(`"tarsopt_trace"`))
}

func (mooncakeImporter) Import(paths []string, opts Options, sink Sink) error {
	files, err := Files(paths, func(p string) bool { return hasExt(p, ".jsonl", ".ndjson") })
	if err != nil {
		return err
	}
	m := &mooncakeState{start: opts.start()}
	for _, path := range files {
		if err := m.importFile(path, sink); err != nil {
			return err
		}
	}
	return nil
}

type mooncakeState struct {
	start time.Time
	s     jsonScan
	ids   []int64
	r     traces.Record
}

// mooncakeSeed is the hash the prefix chains of one Mooncake file start from.
func mooncakeSeed(path string) uint64 {
	base := filepath.Base(path)
	lower := strings.ToLower(base)
	for _, ext := range []string{".gz", ".zst", ".jsonl", ".ndjson"} {
		if strings.HasSuffix(lower, ext) {
			base, lower = base[:len(base)-len(ext)], lower[:len(lower)-len(ext)]
		}
	}
	return stringHash("mooncake:" + base)
}

func (m *mooncakeState) importFile(path string, sink Sink) error {
	rc, _, err := traces.OpenStream(path, nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	lr := traces.NewLineReader(rc, path)
	seed := mooncakeSeed(path)
	origin := path + ":"
	r := &m.r
	for {
		line, err := lr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		pos := traces.Pos{File: path, Line: lr.Line()}
		r.Reset()
		if e := m.parse(line, r); e != nil {
			e.Pos = pos
			if err := sink.Bad(e); err != nil {
				return err
			}
			continue
		}
		full := min(int(r.Input/mooncakeBlock), len(m.ids)) // len(m.ids) is 0 without hash_ids
		h := seed
		for _, id := range m.ids[:full] {
			h = chainHash(h, uint64(id))
			r.Prefix = append(r.Prefix, h)
		}
		r.Pos = pos
		r.Provider = "moonshot"
		r.Model = "mooncake-kimi"
		r.Origin = lineOrigin(origin, pos.Line)
		if err := sink.Record(r); err != nil {
			return err
		}
	}
}

// parse reads one line into r (Time, Input, Output) and m.ids, or returns the problem.
func (m *mooncakeState) parse(line []byte, r *traces.Record) *traces.Error {
	s := &m.s
	s.reset(line)
	m.ids = m.ids[:0]
	var ts, in, out int64
	var haveTS, haveIn, haveOut, haveIDs bool
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
				return s.syntaxError(string(key))
			}
			var e *traces.Error
			switch string(key) {
			case "timestamp":
				ts, haveTS, e = s.scaled("timestamp", int64(time.Millisecond), "bad timestamp")
			case "input_length":
				in, haveIn, e = s.tokens("input_length")
			case "output_length":
				out, haveOut, e = s.tokens("output_length")
			case "hash_ids":
				m.ids, haveIDs, e = s.intArray("hash_ids", m.ids[:0])
			default:
				if !s.skip(0) {
					return s.syntaxError(string(key))
				}
			}
			if e != nil {
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
	switch {
	case !haveTS:
		return &traces.Error{Field: "timestamp", Reason: "missing"}
	case !haveIn:
		return &traces.Error{Field: "input_length", Reason: "missing"}
	case !haveOut:
		return &traces.Error{Field: "output_length", Reason: "missing"}
	}
	if !haveIDs {
		m.ids = m.ids[:0]
	}
	if want := (in + mooncakeBlock - 1) / mooncakeBlock; haveIDs && int64(len(m.ids)) != want {
		return &traces.Error{Field: "hash_ids", Reason: "wrong length", Detail: strconv.Itoa(len(m.ids)) + " ids for " + strconv.FormatInt(in, 10) + " tokens, want " + strconv.FormatInt(want, 10)}
	}
	r.Time = m.start.Add(time.Duration(ts))
	r.SetInt(traces.FieldInput, in)
	r.SetInt(traces.FieldOutput, out)
	return nil
}

// The hashing and JSON scanning below are shared by the mooncake and weka importers.

// chainHash extends the prefix hash h by one block whose id is v.
func chainHash(h, v uint64) uint64 { return hash64.Combine(h, v) }

// stringHash hashes s with FNV-1a, then mixes.
func stringHash[S ~string | ~[]byte](s S) uint64 { return hash64.String(s) }

// maxJSONDepth bounds the nesting the scanner accepts.
const maxJSONDepth = 64

// jsonScan is a small JSON scanner over a byte slice: enough for the flat Mooncake lines and the
// WEKA documents. It tracks its offset for error messages, allocates nothing for numbers and
// strings without escapes, and recurses no deeper than maxJSONDepth.
type jsonScan struct {
	b   []byte
	i   int
	scr []byte // unescaped strings
	doc bool   // errors give byte offsets (a document), not columns (a line)
}

func (s *jsonScan) reset(b []byte) { s.b, s.i = b, 0 }

// ws skips white space.
func (s *jsonScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (s *jsonScan) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// eat consumes c if it comes next (after white space).
func (s *jsonScan) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// null consumes a null if one comes next.
func (s *jsonScan) null() bool {
	if s.peek() == 'n' && bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return true
	}
	return false
}

// syntaxError describes the byte at the scanner's offset: by column on a line, or by byte offset in
// a document (doc).
func (s *jsonScan) syntaxError(field string) *traces.Error {
	at := " at column " + strconv.Itoa(s.i+1)
	if s.doc {
		at = " at byte " + strconv.Itoa(s.i)
	}
	if s.i >= len(s.b) {
		return &traces.Error{Field: field, Reason: "malformed JSON", Detail: "unexpected end" + at}
	}
	c := s.b[s.i]
	d := "unexpected " + strconv.QuoteRune(rune(c))
	if c >= utf8.RuneSelf {
		d = "unexpected byte 0x" + strconv.FormatUint(uint64(c), 16)
	}
	return &traces.Error{Field: field, Reason: "malformed JSON", Detail: d + at}
}

// str parses a string and returns its unescaped bytes, valid until the next call.
func (s *jsonScan) str() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, false
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, true
		case c == '\\':
			return s.strSlow(start)
		case c < 0x20:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

func (s *jsonScan) strSlow(start int) ([]byte, bool) {
	s.scr = append(s.scr[:0], s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.scr, true
		case c < 0x20:
			return nil, false
		case c != '\\':
			s.scr = append(s.scr, c)
			s.i++
			continue
		}
		s.i++
		if s.i >= len(s.b) {
			return nil, false
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
			r, ok := s.hex4(s.i + 1)
			if !ok {
				return nil, false
			}
			s.i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if s.i+6 < len(s.b) && s.b[s.i+1] == '\\' && s.b[s.i+2] == 'u' {
					r2, ok = s.hex4(s.i + 3)
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
			return nil, false
		}
		s.i++
	}
	return nil, false
}

func (s *jsonScan) hex4(at int) (rune, bool) {
	if at+4 > len(s.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(s.b[at:at+4]), 16, 32)
	return rune(v), err == nil
}

// number consumes a JSON number and returns its text.
func (s *jsonScan) number() ([]byte, bool) {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		j := s.i
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
		return s.i - j
	}
	if n := digits(); n == 0 || (n > 1 && s.b[s.i-n] == '0') {
		return nil, false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return nil, false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return nil, false
		}
	}
	return s.b[start:s.i], true
}

// skip consumes any value.
func (s *jsonScan) skip(depth int) bool {
	switch c := s.peek(); {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{', c == '[':
		if depth >= maxJSONDepth {
			return false
		}
		s.i++
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		if s.eat(end) {
			return true
		}
		for {
			if c == '{' {
				if _, ok := s.str(); !ok || !s.eat(':') {
					return false
				}
			}
			if !s.skip(depth + 1) {
				return false
			}
			if s.eat(',') {
				continue
			}
			return s.eat(end)
		}
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
				s.i += len(lit)
				return true
			}
		}
		return false
	case c == '-' || (c >= '0' && c <= '9'):
		_, ok := s.number()
		return ok
	}
	return false
}

// jsonType names the JSON type of the value that comes next.
func (s *jsonScan) jsonType() string {
	switch c := s.peek(); {
	case c == '"':
		return "string"
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == 't' || c == 'f':
		return "boolean"
	case c == '-' || (c >= '0' && c <= '9'):
		return "number"
	}
	return "invalid JSON"
}

// wrongType returns the error for a value of the wrong type, after consuming it (or a syntax error
// if it cannot be).
func (s *jsonScan) wrongType(field, want string) *traces.Error {
	got := s.jsonType()
	if !s.skip(0) {
		return s.syntaxError(field)
	}
	return &traces.Error{Field: field, Reason: "wrong JSON type", Detail: "want " + want + ", got " + got}
}

// tokens parses a token count: a non-negative integer, or null (absent).
func (s *jsonScan) tokens(field string) (int64, bool, *traces.Error) {
	if s.null() {
		return 0, false, nil
	}
	if c := s.peek(); c != '-' && (c < '0' || c > '9') {
		return 0, false, s.wrongType(field, "number")
	}
	num, ok := s.number()
	if !ok {
		return 0, false, s.syntaxError(field)
	}
	v, reason := parseTokenCell(num)
	if reason != "" || bytes.IndexAny(num, ".eE") >= 0 {
		if reason == "" || reason == "missing" {
			reason = "not an integer"
		}
		return 0, false, &traces.Error{Field: field, Reason: reason, Detail: quoteDetail(num)}
	}
	return v, true, nil
}

// scaled parses a non-negative number of units into nanoseconds, or null (absent).
func (s *jsonScan) scaled(field string, unit int64, reason string) (int64, bool, *traces.Error) {
	if s.null() {
		return 0, false, nil
	}
	if c := s.peek(); c != '-' && (c < '0' || c > '9') {
		return 0, false, s.wrongType(field, "number")
	}
	num, ok := s.number()
	if !ok {
		return 0, false, s.syntaxError(field)
	}
	v, ok := parseScaled(num, unit)
	if !ok {
		return 0, false, &traces.Error{Field: field, Reason: reason, Detail: quoteDetail(num)}
	}
	return v, true, nil
}

// intArray parses an array of integers, appended to dst, or null (absent).
func (s *jsonScan) intArray(field string, dst []int64) ([]int64, bool, *traces.Error) {
	if s.null() {
		return dst, false, nil
	}
	if s.peek() != '[' {
		return dst, false, s.wrongType(field, "array of integers")
	}
	s.i++
	if s.eat(']') {
		return dst, true, nil
	}
	for {
		// The common case first: a short run of digits, not followed by a fraction or exponent.
		s.ws()
		j, v := s.i, int64(0)
		for j < len(s.b) && j-s.i < 18 && s.b[j] >= '0' && s.b[j] <= '9' {
			v = v*10 + int64(s.b[j]-'0')
			j++
		}
		if n := j - s.i; n > 0 && (n == 1 || s.b[s.i] != '0') && (j == len(s.b) || s.b[j] == ',' || s.b[j] == ']' || s.b[j] == ' ') {
			s.i = j
			dst = append(dst, v)
		} else if c := s.peek(); c == '-' || (c >= '0' && c <= '9') {
			num, ok := s.number()
			if !ok {
				return dst, false, s.syntaxError(field)
			}
			v, ok := parseIDNumber(num)
			if !ok {
				return dst, false, s.finishArray(field, &traces.Error{Field: field, Reason: "not an integer", Detail: quoteDetail(num)})
			}
			dst = append(dst, v)
		} else {
			got := s.jsonType()
			if !s.skip(1) {
				return dst, false, s.syntaxError(field)
			}
			return dst, false, s.finishArray(field, &traces.Error{Field: field, Reason: "wrong JSON type", Detail: "want array of integers, got " + got + " element"})
		}
		if s.eat(',') {
			continue
		}
		if s.eat(']') {
			return dst, true, nil
		}
		return dst, false, s.syntaxError(field)
	}
}

// finishArray consumes the rest of an array after a bad element, and returns e, or a syntax error.
func (s *jsonScan) finishArray(field string, e *traces.Error) *traces.Error {
	for {
		if s.eat(']') {
			return e
		}
		if !s.eat(',') || !s.skip(1) {
			return s.syntaxError(field)
		}
	}
}

// parseIDNumber parses an integer id, possibly negative.
func parseIDNumber(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}
