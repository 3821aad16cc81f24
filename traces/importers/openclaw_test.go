package importers

import (
	"os"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/traces"
)

func TestOpenClaw(t *testing.T) {
	recs, stats, skips := importAll(t, "openclaw", "testdata/openclaw")
	if len(recs) != 5 {
		t.Fatalf("%d records, want 5", len(recs))
	}
	byID := map[string]traces.Record{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	const s = "7d1c2e4a-5b6f-4a0e-9c1d-2e3f4a5b6c7d"
	tool := byID[s+":a0000004"]
	if tool.Agent != "main" || tool.Session != s || tool.Turn != 0 || tool.Model != "claude-opus-4-6" || tool.Provider != "anthropic" {
		t.Errorf("first call labels: %+v", tool)
	}
	if tool.Input != 10 || tool.Output != 42 || tool.CacheRead != 12000 || tool.CacheWrite5m != 2000 || tool.CacheWrite1h != 1000 {
		t.Errorf("first call tokens: %+v", tool)
	}
	if tool.Cost != 35_850_000 || tool.QueryType != traces.QueryChat {
		t.Errorf("first call cost %v, query type %v", tool.Cost, tool.QueryType)
	}
	if !tool.Time.Equal(time.Date(2026, 2, 10, 8, 0, 9, 5e8, time.UTC)) {
		t.Errorf("time %v", tool.Time)
	}
	reply := byID[s+":a0000006"]
	if reply.QueryType != traces.QueryTool || reply.Reasoning != 8 || !reply.Has(traces.FieldReasoning) || reply.Turn != 1 {
		t.Errorf("second call: %+v", reply)
	}
	if hb := byID[s+":a0000008"]; hb.QueryType != traces.QueryHeartbeat {
		t.Errorf("heartbeat turn: query type %v", hb.QueryType)
	}
	failed := byID[s+":a0000011"]
	if failed.Error != "429 rate limit exceeded" || failed.Status != 429 || failed.QueryType != traces.QueryChat {
		t.Errorf("failed call: %+v", failed)
	}
	other := byID["11111111-2222-4333-8444-555555555555:b0000003"]
	if other.Model != "gpt-5" || other.Provider != "openai" || other.Agent != "ops" || other.Has(traces.FieldCost) || other.Has(traces.FieldReasoning) {
		t.Errorf("model from model_change, no cost: %+v", other)
	}
	if !other.Time.Equal(time.UnixMilli(1770811201000).UTC()) {
		t.Errorf("millisecond time: %v", other.Time)
	}
	if skips["archived transcript"] != 2 {
		t.Errorf("skips %v, want 2 archived transcripts", skips)
	}
	if stats.Invalid != 0 {
		t.Errorf("bad lines: %+v", stats)
	}
	_, stats, _ = importAll(t, "openclaw", "testdata/openclaw-bad")
	if stats.Invalid != 1 || stats.Reasons["message.usage.input: negative token count"] != 1 || stats.Examples[0].Pos.Line != 2 {
		t.Errorf("bad lines: %+v", stats)
	}
}

func TestOpenClawSniff(t *testing.T) {
	head, _ := os.ReadFile("testdata/openclaw/agents/main/sessions/7d1c2e4a-5b6f-4a0e-9c1d-2e3f4a5b6c7d.jsonl")
	if !(OpenClaw{}).Sniff("x.jsonl", head) {
		t.Error("Sniff rejects a transcript")
	}
	cc, _ := os.ReadFile(ccRules + "/projects/p/s1.jsonl")
	if (OpenClaw{}).Sniff("x.jsonl", cc) || (ClaudeCode{}).Sniff("x.jsonl", head) {
		t.Error("OpenClaw and Claude Code transcripts are confused")
	}
	imp, err := Detect([]string{"testdata/openclaw"})
	if err != nil || imp.Kind() != "openclaw" {
		t.Errorf("Detect = %v, %v", imp, err)
	}
}

func FuzzOpenClaw(f *testing.F) {
	f.Add([]byte(`{"type":"session","version":3,"id":"s","timestamp":"2026-02-10T08:00:00Z"}
{"type":"message","id":"a","timestamp":"2026-02-10T08:00:01Z","message":{"role":"assistant","model":"m","content":"HEARTBEAT_OK","usage":{"input":1,"output":2,"cacheWrite":3,"cacheWrite1h":1,"cost":{"total":0.1}}}}
`))
	dir := f.TempDir() // one folder for the whole run: a folder per input slows fuzzing to a crawl
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(dir+"/s.jsonl", data, 0o644); err != nil {
			t.Fatal(err)
		}
		c := &Collector{SkipInvalid: true, MaxInvalid: 1}
		if err := (OpenClaw{}).Import([]string{dir}, Options{}, c); err != nil {
			if e, ok := traces.AsError(err); !ok || !e.Fatal {
				t.Fatalf("non-fatal error stopped the import: %v", err)
			}
		}
	})
}
