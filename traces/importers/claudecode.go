package importers

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tarsopt/tarsopt/internal/jsonscan"
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/traces"
)

// ClaudeCode imports Claude Code session transcripts: a folder laid out like ~/.claude/projects
// (<project>/<session>.jsonl, with sub-agent transcripts in <project>/<session>/subagents/), or
// like ~/.claude itself (its projects/ folder is used), or single .jsonl files.
//
// Every assistant line with a usage object is a model call, written once per streamed content
// block; the rules that turn lines into calls are those of ccusage, the analyzer Claude Code users
// run, as ../shared/data/claude-code/SOURCE.md states them:
//   - a call's key is message.id + ":" + requestId (message.id alone without a requestId); of the
//     lines with one key the one with the largest input + output + cache tokens stands (on a tie,
//     the one that has usage.speed, then the first in file order): the others are "streaming
//     duplicate" skips. Keeping the first instead would undercount output about four times;
//   - a sidechain line (isSidechain true) whose message.id was also seen outside the sidechain,
//     under another requestId, is a replay of that message: a "sidechain replay" skip;
//   - lines whose model is "<synthetic>" (made locally, not by the API) are "synthetic message"
//     skips, and lines missing sessionId, message.id or model, or with null there, are skipped as
//     "missing sessionId, message.id or model";
//   - cache_creation.ephemeral_5m_input_tokens and ephemeral_1h_input_tokens split the cache writes
//     by TTL; without that object (older builds) every write is a 5-minute one.
//
// Records carry: time (timestamp), id (requestId, else message.id), session (sessionId), agent
// (agentId of sub-agent transcripts), provider anthropic, model, input, cache_write_5m,
// cache_write_1h, cache_read, output, service_tier (usage.service_tier), speed (usage.speed), cost_usd
// (costUSD, which only old builds write: the cost Claude Code computed), origin (file:line). Absent:
// tenant, turn, query type, priority, latency, prompt breakdown, fingerprint, prefix. Files are
// read in parallel; calls come out in time order.
type ClaudeCode struct{}

func init() { Register(ClaudeCode{}) }

// Kind implements Importer.
func (ClaudeCode) Kind() string { return "claude-code" }

// Describe implements Importer.
func (ClaudeCode) Describe() string {
	return "Claude Code transcripts (~/.claude/projects, sub-agents included)"
}

// Sniff implements Importer: a .jsonl file whose lines have Claude Code's envelope.
func (ClaudeCode) Sniff(name string, head []byte) bool {
	if !hasExt(name, ".jsonl") {
		return false
	}
	return bytes.Contains(head, []byte(`"sessionId"`)) && (bytes.Contains(head, []byte(`"parentUuid"`)) || bytes.Contains(head, []byte(`"isSidechain"`)))
}

// ccCall is one assistant line's call, as much as the rules and the record need.
type ccCall struct {
	t                             int64 // unix nanoseconds
	file, line                    int32
	session, msgID, reqID, model  string
	agent                         string
	input, cw5, cw1, read, output int64
	cost                          money.Amount
	hasCost, sidechain, hasSpeed  bool
	tier                          traces.ServiceTier
	speed                         traces.Speed
}

func (c *ccCall) total() int64 { return c.input + c.cw5 + c.cw1 + c.read + c.output }

func (c *ccCall) key() string {
	if c.reqID == "" {
		return c.msgID
	}
	return c.msgID + ":" + c.reqID
}

// ccFile is what one file yields.
type ccFile struct {
	calls []ccCall
	bad   []*traces.Error
	skips map[string]int
	fatal error
}

// Import implements Importer.
func (ClaudeCode) Import(paths []string, opts Options, sink Sink) error {
	var roots []string
	for _, p := range paths {
		if st, err := os.Stat(filepath.Join(p, "projects")); err == nil && st.IsDir() {
			p = filepath.Join(p, "projects")
		}
		roots = append(roots, p)
	}
	files, err := Files(roots, func(name string) bool { return hasExt(name, ".jsonl") })
	if err != nil {
		return err
	}
	results := make([]ccFile, len(files))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(files)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s jsonscan.Scanner
			for i := range next {
				results[i] = readClaudeCodeFile(files[i], int32(i), &s)
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()

	// Report in file order, so that --skip-invalid counts and the first error do not depend on
	// scheduling.
	n := 0
	for i := range results {
		for _, e := range results[i].bad {
			if err := sink.Bad(e); err != nil {
				return err
			}
		}
		for reason, k := range results[i].skips {
			sink.Skip(reason, k)
		}
		if results[i].fatal != nil {
			return results[i].fatal
		}
		n += len(results[i].calls)
	}
	calls := make([]ccCall, 0, n)
	for i := range results {
		calls = append(calls, results[i].calls...)
		results[i].calls = nil
	}
	calls = dedupeClaudeCode(calls, sink)

	slices.SortStableFunc(calls, func(a, b ccCall) int {
		if a.t != b.t {
			return cmpInt(a.t, b.t)
		}
		if a.file != b.file {
			return cmpInt(int64(a.file), int64(b.file))
		}
		return cmpInt(int64(a.line), int64(b.line))
	})
	var r traces.Record
	for i := range calls {
		c := &calls[i]
		r.Reset()
		r.Time = time.Unix(0, c.t).UTC()
		r.Pos = traces.Pos{File: files[c.file], Line: int64(c.line)}
		r.Origin = files[c.file] + ":" + strconv.Itoa(int(c.line))
		r.ID = c.reqID
		if r.ID == "" {
			r.ID = c.msgID
		}
		r.Session, r.Agent, r.Provider, r.Model = c.session, c.agent, "anthropic", c.model
		r.SetInt(traces.FieldInput, c.input)
		r.SetInt(traces.FieldCacheWrite5m, c.cw5)
		r.SetInt(traces.FieldCacheWrite1h, c.cw1)
		r.SetInt(traces.FieldCacheRead, c.read)
		r.SetInt(traces.FieldOutput, c.output)
		r.ServiceTier, r.Speed = c.tier, c.speed
		if c.hasCost {
			r.SetInt(traces.FieldCost, int64(c.cost))
		}
		if err := sink.Record(&r); err != nil {
			return err
		}
	}
	return nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// dedupeClaudeCode applies the duplicate and sidechain rules, counting what it drops.
func dedupeClaudeCode(calls []ccCall, sink Sink) []ccCall {
	best := make(map[string]int, len(calls))
	dups := 0
	for i := range calls {
		c := &calls[i]
		k := c.key()
		j, seen := best[k]
		if !seen {
			best[k] = i
			continue
		}
		dups++
		b := &calls[j]
		if c.total() > b.total() || (c.total() == b.total() && c.hasSpeed && !b.hasSpeed) {
			best[k] = i
		}
	}
	if dups > 0 {
		sink.Skip("streaming duplicate", dups)
	}
	mainReq := map[string]string{} // message.id → requestId of the first call outside a sidechain
	for i := range calls {
		c := &calls[i]
		if _, ok := mainReq[c.msgID]; !ok && !c.sidechain && best[c.key()] == i {
			mainReq[c.msgID] = c.reqID
		}
	}
	out := calls[:0]
	replays := 0
	for i := range calls {
		c := calls[i]
		if best[c.key()] != i {
			continue
		}
		if req, ok := mainReq[c.msgID]; ok && c.sidechain && req != c.reqID {
			replays++
			continue
		}
		out = append(out, c)
	}
	if replays > 0 {
		sink.Skip("sidechain replay", replays)
	}
	return out
}

var (
	keyType       = []byte(`"type":"assistant"`)
	keyTypeSpaced = []byte(`"type": "assistant"`)
	keyUsage      = []byte(`"usage"`)
	errBadField   = errors.New("bad field") // stops a line's parse after badf recorded why
)

// readClaudeCodeFile reads one transcript's calls.
func readClaudeCodeFile(path string, fileIndex int32, s *jsonscan.Scanner) (res ccFile) {
	res.skips = map[string]int{}
	rc, _, err := traces.OpenStream(path, nil)
	if err != nil {
		res.fatal = err
		return res
	}
	defer rc.Close()
	lr := traces.NewLineReader(rc, path)
	intern := map[string]string{}
	str := func(b []byte) string {
		if v, ok := intern[string(b)]; ok {
			return v
		}
		v := string(b)
		intern[v] = v
		return v
	}
	for {
		line, err := lr.Next()
		if err == io.EOF {
			return res
		}
		if err != nil {
			res.fatal = err
			return res
		}
		// Only assistant lines with usage are calls; everything else is skipped unparsed.
		if !bytes.Contains(line, keyUsage) || (!bytes.Contains(line, keyType) && !bytes.Contains(line, keyTypeSpaced)) {
			continue
		}
		c := ccCall{file: fileIndex, line: int32(lr.Line())}
		isAssistant, synthetic, apiError, hasUsage, nullField := false, false, false, false, false
		var ts []byte
		var bad *traces.Error
		badf := func(field, reason string) error {
			bad = &traces.Error{Pos: traces.Pos{File: path, Line: lr.Line()}, Field: field, Reason: reason}
			return errBadField
		}
		str1 := func(field string) (string, error) {
			if s.Null() {
				nullField = true
				return "", nil
			}
			b, err := s.String()
			if err != nil {
				return "", badf(field, jsonReason(err))
			}
			if !utf8.Valid(b) {
				return "", badf(field, "invalid UTF-8")
			}
			return str(b), nil
		}
		int1 := func(field string, dst *int64) error {
			if s.Null() {
				return nil
			}
			v, err := s.Int()
			if err != nil {
				return badf(field, jsonReason(err))
			}
			*dst = v
			return nil
		}
		var progress, innerAssistant bool
		var dataAgent, innerReq string
		var innerTS []byte
		// parseMessage reads a message object: its id, model and usage.
		parseMessage := func() error {
			return s.Object(func(k []byte) error {
				switch string(k) {
				case "id":
					var err error
					c.msgID, err = str1("message.id")
					return err
				case "model":
					m, err := str1("message.model")
					if err == nil && m == "<synthetic>" {
						synthetic = true
					}
					c.model = m
					return err
				case "usage":
					if s.Null() {
						return nil
					}
					hasUsage = true
					var split bool
					var w5, w1, total int64
					err := s.Object(func(k []byte) error {
						switch string(k) {
						case "input_tokens":
							return int1("message.usage.input_tokens", &c.input)
						case "output_tokens":
							return int1("message.usage.output_tokens", &c.output)
						case "cache_creation_input_tokens":
							return int1("message.usage.cache_creation_input_tokens", &total)
						case "cache_read_input_tokens":
							return int1("message.usage.cache_read_input_tokens", &c.read)
						case "cache_creation":
							if s.Null() {
								return nil
							}
							split = true
							return s.Object(func(k []byte) error {
								switch string(k) {
								case "ephemeral_5m_input_tokens":
									return int1("message.usage.cache_creation.ephemeral_5m_input_tokens", &w5)
								case "ephemeral_1h_input_tokens":
									return int1("message.usage.cache_creation.ephemeral_1h_input_tokens", &w1)
								}
								return s.Skip()
							})
						case "service_tier":
							t, err := str1("message.usage.service_tier")
							if err == nil && t != "" {
								if c.tier, _ = traces.ParseServiceTier(t); c.tier == 0 {
									return badf("message.usage.service_tier", "unknown value")
								}
							}
							return err
						case "speed":
							sp, err := str1("message.usage.speed")
							if err == nil && sp != "" {
								c.hasSpeed = true
								if c.speed, _ = traces.ParseSpeed(sp); c.speed == 0 {
									return badf("message.usage.speed", "unknown value")
								}
							}
							return err
						}
						return s.Skip()
					})
					if err != nil {
						return err
					}
					if split {
						c.cw5, c.cw1 = w5, w1
						// A total larger than the split (a build that splits only part) goes to 5m.
						if rest := total - w5 - w1; rest > 0 {
							c.cw5 += rest
						}
					} else {
						c.cw5 = total
					}
					return nil
				}
				return s.Skip()
			})
		}
		s.Reset(line)
		err = s.Object(func(k []byte) error {
			var err error
			switch string(k) {
			case "type":
				var t string
				if t, err = str1("type"); err == nil {
					isAssistant = t == "assistant"
				}
			case "sessionId":
				c.session, err = str1("sessionId")
			case "requestId":
				c.reqID, err = str1("requestId")
			case "agentId":
				c.agent, err = str1("agentId")
			case "timestamp":
				if s.Null() {
					return nil
				}
				if ts, err = s.String(); err != nil {
					return badf("timestamp", jsonReason(err))
				}
				ts = bytes.Clone(ts)
			case "isSidechain":
				if !s.Null() {
					if c.sidechain, err = s.Bool(); err != nil {
						return badf("isSidechain", jsonReason(err))
					}
				}
			case "isApiErrorMessage":
				if !s.Null() {
					if apiError, err = s.Bool(); err != nil {
						return badf("isApiErrorMessage", jsonReason(err))
					}
				}
			case "costUSD":
				if s.Null() {
					return nil
				}
				n, err := s.Number()
				if err != nil {
					return badf("costUSD", jsonReason(err))
				}
				f, err := strconv.ParseFloat(string(n), 64)
				if err != nil {
					return badf("costUSD", "bad number")
				}
				if c.cost, err = money.FromDollars(f); err != nil {
					return badf("costUSD", "out of range")
				}
				c.hasCost = true
			case "message":
				if s.Null() {
					nullField = true
					return nil
				}
				err = parseMessage()
			case "data":
				// A progress line echoes a sub-agent's call: data.message.message is its message.
				if s.Null() {
					return nil
				}
				err = s.Object(func(k []byte) error {
					switch string(k) {
					case "type":
						t, err := str1("data.type")
						progress = t == "agent_progress"
						return err
					case "agentId":
						var err error
						dataAgent, err = str1("data.agentId")
						return err
					case "message":
						if s.Null() {
							return nil
						}
						return s.Object(func(k []byte) error {
							switch string(k) {
							case "type":
								t, err := str1("data.message.type")
								innerAssistant = t == "assistant"
								return err
							case "timestamp":
								if s.Null() {
									return nil
								}
								b, err := s.String()
								if err != nil {
									return badf("data.message.timestamp", jsonReason(err))
								}
								innerTS = bytes.Clone(b)
								return nil
							case "requestId":
								var err error
								innerReq, err = str1("data.message.requestId")
								return err
							case "message":
								if s.Null() {
									return nil
								}
								return parseMessage()
							}
							return s.Skip()
						})
					}
					return s.Skip()
				})
			default:
				return s.Skip()
			}
			return err
		})
		if err == nil {
			err = s.End()
		}
		if progress && innerAssistant {
			// The sub-agent's call as the main transcript echoes it: its time, request and agent.
			isAssistant, ts, c.reqID = true, innerTS, innerReq
			if dataAgent != "" {
				c.agent = dataAgent
			}
		}
		switch {
		case bad != nil:
			res.bad = append(res.bad, bad)
			continue
		case err != nil:
			res.bad = append(res.bad, &traces.Error{Pos: traces.Pos{File: path, Line: lr.Line()}, Reason: jsonReason(err)})
			continue
		case !isAssistant || !hasUsage:
			continue
		case synthetic:
			res.skips["synthetic message"]++
			continue
		case apiError:
			res.skips["API error message"]++
			continue
		case nullField || c.session == "" || c.msgID == "" || c.model == "":
			res.skips["missing sessionId, message.id or model"]++
			continue
		}
		t, ok := traces.ParseTime(ts)
		if !ok {
			res.bad = append(res.bad, &traces.Error{Pos: traces.Pos{File: path, Line: lr.Line()}, Field: "timestamp", Reason: "bad timestamp", Detail: strconv.Quote(string(ts))})
			continue
		}
		c.t = t.UnixNano()
		res.calls = append(res.calls, c)
	}
}

// jsonReason names a jsonscan error the way the trace decoders do.
func jsonReason(err error) string {
	switch err {
	case jsonscan.ErrTruncated:
		return "truncated record"
	case jsonscan.ErrType:
		return "wrong JSON type"
	}
	return "malformed JSON"
}
