package importers

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/traces"
)

// LiteLLM imports LiteLLM proxy spend logs: the LiteLLM_SpendLogs table exported as CSV (psql's
// \copy ... CSV HEADER, or a spreadsheet), as a JSON array (the /spend/logs API, the admin UI's
// export) or as JSON lines. One row is one request through the proxy.
//
// Records carry: id (request_id), time (startTime), latency (endTime − startTime, or
// request_duration_ms), ttft (completionStartTime − startTime), tenant (api_key, which LiteLLM
// stores hashed), session (session_id), provider (custom_llm_provider), model (model, the
// provider's model name that was called; model_group when it is empty), output
// (completion_tokens), cache_read and cache_write_5m (cache_read_input_tokens and
// cache_creation_input_tokens, from their columns or from metadata.additional_usage_values), input
// (prompt_tokens minus those: LiteLLM's prompt_tokens counts cached tokens, OpenAI style),
// fingerprint (a hash of cache_key), cost_usd (spend), and error (status failure; status from
// metadata.error_information.error_code when it is an HTTP status). Timestamps without a zone are
// UTC.
//
// Rows with cache_hit True were answered from LiteLLM's own response cache: no model was called,
// so they are left out as "LiteLLM response-cache hit" (the replay's response cache measures such
// repeats itself, from the fingerprints of the calls that were made). Rows of other call types
// than completions (embeddings, images) are left out as "not a chat call".
type LiteLLM struct{}

func init() { Register(LiteLLM{}) }

// Kind implements Importer.
func (LiteLLM) Kind() string { return "litellm" }

// Describe implements Importer.
func (LiteLLM) Describe() string {
	return "LiteLLM proxy spend logs (LiteLLM_SpendLogs as CSV, JSON or JSON lines)"
}

// Sniff implements Importer: the spend log's own column names.
func (LiteLLM) Sniff(name string, head []byte) bool {
	n := 0
	for _, col := range []string{"request_id", "spend", "prompt_tokens", "completion_tokens", "startTime", "call_type"} {
		if bytes.Contains(head, []byte(col)) {
			n++
		}
	}
	return n >= 5
}

// Import implements Importer.
func (LiteLLM) Import(paths []string, opts Options, sink Sink) error {
	files, err := Files(paths, func(name string) bool { return hasExt(name, ".csv", ".json", ".jsonl", ".ndjson") })
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := importLiteLLMFile(f, sink); err != nil {
			return err
		}
	}
	return nil
}

// spendRow is one row of the spend log with the columns the importer reads, as text.
type spendRow map[string]string

func importLiteLLMFile(path string, sink Sink) error {
	rc, _, err := traces.OpenStream(path, nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 1<<16)
	// The first byte after white space and a byte order mark tells CSV from JSON.
	var first byte
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			if err != nil {
				return nil // an empty export: nothing to import
			}
			continue
		}
		if c := b[n-1]; c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != 0xEF && c != 0xBB && c != 0xBF {
			first = c
			break
		}
	}
	emit := func(row spendRow, pos traces.Pos) error { return litellmRow(row, pos, sink) }
	switch first {
	case '[':
		return litellmJSONArray(br, path, emit, sink)
	case '{':
		return litellmJSONLines(br, path, emit, sink)
	}
	return litellmCSV(br, path, emit, sink)
}

func litellmCSV(r io.Reader, path string, emit func(spendRow, traces.Pos) error, sink Sink) error {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.LazyQuotes = true
	header, err := cr.Read()
	if err != nil {
		return &traces.Error{Pos: traces.Pos{File: path, Line: 1}, Reason: "missing header row", Fatal: true, Err: err}
	}
	cols := append([]string(nil), header...)
	cols[0] = strings.TrimPrefix(cols[0], "\ufeff")
	cr.FieldsPerRecord = len(cols)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		line, _ := cr.FieldPos(0)
		pos := traces.Pos{File: path, Line: int64(line)}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				pos.Line = int64(pe.StartLine)
				if e := sink.Bad(&traces.Error{Pos: pos, Reason: "malformed CSV", Detail: pe.Err.Error()}); e != nil {
					return e
				}
				continue
			}
			return &traces.Error{Pos: pos, Reason: "read error", Detail: err.Error(), Fatal: true, Err: err}
		}
		row := make(spendRow, len(cols))
		for i, v := range rec {
			row[cols[i]] = v
		}
		if err := emit(row, pos); err != nil {
			return err
		}
	}
}

func litellmJSONArray(r io.Reader, path string, emit func(spendRow, traces.Pos) error, sink Sink) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // [
		return &traces.Error{Pos: traces.Pos{File: path}, Reason: "malformed JSON", Detail: err.Error(), Fatal: true}
	}
	for i := int64(0); dec.More(); i++ {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			return &traces.Error{Pos: traces.RowPos(path, i), Reason: "malformed JSON", Detail: err.Error(), Fatal: true}
		}
		if err := emit(jsonRow(obj), traces.RowPos(path, i)); err != nil {
			return err
		}
	}
	return nil
}

func litellmJSONLines(r io.Reader, path string, emit func(spendRow, traces.Pos) error, sink Sink) error {
	lr := traces.NewLineReader(r, path)
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
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if e := sink.Bad(&traces.Error{Pos: pos, Reason: "malformed JSON", Detail: err.Error()}); e != nil {
				return e
			}
			continue
		}
		if err := emit(jsonRow(obj), pos); err != nil {
			return err
		}
	}
}

// jsonRow turns a JSON object into text columns; nested objects (metadata) stay JSON text.
func jsonRow(obj map[string]any) spendRow {
	row := make(spendRow, len(obj))
	for k, v := range obj {
		switch v := v.(type) {
		case nil:
		case string:
			row[k] = v
		case json.Number:
			row[k] = v.String()
		case bool:
			row[k] = strconv.FormatBool(v)
		default:
			b, _ := json.Marshal(v)
			row[k] = string(b)
		}
	}
	return row
}

func litellmRow(row spendRow, pos traces.Pos, sink Sink) error {
	bad := func(field, reason, value string) error {
		return sink.Bad(&traces.Error{Pos: pos, Field: field, Reason: reason, Detail: strconv.Quote(value)})
	}
	if strings.EqualFold(row["cache_hit"], "true") {
		sink.Skip("LiteLLM response-cache hit", 1)
		return nil
	}
	switch ct := row["call_type"]; ct {
	case "", "completion", "acompletion", "text_completion", "atext_completion", "responses", "aresponses", "anthropic_messages", "generate_content", "agenerate_content":
	default:
		sink.Skip("not a chat call", 1)
		return nil
	}
	var r traces.Record
	r.Pos = pos
	r.Origin = pos.String()
	start, ok := spendTime(row["startTime"])
	if !ok {
		return bad("startTime", "bad timestamp", row["startTime"])
	}
	r.Time = start
	for _, s := range []string{"request_id", "api_key", "session_id", "custom_llm_provider", "model", "model_group"} {
		if !utf8.ValidString(row[s]) {
			return bad(s, "invalid UTF-8", row[s])
		}
	}
	r.ID, r.Tenant, r.Session, r.Provider = row["request_id"], row["api_key"], row["session_id"], row["custom_llm_provider"]
	r.Model = firstNonEmpty(row["model"], row["model_group"])
	if r.Model == "" {
		sink.Skip("no model", 1)
		return nil
	}
	ints := map[string]int64{}
	for _, c := range []string{"prompt_tokens", "completion_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "request_duration_ms"} {
		v := strings.TrimSpace(row[c])
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(v, ".0"), 10, 64)
		if err != nil {
			return bad(c, "not an integer", v)
		}
		ints[c] = n
	}
	meta := row["metadata"]
	if meta != "" && meta != "{}" {
		var m struct {
			Usage map[string]json.Number `json:"additional_usage_values"`
			Err   *struct {
				Code json.Number `json:"error_code"`
			} `json:"error_information"`
		}
		dec := json.NewDecoder(strings.NewReader(meta))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return bad("metadata", "malformed JSON", clip(meta))
		}
		for _, c := range []string{"cache_read_input_tokens", "cache_creation_input_tokens"} {
			if _, ok := ints[c]; ok {
				continue
			}
			if v, ok := m.Usage[c]; ok {
				n, err := v.Int64()
				if err != nil {
					return bad("metadata.additional_usage_values."+c, "not an integer", v.String())
				}
				ints[c] = n
			}
		}
		if m.Err != nil && m.Err.Code != "" {
			if code, err := m.Err.Code.Int64(); err == nil && code >= 100 && code <= 599 {
				r.SetInt(traces.FieldStatus, code)
			}
		}
	}
	prompt, hasPrompt := ints["prompt_tokens"]
	read, write := ints["cache_read_input_tokens"], ints["cache_creation_input_tokens"]
	if hasPrompt {
		r.SetInt(traces.FieldInput, max(0, prompt-read-write))
	}
	if _, ok := ints["cache_read_input_tokens"]; ok {
		r.SetInt(traces.FieldCacheRead, read)
	}
	if _, ok := ints["cache_creation_input_tokens"]; ok {
		r.SetInt(traces.FieldCacheWrite5m, write)
	}
	if v, ok := ints["completion_tokens"]; ok {
		r.SetInt(traces.FieldOutput, v)
	}
	if end, ok := spendTime(row["endTime"]); ok && !end.Before(start) {
		r.SetInt(traces.FieldLatency, int64(end.Sub(start)))
	} else if ms, ok := ints["request_duration_ms"]; ok {
		r.SetInt(traces.FieldLatency, ms*int64(time.Millisecond))
	}
	if first, ok := spendTime(row["completionStartTime"]); ok && !first.Before(start) {
		d := first.Sub(start)
		if !r.Has(traces.FieldLatency) || d <= r.Latency {
			r.SetInt(traces.FieldTTFT, int64(d))
		}
	}
	if s := strings.TrimSpace(row["spend"]); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) {
			return bad("spend", "bad number", s)
		}
		c, err := money.FromDollars(f)
		if err != nil {
			return bad("spend", "out of range", s)
		}
		r.SetInt(traces.FieldCost, int64(c))
	}
	if k := row["cache_key"]; k != "" {
		r.SetInt(traces.FieldFingerprint, int64(fnv64(k)))
	}
	if st := strings.ToLower(row["status"]); st == "failure" || st == "error" {
		r.Error = "failure"
	}
	return sink.Record(&r)
}

// clip returns the first line of s, cut to 60 bytes, for error messages.
func clip(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// spendTime parses the spend log's timestamps: RFC 3339, or "2006-01-02 15:04:05.999" without a
// zone (UTC), as Postgres and the UI export them.
func spendTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if t, ok := traces.ParseTime([]byte(s)); ok {
		return t, true
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999-07", "2006-01-02 15:04:05.999999999-07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// fnv64 hashes s (FNV-1a, 64 bits).
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
