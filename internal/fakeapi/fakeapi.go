// Package fakeapi is a fake of the Anthropic Messages API, for tests of anything that speaks it
// (the live proxy, SDK clients): POST /v1/messages, answered as JSON or streamed as server-sent
// events in the order the real API sends them (message_start, content_block_start, ping,
// content_block_delta..., content_block_stop, message_delta with the usage, message_stop); POST
// /v1/messages/count_tokens; GET /v1/models. Answers are deterministic functions of the request:
// the same request gets the same text and usage. Faults are queued on demand, one per request to
// /v1/messages: an error status with Anthropic's error JSON (5xx, 529 overloaded, 429 with
// retry-after), a delay (a timeout for a client that waits less), or a connection reset in the
// middle of a stream.
//
// The fake listens on loopback only. It checks that a request carries credentials (x-api-key or
// Authorization: Bearer) and records requests without them.
package fakeapi

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
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

	mu       sync.Mutex
	faults   []Fault
	requests []Request
	n        int
}

// New starts a fake on a loopback port. Close it when done.
func New() *Server {
	s := &Server{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages", s.messages)
	mux.HandleFunc("POST /v1/messages/count_tokens", s.countTokens)
	mux.HandleFunc("GET /v1/models", s.models)
	s.ts = httptest.NewServer(s.authenticated(mux))
	return s
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

func (s *Server) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "unreadable body")
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		auth := ""
		switch {
		case r.Header.Get("x-api-key") != "":
			auth = "x-api-key"
		case strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "):
			auth = "bearer"
		}
		h := r.Header.Clone()
		h.Del("x-api-key")
		h.Del("Authorization")
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: h, Body: body, Auth: auth})
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
	Messages  []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Stream bool `json:"stream"`
}

// text returns the text of a content value: a string, or the text of its blocks.
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []struct {
		Type    string          `json:"type"`
		Text    string          `json:"text"`
		Content json.RawMessage `json:"content"`
		Input   json.RawMessage `json:"input"`
	}
	if json.Unmarshal(raw, &blocks) != nil {
		return string(raw)
	}
	var b strings.Builder
	for _, bl := range blocks {
		b.WriteString(bl.Text)
		if len(bl.Content) > 0 {
			b.WriteString(text(bl.Content))
		}
		b.Write(bl.Input)
	}
	return b.String()
}

// inputTokens estimates a request's prompt tokens: a token per four characters, at least one.
func (q *request) inputTokens() int64 {
	n := len(text(q.System))
	for _, m := range q.Messages {
		n += len(m.Role) + len(text(m.Content))
	}
	return max(1, int64((n+3)/4))
}

// answer returns the answer's text and output tokens: words derived from a hash of the request's
// model, max_tokens, system prompt and messages (not whether it streams), as many as max_tokens
// allows (at most 24).
func (q *request) answer() (string, int64) {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%d\x00%s\x00", q.Model, q.MaxTokens, q.System)
	for _, m := range q.Messages {
		fmt.Fprintf(h, "%s\x00%s\x00", m.Role, m.Content)
	}
	seed := h.Sum64()
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

func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	f, n := s.nextFault()
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if f.Status != 0 {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		kind := "api_error"
		switch f.Status {
		case http.StatusTooManyRequests:
			kind = "rate_limit_error"
		case 529:
			kind = "overloaded_error"
		}
		writeError(w, f.Status, kind, fmt.Sprintf("fake fault %d", f.Status))
		return
	}
	body, _ := io.ReadAll(r.Body)
	var q request
	if err := json.Unmarshal(body, &q); err != nil || q.Model == "" || len(q.Messages) == 0 || q.MaxTokens <= 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "want a JSON body with model, max_tokens and messages")
		return
	}
	id := fmt.Sprintf("msg_fake_%06d", n)
	in := q.inputTokens()
	txt, out := q.answer()
	w.Header().Set("request-id", fmt.Sprintf("req_fake_%06d", n))
	if !q.Stream {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": id, "type": "message", "role": "assistant", "model": q.Model,
			"content":     []any{map[string]any{"type": "text", "text": txt}},
			"stop_reason": "end_turn", "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": in, "output_tokens": out,
				"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	flusher, _ := w.(http.Flusher)
	events := 0
	emit := func(name string, data any) {
		if f.ResetAfter > 0 && events == f.ResetAfter {
			panic(http.ErrAbortHandler) // drop the connection mid-stream
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

func (s *Server) countTokens(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
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

// writeError answers with Anthropic's error shape.
func writeError(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": map[string]any{"type": kind, "message": msg}})
}
