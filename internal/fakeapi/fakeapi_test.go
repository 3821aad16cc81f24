package fakeapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/tarsopt/tarsopt/internal/fakeapi"
)

const key = "sk-ant-test-0000-secret"

func client(s *fakeapi.Server, opts ...option.RequestOption) anthropic.Client {
	return anthropic.NewClient(append([]option.RequestOption{option.WithBaseURL(s.URL()), option.WithAPIKey(key), option.WithMaxRetries(0)}, opts...)...)
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

// The official SDK reads the fake's answers, plain and streamed, and they agree: the fake follows
// the Messages API closely enough to test a proxy with.
func TestOfficialSDKReadsTheFake(t *testing.T) {
	s := fakeapi.New()
	defer s.Close()
	c := client(s)
	ctx := context.Background()
	m, err := c.Messages.New(ctx, params("What does routing save?"))
	if err != nil {
		t.Fatal(err)
	}
	if textOf(m) == "" || m.Usage.InputTokens <= 0 || m.Usage.OutputTokens <= 0 || string(m.StopReason) != "end_turn" {
		t.Fatalf("message %+v", m)
	}
	again, err := c.Messages.New(ctx, params("What does routing save?"))
	if err != nil || textOf(again) != textOf(m) {
		t.Errorf("the same request answered differently: %q and %q (%v)", textOf(m), textOf(again), err)
	}

	p := params("What does routing save?")
	stream := c.Messages.NewStreaming(ctx, p)
	var acc anthropic.Message
	var kinds []string
	for stream.Next() {
		ev := stream.Current()
		kinds = append(kinds, string(ev.Type))
		if err := acc.Accumulate(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}
	var got []string
	for _, k := range kinds {
		if k == "ping" || (len(got) > 0 && got[len(got)-1] == k) {
			continue
		}
		got = append(got, k)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("event sequence %v, want %v", kinds, want)
	}
	if acc.Usage.OutputTokens != m.Usage.OutputTokens || acc.Usage.InputTokens != m.Usage.InputTokens {
		t.Errorf("streamed usage %+v, plain %+v", acc.Usage, m.Usage)
	}
	// The streamed text, accumulated, is the plain answer.
	if textOf(&acc) != textOf(m) {
		t.Errorf("streamed %q, plain %q", textOf(&acc), textOf(m))
	}

	n, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: "claude-sonnet-4-5",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What does routing save?"))}})
	if err != nil || n.InputTokens != m.Usage.InputTokens {
		t.Errorf("count_tokens %v (%v), message's input %d", n, err, m.Usage.InputTokens)
	}
	models, err := c.Models.List(ctx, anthropic.ModelListParams{})
	if err != nil || len(models.Data) != len(fakeapi.Models) {
		t.Errorf("models: %v (%v)", models, err)
	}
	for _, r := range s.Requests() {
		if r.Auth == "" || strings.Contains(string(r.Body), key) || r.Header.Get("x-api-key") != "" || r.Header.Get("Authorization") != "" {
			t.Errorf("request %s %s: auth %q, credentials kept", r.Method, r.Path, r.Auth)
		}
	}
}

// Both ways of passing the key are accepted: Authorization: Bearer (what the SDK sends with an
// auth token) and x-api-key (what older clients and curl send).
func TestBothAuthHeaders(t *testing.T) {
	s := fakeapi.New()
	defer s.Close()
	c := anthropic.NewClient(option.WithBaseURL(s.URL()), option.WithAuthToken(key), option.WithMaxRetries(0))
	if _, err := c.Messages.New(context.Background(), params("hi")); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", s.URL()+"/v1/messages", strings.NewReader(`{"model":"claude-haiku-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("x-api-key", key)
	req.Header.Set("content-type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r := s.Requests(); len(r) != 2 || r[0].Auth != "bearer" || r[1].Auth != "x-api-key" || resp.StatusCode != 200 {
		t.Errorf("requests %+v, status %d", r, resp.StatusCode)
	}
}

// Each fault reaches the client as the real API's would.
func TestFaults(t *testing.T) {
	s := fakeapi.New()
	defer s.Close()
	ctx := context.Background()
	var apiErr *anthropic.Error

	s.Fail(fakeapi.Fault{Status: 500})
	c := client(s)
	if _, err := c.Messages.New(ctx, params("x")); !errors.As(err, &apiErr) || apiErr.StatusCode != 500 {
		t.Errorf("500: %v", err)
	}
	s.Fail(fakeapi.Fault{Status: 529})
	if _, err := c.Messages.New(ctx, params("x")); !errors.As(err, &apiErr) || apiErr.StatusCode != 529 || apiErr.Type() != "overloaded_error" {
		t.Errorf("529: %v", err)
	}
	// A 429 with retry-after: a client that retries gets the answer on its second try.
	s.Fail(fakeapi.Fault{Status: 429, RetryAfter: "0"})
	before := len(s.Requests())
	retrying := client(s, option.WithMaxRetries(2))
	if _, err := retrying.Messages.New(ctx, params("x")); err != nil {
		t.Errorf("429 then success: %v", err)
	}
	if n := len(s.Requests()) - before; n != 2 {
		t.Errorf("%d requests for a 429 and its retry", n)
	}
	// A delay longer than the client waits is a timeout.
	s.Fail(fakeapi.Fault{Delay: 2 * time.Second})
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.Messages.New(tctx, params("x")); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v", err)
	}
	// A connection reset in the middle of a stream is an error after some events.
	s.Fail(fakeapi.Fault{ResetAfter: 3})
	stream := c.Messages.NewStreaming(ctx, params("x"))
	events := 0
	for stream.Next() {
		events++
	}
	if stream.Err() == nil || events == 0 || events > 3 {
		t.Errorf("reset mid-stream: %d events, err %v", events, stream.Err())
	}
	// Without credentials: 401 in the error shape.
	noKey := anthropic.NewClient(option.WithBaseURL(s.URL()), option.WithMaxRetries(0), option.WithAPIKey(""))
	if _, err := noKey.Messages.New(ctx, params("x")); !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Errorf("no key: %v", err)
	}
}
