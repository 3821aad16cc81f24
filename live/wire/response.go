package wire

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tarsopt/tarsopt/internal/jsonscan"
)

// Usage is a response's token usage, in tokens, as the API bills it.
type Usage struct {
	// InputTokens is usage.input_tokens: prompt tokens neither written to nor read from the cache.
	InputTokens int64
	// OutputTokens is usage.output_tokens.
	OutputTokens int64
	// CacheCreationInputTokens is usage.cache_creation_input_tokens: prompt tokens written to the
	// cache, both TTLs.
	CacheCreationInputTokens int64
	// CacheReadInputTokens is usage.cache_read_input_tokens.
	CacheReadInputTokens int64
	// CacheWrite5m and CacheWrite1h split the cache writes by TTL, from
	// usage.cache_creation.ephemeral_5m_input_tokens and ephemeral_1h_input_tokens; without that
	// object, all of CacheCreationInputTokens counts as 5m.
	CacheWrite5m int64
	CacheWrite1h int64
}

// PromptTokens is the whole prompt: input, cache writes and cache reads.
func (u Usage) PromptTokens() int64 {
	return u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
}

// Response is what the proxy reads of a non-streamed Messages response (a Message object).
type Response struct {
	ID           string // id, such as msg_01...
	Model        string // model
	Role         string // role: assistant
	StopReason   string // stop_reason: end_turn, max_tokens, stop_sequence, tool_use, ...; "" when null
	StopSequence string // stop_sequence; "" when null
	Usage        Usage
}

// ParseResponse reads a Message JSON body. A body of Anthropic's error shape returns an *APIError
// (with Status 0: the caller knows the status); other bodies that are not a JSON object with type
// "message" are an error.
func ParseResponse(body []byte) (*Response, error) {
	s := scanner{b: body}
	if s.peek() != '{' {
		return nil, errors.New("response: not a JSON object")
	}
	s.i++
	var resp Response
	var scratch []byte
	var typ string
	var errRaw []byte
	var u usageReader
	for first := true; ; first = false {
		key, more, err := s.objectNext(first, &scratch)
		if err != nil {
			return nil, fmt.Errorf("response: %w", err)
		}
		if !more {
			break
		}
		var dst *string
		switch string(key) {
		case "id":
			dst = &resp.ID
		case "model":
			dst = &resp.Model
		case "role":
			dst = &resp.Role
		case "stop_reason":
			dst = &resp.StopReason
		case "stop_sequence":
			dst = &resp.StopSequence
		case "type":
			dst = &typ
		}
		v, err := s.value()
		if err != nil {
			return nil, fmt.Errorf("response: %w", err)
		}
		switch string(key) {
		case "usage":
			u.object(v)
		case "error":
			errRaw = v
		}
		if dst != nil {
			*dst = jsonString(v)
		}
	}
	if err := s.end(); err != nil {
		return nil, fmt.Errorf("response: %w", err)
	}
	if typ == "error" {
		return nil, apiErrorFrom(0, errRaw)
	}
	if typ != "message" {
		return nil, fmt.Errorf("response: type %q, want \"message\"", typ)
	}
	resp.Usage = u.usage()
	return &resp, nil
}

// jsonString decodes a raw JSON string value; "" for anything else (null included).
func jsonString(raw []byte) string {
	s := scanner{b: raw}
	if s.peek() != '"' {
		return ""
	}
	v, esc, err := s.str()
	if err != nil {
		return ""
	}
	if esc {
		return string(appendUnescaped(nil, v))
	}
	return string(v)
}

// jsonInt decodes a raw JSON integer; ok is false for anything else.
func jsonInt(raw []byte) (int64, bool) {
	raw = bytes.TrimSpace(raw)
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return 0, false
		}
		return int64(f), true
	}
	return v, true
}

// usageReader reads usage objects, later ones overriding the fields they carry.
type usageReader struct {
	u         Usage
	breakdown bool // a cache_creation object was seen
}

func (r *usageReader) object(raw []byte) {
	forMembers(raw, func(key string, v []byte) {
		var dst *int64
		switch key {
		case "input_tokens":
			dst = &r.u.InputTokens
		case "output_tokens":
			dst = &r.u.OutputTokens
		case "cache_creation_input_tokens":
			dst = &r.u.CacheCreationInputTokens
		case "cache_read_input_tokens":
			dst = &r.u.CacheReadInputTokens
		case "cache_creation":
			if isNull(v) {
				return
			}
			r.breakdown = true
			forMembers(v, func(key string, v []byte) {
				switch key {
				case "ephemeral_5m_input_tokens":
					r.u.CacheWrite5m, _ = jsonInt(v)
				case "ephemeral_1h_input_tokens":
					r.u.CacheWrite1h, _ = jsonInt(v)
				}
			})
			return
		}
		if dst != nil {
			if n, ok := jsonInt(v); ok {
				*dst = n
			}
		}
	})
}

func (r *usageReader) usage() Usage {
	u := r.u
	if !r.breakdown {
		u.CacheWrite5m, u.CacheWrite1h = u.CacheCreationInputTokens, 0
	}
	return u
}

// forMembers calls fn with each member of a JSON object (nothing for other values); the key is
// valid during the call.
func forMembers(raw []byte, fn func(key string, v []byte)) {
	s := scanner{b: raw}
	if s.peek() != '{' {
		return
	}
	s.i++
	var scratch []byte
	for first := true; ; first = false {
		key, more, err := s.objectNext(first, &scratch)
		if err != nil || !more {
			return
		}
		v, err := s.value()
		if err != nil {
			return
		}
		fn(string(key), v)
	}
}

// APIError is an error the API answered with (Anthropic's error shape), or that the proxy answers
// with.
type APIError struct {
	Status  int    // HTTP status; 0 when unknown (an error event in a stream)
	Type    string // error.type, such as overloaded_error
	Message string // error.message
}

// Error returns "anthropic: TYPE (STATUS): MESSAGE".
func (e *APIError) Error() string {
	s := "anthropic: " + e.Type
	if e.Status != 0 {
		s += " (" + strconv.Itoa(e.Status) + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// ParseError reads an error response body. When the body is not Anthropic's error shape, Type is
// ErrorKind(status) and Message the start of the body.
func ParseError(status int, body []byte) *APIError {
	var errRaw []byte
	isError := false
	forMembers(body, func(key string, v []byte) {
		switch key {
		case "type":
			isError = jsonString(v) == "error"
		case "error":
			errRaw = v
		}
	})
	if isError && errRaw != nil {
		return apiErrorFrom(status, errRaw)
	}
	msg := string(bytes.TrimSpace(body))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return &APIError{Status: status, Type: ErrorKind(status), Message: msg}
}

func apiErrorFrom(status int, raw []byte) *APIError {
	e := &APIError{Status: status}
	forMembers(raw, func(key string, v []byte) {
		switch key {
		case "type":
			e.Type = jsonString(v)
		case "message":
			e.Message = jsonString(v)
		}
	})
	if e.Type == "" {
		e.Type = ErrorKind(status)
	}
	return e
}

// ErrorKind returns Anthropic's error type for an HTTP status: 400 invalid_request_error, 401
// authentication_error, 402 billing_error, 403 permission_error, 404 not_found_error, 413
// request_too_large, 429 rate_limit_error, 529 overloaded_error; other 4xx invalid_request_error,
// other statuses (500, 502, 504, ...) api_error.
func ErrorKind(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "billing_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 400 && status < 500 {
		return "invalid_request_error"
	}
	return "api_error"
}

// WriteError answers with Anthropic's error shape, {"type":"error","error":{"type":KIND,
// "message":MSG}}, status and Content-Type application/json. An empty kind is ErrorKind(status).
func WriteError(w http.ResponseWriter, status int, kind, message string) {
	if kind == "" {
		kind = ErrorKind(status)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(ErrorBody(kind, message))
}

// ErrorBody returns Anthropic's error JSON, with a final newline.
func ErrorBody(kind, message string) []byte {
	b := make([]byte, 0, 64+len(kind)+len(message))
	b = append(b, `{"type":"error","error":{"type":`...)
	b = jsonscan.AppendString(b, kind)
	b = append(b, `,"message":`...)
	b = jsonscan.AppendString(b, message)
	return append(b, "}}\n"...)
}
