package importers

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tarsopt/tarsopt/traces"
)

// recordingSink is a Sink that keeps everything it is handed: clones of the records, the bad-line
// errors and the skip counts. With stopOnBad, Bad returns the error, as the default Collector does.
type recordingSink struct {
	records   []traces.Record
	bad       []*traces.Error
	skips     map[string]int
	stopOnBad bool
}

func (s *recordingSink) Record(r *traces.Record) error {
	s.records = append(s.records, r.Clone())
	return nil
}

func (s *recordingSink) Bad(e *traces.Error) error {
	s.bad = append(s.bad, e)
	if s.stopOnBad {
		return e
	}
	return nil
}

func (s *recordingSink) Skip(reason string, n int) {
	if s.skips == nil {
		s.skips = map[string]int{}
	}
	s.skips[reason] += n
}

// badStrings returns the bad errors as strings.
func (s *recordingSink) badStrings() []string {
	var out []string
	for _, e := range s.bad {
		out = append(out, e.Error())
	}
	return out
}

// countingSink accepts everything and only counts, for fuzzing and benchmarks.
type countingSink struct {
	records, bad, skipped int
}

func (s *countingSink) Record(r *traces.Record) error { s.records++; return nil }
func (s *countingSink) Bad(e *traces.Error) error     { s.bad++; return nil }
func (s *countingSink) Skip(reason string, n int)     { s.skipped += n }

// lookupImporter returns the registered importer of kind.
func lookupImporter(t testing.TB, kind string) Importer {
	t.Helper()
	imp, ok := Lookup(kind)
	if !ok {
		t.Fatalf("importer %q is not registered", kind)
	}
	return imp
}

// importPaths imports paths with the importer of kind and fails the test on an error.
func importPaths(t testing.TB, kind string, opts Options, paths ...string) *recordingSink {
	t.Helper()
	s := &recordingSink{}
	if err := lookupImporter(t, kind).Import(paths, opts, s); err != nil {
		t.Fatalf("import %s %v: %v", kind, paths, err)
	}
	return s
}

// writeTemp writes content to a file named name in a new temporary directory and returns its path.
func writeTemp(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// gzipCopy writes a gzip-compressed copy of src, named after it plus ".gz", into a new temporary
// directory and returns its path.
func gzipCopy(t testing.TB, src string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), filepath.Base(src)+".gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// validateAll checks that every record passes Validate.
func validateAll(t *testing.T, recs []traces.Record) {
	t.Helper()
	for i := range recs {
		if e := recs[i].Validate(); e != nil {
			t.Errorf("record %d (%s) is invalid: %v", i, recs[i].Origin, e)
		}
	}
}

// sameRecords checks that two imports of the same data (from different paths) agree but for the
// file names in Pos and Origin.
func sameRecords(t *testing.T, got, want []traces.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i].Clone(), want[i].Clone()
		g.Pos.File, w.Pos.File = "", ""
		g.Origin = g.Origin[strings.LastIndexAny(g.Origin, ":#"):]
		w.Origin = w.Origin[strings.LastIndexAny(w.Origin, ":#"):]
		if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Fatalf("record %d differs:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// checkAbsent fails for every field in fields that r has.
func checkAbsent(t *testing.T, r *traces.Record, fields ...traces.Field) {
	t.Helper()
	for _, f := range fields {
		if r.Has(f) {
			t.Errorf("%s: %s is present, want absent", r.Origin, f)
		}
	}
}

// The public-trace fixtures, by kind.
var publicFixtures = map[string][]string{
	"azure": {
		"testdata/azure/AzureLLMInferenceTrace_code.csv",
		"testdata/azure/AzureLLMInferenceTrace_conv.csv",
		"testdata/azure/AzureLLMInferenceTrace_conv_1week.sample.csv",
	},
	"burstgpt": {
		"testdata/burstgpt/BurstGPT_1_first300.csv",
		"testdata/burstgpt/BurstGPT_3_sample.csv",
	},
	"mooncake": {"testdata/mooncake/conversation_trace.jsonl"},
	"weka":     {"testdata/weka/trace_0048.json", "testdata/weka/trace_0274.json"},
}

// foreignHeads are the first bytes of logs that none of the public-trace importers may claim.
var foreignHeads = map[string]string{
	"claude-code.jsonl": `{"type":"file-history-snapshot","messageId":"7d48","snapshot":{"messageId":"7d48","trackedFileBackups":{},"timestamp":"2026-02-10T21:11:56.906Z"},"isSnapshotUpdate":false}
{"parentUuid":"3579","isSidechain":false,"userType":"external","cwd":"/home/u/p","sessionId":"5560","version":"2.1.38","type":"assistant","message":{"model":"claude-opus-4-6","id":"msg_1","usage":{"input_tokens":3,"cache_creation_input_tokens":1200,"cache_read_input_tokens":0,"output_tokens":5}},"requestId":"req_1","uuid":"a1","timestamp":"2026-02-10T21:11:58.000Z"}
`,
	"openclaw.jsonl": `{"type":"session","version":3,"id":"1f979e30-0000-4000-8000-000000000000","timestamp":"2026-02-10T08:00:00.000Z","cwd":"/home/u/.openclaw/workspace"}
{"type":"message","id":"a1b2c3d4","parentId":null,"timestamp":"2026-02-10T08:00:01.000Z","message":{"role":"assistant","provider":"anthropic","model":"claude-opus-4-6","usage":{"input":10,"output":2,"cacheRead":3,"cacheWrite":4,"totalTokens":19,"cost":{"total":0.001}},"stopReason":"stop","timestamp":1770710401000}}
`,
	"litellm.csv": "request_id,call_type,api_key,spend,total_tokens,prompt_tokens,completion_tokens,startTime,endTime,model,user,cache_hit\n" +
		"chatcmpl-1,acompletion,88dc28,0.00012,30,20,10,2026-02-10 08:00:00,2026-02-10 08:00:01,gpt-4o,u1,False\n",
	"litellm.jsonl": `{"request_id":"chatcmpl-1","call_type":"acompletion","spend":0.00012,"total_tokens":30,"prompt_tokens":20,"completion_tokens":10,"startTime":"2026-02-10T08:00:00Z","model":"gpt-4o"}
`,
	"canonical.jsonl": `{"tarsopt_trace":1,"block_size":64,"source":"import:weka"}
{"time":"2026-02-10T00:00:00Z","id":"trace_0048:0","session":"trace_0048","model":"claude-opus-4-5-20251101","input":42383,"output":314,"prefix":["0123456789abcdef"]}
`,
	"canonical-noheader.jsonl": `{"time":"2026-02-10T00:00:00Z","model":"mooncake-kimi","input":6758,"output":500,"prefix":["0123456789abcdef"],"latency":1.5}
`,
	"canonical.csv":          "# {\"tarsopt_trace\":1}\ntime,model,input,output\n2026-02-10T00:00:00Z,gpt-4,10,20\n",
	"canonical-noheader.csv": "time,model,input,output,latency\n2026-02-10T00:00:00Z,gpt-4,10,20,1.5\n",
}

// TestSniffPublicTraces checks that each public-trace importer claims its own fixtures and nothing
// else: not the other kinds' fixtures, and none of the other logs tarsopt reads.
func TestSniffPublicTraces(t *testing.T) {
	for kind := range publicFixtures {
		imp := lookupImporter(t, kind)
		for other, ofiles := range publicFixtures {
			for _, f := range ofiles {
				head, err := readHead(f, 64<<10)
				if err != nil {
					t.Fatal(err)
				}
				if got := imp.Sniff(f, head); got != (other == kind) {
					t.Errorf("%s.Sniff(%s) = %v, want %v", kind, f, got, other == kind)
				}
			}
		}
		for name, head := range foreignHeads {
			if imp.Sniff(name, []byte(head)) {
				t.Errorf("%s.Sniff claims %s", kind, name)
			}
		}
	}
	// The fixtures of the other importers, where they exist.
	for _, dir := range []string{"testdata/claude-code", "testdata/openclaw", "testdata/litellm"} {
		files, err := Files([]string{dir}, func(string) bool { return true })
		if err != nil {
			continue
		}
		for _, f := range files {
			head, err := readHead(f, 64<<10)
			if err != nil {
				continue
			}
			for kind := range publicFixtures {
				if lookupImporter(t, kind).Sniff(f, head) {
					t.Errorf("%s.Sniff claims %s", kind, f)
				}
			}
		}
	}
}

// TestDetectPublicTraces checks that Detect picks the right importer for each fixture directory and
// file, whatever else is registered.
func TestDetectPublicTraces(t *testing.T) {
	for kind, files := range publicFixtures {
		paths := append([]string{filepath.Dir(files[0])}, files...)
		for _, p := range paths {
			imp, err := Detect([]string{p})
			if err != nil {
				t.Errorf("Detect(%s): %v", p, err)
				continue
			}
			if imp.Kind() != kind {
				t.Errorf("Detect(%s) = %s, want %s", p, imp.Kind(), kind)
			}
		}
	}
}

// benchInput builds the input of a benchmark: paths to import and the records they hold.
type benchInput struct {
	kind  string
	build func(b *testing.B) (paths []string, rows int)
}

// repeatLines writes a file of the header line (if header) and then the data lines of src repeated
// until there are rows of them.
func repeatLines(b *testing.B, src, name string, header bool, rows int) string {
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var buf strings.Builder
	if header {
		buf.WriteString(lines[0] + "\n")
		lines = lines[1:]
	}
	for i := 0; i < rows; i++ {
		buf.WriteString(lines[i%len(lines)])
		buf.WriteByte('\n')
	}
	p := filepath.Join(b.TempDir(), name)
	if err := os.WriteFile(p, []byte(buf.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

var benchInputs = []benchInput{
	{"claude-code", func(b *testing.B) ([]string, int) {
		// 300 copies of the three real transcripts, each with its own message and request ids.
		dir := b.TempDir()
		files, _ := filepath.Glob("testdata/claude-code/projects/*/*.jsonl")
		for i := 0; i < 300; i++ {
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					b.Fatal(err)
				}
				data = bytes.ReplaceAll(data, []byte(`"id":"msg_`), []byte(fmt.Sprintf(`"id":"msg_c%d_`, i)))
				data = bytes.ReplaceAll(data, []byte(`"requestId":"req_`), []byte(fmt.Sprintf(`"requestId":"req_c%d_`, i)))
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d-%s", i, filepath.Base(f))), data, 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
		return []string{dir}, 300 * 22 // 17 calls and 5 sub-agent calls echoed in agent_progress lines
	}},
	{"openclaw", func(b *testing.B) ([]string, int) {
		dir := b.TempDir()
		files, _ := filepath.Glob("testdata/openclaw/agents/*/sessions/*.jsonl")
		n := 0
		for i := 0; i < 2000; i++ {
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d-%s", i, filepath.Base(f))), data, 0o644); err != nil {
					b.Fatal(err)
				}
			}
			n += 5
		}
		return []string{dir}, n
	}},
	{"litellm", func(b *testing.B) ([]string, int) {
		// The fixture's five rows hold three calls (the others are a cache hit and an embedding).
		const rows = 50_000
		return []string{repeatLines(b, "testdata/litellm/spendlogs.csv", "spendlogs.csv", true, rows)}, rows / 5 * 3
	}},
	{"azure", func(b *testing.B) ([]string, int) {
		const n = 100_000
		return []string{repeatLines(b, "testdata/azure/AzureLLMInferenceTrace_code.csv", "AzureLLMInferenceTrace_code.csv", true, n)}, n
	}},
	{"burstgpt", func(b *testing.B) ([]string, int) {
		const n = 100_000
		return []string{repeatLines(b, "testdata/burstgpt/BurstGPT_3_sample.csv", "BurstGPT_3.csv", true, n)}, n
	}},
	{"mooncake", func(b *testing.B) ([]string, int) {
		const n = 100_000
		return []string{repeatLines(b, "testdata/mooncake/conversation_trace.jsonl", "conversation_trace.jsonl", false, n)}, n
	}},
	{"weka", func(b *testing.B) ([]string, int) {
		// 20 copies of each fixture conversation, under their own trace ids.
		dir := b.TempDir()
		rows := 0
		for _, src := range publicFixtures["weka"] {
			data, err := os.ReadFile(src)
			if err != nil {
				b.Fatal(err)
			}
			s := &countingSink{}
			if err := (wekaImporter{}).Import([]string{src}, Options{}, s); err != nil {
				b.Fatal(err)
			}
			id := traceName(src)
			for i := 0; i < 20; i++ {
				copyID := fmt.Sprintf("%s_%02d", id, i)
				out := bytes.Replace(data, []byte(`"id":"`+id+`"`), []byte(`"id":"`+copyID+`"`), 1)
				if err := os.WriteFile(filepath.Join(dir, copyID+".json"), out, 0o644); err != nil {
					b.Fatal(err)
				}
				rows += s.records
			}
		}
		return []string{dir}, rows
	}},
}

// BenchmarkImport measures each importer on its fixtures, repeated to a larger input: records per
// second and allocations per record.
func BenchmarkImport(b *testing.B) {
	for _, in := range benchInputs {
		imp := lookupImporter(b, in.kind)
		// The input is built once, outside the sub-benchmark, which may run several times.
		paths, rows := in.build(b)
		b.Run(fmt.Sprintf("kind=%s/rows=%d", in.kind, rows), func(b *testing.B) {
			b.ReportAllocs()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			for b.Loop() {
				s := &countingSink{}
				if err := imp.Import(paths, Options{}, s); err != nil {
					b.Fatal(err)
				}
				if s.records != rows || s.bad != 0 {
					b.Fatalf("%d records and %d bad, want %d records", s.records, s.bad, rows)
				}
			}
			runtime.ReadMemStats(&ms1)
			total := float64(b.N) * float64(rows)
			b.ReportMetric(total/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/total, "allocs/record")
		})
	}
}

// showRecord prints a record compactly for test failures: its canonical JSON with at most three
// prefix hashes, and its position.
func showRecord(r *traces.Record) string {
	c := r.Clone()
	if len(c.Prefix) > 3 {
		c.Prefix = c.Prefix[:3]
	}
	return fmt.Sprintf("%s (prefix of %d, at %v)", traces.AppendJSON(nil, &c), len(r.Prefix), r.Pos)
}

// showRecords prints records as showRecord does, one a line.
func showRecords(rs []traces.Record) string {
	var b strings.Builder
	for i := range rs {
		b.WriteString("\n\t" + showRecord(&rs[i]))
	}
	return b.String()
}
