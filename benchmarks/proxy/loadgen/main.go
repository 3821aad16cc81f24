// Command loadgen sends Anthropic Messages API requests (POST BASE/v1/messages) at a fixed
// concurrency and reports their latency: the load generator of the gateway overhead benchmark
// (see ../README.md). It speaks plain HTTP with net/http, the same way whatever the target is (the
// API itself, a fake of it, or any gateway in front of it).
//
//	loadgen -url http://127.0.0.1:8080 -c 32 -n 2000 [-warmup 100] [-stream] [-body FILE]
//
// Every request is unique, so no cache (a gateway's response cache, or the provider's) can answer
// it: the built-in request (about 2 KB: a system prompt, three earlier turns, temperature 1) ends
// its last message with a token made of a per-run nonce and the request's number. A -body file
// gets the same token wherever it contains {N}. -agent-kb sends instead an agent's request of
// that size (tools, tool_use/tool_result exchanges with code), as coding agents send.
//
// It first sends -warmup requests (not measured), then -n requests from -c workers, each timed
// from sending the request to reading the last byte of the answer. It prints one JSON object:
//
//	{"url":..., "c":32, "n":2000, "errors":0, "p50_ms":..., "p90_ms":..., "p99_ms":..., "max_ms":..., "rps":...,
//	 "outside_p50_ms":..., "outside_p99_ms":...}
//
// errors counts the measured requests that failed: transport errors (refused, reset, timeout),
// answers other than 200, and streams that end without message_stop. The percentiles are over the
// requests that succeeded; rps is n over the wall time of the measured phase. A breakdown of the
// errors goes to standard error. The exit status is 0 when the run completed, errors or not.
//
// outside_p50_ms and outside_p99_ms are the percentiles of the time each successful request spent
// outside the upstream: its latency less the X-Fake-Service-Us header of its answer, the
// microseconds the fake upstream (fakeupstream) spent on it, its simulated model latency included.
// A gateway passes the upstream's headers on, so through a gateway this is the gateway's own time
// plus the hops, free of the upstream's (jittered) time. A streamed answer carries the header on
// its head; its time outside includes reading the stream. The percentiles are over the answers
// that carried the header; without any (another upstream, or a gateway that drops the header)
// both are omitted.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// placeholder is where a request body gets the request's unique token.
const placeholder = "{N}"

// builtinBody is a realistic agent turn of about 2 KB: a system prompt, two earlier exchanges and
// a new question, at temperature 1 (a response cache keyed on deterministic requests skips it).
func builtinBody(model string, stream bool) any {
	type block struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	type message struct {
		Role    string  `json:"role"`
		Content []block `json:"content"`
	}
	msg := func(role, text string) message { return message{role, []block{{"text", text}}} }
	return struct {
		Model       string    `json:"model"`
		MaxTokens   int       `json:"max_tokens"`
		Temperature float64   `json:"temperature"`
		System      string    `json:"system"`
		Messages    []message `json:"messages"`
		Stream      bool      `json:"stream,omitempty"`
	}{
		Model: model, MaxTokens: 1024, Temperature: 1, Stream: stream,
		System: "You are a senior software engineer working inside a large Go monorepo as a coding agent. " +
			"You read code before changing it, make the smallest change that solves the problem, and keep the " +
			"existing style: short functions, explicit errors, no global state, table-driven tests. When you are " +
			"unsure of an API, you look it up in the repository instead of guessing. You explain what you changed " +
			"and why in a few sentences, and list the commands you ran to check it. You never commit, never push, " +
			"and never edit generated files or vendored dependencies. Answer in English, in plain text, with code " +
			"blocks only for code. Keep answers under three hundred words unless asked for more detail.",
		Messages: []message{
			msg("user", "The nightly job that compacts the event store has started to take twice as long since last "+
				"week. The compaction loop in store/compact.go reads every segment, merges the ones under 64 MB and "+
				"rewrites the index. Can you find what changed and why it is slower?"),
			msg("assistant", "I looked at the history of store/compact.go and store/segment.go. Last week's change "+
				"replaced the buffered reader in openSegment with a plain os.File, so every record header is now a "+
				"separate read system call. With about forty thousand records per segment that is most of the extra "+
				"time. Restoring a 256 KB bufio.Reader around the file should bring the job back to its old duration."),
			msg("user", "That makes sense. Before you change it: the same change also added a checksum verification "+
				"per record. Is that expensive too, and should it stay? We had one corrupted segment last month, so "+
				"I would rather keep some verification if it is affordable."),
			msg("assistant", "The checksum is CRC-32C over each record, which runs at several gigabytes per second with "+
				"the hardware instruction; on our segment sizes it costs well under a second per run. It is worth "+
				"keeping. I would only move it after the buffered read so it works on memory, not on the file."),
			msg("user", "Good. Please make both changes, add a benchmark for openSegment on a synthetic 64 MB segment, "+
				"and tell me the before and after numbers. Request "+placeholder+"."),
		},
	}
}

// agentBody is a coding agent's request of about size bytes, shaped as Claude Code sends them: six
// tool definitions, a long system prompt in blocks, one task, then exchanges of an assistant's
// tool_use and the user's tool_result holding source code (quotes, tabs, newlines, so escapes), at
// temperature 1. The unique token goes in the last tool result. Agent requests are 50 to 500 KB:
// this is the size at which a gateway's per-byte work shows.
func agentBody(size int, model string, stream bool) any {
	type block map[string]any
	type message struct {
		Role    string  `json:"role"`
		Content []block `json:"content"`
	}
	var tools []block
	for _, name := range []string{"Read", "Write", "Edit", "Bash", "Grep", "Glob"} {
		tools = append(tools, block{"name": name,
			"description": name + " tool: reads or changes files in the working tree; use it when the task needs it, and prefer the narrowest call.",
			"input_schema": block{"type": "object", "required": []string{"path"}, "additionalProperties": false,
				"properties": block{"path": block{"type": "string", "description": "Absolute path"},
					"limit": block{"type": "integer", "description": "Lines to read"}}}})
	}
	system := []block{{"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
		{"type": "text", "text": strings.Repeat("You are an interactive tool that helps users with software engineering tasks. Use the tools to read code before you change it.\n", 20)}}
	code := strings.Repeat("func parse(s string) (int, error) {\n\tn, err := strconv.Atoi(s)\n\tif err != nil {\n\t\treturn 0, fmt.Errorf(\"parse %q: %w\", s, err)\n\t}\n\treturn n, nil\n}\n\n", 12)
	exchange := func(i int) []message {
		id := fmt.Sprintf("toolu_%04d", i)
		return []message{
			{"assistant", []block{{"type": "text", "text": "Let me look at the file."},
				{"type": "tool_use", "id": id, "name": "Read", "input": block{"path": fmt.Sprintf("/src/parser/parse_%d.go", i), "limit": 200}}}},
			{"user", []block{{"type": "tool_result", "tool_use_id": id, "content": code}}}}
	}
	msgs := []message{{"user", []block{{"type": "text", "text": "Fix the failing test in the parser package, then run the tests."}}}}
	head, _ := json.Marshal(struct {
		T []block
		S []block
		M []message
	}{tools, system, msgs})
	one, _ := json.Marshal(exchange(0))
	for i, total := 0, len(head); i == 0 || total < size; i++ { // one exchange at least
		msgs = append(msgs, exchange(i)...)
		total += len(one)
	}
	last := msgs[len(msgs)-1].Content[0]
	last["content"] = last["content"].(string) + "// request " + placeholder + "\n"
	return struct {
		Model       string    `json:"model"`
		MaxTokens   int       `json:"max_tokens"`
		Temperature float64   `json:"temperature"`
		Tools       []block   `json:"tools"`
		System      []block   `json:"system"`
		Messages    []message `json:"messages"`
		Stream      bool      `json:"stream,omitempty"`
	}{Model: model, MaxTokens: 4096, Temperature: 1, Tools: tools, System: system, Messages: msgs, Stream: stream}
}

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

// result is what loadgen prints.
type result struct {
	URL    string  `json:"url"`
	C      int     `json:"c"`
	N      int     `json:"n"`
	Errors int     `json:"errors"`
	P50    float64 `json:"p50_ms"`
	P90    float64 `json:"p90_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
	RPS    float64 `json:"rps"`
	// Time outside the upstream (latency less X-Fake-Service-Us); nil when no answer carried it.
	OutsideP50 *float64 `json:"outside_p50_ms,omitempty"`
	OutsideP99 *float64 `json:"outside_p99_ms,omitempty"`
}

// serviceHeader is the header in which the fake upstream reports the microseconds it spent on an
// answer, its simulated latency included.
const serviceHeader = "X-Fake-Service-Us"

// sample is the outcome of one successful request.
type sample struct {
	latency time.Duration // from sending the request to reading the last byte of the answer
	outside time.Duration // latency less the upstream's own time, when hasOut
	hasOut  bool          // the answer carried serviceHeader
}

func main() {
	base := flag.String("url", "", "base `URL` of the Messages API or of the gateway in front of it (required)")
	c := flag.Int("c", 1, "concurrency: requests in flight at once")
	n := flag.Int("n", 500, "measured requests")
	warmup := flag.Int("warmup", 100, "requests sent before measuring, not measured")
	key := flag.String("key", "sk-ant-bench-not-a-real-key", "value of the x-api-key header")
	version := flag.String("anthropic-version", "2023-06-01", "value of the anthropic-version header")
	bodyFile := flag.String("body", "", "`file` with the JSON request body to send instead of the built-in one; {N} in it becomes a unique token")
	agentKB := flag.Int("agent-kb", 0, "send an agent's request of about `KB` kilobytes instead of the built-in one: tools, a task and tool_use/tool_result exchanges with code, as Claude Code sends")
	model := flag.String("model", "claude-sonnet-4-5", "model of the built-in request")
	stream := flag.Bool("stream", false, "ask for a streamed answer (sets \"stream\": true in the body)")
	timeout := flag.Duration("timeout", 60*time.Second, "timeout of one request, answer included")
	var extra headers
	flag.Var(&extra, "H", "extra `header` \"Name: value\" (repeatable), e.g. for a gateway's own key")
	flag.Parse()
	if *base == "" || *c < 1 || *n < 1 || *warmup < 0 || *agentKB < 0 || (*agentKB > 0 && *bodyFile != "") || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: loadgen -url BASE [-c N] [-n N] [-warmup N] [-stream] [-body FILE | -agent-kb KB] [-key K] [-H 'Name: value']...")
		flag.PrintDefaults()
		os.Exit(2)
	}
	body, err := requestBody(*bodyFile, *agentKB, *model, *stream)
	if err != nil {
		fatal(err)
	}
	parts := bytes.Split(body, []byte(placeholder))
	if len(parts) == 1 {
		fmt.Fprintln(os.Stderr, "loadgen: warning: the body has no {N}: every request is the same, and a cache may answer them")
	}
	hdr := http.Header{}
	hdr.Set("content-type", "application/json")
	hdr.Set("anthropic-version", *version)
	hdr.Set("x-api-key", *key)
	for _, h := range extra {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			fatal(fmt.Errorf("-H %q: want \"Name: value\"", h))
		}
		hdr.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}

	endpoint := strings.TrimRight(*base, "/") + "/v1/messages"
	client := &http.Client{
		Timeout: *timeout,
		Transport: &http.Transport{
			Proxy:               nil, // never through HTTP_PROXY: the gateway under test is the only hop
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        *c,
			MaxIdleConnsPerHost: *c,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	nonce := make([]byte, 6)
	rand.Read(nonce)
	g := &gen{client: client, url: endpoint, header: hdr, parts: parts, nonce: hex.EncodeToString(nonce), stream: *stream}

	g.run(*warmup, *c, nil) // warm connections, caches of the gateway's own, the Go runtimes
	samples := make([]sample, *n)
	failed := make([]bool, *n)
	errs := &errorCounts{kinds: map[string]int{}}
	start := time.Now()
	g.run(*n, *c, func(i int, s sample, err error) {
		if err != nil {
			errs.add(err)
			failed[i] = true
			return
		}
		samples[i] = s
	})
	wall := time.Since(start)

	var ok, outside []time.Duration
	for i, s := range samples {
		if failed[i] {
			continue
		}
		ok = append(ok, s.latency)
		if s.hasOut {
			outside = append(outside, s.outside)
		}
	}
	slices.Sort(ok)
	slices.Sort(outside)
	res := result{URL: *base, C: *c, N: *n, Errors: errs.total, RPS: round(float64(*n) / wall.Seconds())}
	if len(ok) > 0 {
		res.P50, res.P90, res.P99, res.Max = pct(ok, 0.50), pct(ok, 0.90), pct(ok, 0.99), ms(ok[len(ok)-1])
	}
	if len(outside) > 0 {
		p50, p99 := pct(outside, 0.50), pct(outside, 0.99)
		res.OutsideP50, res.OutsideP99 = &p50, &p99
		if len(outside) < len(ok) {
			fmt.Fprintf(os.Stderr, "loadgen: warning: only %d of %d answers carried %s: the outside percentiles are over those\n",
				len(outside), len(ok), serviceHeader)
		}
	}
	errs.report()
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

// requestBody is the JSON body to send, with {N} where the unique token goes.
func requestBody(file string, agentKB int, model string, stream bool) ([]byte, error) {
	if agentKB > 0 {
		return json.Marshal(agentBody(agentKB<<10, model, stream))
	}
	if file == "" {
		return json.Marshal(builtinBody(model, stream))
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %w", file, err)
	}
	if !stream {
		return raw, nil // as written
	}
	m["stream"] = true
	return json.Marshal(m)
}

type gen struct {
	client *http.Client
	url    string
	header http.Header
	parts  [][]byte
	nonce  string
	stream bool
	seq    atomic.Int64 // numbers the requests of the whole run, warmup included
}

// run sends n requests from c workers; done, when set, gets each one's index, sample and error.
func (g *gen) run(n, c int, done func(int, sample, error)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(c, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				s, err := g.one()
				if done != nil {
					done(i, s, err)
				}
			}
		}()
	}
	wg.Wait()
}

// one sends a request and reads its answer to the end.
func (g *gen) one() (sample, error) {
	token := []byte(g.nonce + "-" + strconv.FormatInt(g.seq.Add(1), 10))
	body := bytes.Join(g.parts, token)
	req, err := http.NewRequest(http.MethodPost, g.url, bytes.NewReader(body))
	if err != nil {
		return sample{}, err
	}
	req.Header = g.header.Clone()
	start := time.Now()
	resp, err := g.client.Do(req)
	if err != nil {
		return sample{}, transportError{err}
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	s := sample{latency: time.Since(start)}
	switch {
	case err != nil:
		return sample{}, transportError{err}
	case resp.StatusCode != http.StatusOK:
		return sample{}, statusError{resp.StatusCode, data}
	case g.stream && !bytes.Contains(data, []byte("message_stop")):
		return sample{}, errors.New("stream ended without message_stop")
	}
	// The header is on the answer's head, streamed or not; a malformed value counts as absent.
	if v := resp.Header.Get(serviceHeader); v != "" {
		if us, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && us >= 0 {
			s.outside, s.hasOut = s.latency-time.Duration(us)*time.Microsecond, true
		}
	}
	return s, nil
}

type transportError struct{ err error }

func (e transportError) Error() string { return "transport: " + e.err.Error() }

type statusError struct {
	status int
	body   []byte
}

func (e statusError) Error() string {
	b := strings.Join(strings.Fields(string(e.body)), " ")
	if len(b) > 200 {
		b = b[:200] + "..."
	}
	return fmt.Sprintf("status %d: %s", e.status, b)
}

// errorCounts counts errors by kind (a status, a transport error, a broken stream), with an example.
type errorCounts struct {
	mu      sync.Mutex
	total   int
	kinds   map[string]int
	example map[string]string
}

func (e *errorCounts) add(err error) {
	kind := "stream"
	var se statusError
	var te transportError
	switch {
	case errors.As(err, &se):
		kind = "status " + strconv.Itoa(se.status)
	case errors.As(err, &te):
		kind = "transport"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.total++
	e.kinds[kind]++
	if e.example == nil {
		e.example = map[string]string{}
	}
	if _, ok := e.example[kind]; !ok {
		e.example[kind] = err.Error()
	}
}

func (e *errorCounts) report() {
	kinds := make([]string, 0, len(e.kinds))
	for k := range e.kinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(os.Stderr, "loadgen: %d errors of kind %q, e.g. %s\n", e.kinds[k], k, e.example[k])
	}
}

// pct is the p-quantile of sorted latencies (nearest rank), in milliseconds.
func pct(sorted []time.Duration, p float64) float64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return ms(sorted[min(max(i, 0), len(sorted)-1)])
}

func ms(d time.Duration) float64 { return round(float64(d) / float64(time.Millisecond)) }

func round(x float64) float64 { return math.Round(x*1000) / 1000 }

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}
