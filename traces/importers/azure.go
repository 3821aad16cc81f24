package importers

import (
	"bytes"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tarsopt/tarsopt/traces"
)

// azureImporter reads the Azure LLM inference traces of GitHub Azure/AzurePublicDataset: the 2023
// traces (Splitwise, AzureLLMInferenceTrace_code.csv and _conv.csv, one hour each) and the 2024
// week-long traces (DynamoLLM, AzureLLMInferenceTrace_code_1week.csv and _conv_1week.csv), which
// share one CSV schema. Every data row is a model call:
//
//	TIMESTAMP        → Time, as recorded. 2023: "2023-11-16 18:17:03.9799600" (no zone: UTC);
//	                   2024: "2024-05-10 00:00:00.009930+00:00" or "...00:00:00+00:00"; ISO 8601 with
//	                   'T' and "Z" is accepted too. Up to nine fractional digits are kept.
//	ContextTokens    → Input (the whole prompt, taken as uncached: the trace says nothing of caching)
//	GeneratedTokens  → Output
//	NumImages        → nothing (the column of the 2025 multimodal trace is accepted and ignored)
//	(file name)      → Model, a placeholder: the traces name no model. A base name containing "code"
//	                   gives "azure-llm-code", "conv" gives "azure-llm-conversation", "multimodal"
//	                   gives "azure-lmm-multimodal", anything else "azure-llm". No price book knows these
//	                   names: costing an Azure import needs --unknown-model=zero (or a mapping).
//	(constant)       → Provider "azure"
//	(file:line)      → Origin, such as "AzureLLMInferenceTrace_code.csv:17"
//
// Absent, because the traces do not have them: ID, Tenant, Session, Agent, Parent, Turn, QueryType,
// every cache field, Fingerprint, Prefix, Latency, TTFT, Status (the traces list served requests, but
// do not say so), Error, Cost. Columns are found by their header names, in any order; a file whose
// header is not this schema is a fatal error. Blank lines are ignored.
type azureImporter struct{}

func init() { Register(azureImporter{}) }

func (azureImporter) Kind() string { return "azure" }

func (azureImporter) Describe() string {
	return "Azure LLM inference traces (Azure/AzurePublicDataset 2023 and 2024 CSV: arrival time, context and generated tokens)"
}

// azureCols holds the column index of each field of an Azure trace, -1 when absent.
type azureCols struct {
	time, input, output, n int
}

// azureHeader maps a header row to column indexes; ok is false unless the row names exactly the
// columns of the schema (NumImages allowed).
func azureHeader(line []byte, cells [][]byte) (azureCols, bool) {
	c := azureCols{-1, -1, -1, 0}
	cells = splitCSVRow(line, cells[:0])
	c.n = len(cells)
	for i, cell := range cells {
		var p *int
		switch {
		case equalFoldBytes(cell, "TIMESTAMP"):
			p = &c.time
		case equalFoldBytes(cell, "ContextTokens"):
			p = &c.input
		case equalFoldBytes(cell, "GeneratedTokens"):
			p = &c.output
		case equalFoldBytes(cell, "NumImages"):
			continue
		default:
			return c, false
		}
		if *p >= 0 {
			return c, false
		}
		*p = i
	}
	return c, c.time >= 0 && c.input >= 0 && c.output >= 0
}

// Sniff accepts a file whose first line is the Azure header.
func (azureImporter) Sniff(name string, head []byte) bool {
	_, ok := azureHeader(bytes.Clone(firstLine(head)), nil) // a copy: splitCSVRow may unquote in place
	return ok
}

// azureModel returns the placeholder model for a trace file, from its base name.
func azureModel(path string) string {
	base := strings.ToLower(filepath.Base(path))
	switch {
	case strings.Contains(base, "multimodal"):
		return "azure-lmm-multimodal"
	case strings.Contains(base, "code"):
		return "azure-llm-code"
	case strings.Contains(base, "conv"):
		return "azure-llm-conversation"
	}
	return "azure-llm"
}

func (azureImporter) Import(paths []string, opts Options, sink Sink) error {
	files, err := Files(paths, func(p string) bool { return hasExt(p, ".csv") })
	if err != nil {
		return err
	}
	var r traces.Record
	var cells [][]byte
	for _, path := range files {
		if err := importAzureFile(path, &r, &cells, sink); err != nil {
			return err
		}
	}
	return nil
}

func importAzureFile(path string, r *traces.Record, cells *[][]byte, sink Sink) error {
	rc, _, err := traces.OpenStream(path, nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	lr := traces.NewLineReader(rc, path)
	line, err := nextNonBlank(lr)
	if err == io.EOF {
		return &traces.Error{Pos: traces.Pos{File: path}, Reason: "no header", Detail: "want TIMESTAMP,ContextTokens,GeneratedTokens", Fatal: true}
	}
	if err != nil {
		return err
	}
	cols, ok := azureHeader(line, *cells)
	if !ok {
		return &traces.Error{Pos: traces.Pos{File: path, Line: lr.Line()}, Reason: "not an Azure LLM trace header", Detail: quoteDetail(line) + ", want TIMESTAMP,ContextTokens,GeneratedTokens", Fatal: true}
	}
	model := azureModel(path)
	origin := path + ":"
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
		*cells = splitCSVRow(line, (*cells)[:0])
		row := *cells
		if len(row) != cols.n {
			if err := badRow(sink, pos, "", "wrong number of columns", strconv.Itoa(len(row))+", want "+strconv.Itoa(cols.n)); err != nil {
				return err
			}
			continue
		}
		t, ok := parseAzureTime(row[cols.time])
		if !ok {
			if err := badRow(sink, pos, "TIMESTAMP", "bad timestamp", quoteDetail(row[cols.time])); err != nil {
				return err
			}
			continue
		}
		in, reason := parseTokenCell(row[cols.input])
		if reason != "" {
			if err := badRow(sink, pos, "ContextTokens", reason, quoteDetail(row[cols.input])); err != nil {
				return err
			}
			continue
		}
		out, reason := parseTokenCell(row[cols.output])
		if reason != "" {
			if err := badRow(sink, pos, "GeneratedTokens", reason, quoteDetail(row[cols.output])); err != nil {
				return err
			}
			continue
		}
		r.Reset()
		r.Pos = pos
		r.Time = t
		r.Provider = "azure"
		r.Model = model
		r.SetInt(traces.FieldInput, in)
		r.SetInt(traces.FieldOutput, out)
		r.Origin = lineOrigin(origin, pos.Line)
		if err := sink.Record(r); err != nil {
			return err
		}
	}
}

// parseAzureTime parses "YYYY-MM-DD HH:MM:SS[.fraction][zone]", with 'T' for the space accepted,
// up to nine fractional digits kept (more are dropped), and the zone "Z", "+hh:mm", "-hh:mm",
// "+hhmm" or "+hh"; without a zone the time is UTC. It does not allocate.
func parseAzureTime(s []byte) (time.Time, bool) {
	s = bytes.TrimSpace(s)
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := fixedDigits(s[0:4])
	month, ok2 := fixedDigits(s[5:7])
	day, ok3 := fixedDigits(s[8:10])
	hour, ok4 := fixedDigits(s[11:13])
	minute, ok5 := fixedDigits(s[14:16])
	sec, ok6 := fixedDigits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	rest := s[19:]
	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		scale := 100_000_000
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			nsec += int(rest[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == 1 {
			return time.Time{}, false
		}
		rest = rest[i:]
	}
	offset := 0
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case rest[0] == '+' || rest[0] == '-':
		z := rest[1:]
		var hh, mm int
		var ok bool
		switch {
		case len(z) == 2:
			hh, ok = fixedDigits(z)
		case len(z) == 4:
			hh, ok = fixedDigits(z[:2])
			if ok {
				mm, ok = fixedDigits(z[2:])
			}
		case len(z) == 5 && z[2] == ':':
			hh, ok = fixedDigits(z[:2])
			if ok {
				mm, ok = fixedDigits(z[3:])
			}
		}
		if !ok || hh > 23 || mm > 59 {
			return time.Time{}, false
		}
		offset = hh*3600 + mm*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if offset != 0 {
		t = t.Add(-time.Duration(offset) * time.Second)
	}
	return t, true
}

func fixedDigits(s []byte) (int, bool) {
	v := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func daysInMonth(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// The helpers below are shared by the importers of the public traces (azure, burstgpt, mooncake,
// weka).

// badRow hands a bad row to sink and returns what the sink returns.
func badRow(sink Sink, pos traces.Pos, field, reason, detail string) error {
	if err := sink.Bad(&traces.Error{Pos: pos, Field: field, Reason: reason, Detail: detail}); err != nil {
		return err
	}
	return nil
}

// lineOrigin returns prefix followed by line, in one allocation.
func lineOrigin(prefix string, line int64) string {
	var buf [20]byte
	return prefix + string(strconv.AppendInt(buf[:0], line, 10))
}

// quoteDetail quotes a value for an error's detail, cut to 40 bytes; an empty value gives "".
func quoteDetail(b []byte) string {
	const max = 40
	if len(b) == 0 {
		return ""
	}
	if len(b) > max {
		return strconv.Quote(string(b[:max]) + "…")
	}
	return strconv.Quote(string(b))
}

// firstLine returns the first non-blank line of head, without its line end and a UTF-8 byte order
// mark.
func firstLine(head []byte) []byte {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	for len(head) > 0 {
		line, rest, _ := bytes.Cut(head, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(bytes.TrimSpace(line)) > 0 {
			return line
		}
		head = rest
	}
	return nil
}

// nextNonBlank returns the next line of lr that is not blank.
func nextNonBlank(lr *traces.LineReader) ([]byte, error) {
	for {
		line, err := lr.Next()
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(line)) > 0 {
			return line, nil
		}
	}
}

// equalFoldBytes reports whether b equals s, ignoring ASCII case.
func equalFoldBytes(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if lx := x | 0x20; lx != y|0x20 || lx < 'a' || lx > 'z' {
			return false
		}
	}
	return true
}

// splitCSVRow splits one CSV line into its cells, appended to dst, with the spaces around each cell
// removed. A cell in double quotes may hold commas and doubled quotes, which are undone in place
// (line is modified); a quoted cell cannot span lines. Without quotes it does not allocate beyond
// growing dst.
func splitCSVRow(line []byte, dst [][]byte) [][]byte {
	if bytes.IndexByte(line, '"') < 0 {
		for {
			i := bytes.IndexByte(line, ',')
			if i < 0 {
				return append(dst, bytes.TrimSpace(line))
			}
			dst = append(dst, bytes.TrimSpace(line[:i]))
			line = line[i+1:]
		}
	}
	for {
		line = bytes.TrimLeft(line, " \t")
		if len(line) > 0 && line[0] == '"' {
			// Undo doubled quotes by moving the cell's bytes left in place.
			w, i := 1, 1
			for i < len(line) {
				if line[i] == '"' {
					if i+1 < len(line) && line[i+1] == '"' {
						line[w] = '"'
						w, i = w+1, i+2
						continue
					}
					break
				}
				line[w] = line[i]
				w, i = w+1, i+1
			}
			dst = append(dst, line[1:w])
			if i < len(line) {
				i++ // the closing quote
			}
			rest := line[i:]
			j := bytes.IndexByte(rest, ',')
			if j < 0 {
				return dst
			}
			line = rest[j+1:]
			continue
		}
		i := bytes.IndexByte(line, ',')
		if i < 0 {
			return append(dst, bytes.TrimSpace(line))
		}
		dst = append(dst, bytes.TrimSpace(line[:i]))
		line = line[i+1:]
	}
}

// parseTokenCell parses a token count: a non-negative integer, where "12.0" counts as 12 (some CSV
// writers put integers as floats). reason is "" on success, else "missing", "negative token count"
// or "not an integer".
func parseTokenCell(b []byte) (int64, string) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0, "missing"
	}
	neg := b[0] == '-'
	if neg || b[0] == '+' {
		b = b[1:]
	}
	if i := bytes.IndexByte(b, '.'); i >= 0 {
		frac := b[i+1:]
		for _, c := range frac {
			if c != '0' {
				return 0, "not an integer"
			}
		}
		b = b[:i]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, "not an integer"
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, "not an integer"
		}
		v = v*10 + int64(c-'0')
	}
	if neg && v != 0 {
		return 0, "negative token count"
	}
	return v, ""
}

// parseScaled parses a non-negative decimal number of units into nanoseconds; unit is 1e9 for
// seconds, 1e6 for milliseconds. Digits finer than a nanosecond are dropped; an exponent ("1e-05")
// goes through strconv.ParseFloat and is rounded to the nanosecond. It reports false for anything
// else: a sign, a value over about 292 years, an empty string.
func parseScaled(b []byte, unit int64) (int64, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0, false
	}
	limit := math.MaxInt64/unit - 1
	var ip int64
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		ip = ip*10 + int64(b[i]-'0')
		if ip > limit {
			return 0, false
		}
		i++
	}
	if i == 0 {
		return 0, false
	}
	ns := ip * unit
	if i < len(b) && b[i] == '.' {
		i++
		scale := unit / 10
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			ns += int64(b[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == j {
			return 0, false
		}
	}
	if i == len(b) {
		return ns, true
	}
	if b[i] != 'e' && b[i] != 'E' {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || !(f >= 0) || f*float64(unit) >= math.MaxInt64/2 {
		return 0, false
	}
	return int64(math.Round(f * float64(unit))), true
}
