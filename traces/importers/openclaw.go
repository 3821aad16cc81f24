package importers

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tarsopt/tarsopt/internal/jsonscan"
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/traces"
)

// OpenClaw imports OpenClaw agent session transcripts: ~/.openclaw (or the legacy ~/.clawdbot,
// ~/.moltbot), its agents/ folder, one agent's sessions/ folder, or single files. Transcripts are
// agents/<agent>/sessions/<session>.jsonl; archived ones (*.deleted.*, *.reset.*) are left out and
// counted as "archived transcript".
//
// Each assistant message is one model call (OpenClaw writes no streaming duplicates). Records
// carry: time (the entry's timestamp, else the message's in milliseconds), id (session:entry id),
// session (the header's id, else the file name), agent (the folder under agents/), turn (the
// call's index in its transcript), provider and model (the message's, else the last
// model_change), input (usage.input), cache_read (cacheRead), cache_write_1h (cacheWrite1h) and
// cache_write_5m (the rest of cacheWrite), output (output), reasoning (reasoning, part of output),
// cost_usd (usage.cost.total, the cost OpenClaw computed from its catalogue), error (stopReason
// error or aborted: the errorMessage, and status when it starts with an HTTP status), and query
// type: heartbeat when the turn answers a heartbeat (the prompt names HEARTBEAT.md or the reply is
// HEARTBEAT_OK), tool when it follows a tool result, chat when it follows a user message.
type OpenClaw struct{}

func init() { Register(OpenClaw{}) }

// Kind implements Importer.
func (OpenClaw) Kind() string { return "openclaw" }

// Describe implements Importer.
func (OpenClaw) Describe() string {
	return "OpenClaw agent transcripts (~/.openclaw/agents/*/sessions/*.jsonl)"
}

// Sniff implements Importer: a transcript's first line is {"type":"session",...}.
func (OpenClaw) Sniff(name string, head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte{'\n'})
	return bytes.Contains(line, []byte(`"type":"session"`)) || bytes.Contains(line, []byte(`"type": "session"`)) ||
		(bytes.Contains(head, []byte(`"type":"message"`)) && bytes.Contains(head, []byte(`"parentId"`)))
}

func archived(name string) bool {
	base := filepath.Base(name)
	return strings.Contains(base, ".deleted.") || strings.Contains(base, ".reset.")
}

// Import implements Importer.
func (OpenClaw) Import(paths []string, opts Options, sink Sink) error {
	var roots []string
	for _, p := range paths {
		if st, err := os.Stat(filepath.Join(p, "agents")); err == nil && st.IsDir() {
			p = filepath.Join(p, "agents")
		}
		roots = append(roots, p)
	}
	files, err := Files(roots, func(name string) bool {
		return strings.Contains(filepath.Base(name), ".jsonl")
	})
	if err != nil {
		return err
	}
	var s jsonscan.Scanner
	for _, f := range files {
		if archived(f) {
			sink.Skip("archived transcript", 1)
			continue
		}
		if !hasExt(f, ".jsonl") {
			continue
		}
		if err := importOpenClawFile(f, &s, sink); err != nil {
			return err
		}
	}
	return nil
}

// agentOf returns the folder under agents/ in a transcript's path, or "".
func agentOf(path string) string {
	parts := strings.Split(filepath.ToSlash(path), "/")
	for i := len(parts) - 1; i >= 2; i-- {
		if parts[i-1] == "sessions" && parts[i-3] == "agents" {
			return parts[i-2]
		}
	}
	return ""
}

func importOpenClawFile(path string, s *jsonscan.Scanner, sink Sink) error {
	rc, _, err := traces.OpenStream(path, nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	lr := traces.NewLineReader(rc, path)
	session := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".gz"), ".zst"), ".jsonl")
	agent := agentOf(path)
	var provider, model string // from model_change
	prev := ""                 // role of the previous message: user, toolResult, assistant
	heartbeatAsked := false
	turn := 0
	var r traces.Record
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
		e, bad := parseOpenClawLine(line, s)
		pos := traces.Pos{File: path, Line: lr.Line()}
		if bad != nil {
			bad.Pos = pos
			if err := sink.Bad(bad); err != nil {
				return err
			}
			continue
		}
		switch e.typ {
		case "session":
			if e.id != "" {
				session = e.id
			}
		case "model_change":
			provider, model = e.provider, e.modelID
		case "message":
			switch e.role {
			case "user":
				heartbeatAsked = e.heartbeat
				prev = "user"
			case "toolResult":
				prev = "toolResult"
			case "assistant":
				if !e.hasUsage {
					sink.Skip("assistant message without usage", 1)
					prev = "assistant"
					continue
				}
				r.Reset()
				r.Pos = pos
				r.Origin = path + ":" + strconv.FormatInt(lr.Line(), 10)
				t, ok := e.time()
				if !ok {
					if err := sink.Bad(&traces.Error{Pos: pos, Field: "timestamp", Reason: "bad timestamp", Detail: strconv.Quote(e.ts)}); err != nil {
						return err
					}
					continue
				}
				r.Time = t
				r.ID = session + ":" + e.id
				r.Session, r.Agent = session, agent
				r.SetInt(traces.FieldTurn, int64(turn))
				turn++
				r.Provider, r.Model = firstNonEmpty(e.provider, provider), firstNonEmpty(e.model, model)
				r.SetInt(traces.FieldInput, e.input)
				r.SetInt(traces.FieldOutput, e.output)
				r.SetInt(traces.FieldCacheRead, e.cacheRead)
				r.SetInt(traces.FieldCacheWrite1h, e.cacheWrite1h)
				r.SetInt(traces.FieldCacheWrite5m, e.cacheWrite-e.cacheWrite1h)
				if e.hasReasoning {
					r.SetInt(traces.FieldReasoning, e.reasoning)
				}
				if e.hasCost {
					r.SetInt(traces.FieldCost, int64(e.cost))
				}
				switch e.stopReason {
				case "error", "aborted":
					r.Error = firstNonEmpty(e.errorMessage, e.stopReason)
					if len(r.Error) >= 3 {
						if code, err := strconv.Atoi(r.Error[:3]); err == nil && code >= 100 && code <= 599 {
							r.SetInt(traces.FieldStatus, int64(code))
						}
					}
				}
				switch {
				case heartbeatAsked || e.heartbeatReply:
					r.QueryType = traces.QueryHeartbeat
				case prev == "toolResult":
					r.QueryType = traces.QueryTool
				case prev == "user":
					r.QueryType = traces.QueryChat
				}
				if r.Model == "" {
					sink.Skip("assistant message without a model", 1)
				} else if err := sink.Record(&r); err != nil {
					return err
				}
				prev = "assistant"
			}
		}
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// openClawEntry is what the importer needs of one transcript line.
type openClawEntry struct {
	typ, id, ts                           string
	provider, modelID                     string // model_change
	role, model, stopReason, errorMessage string
	msTime                                int64
	hasUsage, hasCost, hasReasoning       bool
	input, output, cacheRead, cacheWrite  int64
	cacheWrite1h, reasoning               int64
	cost                                  money.Amount
	heartbeat, heartbeatReply             bool
}

func (e *openClawEntry) time() (time.Time, bool) {
	if e.ts != "" {
		return traces.ParseTime([]byte(e.ts))
	}
	if e.msTime > 0 {
		return time.UnixMilli(e.msTime).UTC(), true
	}
	return time.Time{}, false
}

var (
	heartbeatFile = []byte("HEARTBEAT.md")
	heartbeatOK   = []byte("HEARTBEAT_OK")
)

func parseOpenClawLine(line []byte, s *jsonscan.Scanner) (e openClawEntry, bad *traces.Error) {
	fail := func(field string, err error) error {
		bad = &traces.Error{Field: field, Reason: jsonReason(err)}
		return errBadField
	}
	str := func(field string, dst *string) error {
		if s.Null() {
			return nil
		}
		b, err := s.String()
		if err != nil {
			return fail(field, err)
		}
		if !utf8.Valid(b) {
			bad = &traces.Error{Field: field, Reason: "invalid UTF-8"}
			return errBadField
		}
		*dst = string(b)
		return nil
	}
	num := func(field string, dst *int64) error {
		if s.Null() {
			return nil
		}
		v, err := s.Int()
		if err != nil {
			return fail(field, err)
		}
		if v < 0 {
			bad = &traces.Error{Field: field, Reason: "negative token count", Detail: strconv.FormatInt(v, 10)}
			return errBadField
		}
		*dst = v
		return nil
	}
	s.Reset(line)
	err := s.Object(func(k []byte) error {
		switch string(k) {
		case "type":
			return str("type", &e.typ)
		case "id":
			return str("id", &e.id)
		case "timestamp":
			if s.Peek() == '"' {
				return str("timestamp", &e.ts)
			}
			return num("timestamp", &e.msTime)
		case "provider":
			return str("provider", &e.provider)
		case "modelId":
			return str("modelId", &e.modelID)
		case "message":
			return s.Object(func(k []byte) error {
				switch string(k) {
				case "role":
					return str("message.role", &e.role)
				case "model":
					return str("message.model", &e.model)
				case "provider":
					return str("message.provider", &e.provider)
				case "stopReason":
					return str("message.stopReason", &e.stopReason)
				case "errorMessage":
					return str("message.errorMessage", &e.errorMessage)
				case "timestamp":
					if e.msTime != 0 || s.Peek() == '"' {
						return s.Skip()
					}
					return num("message.timestamp", &e.msTime)
				case "content":
					// A string or an array of blocks: its JSON text is searched for the markers.
					raw, err := s.Raw()
					if err != nil {
						return fail("message.content", err)
					}
					e.heartbeat = bytes.Contains(raw, heartbeatFile)
					e.heartbeatReply = bytes.Contains(raw, heartbeatOK)
					return nil
				case "usage":
					if s.Null() {
						return nil
					}
					e.hasUsage = true
					return s.Object(func(k []byte) error {
						switch string(k) {
						case "input":
							return num("message.usage.input", &e.input)
						case "output":
							return num("message.usage.output", &e.output)
						case "cacheRead":
							return num("message.usage.cacheRead", &e.cacheRead)
						case "cacheWrite":
							return num("message.usage.cacheWrite", &e.cacheWrite)
						case "cacheWrite1h":
							return num("message.usage.cacheWrite1h", &e.cacheWrite1h)
						case "reasoning":
							e.hasReasoning = true
							return num("message.usage.reasoning", &e.reasoning)
						case "cost":
							if s.Null() {
								return nil
							}
							return s.Object(func(k []byte) error {
								if string(k) != "total" || s.Null() {
									return s.Skip()
								}
								n, err := s.Number()
								if err != nil {
									return fail("message.usage.cost.total", err)
								}
								f, err := strconv.ParseFloat(string(n), 64)
								if err == nil {
									e.cost, err = money.FromDollars(f)
								}
								if err != nil {
									bad = &traces.Error{Field: "message.usage.cost.total", Reason: "bad number"}
									return errBadField
								}
								e.hasCost = true
								return nil
							})
						}
						return s.Skip()
					})
				}
				return s.Skip()
			})
		}
		return s.Skip()
	})
	if err == nil {
		err = s.End()
	}
	if bad != nil {
		return e, bad
	}
	if err != nil {
		return e, &traces.Error{Reason: jsonReason(err)}
	}
	if e.cacheWrite1h > e.cacheWrite {
		return e, &traces.Error{Field: "message.usage.cacheWrite1h", Reason: "exceeds cacheWrite"}
	}
	if e.role != "assistant" {
		e.heartbeatReply = false
	} else {
		e.heartbeat = false
	}
	return e, nil
}
