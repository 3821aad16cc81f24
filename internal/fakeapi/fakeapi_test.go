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

func batchRequest(id, prompt string) anthropic.MessageBatchNewParamsRequest {
	p := params(prompt)
	return anthropic.MessageBatchNewParamsRequest{CustomID: id, Params: anthropic.MessageBatchNewParamsRequestParams{
		Model: p.Model, MaxTokens: p.MaxTokens, Messages: p.Messages}}
}

// results reads a batch's results with the SDK, by custom_id.
func results(t *testing.T, c anthropic.Client, id string) map[string]anthropic.MessageBatchResultUnion {
	t.Helper()
	stream := c.Messages.Batches.ResultsStreaming(context.Background(), id, anthropic.MessageBatchResultsParams{})
	defer stream.Close()
	out := map[string]anthropic.MessageBatchResultUnion{}
	for stream.Next() {
		out[stream.Current().CustomID] = stream.Current().Result
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("results of %s: %v", id, err)
	}
	return out
}

// The Message Batches API, end to end with the official SDK: a batch is in progress when created,
// ended at the first GET (the default turnaround), and its results are the synchronous answers,
// with the same usage, or errors where the fault queue failed a request.
func TestBatches(t *testing.T) {
	s := fakeapi.New()
	defer s.Close()
	c := client(s)
	ctx := context.Background()
	var apiErr *anthropic.Error

	s.Fail(fakeapi.Fault{}, fakeapi.Fault{Status: 529}) // the second request of the batch fails
	b, err := c.Messages.Batches.New(ctx, anthropic.MessageBatchNewParams{Requests: []anthropic.MessageBatchNewParamsRequest{
		batchRequest("first", "What does batching save?"), batchRequest("second", "x"), batchRequest("third", "Cheap models answer well?")}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.ID, "msgbatch_") || b.ProcessingStatus != "in_progress" || b.RequestCounts.Processing != 3 ||
		b.ResultsURL != "" || !b.EndedAt.IsZero() || b.CreatedAt.IsZero() || b.ExpiresAt.Sub(b.CreatedAt) != 24*time.Hour {
		t.Errorf("created: %s", b.RawJSON())
	}
	if _, err := c.Messages.Batches.Delete(ctx, b.ID, anthropic.MessageBatchDeleteParams{}); !errors.As(err, &apiErr) || apiErr.StatusCode != 400 {
		t.Errorf("deleting a batch in progress: %v", err)
	}
	got, err := c.Messages.Batches.Get(ctx, b.ID, anthropic.MessageBatchGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got.ProcessingStatus != "ended" || got.EndedAt.IsZero() || got.ResultsURL != s.URL()+"/v1/messages/batches/"+b.ID+"/results" ||
		got.RequestCounts.Succeeded != 2 || got.RequestCounts.Errored != 1 || got.RequestCounts.Processing != 0 {
		t.Errorf("after the first GET: %s", got.RawJSON())
	}
	res := results(t, c, b.ID)
	if len(res) != 3 {
		t.Fatalf("%d results", len(res))
	}
	for id, prompt := range map[string]string{"first": "What does batching save?", "third": "Cheap models answer well?"} {
		want, err := c.Messages.New(ctx, params(prompt))
		if err != nil {
			t.Fatal(err)
		}
		m := res[id].AsSucceeded().Message
		if res[id].Type != "succeeded" || textOf(&m) != textOf(want) || m.Usage.InputTokens != want.Usage.InputTokens ||
			m.Usage.OutputTokens != want.Usage.OutputTokens || m.Model != want.Model || m.StopReason != want.StopReason {
			t.Errorf("%s: %s, synchronous %s", id, res[id].RawJSON(), want.RawJSON())
		}
	}
	if e := res["second"].AsErrored().Error; res["second"].Type != "errored" || e.Error.Type != "overloaded_error" || e.RequestID == "" {
		t.Errorf("second: %s", res["second"].RawJSON())
	}

	// Cancel: canceling, then ended with every request canceled.
	b2, err := c.Messages.Batches.New(ctx, anthropic.MessageBatchNewParams{Requests: []anthropic.MessageBatchNewParamsRequest{
		batchRequest("a", "one"), batchRequest("b", "two")}})
	if err != nil {
		t.Fatal(err)
	}
	canceling, err := c.Messages.Batches.Cancel(ctx, b2.ID, anthropic.MessageBatchCancelParams{})
	if err != nil || canceling.ProcessingStatus != "canceling" || canceling.CancelInitiatedAt.IsZero() {
		t.Fatalf("cancel: %v %v", canceling, err)
	}
	if got, err := c.Messages.Batches.Get(ctx, b2.ID, anthropic.MessageBatchGetParams{}); err != nil ||
		got.ProcessingStatus != "ended" || got.RequestCounts.Canceled != 2 || got.RequestCounts.Succeeded != 0 {
		t.Errorf("canceled: %v %v", got, err)
	}
	for id, r := range results(t, c, b2.ID) {
		if r.Type != "canceled" {
			t.Errorf("canceled batch, %s: %s", id, r.RawJSON())
		}
	}

	// The list, newest first, page by page; then a deleted batch is gone.
	var ids []string
	iter := c.Messages.Batches.ListAutoPaging(ctx, anthropic.MessageBatchListParams{Limit: anthropic.Int(1)})
	for iter.Next() {
		ids = append(ids, iter.Current().ID)
	}
	if iter.Err() != nil || strings.Join(ids, ",") != b2.ID+","+b.ID {
		t.Errorf("list: %v (%v), want %s then %s", ids, iter.Err(), b2.ID, b.ID)
	}
	if d, err := c.Messages.Batches.Delete(ctx, b.ID, anthropic.MessageBatchDeleteParams{}); err != nil || d.ID != b.ID || d.Type != "message_batch_deleted" {
		t.Errorf("delete: %v %v", d, err)
	}
	if _, err := c.Messages.Batches.Get(ctx, b.ID, anthropic.MessageBatchGetParams{}); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("a deleted batch: %v", err)
	}

	// Invalid batches are refused whole; invalid requests inside a valid batch are errored.
	if _, err := c.Messages.Batches.New(ctx, anthropic.MessageBatchNewParams{Requests: []anthropic.MessageBatchNewParamsRequest{
		batchRequest("same", "x"), batchRequest("same", "y")}}); !errors.As(err, &apiErr) || apiErr.StatusCode != 400 {
		t.Errorf("duplicate custom_id: %v", err)
	}
	bad := batchRequest("nomodel", "x")
	bad.Params.Model = ""
	b3, err := c.Messages.Batches.New(ctx, anthropic.MessageBatchNewParams{Requests: []anthropic.MessageBatchNewParamsRequest{bad}})
	if err != nil {
		t.Fatal(err)
	}
	if r := results(t, c, b3.ID)["nomodel"]; r.Type != "errored" || r.AsErrored().Error.Error.Type != "invalid_request_error" {
		t.Errorf("invalid request in a batch: %s", r.RawJSON())
	}
	// The batch endpoints check credentials like the rest.
	noKey := anthropic.NewClient(option.WithBaseURL(s.URL()), option.WithMaxRetries(0), option.WithAPIKey(""))
	if _, err := noKey.Messages.Batches.Get(ctx, b2.ID, anthropic.MessageBatchGetParams{}); !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Errorf("no key: %v", err)
	}
}

// With a turnaround, a batch stays in progress (and has no results) until it has passed.
func TestBatchTurnaround(t *testing.T) {
	s := fakeapi.New()
	defer s.Close()
	s.SetBatchTurnaround(300 * time.Millisecond)
	c := client(s)
	ctx := context.Background()
	b, err := c.Messages.Batches.New(ctx, anthropic.MessageBatchNewParams{Requests: []anthropic.MessageBatchNewParamsRequest{batchRequest("only", "x")}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Messages.Batches.Get(ctx, b.ID, anthropic.MessageBatchGetParams{}); err != nil || got.ProcessingStatus != "in_progress" || got.ResultsURL != "" {
		t.Errorf("before the turnaround: %v %v", got, err)
	}
	stream := c.Messages.Batches.ResultsStreaming(ctx, b.ID, anthropic.MessageBatchResultsParams{})
	var apiErr *anthropic.Error
	if stream.Next() || !errors.As(stream.Err(), &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("results before the end: %v", stream.Err())
	}
	stream.Close()
	time.Sleep(350 * time.Millisecond)
	if got, err := c.Messages.Batches.Get(ctx, b.ID, anthropic.MessageBatchGetParams{}); err != nil || got.ProcessingStatus != "ended" || got.RequestCounts.Succeeded != 1 {
		t.Errorf("after the turnaround: %v %v", got, err)
	}
}

// Listen runs the fake on a given loopback address, and refuses any other.
func TestListen(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		s, err := fakeapi.Listen(addr)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		c := client(s)
		if _, err := c.Messages.New(context.Background(), params("hi")); err != nil || !strings.HasPrefix(s.URL(), "http://") {
			t.Errorf("%s (%s): %v", addr, s.URL(), err)
		}
		s.Close()
	}
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:0", "example.com:0", "127.0.0.1"} {
		if s, err := fakeapi.Listen(addr); err == nil {
			s.Close()
			t.Errorf("Listen(%q) accepted", addr)
		}
	}
}

// KeepRequests(false) stops the recording a long-running fake would grow with.
func TestKeepRequests(t *testing.T) {
	s := fakeapi.New()
	defer s.Close()
	c := client(s)
	c.Messages.New(context.Background(), params("x"))
	s.KeepRequests(false)
	c.Messages.New(context.Background(), params("y"))
	if n := len(s.Requests()); n != 1 {
		t.Errorf("%d requests kept", n)
	}
}

// A slow stream sends each event after a pause: the first arrives at once, the whole takes the
// pauses; a client whose deadline is shorter times out in the middle. A delay before the answer
// is a timeout before the first event.
func TestSlowStreamAndTimeouts(t *testing.T) {
	s := fakeapi.New()
	defer s.Close()
	c := client(s)
	ctx := context.Background()
	const pause = 20 * time.Millisecond

	s.Fail(fakeapi.Fault{EventDelay: pause})
	start := time.Now()
	stream := c.Messages.NewStreaming(ctx, params("x"))
	var first time.Duration
	events := 0
	for stream.Next() {
		if events == 0 {
			first = time.Since(start)
		}
		events++
	}
	total := time.Since(start)
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if events < 6 || total < time.Duration(events-1)*pause || first > total/2 {
		t.Errorf("slow stream: %d events, first after %v, all after %v", events, first, total)
	}

	s.Fail(fakeapi.Fault{EventDelay: 50 * time.Millisecond})
	tctx, cancel := context.WithTimeout(ctx, 120*time.Millisecond)
	defer cancel()
	stream = c.Messages.NewStreaming(tctx, params("x"))
	events = 0
	for stream.Next() {
		events++
	}
	if !errors.Is(stream.Err(), context.DeadlineExceeded) || events == 0 {
		t.Errorf("timeout mid-stream: %d events, err %v", events, stream.Err())
	}

	s.Fail(fakeapi.Fault{Delay: 2 * time.Second})
	tctx2, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	stream = c.Messages.NewStreaming(tctx2, params("x"))
	if stream.Next() || !errors.Is(stream.Err(), context.DeadlineExceeded) {
		t.Errorf("timeout before the stream: %v", stream.Err())
	}
	// The fake is not held up by the requests that timed out.
	start = time.Now()
	if _, err := c.Messages.New(ctx, params("x")); err != nil || time.Since(start) > time.Second {
		t.Errorf("after the timeouts: %v in %v", err, time.Since(start))
	}
}
