// Package fakeapi is a fake of the Anthropic Messages API, for tests of anything that speaks it
// (the live proxy, SDK clients): POST /v1/messages, answered as JSON or streamed as server-sent
// events in the order the real API sends them (message_start, content_block_start, ping,
// content_block_delta..., content_block_stop, message_delta with the usage, message_stop); POST
// /v1/messages/count_tokens; GET /v1/models; and the Message Batches API (see below). Answers are
// deterministic functions of the request: the same request gets the same text and usage. Faults
// are queued on demand, one per request to /v1/messages (and one per request inside a batch): an
// error status with Anthropic's error JSON (5xx, 529 overloaded, 429 with retry-after), a delay (a
// timeout for a client that waits less), a slow stream (a pause before each event), or a
// connection reset in the middle of a stream.
//
// Message Batches: POST /v1/messages/batches answers with the batch "in_progress"; its requests are
// answered at once, each as POST /v1/messages would answer it (same text and usage; a request the
// fault queue fails with a status, or an invalid or streamed one, is "errored"). The batch ends at
// the first GET of it, of the batch list or of its results once its turnaround
// (SetBatchTurnaround, default 0) has passed, or after a cancel (its requests then "canceled");
// results_url is set then. GET /v1/messages/batches/{id}/results serves the JSONL results (404
// not_found_error before the end); GET /v1/messages/batches lists the batches, newest first
// (limit, after_id, before_id); POST .../{id}/cancel (a no-op on an ended batch) and DELETE
// .../{id} (only once ended) work as documented.
//
// The fake listens on loopback only: New picks a port, Listen takes an address (for a standalone
// process). It checks that a request carries credentials (x-api-key or Authorization: Bearer) and
// records requests without them.
package fakeapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tarsopt/tarsopt/internal/jsonscan"
)

// Fault is what the fake does to one request instead of answering it normally.
type Fault struct {
	// Status, when set, answers with this status and Anthropic's error JSON.
	Status int
	// RetryAfter sets the Retry-After header (seconds) of a 429 or 529.
	RetryAfter string
	// Delay waits this long before answering (or failing).
	Delay time.Duration
	// ResetAfter, for a streamed answer, drops the connection after this many events.
	ResetAfter int
	// EventDelay, for a streamed answer, waits this long before each event after the first: a
	// slow stream (a timeout for a client whose idle or overall deadline is shorter).
	EventDelay time.Duration
}

// Request is a request the fake received, without its credentials.
type Request struct {
	Method, Path string
	Header       http.Header // x-api-key and Authorization removed
	Body         []byte
	// Auth says which credential it carried: "x-api-key" or "bearer".
	Auth string
}

// Server is a running fake.
type Server struct {
	ts *httptest.Server

	mu         sync.Mutex
	faults     []Fault
	requests   []Request
	unrecorded bool
	n          int
	turnaround time.Duration
	latencyLo  time.Duration // every answer's wait before it starts: uniform in [latencyLo, latencyHi]
	latencyHi  time.Duration
	batches    []*batch // in creation order
	nbatch     int
}

// New starts a fake on a loopback port. Close it when done.
func New() *Server {
	s := &Server{}
	s.ts = httptest.NewServer(s.handler())
	return s
}

// Listen starts a fake on addr (host:port; port 0 picks one), for a fake run as its own process.
// The host must be a loopback address or localhost: the fake serves anyone who reaches it.
func Listen(addr string) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("fakeapi: listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("fakeapi: listen address %q is not loopback (want 127.0.0.1, ::1 or localhost)", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fakeapi: %w", err)
	}
	if a, ok := l.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		l.Close()
		return nil, fmt.Errorf("fakeapi: %q resolved to %v, not a loopback address", addr, l.Addr())
	}
	s := &Server{}
	s.ts = httptest.NewUnstartedServer(s.handler())
	s.ts.Listener.Close()
	s.ts.Listener = l
	s.ts.Start()
	return s, nil
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages", s.messages)
	mux.HandleFunc("POST /v1/messages/count_tokens", s.countTokens)
	mux.HandleFunc("GET /v1/models", s.models)
	mux.HandleFunc("POST /v1/messages/batches", s.createBatch)
	mux.HandleFunc("GET /v1/messages/batches", s.listBatches)
	mux.HandleFunc("GET /v1/messages/batches/{id}", s.getBatch)
	mux.HandleFunc("DELETE /v1/messages/batches/{id}", s.deleteBatch)
	mux.HandleFunc("GET /v1/messages/batches/{id}/results", s.batchResults)
	mux.HandleFunc("POST /v1/messages/batches/{id}/cancel", s.cancelBatch)
	return s.authenticated(mux)
}

// URL is the fake's base URL (http://127.0.0.1:PORT).
func (s *Server) URL() string { return s.ts.URL }

// Close stops the fake.
func (s *Server) Close() { s.ts.Close() }

// Fail queues faults: the next requests to /v1/messages get them, in order.
func (s *Server) Fail(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// KeepRequests turns the recording of requests on (the default) or off: a fake that serves a load
// test for long would otherwise grow without bound. Requests already recorded stay.
func (s *Server) KeepRequests(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unrecorded = !on
}

// SetLatency makes every answer to POST /v1/messages wait before it starts (the model's time to
// its first token), as a real upstream does: a time drawn uniformly from [lo, hi] by a hash of the
// request's number (deterministic, and spread so that concurrent clients do not move in
// lockstep). 0, the default, answers at once. A fault's Delay adds to it.
//
// Every answer to POST /v1/messages carries X-Fake-Service-Us: the microseconds the fake spent on
// it from receiving its headers to writing its answer's headers (its latency included), so that a
// client can subtract the upstream's own time from what it measured.
func (s *Server) SetLatency(lo, hi time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latencyLo, s.latencyHi = lo, max(hi, lo)
}

// latencyOf returns the latency of request number n.
func (s *Server) latencyOf(n int) time.Duration {
	s.mu.Lock()
	lo, hi := s.latencyLo, s.latencyHi
	s.mu.Unlock()
	if hi <= lo {
		return lo
	}
	h := uint64(n)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	h ^= h >> 31
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 29
	return lo + time.Duration(h%uint64(hi-lo+1))
}

// SetBatchTurnaround sets how long a batch created from now on stays in progress: it ends at the
// first GET after that. 0, the default, ends it at the first GET.
func (s *Server) SetBatchTurnaround(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.turnaround = d
}

// maxBody is the largest request body the fake reads.
const maxBody = 32 << 20

// readBody reads a request's body, at most maxBody bytes, in one allocation when the client said
// its length.
func readBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= maxBody {
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, maxBody))
}

// heldBody is a request body the fake has read already, so that a handler gets it without
// another copy (bodyOf).
type heldBody struct {
	*bytes.Reader
	b []byte
}

func (*heldBody) Close() error { return nil }

// bodyOf returns a request's body.
func bodyOf(r *http.Request) []byte {
	if h, ok := r.Body.(*heldBody); ok {
		return h.b
	}
	b, _ := io.ReadAll(r.Body)
	return b
}

func (s *Server) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "unreadable body")
			return
		}
		r.Body = &heldBody{Reader: bytes.NewReader(body), b: body}
		auth := ""
		switch {
		case r.Header.Get("x-api-key") != "":
			auth = "x-api-key"
		case strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "):
			auth = "bearer"
		}
		s.mu.Lock()
		if !s.unrecorded {
			h := r.Header.Clone()
			h.Del("x-api-key")
			h.Del("Authorization")
			s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: h, Body: body, Auth: auth})
		}
		s.mu.Unlock()
		if auth == "" {
			writeError(w, http.StatusUnauthorized, "authentication_error", "x-api-key header is required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// request is the part of a Messages request the fake reads.
type request struct {
	Model     string          `json:"model"`
	MaxTokens int64           `json:"max_tokens"`
	System    json.RawMessage `json:"system"`
	Messages  []message       `json:"messages"`
	Stream    bool            `json:"stream"`
}

// message is a message of a request, its content as JSON.
type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// decodeRequest reads a Messages request body into q in one pass of a scanner that skips what
// the fake does not read at the speed of a byte search (encoding/json took milliseconds on an
// agent's 100 KB request, which made the fake, not the gateway, the bottleneck of the overhead
// benchmark). The structure is validated; numbers and literals in skipped values are not.
func decodeRequest(body []byte, q *request) error {
	var s jsonscan.Scanner
	s.Reset(body)
	err := s.Object(func(key []byte) error {
		var err error
		switch string(key) {
		case "model":
			var v []byte
			if v, err = s.String(); err == nil {
				q.Model = string(v)
			}
		case "max_tokens":
			q.MaxTokens, err = s.Int()
		case "stream":
			if !s.Null() {
				q.Stream, err = s.Bool()
			}
		case "system":
			q.System, err = s.Raw()
		case "messages":
			err = s.Array(func() error {
				var m message
				err := s.Object(func(key []byte) error {
					var err error
					switch string(key) {
					case "role":
						var v []byte
						if v, err = s.String(); err == nil {
							m.Role = string(v)
						}
					case "content":
						m.Content, err = s.Raw()
					default:
						err = s.Skip()
					}
					return err
				})
				q.Messages = append(q.Messages, m)
				return err
			})
		default:
			err = s.Skip()
		}
		return err
	})
	if err == nil {
		err = s.End()
	}
	return err
}

// stringLen returns about the length of a JSON string's text without decoding it: its raw length
// less the quotes and one byte per backslash (exact but for escaped backslashes and \u escapes).
func stringLen(raw []byte) int { return max(0, len(raw)-2-bytes.Count(raw, []byte{'\\'})) }

// textLen returns the length of the text of a content value: a string's, or that of its blocks'
// text, nested content and tool inputs (as JSON).
func textLen(raw []byte) int {
	var s jsonscan.Scanner
	s.Reset(raw)
	switch s.Peek() {
	case '"':
		return stringLen(raw)
	case '[':
		n := 0
		err := s.Array(func() error {
			return s.Object(func(key []byte) error {
				switch string(key) {
				case "text":
					v, err := s.Raw()
					n += stringLen(v)
					return err
				case "content", "input":
					v, err := s.Raw()
					if string(key) == "content" {
						n += textLen(v)
					} else {
						n += len(v)
					}
					return err
				}
				return s.Skip()
			})
		})
		if err == nil {
			return n
		}
	}
	return len(raw)
}

// mix64 is SplitMix64's finalizer.
func mix64(h uint64) uint64 {
	h ^= h >> 31
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 29
	h *= 0x94D049BB133111EB
	return h ^ h>>32
}

// inputTokens estimates a request's prompt tokens: a token per four characters, at least one.
func (q *request) inputTokens() int64 {
	n := textLen(q.System)
	for _, m := range q.Messages {
		n += len(m.Role) + textLen(m.Content)
	}
	return max(1, int64((n+3)/4))
}

// answer returns the answer's text and output tokens: words derived from a hash of the request's
// model, max_tokens, system prompt and messages (not whether it streams), as many as max_tokens
// allows (at most 24).
func (q *request) answer() (string, int64) {
	// CRC-32C runs at memory speed (SSE4.2 or ARMv8 CRC); the mix spreads it over 64 bits.
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	h.Write(strconv.AppendInt([]byte(q.Model+"\x00"), q.MaxTokens, 10))
	h.Write(append([]byte{0}, q.System...))
	for _, m := range q.Messages {
		h.Write([]byte("\x00" + m.Role + "\x00"))
		h.Write(m.Content)
	}
	seed := mix64(uint64(h.Sum32()))
	words := []string{"the", "plan", "saves", "what", "it", "claims", "when", "traffic", "repeats", "itself", "and", "cheap", "models", "answer", "well"}
	n := min(max(q.MaxTokens, 1), int64(8+seed%17))
	out := make([]string, n)
	for i := range out {
		out[i] = words[(seed>>(i%16*4))%uint64(len(words))]
		seed = seed*6364136223846793005 + 1442695040888963407
	}
	return strings.Join(out, " "), n
}

func (s *Server) nextFault() (Fault, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if len(s.faults) == 0 {
		return Fault{}, s.n
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	return f, s.n
}

// valid says whether a Messages request has what the fake needs to answer it.
func (q *request) valid() bool { return q.Model != "" && len(q.Messages) > 0 && q.MaxTokens > 0 }

const invalidRequest = "want a JSON body with model, max_tokens and messages"

// message is the non-streamed answer to q, with this id.
func (q *request) message(id string) map[string]any {
	txt, out := q.answer()
	return map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": q.Model,
		"content":     []any{map[string]any{"type": "text", "text": txt}},
		"stop_reason": "end_turn", "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": q.inputTokens(), "output_tokens": out,
			"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
	}
}

// failure is the status, error type and message of a fault with a status.
func (f Fault) failure() (int, string, string) {
	kind := "api_error"
	switch f.Status {
	case http.StatusTooManyRequests:
		kind = "rate_limit_error"
	case 529:
		kind = "overloaded_error"
	}
	return f.Status, kind, fmt.Sprintf("fake fault %d", f.Status)
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	f, n := s.nextFault()
	if d := f.Delay + s.latencyOf(n); d > 0 && !sleep(r, d) {
		return
	}
	setService := func() { // just before the headers go
		w.Header().Set("X-Fake-Service-Us", strconv.FormatInt(time.Since(start).Microseconds(), 10))
	}
	if f.Status != 0 {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		status, kind, msg := f.failure()
		setService()
		writeError(w, status, kind, msg)
		return
	}
	body := bodyOf(r)
	var q request
	if err := decodeRequest(body, &q); err != nil || !q.valid() {
		writeError(w, http.StatusBadRequest, "invalid_request_error", invalidRequest)
		return
	}
	id := fmt.Sprintf("msg_fake_%06d", n)
	w.Header().Set("request-id", fmt.Sprintf("req_fake_%06d", n))
	if !q.Stream {
		w.Header().Set("Content-Type", "application/json")
		setService()
		json.NewEncoder(w).Encode(q.message(id))
		return
	}
	in := q.inputTokens()
	txt, out := q.answer()
	setService()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	flusher, _ := w.(http.Flusher)
	events := 0
	emit := func(name string, data any) {
		if f.ResetAfter > 0 && events == f.ResetAfter {
			panic(http.ErrAbortHandler) // drop the connection mid-stream
		}
		if f.EventDelay > 0 && events > 0 && !sleep(r, f.EventDelay) {
			panic(http.ErrAbortHandler) // the client left
		}
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
		if flusher != nil {
			flusher.Flush()
		}
		events++
	}
	emit("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": q.Model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": in, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}})
	emit("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
	emit("ping", map[string]any{"type": "ping"})
	parts := strings.SplitAfter(txt, " ")
	for i := 0; i < len(parts); i += 3 {
		emit("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
			"delta": map[string]any{"type": "text_delta", "text": strings.Join(parts[i:min(i+3, len(parts))], "")}})
	}
	emit("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	emit("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": out}})
	emit("message_stop", map[string]any{"type": "message_stop"})
}

// sleep waits d, or less if the client goes away; it says whether the client is still there.
func sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (s *Server) countTokens(w http.ResponseWriter, r *http.Request) {
	body := bodyOf(r)
	var q request
	if err := json.Unmarshal(body, &q); err != nil || len(q.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "want a JSON body with messages")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"input_tokens": q.inputTokens()})
}

// Models are the models GET /v1/models lists.
var Models = []string{"claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-6"}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	var data []any
	for _, m := range Models {
		data = append(data, map[string]any{"type": "model", "id": m, "display_name": m, "created_at": "2025-09-29T00:00:00Z"})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"data": data, "has_more": false, "first_id": Models[0], "last_id": Models[len(Models)-1]})
}

// batch is a Message Batch: what the API shows of it, and its results.
type batch struct {
	view    batchView
	due     time.Time // creation plus the turnaround, on the monotonic clock
	results []batchResult
}

// batchView is the batch object of the Message Batches API.
type batchView struct {
	ID                string      `json:"id"`
	Type              string      `json:"type"`
	ProcessingStatus  string      `json:"processing_status"`
	RequestCounts     batchCounts `json:"request_counts"`
	EndedAt           *time.Time  `json:"ended_at"`
	CreatedAt         time.Time   `json:"created_at"`
	ExpiresAt         time.Time   `json:"expires_at"`
	ArchivedAt        *time.Time  `json:"archived_at"`
	CancelInitiatedAt *time.Time  `json:"cancel_initiated_at"`
	ResultsURL        *string     `json:"results_url"`
}

type batchCounts struct {
	Processing int `json:"processing"`
	Succeeded  int `json:"succeeded"`
	Errored    int `json:"errored"`
	Canceled   int `json:"canceled"`
	Expired    int `json:"expired"`
}

// batchResult is a line of a batch's results.
type batchResult struct {
	CustomID string         `json:"custom_id"`
	Result   map[string]any `json:"result"`
}

// maxBatchRequests is the API's limit on the requests of a batch.
const maxBatchRequests = 100_000

func validCustomID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func (s *Server) createBatch(w http.ResponseWriter, r *http.Request) {
	body := bodyOf(r)
	var in struct {
		Requests []struct {
			CustomID string          `json:"custom_id"`
			Params   json.RawMessage `json:"params"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(body, &in); err != nil || len(in.Requests) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "want a JSON body with a non-empty requests array")
		return
	}
	if len(in.Requests) > maxBatchRequests {
		writeError(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("requests: at most %d requests in a batch", maxBatchRequests))
		return
	}
	seen := make(map[string]bool, len(in.Requests))
	for i, q := range in.Requests {
		if !validCustomID(q.CustomID) || seen[q.CustomID] {
			writeError(w, http.StatusBadRequest, "invalid_request_error",
				fmt.Sprintf("requests.%d.custom_id: want a unique ID of 1 to 64 letters, digits, - and _", i))
			return
		}
		seen[q.CustomID] = true
	}
	results := make([]batchResult, len(in.Requests))
	for i, q := range in.Requests {
		f, n := s.nextFault()
		results[i] = batchResult{CustomID: q.CustomID, Result: batchAnswer(q.Params, f, n)}
	}
	now := time.Now()
	s.mu.Lock()
	s.nbatch++
	b := &batch{due: now.Add(s.turnaround), results: results, view: batchView{
		ID: fmt.Sprintf("msgbatch_fake_%06d", s.nbatch), Type: "message_batch", ProcessingStatus: "in_progress",
		RequestCounts: batchCounts{Processing: len(results)},
		CreatedAt:     now.UTC(), ExpiresAt: now.UTC().Add(24 * time.Hour),
	}}
	s.batches = append(s.batches, b)
	v := b.view
	s.mu.Unlock()
	writeJSON(w, v)
}

// batchAnswer is the result of one request of a batch: the message POST /v1/messages would answer
// (another ID, the same content and usage), or an error: the fault's if it has a status (its
// delays and resets mean nothing here), or invalid_request_error for an invalid or streamed request.
func batchAnswer(params json.RawMessage, f Fault, n int) map[string]any {
	errored := func(kind, msg string) map[string]any {
		return map[string]any{"type": "errored", "error": map[string]any{"type": "error",
			"error": map[string]any{"type": kind, "message": msg}, "request_id": fmt.Sprintf("req_fake_%06d", n)}}
	}
	if f.Status != 0 {
		_, kind, msg := f.failure()
		return errored(kind, msg)
	}
	var q request
	if json.Unmarshal(params, &q) != nil || !q.valid() {
		return errored("invalid_request_error", invalidRequest)
	}
	if q.Stream {
		return errored("invalid_request_error", "stream: streaming is not supported in a batch")
	}
	return map[string]any{"type": "succeeded", "message": q.message(fmt.Sprintf("msg_fake_%06d", n))}
}

// settle ends b if it is due or being canceled. The caller holds s.mu.
func (s *Server) settle(b *batch, now time.Time) {
	v := &b.view
	if v.EndedAt != nil || (v.CancelInitiatedAt == nil && now.Before(b.due)) {
		return
	}
	ended := now.UTC()
	url := s.ts.URL + "/v1/messages/batches/" + v.ID + "/results"
	v.EndedAt, v.ResultsURL, v.ProcessingStatus = &ended, &url, "ended"
	var c batchCounts
	for i := range b.results {
		if v.CancelInitiatedAt != nil {
			b.results[i].Result = map[string]any{"type": "canceled"}
		}
		switch b.results[i].Result["type"] {
		case "succeeded":
			c.Succeeded++
		case "errored":
			c.Errored++
		default:
			c.Canceled++
		}
	}
	v.RequestCounts = c
}

// batch returns the batch with this ID, settled if settle is set, and its view; or it answers 404
// and returns nil. The caller holds s.mu.
func (s *Server) batch(w http.ResponseWriter, r *http.Request, settle bool) (*batch, batchView) {
	id := r.PathValue("id")
	for _, b := range s.batches {
		if b.view.ID == id {
			if settle {
				s.settle(b, time.Now())
			}
			return b, b.view
		}
	}
	writeError(w, http.StatusNotFound, "not_found_error", fmt.Sprintf("message batch %q not found", id))
	return nil, batchView{}
}

func (s *Server) getBatch(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b, v := s.batch(w, r, true)
	s.mu.Unlock()
	if b != nil {
		writeJSON(w, v)
	}
}

func (s *Server) cancelBatch(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b, v := s.batch(w, r, false)
	if b != nil && b.view.EndedAt == nil && b.view.CancelInitiatedAt == nil {
		now := time.Now().UTC()
		b.view.CancelInitiatedAt, b.view.ProcessingStatus = &now, "canceling"
		v = b.view
	}
	s.mu.Unlock()
	if b != nil {
		writeJSON(w, v)
	}
}

func (s *Server) deleteBatch(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, v := s.batch(w, r, false)
	if b == nil {
		return
	}
	if v.EndedAt == nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "a message batch can be deleted only once it has ended: cancel it first")
		return
	}
	for i := range s.batches {
		if s.batches[i] == b {
			s.batches = append(s.batches[:i], s.batches[i+1:]...)
			break
		}
	}
	writeJSON(w, map[string]any{"id": v.ID, "type": "message_batch_deleted"})
}

func (s *Server) batchResults(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b, v := s.batch(w, r, true)
	var results []batchResult
	if b != nil {
		results = b.results // settled results are not changed again
	}
	s.mu.Unlock()
	if b == nil {
		return
	}
	if v.EndedAt == nil {
		writeError(w, http.StatusNotFound, "not_found_error", fmt.Sprintf("message batch %s has not ended: its results are not available yet", v.ID))
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, res := range results {
		enc.Encode(res) // one JSON object and a newline: a JSONL line
	}
	w.Header().Set("Content-Type", "application/x-jsonl")
	w.Write(buf.Bytes())
}

func (s *Server) listBatches(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 20
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "limit: want an integer from 1 to 1000")
			return
		}
		limit = n
	}
	after, before := q.Get("after_id"), q.Get("before_id")
	s.mu.Lock()
	now := time.Now()
	all := make([]batchView, 0, len(s.batches)) // newest first
	for i := len(s.batches) - 1; i >= 0; i-- {
		s.settle(s.batches[i], now)
		all = append(all, s.batches[i].view)
	}
	s.mu.Unlock()
	index := func(id string) int {
		for i, v := range all {
			if v.ID == id {
				return i
			}
		}
		return -1
	}
	var page []batchView
	more := false
	switch {
	case before != "":
		end := max(index(before), 0) // the batches newer than before_id, the nearest ones
		start := max(end-limit, 0)
		page, more = all[start:end], start > 0
	case after != "":
		start := len(all)
		if i := index(after); i >= 0 {
			start = i + 1
		}
		end := min(start+limit, len(all))
		page, more = all[start:end], end < len(all)
	default:
		end := min(limit, len(all))
		page, more = all[:end], end < len(all)
	}
	var first, last any
	if len(page) > 0 {
		first, last = page[0].ID, page[len(page)-1].ID
	}
	writeJSON(w, map[string]any{"data": page, "has_more": more, "first_id": first, "last_id": last})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// writeError answers with Anthropic's error shape.
func writeError(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": map[string]any{"type": kind, "message": msg}})
}
