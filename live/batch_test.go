package live_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/internal/fakeapi"
	"github.com/tarsopt/tarsopt/traces"
)

// A deferrable call the batcher takes goes through the Message Batches API, is answered when the
// batch ends, and is recorded and priced as batched.
func TestBatchedCallUsesTheBatchAPI(t *testing.T) {
	p := start(t, cfgWith(t, "strategies.deferral.enabled=false", "strategies.batcher.max_size=1"))
	p.fake.SetBatchTurnaround(50 * time.Millisecond)
	resp, b := p.post(keyA, `{"model":"claude-sonnet-4-5","max_tokens":24,"messages":[{"role":"user","content":"summarise the logs"}]}`,
		"X-Tarsopt-Max-Delay", "1h", "X-Tarsopt-Priority", "low", "X-Tarsopt-Complexity", "90")
	if resp.StatusCode != 200 || resp.Header.Get("X-Tarsopt-Batched") != "true" {
		t.Fatalf("status %d, batched %q: %s", resp.StatusCode, resp.Header.Get("X-Tarsopt-Batched"), b)
	}
	var m struct {
		Type    string
		Content []struct{ Text string }
	}
	if json.Unmarshal(b, &m); m.Type != "message" || len(m.Content) == 0 {
		t.Fatalf("answer %s", b)
	}
	var sawBatch bool
	for _, r := range p.fake.Requests() {
		if r.Path == "/v1/messages/batches" && r.Method == "POST" {
			sawBatch = true
		}
		if r.Path == "/v1/messages" {
			t.Errorf("a batched call was also sent directly")
		}
	}
	if !sawBatch {
		t.Fatal("no batch was submitted")
	}
	// An interactive call is not batched.
	resp, _ = p.post(keyA, `{"model":"claude-sonnet-4-5","max_tokens":24,"messages":[{"role":"user","content":"now please"}]}`, "X-Tarsopt-Complexity", "90")
	if resp.Header.Get("X-Tarsopt-Batched") != "" {
		t.Errorf("an interactive call was batched")
	}
	p.stop()
	recs := readTrace(t, p.dir)
	if len(recs) != 2 || recs[0].MaxDelay != time.Hour || recs[0].Priority != traces.PriorityLow {
		t.Fatalf("trace %+v", recs)
	}
	// The batched call cost half the interactive one's rate: same model, similar tokens.
	if !(recs[0].Cost > 0 && recs[0].Cost < recs[1].Cost) {
		t.Errorf("batched cost %s, interactive %s", recs[0].Cost, recs[1].Cost)
	}
}

// Graceful shutdown waits for a call in flight and records it.
func TestShutdownDrains(t *testing.T) {
	p := start(t, cfgWith(t))
	p.fake.Fail(fakeapi.Fault{Delay: 300 * time.Millisecond})
	done := make(chan int)
	go func() {
		resp, _ := p.post(keyA, `{"model":"claude-sonnet-4-5","max_tokens":24,"messages":[{"role":"user","content":"slow"}]}`)
		done <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond) // the call is upstream
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.ts.Config.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if st := <-done; st != 200 {
		t.Fatalf("the call in flight got %d", st)
	}
	if err := p.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	p.ts = nil
	recs := readTrace(t, p.dir)
	if len(recs) != 1 || !strings.HasPrefix(recs[0].ID, "live-") || recs[0].Status != 200 {
		t.Fatalf("trace %+v", recs)
	}
}
