package live_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/internal/fakeapi"
	"github.com/tarsopt/tarsopt/live"
	"github.com/tarsopt/tarsopt/traces"
)

const (
	keyA = "sk-ant-api03-tenant-A-SECRET-0123456789"
	keyB = "sk-ant-api03-tenant-B-SECRET-9876543210"
)

// proxy is a live Server in front of a fake upstream, both on loopback.
type proxy struct {
	t    *testing.T
	fake *fakeapi.Server
	srv  *live.Server
	ts   *httptest.Server
	dir  string
}

func cfgWith(t testing.TB, sets ...string) *config.Config {
	t.Helper()
	c := config.Default()
	if err := c.Set(sets...); err != nil {
		t.Fatal(err)
	}
	return c
}

func start(t *testing.T, cfg *config.Config, tweak ...func(*live.Options)) *proxy {
	t.Helper()
	fake := fakeapi.New()
	t.Cleanup(fake.Close)
	p := &proxy{t: t, fake: fake, dir: t.TempDir()}
	o := live.Options{Upstream: fake.URL(), DataDir: p.dir, Config: cfg, Logf: t.Logf, MinCalls: 5, Window: time.Hour, BatchPoll: 20 * time.Millisecond}
	for _, f := range tweak {
		f(&o)
	}
	srv, err := live.New(o)
	if err != nil {
		t.Fatal(err)
	}
	p.srv = srv
	p.ts = httptest.NewServer(srv)
	t.Cleanup(p.stop)
	return p
}

// stop shuts the proxy down as serve does: the HTTP server first, then the Server.
func (p *proxy) stop() {
	if p.ts == nil {
		return
	}
	p.ts.Close()
	p.ts = nil
	if err := p.srv.Close(context.Background()); err != nil {
		p.t.Errorf("close: %v", err)
	}
}

func (p *proxy) client(key string, opts ...option.RequestOption) anthropic.Client {
	// SDK v2 has no temperature parameter; the proxy caches only deterministic requests.
	return anthropic.NewClient(append([]option.RequestOption{option.WithBaseURL(p.ts.URL), option.WithAPIKey(key),
		option.WithMaxRetries(0), option.WithJSONSet("temperature", 0)}, opts...)...)
}

func params(prompt string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))}}
}

func textOf(m *anthropic.Message) string {
	var b strings.Builder
	for _, c := range m.Content {
		b.WriteString(c.Text)
	}
	return b.String()
}

// post sends a raw Messages request and returns the response and its body.
func (p *proxy) post(key, body string, hdr ...string) (*http.Response, []byte) {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.ts.URL+"/v1/messages", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func readTrace(t *testing.T, dir string) []traces.Record {
	t.Helper()
	src, err := traces.Open(dir, traces.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []traces.Record
	for {
		var r traces.Record
		err := src.Read(&r)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.Clone())
	}
}

// The contract: the upstream's answer comes back; a repeated deterministic request from the same
// key is a hit, from another key a miss; with the official SDK, plain and streamed; and the data
// directory then holds a trace tarsopt reads, the five logs, costs.json, and no key anywhere.
func TestCacheHitPerTenantWithTheOfficialSDK(t *testing.T) {
	p := start(t, cfgWith(t))
	ctx := context.Background()
	var h1, h2, h3, h4 http.Header
	var r1, r2, r3 *http.Response
	a := p.client(keyA)
	m1, err := a.Messages.New(ctx, params("What is the capital of France?"), option.WithResponseInto(&r1))
	if err != nil {
		t.Fatal(err)
	}
	h1 = r1.Header
	m2, err := a.Messages.New(ctx, params("What is the capital of France?"), option.WithResponseInto(&r2))
	if err != nil {
		t.Fatal(err)
	}
	h2 = r2.Header
	b := p.client(keyB)
	m3, err := b.Messages.New(ctx, params("What is the capital of France?"), option.WithResponseInto(&r3))
	if err != nil {
		t.Fatal(err)
	}
	h3 = r3.Header
	if got := h1.Get("X-Tarsopt-Cache"); got != "miss" {
		t.Errorf("first call: x-tarsopt-cache %q, want miss", got)
	}
	if got := h2.Get("X-Tarsopt-Cache"); got != "hit" {
		t.Errorf("repeat, same key: x-tarsopt-cache %q, want hit", got)
	}
	if got := h3.Get("X-Tarsopt-Cache"); got != "miss" {
		t.Errorf("repeat, other key: x-tarsopt-cache %q, want miss", got)
	}
	if textOf(m1) == "" || textOf(m2) != textOf(m1) || textOf(m3) != textOf(m1) {
		t.Errorf("answers differ: %q %q %q", textOf(m1), textOf(m2), textOf(m3))
	}
	if n := len(p.fake.Requests()); n != 2 {
		t.Errorf("upstream saw %d calls, want 2 (the hit is answered by the proxy)", n)
	}

	// Streamed: the stored answer is served as events, and a streamed miss streams.
	var r4 *http.Response
	stream := a.Messages.NewStreaming(ctx, params("What is the capital of France?"), option.WithResponseInto(&r4))
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	h4 = r4.Header
	if h4.Get("X-Tarsopt-Cache") != "hit" || textOf(&acc) != textOf(m1) {
		t.Errorf("streamed repeat: cache %q, text %q, want hit and %q", h4.Get("X-Tarsopt-Cache"), textOf(&acc), textOf(m1))
	}
	s2 := a.Messages.NewStreaming(ctx, params("Name three rivers in Europe."))
	var acc2 anthropic.Message
	for s2.Next() {
		if err := acc2.Accumulate(s2.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s2.Err(); err != nil || textOf(&acc2) == "" || acc2.Usage.OutputTokens == 0 {
		t.Fatalf("streamed miss: %v, %+v", err, acc2)
	}

	// Metrics in Prometheus text format.
	resp, err := http.Get(p.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	tp := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := tp.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	if _, ok := mf["tarsopt_requests_total"]; !ok {
		t.Errorf("/metrics has no tarsopt_requests_total; has %d families", len(mf))
	}

	p.stop()
	recs := readTrace(t, p.dir)
	if len(recs) != 5 {
		t.Fatalf("trace holds %d calls, want 5", len(recs))
	}
	for _, r := range recs {
		if r.Tenant == "" || r.Fingerprint == 0 || r.Model != "claude-sonnet-4-5" || r.Status != 200 {
			t.Errorf("record %+v", r)
		}
	}
	for _, name := range []string{"optimization-metrics.log", "model-routing.log", "cache-performance.log", "batch-processing.log", "quality-tracking.log", "costs.json"} {
		if _, err := os.Stat(filepath.Join(p.dir, name)); err != nil {
			t.Errorf("data directory lacks %s: %v", name, err)
		}
	}
	assertNoKeys(t, p.dir, keyA, keyB)
}

// assertNoKeys fails if any file under dir holds any of the keys, or a long piece of one.
func assertNoKeys(t *testing.T, dir string, keys ...string) {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Error(err)
			return nil
		}
		n++
		for _, k := range keys {
			for _, piece := range []string{k, k[len(k)-20:], "SECRET"} {
				if bytes.Contains(b, []byte(piece)) {
					t.Errorf("%s holds (part of) an API key: %q", path, piece)
				}
			}
		}
		return nil
	})
	if n < 7 {
		t.Errorf("only %d files under %s to check", n, dir)
	}
}

// Calls are routed by complexity (a low score from sonnet to haiku) and the answer says so; the
// upstream sees the routed model.
func TestRouterRewritesTheModel(t *testing.T) {
	p := start(t, cfgWith(t))
	resp, _ := p.post(keyA, `{"model":"claude-sonnet-4-5","max_tokens":32,"messages":[{"role":"user","content":"hi"}]}`, "X-Tarsopt-Complexity", "10")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if f, to := resp.Header.Get("X-Tarsopt-Model-From"), resp.Header.Get("X-Tarsopt-Model-To"); f != "claude-sonnet-4-5" || to != "claude-haiku-4-5" {
		t.Errorf("routed from %q to %q, want sonnet to haiku", f, to)
	}
	reqs := p.fake.Requests()
	var sent struct{ Model string }
	json.Unmarshal(reqs[len(reqs)-1].Body, &sent)
	if sent.Model != "claude-haiku-4-5" {
		t.Errorf("upstream got model %q", sent.Model)
	}
	resp, _ = p.post(keyA, `{"model":"claude-sonnet-4-5","max_tokens":32,"messages":[{"role":"user","content":"prove it"}]}`, "X-Tarsopt-Complexity", "90")
	if to := resp.Header.Get("X-Tarsopt-Model-To"); to != "claude-sonnet-4-5" {
		t.Errorf("a hard call went to %q", to)
	}
}

// A long conversation is pruned to the budget: the upstream sees fewer messages, the system prompt
// kept, and the answer says how many tokens went.
func TestPrunerTrimsMessages(t *testing.T) {
	p := start(t, cfgWith(t, "strategies.pruner.keep_turns=2", "strategies.pruner.min_removed=10"))
	var msgs []string
	for i := range 10 {
		msgs = append(msgs, `{"role":"user","content":"question `+strings.Repeat("x", 400)+string(rune('a'+i))+`"}`,
			`{"role":"assistant","content":"answer `+strings.Repeat("y", 400)+`"}`)
	}
	msgs = append(msgs, `{"role":"user","content":"and now?"}`)
	body := `{"model":"claude-sonnet-4-5","max_tokens":32,"system":"You are terse.","messages":[` + strings.Join(msgs, ",") + `]}`
	resp, _ := p.post(keyA, body, "X-Tarsopt-Complexity", "90")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if resp.Header.Get("X-Tarsopt-Pruned-Tokens") == "0" {
		t.Fatalf("nothing pruned")
	}
	reqs := p.fake.Requests()
	var sent struct {
		System   string
		Messages []json.RawMessage
	}
	json.Unmarshal(reqs[len(reqs)-1].Body, &sent)
	if sent.System != "You are terse." {
		t.Errorf("system prompt %q", sent.System)
	}
	if len(sent.Messages) >= 21 || len(sent.Messages) < 3 {
		t.Errorf("upstream got %d messages, want the last turns of 21", len(sent.Messages))
	}
	if !bytes.Contains(sent.Messages[len(sent.Messages)-1], []byte("and now?")) {
		t.Errorf("the new message was lost")
	}
}

// With the prompt cache on, the proxy inserts cache_control breakpoints.
func TestPromptCacheInsertsBreakpoints(t *testing.T) {
	p := start(t, cfgWith(t, "strategies.promptcache.enabled=true", "strategies.promptcache.ttl=1h"))
	resp, _ := p.post(keyA, `{"model":"claude-sonnet-4-5","max_tokens":32,"system":"`+strings.Repeat("Be precise. ", 200)+`","messages":[{"role":"user","content":"hi"}]}`, "X-Tarsopt-Complexity", "90")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	reqs := p.fake.Requests()
	b := reqs[len(reqs)-1].Body
	if !bytes.Contains(b, []byte(`"cache_control"`)) || !bytes.Contains(b, []byte(`"1h"`)) {
		t.Errorf("no 1h cache_control in %s", b)
	}
}

// Faults upstream reach the client as Anthropic errors with the right status; 429 keeps its
// retry-after; a timeout is a 504; a reset mid-stream ends the stream with an error event.
func TestUpstreamFaults(t *testing.T) {
	p := start(t, cfgWith(t, "strategies.router.enabled=false"), func(o *live.Options) { o.UpstreamTimeout = 300 * time.Millisecond })
	body := `{"model":"claude-sonnet-4-5","max_tokens":32,"messages":[{"role":"user","content":"hello"}]}`
	cases := []struct {
		fault  fakeapi.Fault
		status int
		kind   string
	}{
		{fakeapi.Fault{Status: 500}, 500, "api_error"},
		{fakeapi.Fault{Status: 529}, 529, "overloaded_error"},
		{fakeapi.Fault{Status: 429, RetryAfter: "7"}, 429, "rate_limit_error"},
		{fakeapi.Fault{Delay: 2 * time.Second}, 504, "timeout_error"},
	}
	for _, c := range cases {
		p.fake.Fail(c.fault)
		resp, b := p.post(keyA, body)
		var e struct {
			Type  string
			Error struct{ Type, Message string }
		}
		json.Unmarshal(b, &e)
		if resp.StatusCode != c.status || e.Type != "error" || e.Error.Type != c.kind {
			t.Errorf("fault %+v: status %d, body %s; want %d %s", c.fault, resp.StatusCode, b, c.status, c.kind)
		}
		if c.fault.RetryAfter != "" && resp.Header.Get("Retry-After") != c.fault.RetryAfter {
			t.Errorf("retry-after %q, want %q", resp.Header.Get("Retry-After"), c.fault.RetryAfter)
		}
	}
	// The SDK sees the status as an API error.
	p.fake.Fail(fakeapi.Fault{Status: 503})
	a := p.client(keyA)
	_, err := a.Messages.New(context.Background(), params("x"))
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 {
		t.Errorf("SDK error %v, want a 503 API error", err)
	}
	// Reset mid-stream: the SDK's stream ends in an error, not a silent truncation.
	p.fake.Fail(fakeapi.Fault{ResetAfter: 3})
	st := a.Messages.NewStreaming(context.Background(), params("stream me"))
	for st.Next() {
	}
	if st.Err() == nil {
		t.Errorf("a stream cut upstream ended without an error")
	}
	p.stop()
	recs := readTrace(t, p.dir)
	failed := 0
	for _, r := range recs {
		if r.Status != 200 {
			failed++
		}
	}
	if failed != 6 {
		t.Errorf("trace has %d failed calls of %d, want 6", failed, len(recs))
	}
}

// Bad requests get Anthropic's error shape without reaching the upstream.
func TestBadRequests(t *testing.T) {
	p := start(t, cfgWith(t), func(o *live.Options) { o.MaxBodyBytes = 1 << 10 })
	for _, c := range []struct {
		key, body string
		status    int
	}{
		{"", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, 401},
		{keyA, `{"model":`, 400},
		{keyA, `{"model":"claude-sonnet-4-5","max_tokens":1,"messages":[{"role":"user","content":"` + strings.Repeat("x", 2000) + `"}]}`, 413},
	} {
		resp, b := p.post(c.key, c.body)
		if resp.StatusCode != c.status || !bytes.Contains(b, []byte(`"type":"error"`)) {
			t.Errorf("%.40s: status %d body %s, want %d", c.body, resp.StatusCode, b, c.status)
		}
	}
	if n := len(p.fake.Requests()); n != 0 {
		t.Errorf("upstream saw %d bad requests", n)
	}
}

// A rollback trigger switches its strategy off when its metric crosses, /metrics shows it, and
// the admin endpoint switches it back on.
func TestRollbackTrigger(t *testing.T) {
	p := start(t, cfgWith(t))
	body := `{"model":"claude-sonnet-4-5","max_tokens":32,"messages":[{"role":"user","content":"hello"}]}`
	for range 6 {
		p.fake.Fail(fakeapi.Fault{Status: 500})
		p.post(keyA, body, "X-Tarsopt-Complexity", "90")
	}
	resp, err := http.Get(p.ts.URL + "/admin/strategies")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Strategies []struct {
			Name string
			On   bool
		}
	}
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	for _, s := range st.Strategies {
		if s.On {
			t.Errorf("%s still on after the error rate passed 3%%", s.Name)
		}
	}
	mresp, _ := http.Get(p.ts.URL + "/metrics")
	b, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !bytes.Contains(b, []byte(`tarsopt_strategy_enabled{strategy="router"} 0`)) {
		t.Errorf("/metrics does not show the router off:\n%s", grep(b, "strategy_enabled"))
	}
	r, err := http.Post(p.ts.URL+"/admin/strategies/router/enable", "", nil)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("enable: %v %v", err, r.Status)
	}
	r.Body.Close()
	resp, _ = p.post(keyA, `{"model":"claude-sonnet-4-5","max_tokens":32,"messages":[{"role":"user","content":"easy"}]}`, "X-Tarsopt-Complexity", "5")
	if to := resp.Header.Get("X-Tarsopt-Model-To"); to != "claude-haiku-4-5" {
		t.Errorf("router back on, but the call went to %q", to)
	}
	// What SIGHUP does: the configuration read again switches every strategy it enables back on.
	p.srv.Reload(cfgWith(t))
	resp, err = http.Get(p.ts.URL + "/admin/strategies")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	enabled := cfgWith(t).Enabled()
	for _, s := range st.Strategies {
		if want := slices.Contains(enabled, s.Name); s.On != want {
			t.Errorf("after the reload %s is on=%v, want %v (as the configuration says)", s.Name, s.On, want)
		}
	}
}

func grep(b []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Two proxies sharing a Redis store share the cache: an answer one stored is a hit at the other,
// for the same tenant only.
func TestRedisSharedCache(t *testing.T) {
	mr := miniredis.RunT(t)
	url := "redis://" + mr.Addr() + "/0"
	p1 := start(t, cfgWith(t), func(o *live.Options) { o.Store = url })
	p2 := start(t, cfgWith(t), func(o *live.Options) { o.Store = url })
	body := `{"model":"claude-sonnet-4-5","max_tokens":32,"temperature":0,"messages":[{"role":"user","content":"shared?"}]}`
	if r, _ := p1.post(keyA, body); r.Header.Get("X-Tarsopt-Cache") != "miss" {
		t.Fatalf("first call: %q", r.Header.Get("X-Tarsopt-Cache"))
	}
	time.Sleep(50 * time.Millisecond) // the body's write is grouped
	if r, _ := p2.post(keyA, body); r.Header.Get("X-Tarsopt-Cache") != "hit" {
		t.Errorf("same tenant at the other proxy: %q, want hit", r.Header.Get("X-Tarsopt-Cache"))
	}
	if r, _ := p2.post(keyB, body); r.Header.Get("X-Tarsopt-Cache") != "miss" {
		t.Errorf("other tenant at the other proxy: %q, want miss", r.Header.Get("X-Tarsopt-Cache"))
	}
	if n := len(p2.fake.Requests()); n != 1 {
		t.Errorf("second proxy's upstream saw %d calls, want 1", n)
	}
}
