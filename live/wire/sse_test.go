package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/tarsopt/tarsopt/internal/fakeapi"
	"github.com/tarsopt/tarsopt/internal/jsonscan"
)

// readAll reads every event of s, through a reader that returns one byte at a time when slow.
func readAll(t *testing.T, s string, slow bool) ([]Event, error) {
	t.Helper()
	var r io.Reader = strings.NewReader(s)
	if slow {
		r = iotest.OneByteReader(r)
	}
	er := NewEventReader(r)
	var evs []Event
	for {
		ev, err := er.Next()
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestEventReader(t *testing.T) {
	type ev struct{ name, data, raw string }
	tests := []struct {
		name string
		in   string
		want []ev
	}{
		{"two events", "event: a\ndata: {\"x\":1}\n\nevent: b\ndata: 2\n\n",
			[]ev{{"a", `{"x":1}`, "event: a\ndata: {\"x\":1}\n\n"}, {"b", "2", "event: b\ndata: 2\n\n"}}},
		{"CRLF", "event: a\r\ndata: 1\r\n\r\nevent: b\r\ndata: 2\r\n\r\n",
			[]ev{{"a", "1", "event: a\r\ndata: 1\r\n\r\n"}, {"b", "2", "event: b\r\ndata: 2\r\n\r\n"}}},
		{"CR", "event: a\rdata: 1\r\rdata: 2\r\r",
			[]ev{{"a", "1", "event: a\rdata: 1\r\r"}, {"", "2", "data: 2\r\r"}}},
		{"comments and unknown fields", ": keep-alive\n\nid: 7\nretry: 10\n: note\nevent: a\ndata: x\n\n",
			[]ev{{"", "", ": keep-alive\n\n"}, {"a", "x", "id: 7\nretry: 10\n: note\nevent: a\ndata: x\n\n"}}},
		{"multi-line data", "data: one\ndata:two\ndata\ndata:  three\n\n",
			[]ev{{"", "one\ntwo\n\n three", "data: one\ndata:two\ndata\ndata:  three\n\n"}}},
		{"final event without its blank line", "event: a\ndata: 1\n\nevent: b\ndata: 2",
			[]ev{{"a", "1", "event: a\ndata: 1\n\n"}, {"b", "2", "event: b\ndata: 2"}}},
		{"final event ending in a line ending", "event: a\ndata: 1\n",
			[]ev{{"a", "1", "event: a\ndata: 1\n"}}},
		{"stray blank lines", "\n\nevent: a\ndata: 1\n\n\n",
			[]ev{{"", "", "\n"}, {"", "", "\n"}, {"a", "1", "event: a\ndata: 1\n\n"}, {"", "", "\n"}}},
		{"byte-order mark", "\xEF\xBB\xBFevent: a\ndata: 1\n\n",
			[]ev{{"a", "1", "\xEF\xBB\xBFevent: a\ndata: 1\n\n"}}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		for _, slow := range []bool{false, true} {
			evs, err := readAll(t, tt.in, slow)
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
				continue
			}
			var got []ev
			var raw []byte
			for _, e := range evs {
				got = append(got, ev{e.Name, string(e.Data), string(e.Raw)})
				raw = append(raw, e.Raw...)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s (slow %v):\n got %q\nwant %q", tt.name, slow, got, tt.want)
			}
			if string(raw) != tt.in {
				t.Errorf("%s: Raw concatenated is %q", tt.name, raw)
			}
		}
	}
}

func TestEventReaderLimits(t *testing.T) {
	// A line over the limit is an error, after at most the limit held in memory.
	long := io.MultiReader(strings.NewReader("data: "), io.LimitReader(neverEnding('x'), MaxLineBytes+10))
	er := NewEventReader(long)
	if _, err := er.Next(); !errors.Is(err, ErrTooLong) {
		t.Errorf("a long line: %v, want ErrTooLong", err)
	}
	if _, err := er.Next(); !errors.Is(err, ErrTooLong) {
		t.Errorf("after a long line: %v, want ErrTooLong again", err)
	}
	// A line at the limit passes.
	ok := io.MultiReader(strings.NewReader("data:"), io.LimitReader(neverEnding('y'), MaxLineBytes-5), strings.NewReader("\n\n"))
	ev, err := NewEventReader(ok).Next()
	if err != nil || len(ev.Data) != MaxLineBytes-5 {
		t.Errorf("a line at the limit: %v, %d bytes", err, len(ev.Data))
	}
	// A reader's error comes through.
	boom := errors.New("boom")
	er = NewEventReader(io.MultiReader(strings.NewReader("data: 1\n\ndata: 2"), iotest.ErrReader(boom)))
	if _, err := er.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := er.Next(); err != boom {
		t.Errorf("reader error: %v", err)
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// A stream with every kind of block and delta.
const fullStream = `event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":20,"cache_creation":{"ephemeral_5m_input_tokens":2,"ephemeral_1h_input_tokens":3},"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me "}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"think.\n"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Caf\u00e9 "}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"\"ok\""}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Pa"}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"ris\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: content_block_start
data: {"type":"content_block_start","index":3,"content_block":{"type":"redacted_thinking","data":"abc"}}

event: content_block_stop
data: {"type":"content_block_stop","index":3}

event: future_event
data: {"type":"future_event"}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":42,"cache_read_input_tokens":21}}

event: message_stop
data: {"type":"message_stop"}

`

const fullMessage = `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[` +
	`{"type":"thinking","thinking":"Let me think.\n","signature":"EqQB"},` +
	`{"type":"text","text":"Café \"ok\""},` +
	`{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}},` +
	`{"type":"redacted_thinking","data":"abc"}],` +
	`"stop_reason":"tool_use","stop_sequence":null,` +
	`"usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":21,"cache_creation":{"ephemeral_5m_input_tokens":2,"ephemeral_1h_input_tokens":3},"output_tokens":42}}`

func accumulate(t *testing.T, stream string) *Accumulator {
	t.Helper()
	evs, err := readAll(t, stream, false)
	if err != nil {
		t.Fatal(err)
	}
	var a Accumulator
	for _, ev := range evs {
		if err := a.Add(ev); err != nil {
			t.Fatalf("Add(%s): %v", ev.Raw, err)
		}
	}
	return &a
}

func TestAccumulator(t *testing.T) {
	a := accumulate(t, fullStream)
	if !a.Complete() || !a.Started() {
		t.Error("not complete")
	}
	msg, err := a.Message()
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(t, msg, []byte(fullMessage)) {
		t.Errorf("Message():\n got %s\nwant %s", msg, fullMessage)
	}
	want := Usage{InputTokens: 10, OutputTokens: 42, CacheCreationInputTokens: 5, CacheReadInputTokens: 21, CacheWrite5m: 2, CacheWrite1h: 3}
	if u := a.Usage(); u != want {
		t.Errorf("Usage() = %+v, want %+v", u, want)
	}
	if a.StopReason() != "tool_use" {
		t.Errorf("StopReason() = %q", a.StopReason())
	}
	resp, err := ParseResponse(msg)
	if err != nil || resp.Usage != want || resp.ID != "msg_1" || resp.StopReason != "tool_use" {
		t.Errorf("ParseResponse(Message()) = %+v, %v", resp, err)
	}

	// Cut short: the message so far, with ErrIncomplete.
	cut := fullStream[:strings.Index(fullStream, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2")]
	a = accumulate(t, cut)
	msg, err = a.Message()
	if err != ErrIncomplete || a.Complete() {
		t.Errorf("a cut stream: %v", err)
	}
	var m struct {
		Content []any
		Usage   map[string]any
	}
	if json.Unmarshal(msg, &m) != nil || len(m.Content) != 2 || m.Usage["output_tokens"] != 1.0 {
		t.Errorf("a cut stream: %s", msg)
	}

	// Errors.
	var none Accumulator
	if _, err := none.Message(); err == nil {
		t.Error("Message() before message_start succeeded")
	}
	bad := []struct{ name, stream, want string }{
		{"error event", "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", "anthropic: overloaded_error: Overloaded"},
		{"delta before start", "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{}}\n\n", "wire: content_block_delta before message_start"},
		{"not JSON", "event: message_start\ndata: {\n\n", "wire: event message_start: malformed JSON at byte 1: unexpected end of input"},
	}
	for _, tt := range bad {
		evs, _ := readAll(t, tt.stream, false)
		var a Accumulator
		err := a.Add(evs[0])
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.want)
		}
	}
	var apiErr *APIError
	evs, _ := readAll(t, bad[0].stream, false)
	if err := new(Accumulator).Add(evs[0]); !errors.As(err, &apiErr) || apiErr.Type != "overloaded_error" {
		t.Errorf("error event: %v", err)
	}
	start, _ := readAll(t, fullStream[:strings.Index(fullStream, "event: ping")], false)
	for _, tail := range []string{
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":5,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n",
	} {
		var a Accumulator
		for _, ev := range start {
			if err := a.Add(ev); err != nil {
				t.Fatal(err)
			}
		}
		evs, _ := readAll(t, tail, false)
		var err error
		for _, ev := range evs {
			if err = a.Add(ev); err != nil {
				break
			}
		}
		if err == nil {
			t.Errorf("no error for %q", tail)
		}
	}
}

func TestWriteEventsRoundTrip(t *testing.T) {
	long := strings.Repeat("héllo wörld ", 40)
	messages := []string{
		fullMessage,
		`{"id":"msg_2","type":"message","role":"assistant","model":"m","content":[],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":0}}`,
		`{"id":"msg_3","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":` + string(jsonscan.AppendString(nil, long)) + `}],"stop_reason":"stop_sequence","stop_sequence":"\n\nHuman:","usage":{"input_tokens":3,"output_tokens":300,"server_tool_use":{"web_search_requests":1},"service_tier":"standard"}}`,
		`{"id":"msg_4","type":"message","role":"assistant","model":"m","content":[` +
			`{"type":"text","text":"See","citations":[{"type":"char_location","cited_text":"x","document_index":0,"start_char_index":0,"end_char_index":1}]},` +
			`{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"` + strings.Repeat("q", 300) + `"}},` +
			`{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[{"type":"web_search_result","url":"https://example.com","title":"E"}]},` +
			`{"type":"tool_use","id":"toolu_2","name":"noop","input":{}}],` +
			`"stop_reason":"end_turn","stop_sequence":null,"container":null,"usage":{"input_tokens":1,"output_tokens":9}}`,
	}
	for _, m := range messages {
		var buf bytes.Buffer
		if err := WriteEvents(&buf, []byte(m)); err != nil {
			t.Fatalf("WriteEvents(%.60s): %v", m, err)
		}
		evs, err := readAll(t, buf.String(), false)
		if err != nil {
			t.Fatal(err)
		}
		var a Accumulator
		for _, ev := range evs {
			if err := a.Add(ev); err != nil {
				t.Fatalf("Add(%s): %v", ev.Raw, err)
			}
		}
		got, err := a.Message()
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(t, got, []byte(m)) {
			t.Errorf("round trip:\n got %s\nwant %s\nvia %s", got, m, buf.String())
		}
		// The order the API uses.
		var names []string
		for _, ev := range evs {
			names = append(names, ev.Name)
		}
		seq := strings.Join(names, " ")
		if !strings.HasPrefix(seq, "message_start ") || !strings.HasSuffix(seq, " message_delta message_stop") || !strings.Contains(seq, "ping") {
			t.Errorf("event order: %s", seq)
		}
		if strings.Contains(m, `"content":[{`) && !strings.HasPrefix(seq, "message_start content_block_start ping ") {
			t.Errorf("event order: %s", seq)
		}
	}
	for _, bad := range []string{``, `[]`, `{"content":{}}`, `{"content":[1,]}`} {
		if err := WriteEvents(io.Discard, []byte(bad)); err == nil {
			t.Errorf("WriteEvents(%s) succeeded", bad)
		}
	}
}

// TestFakeAPIStream checks the reader and the accumulator against internal/fakeapi: its stream
// accumulates to its non-streamed answer, id aside.
func TestFakeAPIStream(t *testing.T) {
	srv := fakeapi.New()
	defer srv.Close()
	post := func(body string) []byte {
		req, _ := http.NewRequest("POST", srv.URL()+"/v1/messages", strings.NewReader(body))
		req.Header.Set("x-api-key", "test")
		req.Header.Set("content-type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		return b
	}
	body := `{"model":"claude-haiku-4-5","max_tokens":50,"system":"Be brief.","messages":[{"role":"user","content":"How do prompt caches work?"}]}`
	r := mustParse(t, body)
	plain := post(body)
	r.Stream = true
	stream := post(string(r.Marshal()))

	er := NewEventReader(bytes.NewReader(stream))
	var a Accumulator
	var raw []byte
	for {
		ev, err := er.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, ev.Raw...)
		if err := a.Add(ev); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(raw, stream) {
		t.Error("Raw concatenated differs from the stream")
	}
	got, err := a.Message()
	if err != nil {
		t.Fatal(err)
	}
	var g, w map[string]any
	json.Unmarshal(got, &g)
	json.Unmarshal(plain, &w)
	delete(g, "id")
	delete(w, "id")
	if !reflect.DeepEqual(g, w) {
		t.Errorf("streamed:\n%s\nplain:\n%s", got, plain)
	}
	resp, err := ParseResponse(plain)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage != a.Usage() || resp.Usage.OutputTokens == 0 {
		t.Errorf("usage: plain %+v, streamed %+v", resp.Usage, a.Usage())
	}
	// The fake estimates like Tokens does, but counts role names.
	if tok := r.Tokens(); resp.Usage.InputTokens != (int64(len("Be brief.")+len("user")+len("How do prompt caches work?"))+3)/4 || tok.Total() != 3+7 {
		t.Errorf("input tokens: fake %d, Tokens %+v", resp.Usage.InputTokens, tok)
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		body string
		want Response
	}{
		{`{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":2,"cache_creation_input_tokens":7,"cache_read_input_tokens":3}}`,
			Response{ID: "msg_1", Model: "m", Role: "assistant", StopReason: "end_turn", Usage: Usage{InputTokens: 5, OutputTokens: 2, CacheCreationInputTokens: 7, CacheReadInputTokens: 3, CacheWrite5m: 7}}},
		{`{"type":"message","id":"msg_2","stop_reason":"stop_sequence","stop_sequence":"END","usage":{"input_tokens":5,"output_tokens":2,"cache_creation_input_tokens":7,"cache_creation":{"ephemeral_5m_input_tokens":3,"ephemeral_1h_input_tokens":4}}}`,
			Response{ID: "msg_2", StopReason: "stop_sequence", StopSequence: "END", Usage: Usage{InputTokens: 5, OutputTokens: 2, CacheCreationInputTokens: 7, CacheWrite5m: 3, CacheWrite1h: 4}}},
		{`{"type":"message","usage":{"input_tokens":null,"cache_creation":null,"cache_creation_input_tokens":2}}`,
			Response{Usage: Usage{CacheCreationInputTokens: 2, CacheWrite5m: 2}}},
	}
	for _, tt := range tests {
		got, err := ParseResponse([]byte(tt.body))
		if err != nil || *got != tt.want {
			t.Errorf("ParseResponse(%s) = %+v, %v; want %+v", tt.body, got, err, tt.want)
		}
	}
	_, err := ParseResponse([]byte(`{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`))
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Type != "rate_limit_error" || apiErr.Message != "slow down" {
		t.Errorf("error body: %v", err)
	}
	for _, bad := range []string{``, `[]`, `{"type":"message"`, `{"type":"completion"}`} {
		if _, err := ParseResponse([]byte(bad)); err == nil {
			t.Errorf("ParseResponse(%s) succeeded", bad)
		}
	}
}

func TestErrors(t *testing.T) {
	kinds := map[int]string{400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
		404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 502: "api_error",
		504: "api_error", 529: "overloaded_error", 418: "invalid_request_error", 503: "api_error"}
	for status, want := range kinds {
		if got := ErrorKind(status); got != want {
			t.Errorf("ErrorKind(%d) = %s, want %s", status, got, want)
		}
	}
	rec := httptest.NewRecorder()
	WriteError(rec, 529, "overloaded_error", `Overloaded "now"`)
	if rec.Code != 529 || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("WriteError: %d %v", rec.Code, rec.Header())
	}
	var body struct {
		Type  string
		Error struct{ Type, Message string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Type != "error" || body.Error.Type != "overloaded_error" || body.Error.Message != `Overloaded "now"` {
		t.Errorf("WriteError body %s: %v", rec.Body, err)
	}
	if e := ParseError(529, rec.Body.Bytes()); *e != (APIError{529, "overloaded_error", `Overloaded "now"`}) {
		t.Errorf("ParseError = %+v", e)
	}
	if e := ParseError(502, []byte("<html>bad gateway</html>")); *e != (APIError{502, "api_error", "<html>bad gateway</html>"}) {
		t.Errorf("ParseError of HTML = %+v", e)
	}
	if s := (&APIError{429, "rate_limit_error", "slow"}).Error(); s != "anthropic: rate_limit_error (429): slow" {
		t.Errorf("Error() = %s", s)
	}
}
