package traces

import (
	"time"

	"github.com/tarsopt/tarsopt/money"
)

// Record is one model call as it happened: the canonical unit that importers produce, the generator
// writes, the simulator replays and the live proxy records.
//
// Only Time and Model are required. Every other field may be absent, and absent is not zero:
//   - strings, enums and Prefix are absent when they hold their zero value ("", 0, empty);
//   - numeric fields (tokens, durations, floats, Turn, Status, Fingerprint, Cost) are absent unless
//     their bit is set in the presence mask: use Has, and Set after assigning a value.
//
// Readers fill a Record in place and reuse its Prefix slice between calls; callers that keep a record
// past the next Read must Clone it.
type Record struct {
	// Time is when the call was sent, in UTC. Required.
	Time time.Time

	// Identity.
	ID      string // dedup key, unique within a trace when present
	Tenant  string // who pays: API key hash or workspace; caches never cross tenants
	Session string // conversation or task the call belongs to
	Agent   string // agent (or sub-agent) that made the call
	Parent  string // ID of the call that spawned this sub-agent call
	Turn    int    // 0-based turn within Session

	// What was asked.
	Provider    string        // "anthropic", "openai", ...
	Model       string        // model id as the source named it. Required.
	QueryType   QueryType     // kind of work, for per-type cache TTLs and reports
	Priority    Priority      // urgency of the call
	MaxDelay    time.Duration // how long the call may wait before it is sent; 0 means interactive
	ServiceTier ServiceTier   // tier the call was billed at
	Speed       Speed         // generation speed asked for (fast mode costs more)
	Temperature float64       // sampling temperature; 0 means deterministic

	// Tokens. The prompt is Input + CacheWrite5m + CacheWrite1h + CacheRead.
	Input        int64 // uncached input tokens
	CacheWrite5m int64 // input tokens written to the provider's prompt cache with a 5-minute TTL
	CacheWrite1h int64 // input tokens written to the prompt cache with a 1-hour TTL
	CacheRead    int64 // input tokens read from the prompt cache
	Output       int64 // output tokens, reasoning included
	Reasoning    int64 // reasoning ("thinking") tokens, a part of Output

	// Optional breakdown of the prompt by origin; when all three are present they add up to the prompt.
	SystemTokens  int64 // system prompt and tool definitions
	HistoryTokens int64 // earlier turns of the conversation
	NewTokens     int64 // what this turn adds

	// Request identity.
	Fingerprint uint64   // hash of the normalised request: equal means an identical request
	Prefix      []uint64 // prompt block hashes: Prefix[i] identifies the first (i+1)×BlockSize tokens
	Complexity  float64  // difficulty score, 0 (trivial) to 100 (hardest)

	// Outcome.
	Latency time.Duration // from send to last token
	TTFT    time.Duration // from send to first token
	Status  int           // HTTP status of the response (200 for success)
	Error   string        // error type when the call failed, such as "overloaded_error"
	Cost    money.Amount  // cost as the source recorded it (not as tarsopt prices it)

	// Origin is where the record came from before it entered this trace ("file:line" of a log),
	// kept on disk when an importer sets it.
	Origin string

	// Pos is where this record was read from. Readers set it; it is never written.
	Pos Pos

	present Fields
}

// Has reports whether field f is present in r. Time and Model are present when non-zero, strings,
// enums and Prefix when non-zero or non-empty, and numeric fields when their presence bit is set.
func (r *Record) Has(f Field) bool {
	if f >= numFields {
		return false
	}
	switch fieldInfo[f].Kind {
	case KindString:
		return r.stringField(f) != ""
	case KindEnum:
		return r.enumCode(f) != 0
	case KindTime:
		return !r.Time.IsZero()
	case KindHashList:
		return len(r.Prefix) > 0
	}
	return r.present&(1<<f) != 0
}

// Set marks the numeric field f as present; call it after assigning the field's value. It has no
// effect on fields whose presence follows from their value (strings, enums, Time, Prefix).
func (r *Record) Set(f Field) {
	if f < numFields && fieldInfo[f].masked() {
		r.present |= 1 << f
	}
}

// SetAll marks every numeric field in s as present, as Set does for each; it ignores the fields of
// s whose presence follows from their value. Decoders that fill records column by column use it to
// mark a record's fields at once.
func (r *Record) SetAll(s Fields) { r.present |= s & maskedFields }

// maskedFields holds the fields whose presence is a bit in Record.present.
var maskedFields = func() Fields {
	var s Fields
	for f := Field(0); f < numFields; f++ {
		if fieldInfo[f].masked() {
			s |= 1 << f
		}
	}
	return s
}()

// Unset marks field f as absent and zeroes its value.
func (r *Record) Unset(f Field) {
	if f >= numFields {
		return
	}
	r.present &^= 1 << f
	r.zero(f)
}

// Present returns the set of fields present in r.
func (r *Record) Present() Fields {
	var s Fields
	for f := Field(0); f < numFields; f++ {
		if r.Has(f) {
			s |= 1 << f
		}
	}
	return s
}

// Reset clears r to the zero Record, keeping the capacity of Prefix for reuse.
func (r *Record) Reset() {
	p := r.Prefix[:0]
	*r = Record{Prefix: p}
}

// Clone returns a deep copy of r that shares no memory with it.
func (r *Record) Clone() Record {
	c := *r
	if r.Prefix != nil {
		c.Prefix = append([]uint64(nil), r.Prefix...)
	}
	return c
}

// PromptTokens returns the prompt size: uncached input plus cache writes plus cache reads.
func (r *Record) PromptTokens() int64 {
	return r.Input + r.CacheWrite5m + r.CacheWrite1h + r.CacheRead
}

// TotalTokens returns prompt plus output tokens.
func (r *Record) TotalTokens() int64 { return r.PromptTokens() + r.Output }

// SetTokens is a convenience that assigns input and output tokens and marks both present.
func (r *Record) SetTokens(input, output int64) {
	r.Input, r.Output = input, output
	r.present |= 1<<FieldInput | 1<<FieldOutput
}

// Pos is a position in a trace file: a 1-based line in text formats, a 0-based row index in binary
// formats (made with RowPos), or just the file.
type Pos struct {
	File  string
	Line  int64 // 1-based line in text formats; 0 otherwise
	Row   int64 // 0-based row index in Arrow and Parquet files, when HasRow
	isRow bool
}

// RowPos returns the position of row index row (0-based) in the binary trace file.
func RowPos(file string, row int64) Pos { return Pos{File: file, Row: row, isRow: true} }

// HasRow reports whether p is a row index in a binary format.
func (p Pos) HasRow() bool { return p.isRow }

// String returns "file:line", "file: row N" or "file".
func (p Pos) String() string {
	b := make([]byte, 0, len(p.File)+24)
	return string(p.appendTo(b))
}

func (p Pos) appendTo(b []byte) []byte {
	b = append(b, p.File...)
	switch {
	case p.Line > 0:
		b = append(b, ':')
		return appendInt(b, p.Line)
	case p.isRow:
		b = append(b, ": row "...)
		return appendInt(b, p.Row)
	}
	return b
}

func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}
