package importers

import (
	"os"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/traces"
)

func TestLiteLLM(t *testing.T) {
	for _, file := range []string{"testdata/litellm/spendlogs.csv", "testdata/litellm/spendlogs.json"} {
		t.Run(file, func(t *testing.T) {
			recs, stats, skips := importAll(t, "litellm", file)
			if len(recs) != 3 {
				t.Fatalf("%d records, want 3", len(recs))
			}
			a := recs[0]
			// prompt_tokens 1200 counts the 800 cache reads and 100 cache writes.
			if a.ID != "chatcmpl-001" || a.Input != 300 || a.CacheRead != 800 || a.CacheWrite5m != 100 || a.Output != 400 {
				t.Errorf("first row tokens: %+v", a)
			}
			if a.Tenant == "" || a.Session != "sess-1" || a.Model != "claude-sonnet-4-5-20250929" || a.Provider != "anthropic" || a.Cost != 4_540_000 {
				t.Errorf("first row labels: %+v", a)
			}
			if !a.Time.Equal(time.Date(2026, 2, 10, 8, 0, 0, 120e6, time.UTC)) || a.Latency != 3500*time.Millisecond || a.TTFT != 800*time.Millisecond {
				t.Errorf("first row times: %v, latency %v, ttft %v", a.Time, a.Latency, a.TTFT)
			}
			if !a.Has(traces.FieldFingerprint) {
				t.Error("cache_key did not become a fingerprint")
			}
			b := recs[1]
			if b.Model != "gpt-4o-mini" || b.Input != 500 || b.Has(traces.FieldCacheRead) || b.Has(traces.FieldTTFT) || b.Latency != 1500*time.Millisecond {
				t.Errorf("second row: %+v", b)
			}
			f := recs[2]
			if f.Error != "failure" || f.Status != 529 || f.Session != "sess-2" {
				t.Errorf("failure row: %+v", f)
			}
			if skips["LiteLLM response-cache hit"] != 1 || skips["not a chat call"] != 1 {
				t.Errorf("skips: %v", skips)
			}
			if stats.Invalid != 0 {
				t.Errorf("bad rows: %+v", stats)
			}
		})
	}
	recs, stats, _ := importAll(t, "litellm", "testdata/litellm-bad")
	if len(recs) != 1 || stats.Invalid != 1 || stats.Reasons["spend: bad number"] != 1 || stats.Examples[0].Pos.Line != 3 {
		t.Errorf("bad rows: %d records, %+v", len(recs), stats)
	}
}

func TestLiteLLMSniff(t *testing.T) {
	head, _ := os.ReadFile("testdata/litellm/spendlogs.csv")
	if !(LiteLLM{}).Sniff("x.csv", head) {
		t.Error("Sniff rejects the CSV export")
	}
	imp, err := Detect([]string{"testdata/litellm"})
	if err != nil || imp.Kind() != "litellm" {
		t.Errorf("Detect = %v, %v", imp, err)
	}
}

func FuzzLiteLLM(f *testing.F) {
	f.Add([]byte("request_id,call_type,spend,prompt_tokens,completion_tokens,startTime,model,cache_hit,metadata\nr1,acompletion,0.1,10,5,2026-02-10 08:00:00,m,False,{}\n"))
	f.Add([]byte(`[{"request_id":"r","startTime":"2026-02-10T08:00:00Z","model":"m","prompt_tokens":3,"metadata":{"additional_usage_values":{"cache_read_input_tokens":1}}}]`))
	dir := f.TempDir() // one folder for the whole run: a folder per input slows fuzzing to a crawl
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(dir+"/s.csv", data, 0o644); err != nil {
			t.Fatal(err)
		}
		c := &Collector{SkipInvalid: true, MaxInvalid: 1}
		if err := (LiteLLM{}).Import([]string{dir}, Options{}, c); err != nil {
			if e, ok := traces.AsError(err); !ok || !e.Fatal {
				t.Fatalf("non-fatal error stopped the import: %v", err)
			}
		}
	})
}
