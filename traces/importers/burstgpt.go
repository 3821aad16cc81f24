package importers

import (
	"bytes"
	"io"
	"strconv"
	"time"

	"github.com/tarsopt/tarsopt/traces"
)

// burstGPTImporter reads BurstGPT (GitHub HPMLL/BurstGPT, Wang et al., KDD'25): Azure OpenAI
// ChatGPT and GPT-4 usage. Two CSV schemas, told apart by the header (columns are found by name, in
// any order):
//
//	BurstGPT_1, _2:  Timestamp, Model, Request tokens, Response tokens, Total tokens, Log Type
//	BurstGPT_3:      Timestamp, Session ID, Elapsed time, Model, Request tokens, Response tokens,
//	                 Total tokens, Log Type
//
// Every data row is a model call:
//
//	Timestamp        → Time = Options.Start (DefaultStart unless set) + Timestamp seconds. The trace
//	                   counts seconds from 0:00 of its first day, in a time zone it does not name; its
//	                   offset is kept as is, so BurstGPT_3, which starts at second 19,440,110, starts
//	                   225 days after Options.Start.
//	Model            → Model: "ChatGPT" → "gpt-3.5-turbo", "GPT-4" → "gpt-4" (the trace's names for
//	                   the two models it serves; the dated version is unknown); any other name is kept
//	                   as written. Provider is "openai".
//	Request tokens   → Input (the whole prompt, taken as uncached: the trace says nothing of caching)
//	Response tokens  → Output
//	Total tokens     → checked: a row where Total ≠ Request + Response is a bad row ("Total tokens:
//	                   does not add up"); not kept
//	Log Type         → QueryType chat for "Conversation log" (the ChatGPT-style UI); absent for
//	                   "API log"; any other value is a bad row
//	Session ID       → Session (BurstGPT_3; empty on API-log rows, which then have no session), and
//	                   Turn = 0, 1, 2, ... over the session's rows in file order (across the files of
//	                   one import)
//	Elapsed time     → Latency (BurstGPT_3: seconds from submission to the complete response)
//	(file:line)      → Origin
//
// A row with 0 response tokens is a failed request (the trace's "*_without_fails_*" files drop
// them): it keeps Output 0, gets Error "no_response" (Status stays absent: the HTTP status is
// unknown) and, since a failed call is billed nothing, Input 0, with the request's size kept in
// NewTokens (= Request tokens). Whether such calls were in fact billed is unknown.
//
// Absent, because the trace does not have them: ID, Tenant, Agent, Parent, every cache field,
// SystemTokens, HistoryTokens (NewTokens only on failures), Fingerprint, Prefix, TTFT, Status,
// Cost.
//
// Memory: turn numbering keeps one counter per session seen (about 40 bytes each, keyed by a 64-bit
// hash of the session id); everything else streams.
type burstGPTImporter struct{}

func init() { Register(burstGPTImporter{}) }

func (burstGPTImporter) Kind() string { return "burstgpt" }

func (burstGPTImporter) Describe() string {
	return "BurstGPT Azure OpenAI usage traces (HPMLL/BurstGPT CSV, 6-column and 8-column BurstGPT_3)"
}

// burstCols holds the column index of each field of a BurstGPT trace, -1 when absent.
type burstCols struct {
	ts, session, elapsed, model, req, resp, total, logType, n int
}

// burstHeader maps a header row to column indexes; ok is false unless every column is one of the
// schema's and Timestamp, Model, Request tokens and Response tokens are there.
func burstHeader(line []byte, cells [][]byte) (burstCols, bool) {
	c := burstCols{-1, -1, -1, -1, -1, -1, -1, -1, 0}
	cells = splitCSVRow(line, cells[:0])
	c.n = len(cells)
	for i, cell := range cells {
		var p *int
		switch {
		case equalFoldBytes(cell, "Timestamp"):
			p = &c.ts
		case equalFoldBytes(cell, "Session ID"):
			p = &c.session
		case equalFoldBytes(cell, "Elapsed time"):
			p = &c.elapsed
		case equalFoldBytes(cell, "Model"):
			p = &c.model
		case equalFoldBytes(cell, "Request tokens"):
			p = &c.req
		case equalFoldBytes(cell, "Response tokens"):
			p = &c.resp
		case equalFoldBytes(cell, "Total tokens"):
			p = &c.total
		case equalFoldBytes(cell, "Log Type"):
			p = &c.logType
		default:
			return c, false
		}
		if *p >= 0 {
			return c, false
		}
		*p = i
	}
	return c, c.ts >= 0 && c.model >= 0 && c.req >= 0 && c.resp >= 0
}

// Sniff accepts a file whose first line is a BurstGPT header.
func (burstGPTImporter) Sniff(name string, head []byte) bool {
	_, ok := burstHeader(bytes.Clone(firstLine(head)), nil) // a copy: splitCSVRow may unquote in place
	return ok
}

// burstState is what an import carries from row to row and file to file.
type burstState struct {
	start  time.Time
	turns  map[uint64]int32 // next turn of each session, by stringHash of its id
	models map[string]string
	cells  [][]byte
	r      traces.Record
}

func (burstGPTImporter) Import(paths []string, opts Options, sink Sink) error {
	files, err := Files(paths, func(p string) bool { return hasExt(p, ".csv") })
	if err != nil {
		return err
	}
	st := &burstState{start: opts.start(), turns: map[uint64]int32{}, models: map[string]string{}}
	for _, path := range files {
		if err := st.importFile(path, sink); err != nil {
			return err
		}
	}
	return nil
}

// model returns the model id for the trace's model name.
func (st *burstState) model(name []byte) string {
	switch {
	case equalFoldBytes(name, "ChatGPT"):
		return "gpt-3.5-turbo"
	case equalFoldBytes(name, "GPT-4"):
		return "gpt-4"
	}
	if m, ok := st.models[string(name)]; ok {
		return m
	}
	m := string(name)
	if len(st.models) < 1024 {
		st.models[m] = m
	}
	return m
}

func (st *burstState) importFile(path string, sink Sink) error {
	rc, _, err := traces.OpenStream(path, nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	lr := traces.NewLineReader(rc, path)
	line, err := nextNonBlank(lr)
	if err == io.EOF {
		return &traces.Error{Pos: traces.Pos{File: path}, Reason: "no header", Detail: "want Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type", Fatal: true}
	}
	if err != nil {
		return err
	}
	cols, ok := burstHeader(line, st.cells)
	if !ok {
		return &traces.Error{Pos: traces.Pos{File: path, Line: lr.Line()}, Reason: "not a BurstGPT header", Detail: quoteDetail(line) + ", want Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type", Fatal: true}
	}
	origin := path + ":"
	r := &st.r
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
		st.cells = splitCSVRow(line, st.cells[:0])
		row := st.cells
		bad := func(field, reason string, v []byte) error {
			return badRow(sink, pos, field, reason, quoteDetail(v))
		}
		if len(row) != cols.n {
			if err := badRow(sink, pos, "", "wrong number of columns", strconv.Itoa(len(row))+", want "+strconv.Itoa(cols.n)); err != nil {
				return err
			}
			continue
		}
		ts, ok := parseScaled(row[cols.ts], int64(time.Second))
		if !ok {
			if err := bad("Timestamp", "bad timestamp", row[cols.ts]); err != nil {
				return err
			}
			continue
		}
		if len(row[cols.model]) == 0 {
			if err := badRow(sink, pos, "Model", "missing", ""); err != nil {
				return err
			}
			continue
		}
		req, reason := parseTokenCell(row[cols.req])
		if reason != "" {
			if err := bad("Request tokens", reason, row[cols.req]); err != nil {
				return err
			}
			continue
		}
		resp, reason := parseTokenCell(row[cols.resp])
		if reason != "" {
			if err := bad("Response tokens", reason, row[cols.resp]); err != nil {
				return err
			}
			continue
		}
		if cols.total >= 0 && len(row[cols.total]) > 0 {
			total, reason := parseTokenCell(row[cols.total])
			if reason != "" {
				if err := bad("Total tokens", reason, row[cols.total]); err != nil {
					return err
				}
				continue
			}
			if total != req+resp {
				d := strconv.FormatInt(req, 10) + " + " + strconv.FormatInt(resp, 10) + " != " + strconv.FormatInt(total, 10)
				if err := badRow(sink, pos, "Total tokens", "does not add up", d); err != nil {
					return err
				}
				continue
			}
		}
		var latency int64 = -1
		if cols.elapsed >= 0 && len(row[cols.elapsed]) > 0 {
			latency, ok = parseScaled(row[cols.elapsed], int64(time.Second))
			if !ok {
				if err := bad("Elapsed time", "bad duration", row[cols.elapsed]); err != nil {
					return err
				}
				continue
			}
		}
		var qt traces.QueryType
		if cols.logType >= 0 {
			switch v := row[cols.logType]; {
			case equalFoldBytes(v, "Conversation log"):
				qt = traces.QueryChat
			case equalFoldBytes(v, "API log"), len(v) == 0:
			default:
				if err := bad("Log Type", "unknown log type", v); err != nil {
					return err
				}
				continue
			}
		}

		r.Reset()
		r.Pos = pos
		r.Time = st.start.Add(time.Duration(ts))
		r.Provider = "openai"
		r.Model = st.model(row[cols.model])
		r.QueryType = qt
		if resp == 0 {
			r.SetInt(traces.FieldInput, 0)
			r.SetInt(traces.FieldNewTokens, req)
			r.Error = "no_response"
		} else {
			r.SetInt(traces.FieldInput, req)
		}
		r.SetInt(traces.FieldOutput, resp)
		if latency >= 0 {
			r.SetInt(traces.FieldLatency, latency)
		}
		if cols.session >= 0 && len(row[cols.session]) > 0 {
			id := row[cols.session]
			h := stringHash(id)
			turn := st.turns[h]
			st.turns[h] = turn + 1
			r.Session = string(id)
			r.SetInt(traces.FieldTurn, int64(turn))
		}
		r.Origin = lineOrigin(origin, pos.Line)
		if err := sink.Record(r); err != nil {
			return err
		}
	}
}
