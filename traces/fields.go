package traces

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tarsopt/tarsopt/internal/decimal"
	"github.com/tarsopt/tarsopt/money"
)

// Field names one field of a Record. Fields are numbered in canonical order: the order of keys in
// JSONL, of columns in CSV, Arrow and Parquet.
type Field uint8

// The fields of a Record, in canonical order.
const (
	FieldTime Field = iota
	FieldID
	FieldTenant
	FieldSession
	FieldAgent
	FieldParent
	FieldTurn
	FieldProvider
	FieldModel
	FieldQueryType
	FieldPriority
	FieldMaxDelay
	FieldServiceTier
	FieldSpeed
	FieldTemperature
	FieldInput
	FieldCacheWrite5m
	FieldCacheWrite1h
	FieldCacheRead
	FieldOutput
	FieldReasoning
	FieldSystemTokens
	FieldHistoryTokens
	FieldNewTokens
	FieldFingerprint
	FieldPrefix
	FieldComplexity
	FieldLatency
	FieldTTFT
	FieldStatus
	FieldError
	FieldCost
	FieldOrigin
	numFields
)

// NumFields is the number of fields in a Record.
const NumFields = int(numFields)

// Fields is a set of fields, one bit per Field.
type Fields uint64

// Has reports whether s contains f.
func (s Fields) Has(f Field) bool { return s&(1<<f) != 0 }

// Kind is the type of a field's value, which fixes its encoding in every format.
type Kind uint8

// Field kinds.
const (
	KindTime     Kind = iota + 1 // RFC 3339 timestamp, UTC; Arrow timestamp[ns, UTC]
	KindString                   // UTF-8 text
	KindInt                      // integer
	KindTokens                   // token count: integer in 0..MaxTokens
	KindDuration                 // seconds as an exact decimal (nanosecond resolution); Arrow duration[ns]
	KindFloat                    // finite float64
	KindEnum                     // one of a fixed set of names
	KindHash                     // 64-bit hash: 16 lowercase hex digits in text; uint64 in Arrow
	KindHashList                 // list of 64-bit hashes: JSON array of hex strings, space-separated in CSV
	KindMoney                    // US dollars as an exact decimal (nano-dollar resolution); Arrow decimal(18,9)
)

var kindNames = [...]string{"", "timestamp", "string", "integer", "tokens", "duration", "float", "enum", "hash", "hash list", "money"}

// String returns the name of k as docs/trace-format.md uses it.
func (k Kind) String() string { return kindNames[k] }

// MaxTokens is the largest token count a record may carry; larger counts are rejected as absurd.
const MaxTokens = 10_000_000

// FieldInfo describes one field: its name on disk, the kind of its value, its unit and its meaning.
type FieldInfo struct {
	Name   string   // snake_case name in JSONL, CSV, Arrow and Parquet
	Kind   Kind     // value type
	Unit   string   // unit of the value, "" when none
	Values []string // allowed values of an enum
	Doc    string   // one-line meaning
}

func (fi *FieldInfo) masked() bool {
	switch fi.Kind {
	case KindString, KindEnum, KindTime, KindHashList:
		return false
	}
	return true
}

var fieldInfo = [numFields]FieldInfo{
	FieldTime:          {"time", KindTime, "UTC", nil, "when the call was sent; required"},
	FieldID:            {"id", KindString, "", nil, "dedup key of the call, unique in a trace when present"},
	FieldTenant:        {"tenant", KindString, "", nil, "who pays (API key hash or workspace); caches never cross tenants"},
	FieldSession:       {"session", KindString, "", nil, "conversation or task the call belongs to"},
	FieldAgent:         {"agent", KindString, "", nil, "agent or sub-agent that made the call"},
	FieldParent:        {"parent", KindString, "", nil, "id of the call that spawned this sub-agent's work"},
	FieldTurn:          {"turn", KindInt, "", nil, "0-based turn of the call within its session"},
	FieldProvider:      {"provider", KindString, "", nil, "API provider, such as anthropic or openai"},
	FieldModel:         {"model", KindString, "", nil, "model id as the source named it; required"},
	FieldQueryType:     {"query_type", KindEnum, "", queryTypeNames[1:], "kind of work the call does"},
	FieldPriority:      {"priority", KindEnum, "", priorityNames[1:], "how urgent the call is"},
	FieldMaxDelay:      {"max_delay", KindDuration, "s", nil, "how long the call may wait before it is sent; 0 means interactive"},
	FieldServiceTier:   {"service_tier", KindEnum, "", tierNames[1:], "provider tier the call was billed at"},
	FieldSpeed:         {"speed", KindEnum, "", speedNames[1:], "generation speed the call asked for; fast mode is billed at a multiple"},
	FieldTemperature:   {"temperature", KindFloat, "", nil, "sampling temperature; 0 means a deterministic request"},
	FieldInput:         {"input", KindTokens, "tokens", nil, "uncached input tokens"},
	FieldCacheWrite5m:  {"cache_write_5m", KindTokens, "tokens", nil, "input tokens written to the prompt cache with a 5-minute TTL"},
	FieldCacheWrite1h:  {"cache_write_1h", KindTokens, "tokens", nil, "input tokens written to the prompt cache with a 1-hour TTL"},
	FieldCacheRead:     {"cache_read", KindTokens, "tokens", nil, "input tokens read from the prompt cache"},
	FieldOutput:        {"output", KindTokens, "tokens", nil, "output tokens, reasoning included"},
	FieldReasoning:     {"reasoning", KindTokens, "tokens", nil, "reasoning (thinking) tokens, a part of output"},
	FieldSystemTokens:  {"system_tokens", KindTokens, "tokens", nil, "prompt tokens from the system prompt and tool definitions"},
	FieldHistoryTokens: {"history_tokens", KindTokens, "tokens", nil, "prompt tokens from earlier turns of the conversation"},
	FieldNewTokens:     {"new_tokens", KindTokens, "tokens", nil, "prompt tokens this turn adds"},
	FieldFingerprint:   {"fingerprint", KindHash, "", nil, "hash of the normalised request: equal fingerprints mean identical requests"},
	FieldPrefix:        {"prefix", KindHashList, "blocks", nil, "prompt block hashes: prefix[i] identifies the first (i+1)×block_size prompt tokens"},
	FieldComplexity:    {"complexity", KindFloat, "0-100", nil, "difficulty score, 0 trivial to 100 hardest"},
	FieldLatency:       {"latency", KindDuration, "s", nil, "time from sending the call to its last token"},
	FieldTTFT:          {"ttft", KindDuration, "s", nil, "time from sending the call to its first token"},
	FieldStatus:        {"status", KindInt, "", nil, "HTTP status of the response (200 for success)"},
	FieldError:         {"error", KindString, "", nil, "error type when the call failed, such as overloaded_error"},
	FieldCost:          {"cost_usd", KindMoney, "USD", nil, "cost as the source recorded it, not as tarsopt prices it"},
	FieldOrigin:        {"origin", KindString, "", nil, "where the record came from before this trace, such as a log's file:line"},
}

// Info returns the description of f. It panics if f is not a valid field.
func (f Field) Info() FieldInfo { return fieldInfo[f] }

// String returns the on-disk name of f.
func (f Field) String() string {
	if f < numFields {
		return fieldInfo[f].Name
	}
	return "invalid"
}

// AllFields lists every field in canonical order.
func AllFields() []Field {
	fs := make([]Field, numFields)
	for i := range fs {
		fs[i] = Field(i)
	}
	return fs
}

var fieldByName = func() map[string]Field {
	m := make(map[string]Field, numFields)
	for f := Field(0); f < numFields; f++ {
		m[fieldInfo[f].Name] = f
	}
	return m
}()

// FieldByName returns the field with on-disk name s.
func FieldByName(s string) (Field, bool) {
	f, ok := fieldByName[s]
	return f, ok
}

func (r *Record) stringField(f Field) string {
	switch f {
	case FieldID:
		return r.ID
	case FieldTenant:
		return r.Tenant
	case FieldSession:
		return r.Session
	case FieldAgent:
		return r.Agent
	case FieldParent:
		return r.Parent
	case FieldProvider:
		return r.Provider
	case FieldModel:
		return r.Model
	case FieldError:
		return r.Error
	case FieldOrigin:
		return r.Origin
	}
	panic("traces: not a string field: " + f.String())
}

// SetString assigns the string field f. It panics if f is not a string field.
func (r *Record) SetString(f Field, s string) {
	switch f {
	case FieldID:
		r.ID = s
	case FieldTenant:
		r.Tenant = s
	case FieldSession:
		r.Session = s
	case FieldAgent:
		r.Agent = s
	case FieldParent:
		r.Parent = s
	case FieldProvider:
		r.Provider = s
	case FieldModel:
		r.Model = s
	case FieldError:
		r.Error = s
	case FieldOrigin:
		r.Origin = s
	default:
		panic("traces: not a string field: " + f.String())
	}
}

// enumPtr returns the address of enum field f as its uint8 code.
func (r *Record) enumPtr(f Field) *uint8 {
	switch f {
	case FieldQueryType:
		return (*uint8)(&r.QueryType)
	case FieldPriority:
		return (*uint8)(&r.Priority)
	case FieldServiceTier:
		return (*uint8)(&r.ServiceTier)
	case FieldSpeed:
		return (*uint8)(&r.Speed)
	}
	panic("traces: not an enum field: " + f.String())
}

func (r *Record) enumCode(f Field) uint8 { return *r.enumPtr(f) }

// EnumCode returns the code of enum field f in r (0 when absent). It panics if f is not an enum.
func (r *Record) EnumCode(f Field) uint8 { return *r.enumPtr(f) }

// SetEnumCode sets enum field f of r to code (0 makes it absent), as ParseEnum returns it. It
// panics if f is not an enum field.
func (r *Record) SetEnumCode(f Field, code uint8) { *r.enumPtr(f) = code }

// ParseEnum returns the code of the enum value named s for field f, or 0 when s names none (or f
// is not an enum).
func ParseEnum[S ~string | ~[]byte](f Field, s S) uint8 {
	if f >= numFields {
		return 0
	}
	for i, v := range fieldInfo[f].Values {
		if string(s) == v {
			return uint8(i + 1)
		}
	}
	return 0
}

// EnumName returns the name of code for enum field f, or "" for 0 and unknown codes.
func EnumName(f Field, code uint8) string {
	if f >= numFields || code == 0 || int(code) > len(fieldInfo[f].Values) {
		return ""
	}
	return fieldInfo[f].Values[code-1]
}

// tokenPtr returns the address of a KindTokens or KindInt field held as int64.
func (r *Record) tokenPtr(f Field) *int64 {
	switch f {
	case FieldInput:
		return &r.Input
	case FieldCacheWrite5m:
		return &r.CacheWrite5m
	case FieldCacheWrite1h:
		return &r.CacheWrite1h
	case FieldCacheRead:
		return &r.CacheRead
	case FieldOutput:
		return &r.Output
	case FieldReasoning:
		return &r.Reasoning
	case FieldSystemTokens:
		return &r.SystemTokens
	case FieldHistoryTokens:
		return &r.HistoryTokens
	case FieldNewTokens:
		return &r.NewTokens
	}
	return nil
}

func (r *Record) durationPtr(f Field) *time.Duration {
	switch f {
	case FieldMaxDelay:
		return &r.MaxDelay
	case FieldLatency:
		return &r.Latency
	case FieldTTFT:
		return &r.TTFT
	}
	return nil
}

func (r *Record) floatPtr(f Field) *float64 {
	switch f {
	case FieldTemperature:
		return &r.Temperature
	case FieldComplexity:
		return &r.Complexity
	}
	return nil
}

// Int returns the value of an integer-valued field (tokens, Turn, Status, Fingerprint as int64 bits,
// durations in nanoseconds, Cost in nano-dollars) and whether it is present. Float, string, enum and
// list fields return (0, false).
func (r *Record) Int(f Field) (int64, bool) {
	if !r.Has(f) {
		return 0, false
	}
	if p := r.tokenPtr(f); p != nil {
		return *p, true
	}
	if p := r.durationPtr(f); p != nil {
		return int64(*p), true
	}
	switch f {
	case FieldTurn:
		return int64(r.Turn), true
	case FieldStatus:
		return int64(r.Status), true
	case FieldFingerprint:
		return int64(r.Fingerprint), true
	case FieldCost:
		return int64(r.Cost), true
	}
	return 0, false
}

// SetInt assigns an integer-valued field (see Int for units) and marks it present. It panics for
// fields that are not integer-valued.
func (r *Record) SetInt(f Field, v int64) {
	switch {
	case r.tokenPtr(f) != nil:
		*r.tokenPtr(f) = v
	case r.durationPtr(f) != nil:
		*r.durationPtr(f) = time.Duration(v)
	case f == FieldTurn:
		r.Turn = int(v)
	case f == FieldStatus:
		r.Status = int(v)
	case f == FieldFingerprint:
		r.Fingerprint = uint64(v)
	case f == FieldCost:
		r.Cost = money.Amount(v)
	default:
		panic("traces: not an integer field: " + f.String())
	}
	r.present |= 1 << f
}

// Float returns the value of a float field and whether it is present.
func (r *Record) Float(f Field) (float64, bool) {
	p := r.floatPtr(f)
	if p == nil || !r.Has(f) {
		return 0, false
	}
	return *p, true
}

// SetFloat assigns a float field and marks it present. It panics for other fields.
func (r *Record) SetFloat(f Field, v float64) {
	p := r.floatPtr(f)
	if p == nil {
		panic("traces: not a float field: " + f.String())
	}
	*p = v
	r.present |= 1 << f
}

func (r *Record) zero(f Field) {
	switch fieldInfo[f].Kind {
	case KindTime:
		r.Time = time.Time{}
	case KindString:
		r.SetString(f, "")
	case KindEnum:
		*r.enumPtr(f) = 0
	case KindHashList:
		r.Prefix = r.Prefix[:0]
	case KindFloat:
		*r.floatPtr(f) = 0
	default:
		r.SetInt(f, 0)
		r.present &^= 1 << f
	}
}

// AppendText appends the text form of field f of r (as CSV writes it; see Kind) to b. Absent fields
// append nothing.
func (r *Record) AppendText(b []byte, f Field) []byte {
	if !r.Has(f) {
		return b
	}
	switch fieldInfo[f].Kind {
	case KindTime:
		return appendTime(b, r.Time)
	case KindString:
		return append(b, r.stringField(f)...)
	case KindEnum:
		return append(b, EnumName(f, *r.enumPtr(f))...)
	case KindHashList:
		for i, h := range r.Prefix {
			if i > 0 {
				b = append(b, ' ')
			}
			b = appendHash(b, h)
		}
		return b
	case KindHash:
		return appendHash(b, r.Fingerprint)
	case KindFloat:
		return strconv.AppendFloat(b, *r.floatPtr(f), 'g', -1, 64)
	case KindDuration:
		return decimal.Append(b, int64(*r.durationPtr(f)), 9, true)
	case KindMoney:
		return r.Cost.AppendDecimal(b)
	}
	v, _ := r.Int(f)
	return strconv.AppendInt(b, v, 10)
}

// valueError is a problem with one value: a fixed reason (for counting) and the offending detail.
type valueError struct {
	reason, detail string
}

func badValue(reason string, v []byte) *valueError {
	const max = 40
	d := string(v)
	if len(v) > max {
		d = string(v[:max]) + "…"
	}
	return &valueError{reason, strconv.Quote(d)}
}

// setText parses the text form of field f from s and assigns it. String fields take s as is (the
// caller owns the conversion, so that decoders can intern). An empty s leaves the field absent.
func (r *Record) setText(f Field, s []byte) *valueError {
	if len(s) == 0 {
		return nil
	}
	switch fieldInfo[f].Kind {
	case KindTime:
		t, ok := parseTime(s)
		if !ok {
			return badValue("bad timestamp", s)
		}
		r.Time = t
		return nil
	case KindString:
		if !utf8.Valid(s) {
			return badValue("invalid UTF-8", s)
		}
		r.SetString(f, string(s))
		return nil
	case KindEnum:
		return r.setEnum(f, s)
	case KindHash:
		h, ok := parseHash(s)
		if !ok {
			return badValue("bad hash", s)
		}
		r.Fingerprint = h
	case KindHashList:
		r.Prefix = r.Prefix[:0]
		for len(s) > 0 {
			i := 0
			for i < len(s) && s[i] != ' ' {
				i++
			}
			if i > 0 {
				h, ok := parseHash(s[:i])
				if !ok {
					return badValue("bad hash", s[:i])
				}
				r.Prefix = append(r.Prefix, h)
			}
			if i < len(s) {
				i++
			}
			s = s[i:]
		}
		return nil
	case KindFloat:
		v, err := strconv.ParseFloat(string(s), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return badValue("bad number", s)
		}
		*r.floatPtr(f) = v
	case KindDuration:
		v, err := decimal.Parse(s, 9)
		if err != nil {
			return badValue("bad duration", s)
		}
		*r.durationPtr(f) = time.Duration(v)
	case KindMoney:
		v, err := decimal.Parse(s, 9)
		if err != nil {
			return badValue("bad amount", s)
		}
		r.Cost = money.Amount(v)
	default: // KindInt, KindTokens
		v, ok := parseInt(s)
		if !ok {
			return badValue("not an integer", s)
		}
		if p := r.tokenPtr(f); p != nil {
			*p = v
		} else if f == FieldTurn {
			r.Turn = int(v)
		} else {
			r.Status = int(v)
		}
	}
	r.present |= 1 << f
	return nil
}

func (r *Record) setEnum(f Field, s []byte) *valueError {
	code := ParseEnum(f, s)
	if code == 0 {
		return badValue("unknown value", s)
	}
	*r.enumPtr(f) = code
	return nil
}

// parseInt parses a decimal integer without allocating; it accepts a JSON-style integer with an
// optional sign and rejects fractions, exponents and overflow.
func parseInt(s []byte) (int64, bool) {
	if len(s) == 0 {
		return 0, false
	}
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
		if len(s) == 0 {
			return 0, false
		}
	}
	if len(s) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -int64(v), true
	}
	return int64(v), true
}

const hexDigits = "0123456789abcdef"

func appendHash(b []byte, h uint64) []byte {
	var d [16]byte
	for i := 15; i >= 0; i-- {
		d[i] = hexDigits[h&15]
		h >>= 4
	}
	return append(b, d[:]...)
}

// hexVal maps a byte to its hex digit value, or 0xFF for a byte that is not a hex digit.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
		t[c-'a'+'A'] = byte(c-'a') + 10
	}
	return t
}()

// parseHash parses 1 to 16 hex digits (either case).
func parseHash(s []byte) (uint64, bool) {
	if len(s) == 0 || len(s) > 16 {
		return 0, false
	}
	var h uint64
	var bad byte
	for _, c := range s {
		v := hexVal[c]
		bad |= v
		h = h<<4 | uint64(v&0xF)
	}
	return h, bad&0xF0 == 0
}
