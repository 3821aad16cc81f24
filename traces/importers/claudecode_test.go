package importers

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/traces"
)

// importAll imports paths with kind's importer, skipping bad lines, and returns the records in
// the order they came, the bad lines and the skips.
func importAll(t *testing.T, kind string, paths ...string) ([]traces.Record, traces.Stats, map[string]int64) {
	t.Helper()
	imp, ok := Lookup(kind)
	if !ok {
		t.Fatalf("no importer %q", kind)
	}
	var recs []traces.Record
	c := &Collector{SkipInvalid: true, MaxInvalid: 1, Next: func(r *traces.Record) error {
		recs = append(recs, r.Clone())
		return nil
	}}
	if err := imp.Import(paths, Options{}, c); err != nil {
		t.Fatalf("import %s: %v", kind, err)
	}
	return recs, c.Stats, c.Skipped
}

const ccRules = "testdata/claude-code/rules"

func TestClaudeCodeRules(t *testing.T) {
	recs, stats, skips := importAll(t, "claude-code", ccRules)
	byID := map[string]traces.Record{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4 (A, B, C, F): %v", len(recs), byID)
	}
	// A: of its two streamed lines the one with the final output (120) stands; its 1-hour writes.
	a := byID["req_A"]
	if a.Output != 120 || a.CacheWrite1h != 1000 || a.CacheWrite5m != 0 || a.CacheRead != 5000 || a.Input != 3 {
		t.Errorf("A: %+v", a)
	}
	if a.Session != "s1" || a.Agent != "" || a.Model != "claude-sonnet-4-5-20250929" || a.Provider != "anthropic" || a.ServiceTier != traces.TierStandard {
		t.Errorf("A labels: %+v", a)
	}
	if !strings.HasSuffix(a.Origin, "s1.jsonl:3") {
		t.Errorf("A origin %q, want its final line, 3", a.Origin)
	}
	// B: no cache_creation object, so every write is a 5-minute one; costUSD kept as recorded.
	b := byID["req_B"]
	if b.CacheWrite5m != 500 || b.CacheWrite1h != 0 || !b.Has(traces.FieldCost) || b.Cost != 12_300_000 {
		t.Errorf("B: %+v", b)
	}
	// C: split 100/200, fast mode.
	c := byID["req_C"]
	if c.CacheWrite5m != 100 || c.CacheWrite1h != 200 || c.Speed != traces.SpeedFast || c.Has(traces.FieldCost) {
		t.Errorf("C: %+v", c)
	}
	// F: a sub-agent's own call, its final line.
	f := byID["req_F"]
	if f.Output != 40 || f.Agent != "a1" {
		t.Errorf("F: %+v", f)
	}
	if _, ok := byID["req_X"]; ok {
		t.Error("the sidechain replay of msg_A was imported")
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Time.Before(recs[i-1].Time) {
			t.Errorf("records out of time order at %d", i)
		}
	}
	wantSkips := map[string]int64{"streaming duplicate": 2, "sidechain replay": 1, "synthetic message": 1, "API error message": 1, "missing sessionId, message.id or model": 1}
	for k, v := range wantSkips {
		if skips[k] != v {
			t.Errorf("skips[%q] = %d, want %d (all: %v)", k, skips[k], v, skips)
		}
	}
	if stats.Invalid != 1 || stats.Reasons["message.usage.input_tokens: truncated record"] != 1 || !strings.Contains(stats.Examples[0].Error(), "s1.jsonl:9") {
		t.Errorf("bad lines: %+v", stats)
	}
}

// The three real transcripts: 17 calls on claude-opus-4-6, and 5 calls of a Haiku sub-agent that
// the main transcript echoes in agent_progress lines (with placeholder output counts: no sub-agent
// transcript of its own survives). The totals equal ccusage 20.0.24's on the same files
// (benchmarks/ccusage/testdata/real.ccusage-20.0.24.json).
func TestClaudeCodeRealTranscripts(t *testing.T) {
	recs, stats, _ := importAll(t, "claude-code", "testdata/claude-code")
	var in, out, cw1, read int64
	models := map[string]int{}
	for _, r := range recs {
		in, out, cw1, read = in+r.Input, out+r.Output, cw1+r.CacheWrite1h, read+r.CacheRead
		models[r.Model]++
		if r.Model == "claude-haiku-4-5-20251001" && r.Agent != "afb92ff" {
			t.Errorf("sub-agent call without its agent: %+v", r)
		}
	}
	if len(recs) != 22 || in != 1657 || out != 1818 || cw1 != 71658 || read != 622375 {
		t.Errorf("calls %d, input %d, output %d, 1h writes %d, reads %d; want 22, 1657, 1818, 71658, 622375", len(recs), in, out, cw1, read)
	}
	if models["claude-opus-4-6"] != 17 || models["claude-haiku-4-5-20251001"] != 5 {
		t.Errorf("models %v", models)
	}
	if stats.Invalid != 0 {
		t.Errorf("invalid lines: %+v", stats)
	}
}

// A folder laid out like ~/.claude (with projects/) reads the same as its projects/ folder.
func TestClaudeCodeConfigDir(t *testing.T) {
	a, _, _ := importAll(t, "claude-code", ccRules)
	b, _, _ := importAll(t, "claude-code", filepath.Join(ccRules, "projects"))
	if len(a) != len(b) || len(a) == 0 {
		t.Errorf("%d records from the config folder, %d from projects/", len(a), len(b))
	}
}

func TestClaudeCodeGzip(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(ccRules, "projects/p/s1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	if err := os.WriteFile(filepath.Join(dir, "s1.jsonl.gz"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	recs, _, _ := importAll(t, "claude-code", dir)
	if len(recs) != 3 {
		t.Errorf("%d records from the gzipped transcript, want 3", len(recs))
	}
}

func TestClaudeCodeStopsAtBadLine(t *testing.T) {
	imp, _ := Lookup("claude-code")
	c := &Collector{}
	err := imp.Import([]string{ccRules}, Options{}, c)
	if err == nil || !strings.Contains(err.Error(), "s1.jsonl:9: message.usage.input_tokens: truncated record") {
		t.Errorf("error = %v, want the truncated line 9", err)
	}
}

func TestClaudeCodeSniff(t *testing.T) {
	head, _ := os.ReadFile(filepath.Join(ccRules, "projects/p/s1.jsonl"))
	if !(ClaudeCode{}).Sniff("x.jsonl", head) {
		t.Error("Sniff rejects a transcript")
	}
	if (ClaudeCode{}).Sniff("x.jsonl", []byte(`{"tarsopt_trace":1}`+"\n"+`{"time":"2026-02-10T00:00:00Z","model":"m"}`)) {
		t.Error("Sniff accepts a canonical trace")
	}
	imp, err := Detect([]string{ccRules})
	if err != nil || imp.Kind() != "claude-code" {
		t.Errorf("Detect = %v, %v", imp, err)
	}
}

func TestClaudeCodeTimes(t *testing.T) {
	recs, _, _ := importAll(t, "claude-code", ccRules)
	want := time.Date(2026, 2, 10, 23, 59, 59, 999e6, time.UTC)
	for _, r := range recs {
		if r.ID == "req_C" && !r.Time.Equal(want) {
			t.Errorf("C at %v, want %v", r.Time, want)
		}
	}
}

func FuzzClaudeCode(f *testing.F) {
	data, _ := os.ReadFile(filepath.Join(ccRules, "projects/p/s1.jsonl"))
	lines := bytes.SplitAfter(data, []byte("\n"))
	for _, l := range lines {
		if len(l) < 1500 {
			f.Add(l)
		}
	}
	dir := f.TempDir() // one folder for the whole run: a folder per input slows fuzzing to a crawl
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, "f.jsonl"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		c := &Collector{SkipInvalid: true, MaxInvalid: 1}
		if err := (ClaudeCode{}).Import([]string{dir}, Options{}, c); err != nil {
			if e, ok := traces.AsError(err); !ok || !e.Fatal {
				t.Fatalf("non-fatal error stopped the import: %v", err)
			}
		}
	})
}
