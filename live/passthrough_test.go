package live_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/tarsopt/tarsopt/live"
)

// count_tokens, models and the Message Batches API pass through to the upstream, for the official
// SDK, with either credential header.
func TestPassThroughEndpoints(t *testing.T) {
	p := start(t, cfgWith(t))
	ctx := context.Background()
	c := p.client(keyA)
	n, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: "claude-sonnet-4-5",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("count me, please"))}})
	if err != nil || n.InputTokens <= 0 {
		t.Fatalf("count_tokens: %v %+v", err, n)
	}
	models, err := c.Models.List(ctx, anthropic.ModelListParams{})
	if err != nil || len(models.Data) == 0 {
		t.Fatalf("models: %v", err)
	}
	batch, err := c.Messages.Batches.New(ctx, anthropic.MessageBatchNewParams{Requests: []anthropic.MessageBatchNewParamsRequest{
		{CustomID: "one", Params: anthropic.MessageBatchNewParamsRequestParams{Model: "claude-sonnet-4-5", MaxTokens: 16,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("batch me"))}}}}})
	if err != nil || batch.ID == "" {
		t.Fatalf("batches: %v", err)
	}
	got, err := c.Messages.Batches.Get(ctx, batch.ID, anthropic.MessageBatchGetParams{})
	if err != nil || got.ID != batch.ID {
		t.Fatalf("batch get: %v", err)
	}
	for _, r := range p.fake.Requests() {
		if r.Auth == "" {
			t.Errorf("%s %s reached the upstream without credentials", r.Method, r.Path)
		}
	}
	resp, err := http.Get(p.ts.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("models without a key: %d, want 401", resp.StatusCode)
	}
	resp, err = http.Get(p.ts.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", err, resp.Status)
	}
	resp.Body.Close()
}

// The trace rotates into several files past the size limit, and reads back whole as a directory.
func TestTraceRotates(t *testing.T) {
	p := start(t, cfgWith(t), func(o *live.Options) { o.RotateBytes = 2000 })
	for i := range 20 {
		p.post(keyA, `{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"rotate `+strings.Repeat("z", i)+`"}]}`)
	}
	p.stop()
	files, _ := filepath.Glob(filepath.Join(p.dir, "trace", "calls-*.jsonl"))
	if len(files) < 3 {
		t.Fatalf("%d trace files, want rotation", len(files))
	}
	if recs := readTrace(t, p.dir); len(recs) != 20 {
		t.Fatalf("%d calls read back, want 20", len(recs))
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, st.Mode().Perm())
		}
	}
}
