package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarsopt/tarsopt/money"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// ccRules is the hand-written Claude Code fixture of the importers' tests.
const ccRules = "../../traces/importers/testdata/claude-code/rules"

// runCLI runs the command line in-process and returns its stdout and its stderr, with the error run
// returned appended to stderr as main would print it. Temporary paths read as $TMP.
func runCLI(t *testing.T, tmp string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(args, &out, &errb)
	if err != nil {
		errb.WriteString("tarsopt: " + err.Error() + "\n")
	}
	clean := func(s string) string {
		if tmp != "" {
			s = strings.ReplaceAll(s, tmp, "$TMP")
		}
		return s
	}
	return clean(out.String()), clean(errb.String()), err
}

// golden compares got with testdata/golden/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/tarsopt -update to create it)", err)
	}
	if got != string(want) {
		gotPath := path + ".got"
		os.WriteFile(gotPath, []byte(got), 0o644)
		t.Errorf("%s differs from the golden file; got is in %s (diff them, or -update)", name, gotPath)
	}
}

func TestGolden(t *testing.T) {
	tmp := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{"help", []string{"help"}, false},
		{"help-inspect", []string{"help", "inspect"}, false},
		{"inspect-json", []string{"inspect", "--json", "testdata/small.jsonl"}, false},
		{"inspect-table", []string{"inspect", "testdata/small.jsonl"}, false},
		{"inspect-broken", []string{"inspect", "testdata/broken.jsonl"}, true},
		{"inspect-skip", []string{"inspect", "--json", "--skip-invalid", "--max-invalid", "0.5", "testdata/broken.jsonl"}, false},
		{"inspect-skip-over-limit", []string{"inspect", "--skip-invalid", "testdata/broken.jsonl"}, true},
		{"convert-csv", []string{"convert", "testdata/small.jsonl", "-o", "-", "--format", "csv"}, false},
		{"gen-day", []string{"gen", "--profile", "tars-baseline", "--days", "1", "--seed", "3", "-o", filepath.Join(tmp, "day.jsonl")}, false},
		{"inspect-gen-day", []string{"inspect", filepath.Join(tmp, "day.jsonl")}, false},
		{"cost-unknown-model", []string{"cost", "testdata/small.jsonl"}, true},
		{"cost-table", []string{"cost", "--unknown-model=zero", "testdata/small.jsonl"}, false},
		{"cost-json", []string{"cost", "--unknown-model=zero", "--json", "testdata/small.jsonl"}, false},
		{"cost-table-top1", []string{"cost", "--unknown-model=zero", "--top", "1", "testdata/small.jsonl"}, false},
		{"cost-csv", []string{"cost", "--unknown-model=zero", "--csv", "--tz", "America/New_York", "testdata/small.jsonl"}, false},
		{"cost-claude-code", []string{"cost", "--from", "claude-code", "--json", "--skip-invalid", "--max-invalid", "0.5", ccRules}, false},
		{"cost-claude-code-at", []string{"cost", "--from", "claude-code", "--at", "2025-06-01", "--skip-invalid", "--max-invalid", "0.5", ccRules}, false},
		{"import-claude-code", []string{"import", "--from", "auto", "--skip-invalid", "--max-invalid", "0.5", ccRules, "-o", filepath.Join(tmp, "cc.jsonl")}, false},
		{"inspect-imported", []string{"inspect", filepath.Join(tmp, "cc.jsonl")}, false},
		{"import-stops-at-bad-line", []string{"import", "--from", "claude-code", ccRules, "-o", filepath.Join(tmp, "x.jsonl")}, true},
		{"import-bad-kind", []string{"import", "--from", "chatgpt", ccRules, "-o", "x.jsonl"}, true},
		{"config-check-broken", []string{"config", "check", "testdata/broken-config.json"}, true},
		{"config-check-typo", []string{"config", "check", "testdata/typo-config.json"}, true},
		{"config-check-set", []string{"config", "check", "testdata/broken-config.json", "--set", "strategies.router.bands[1].max=75"}, false},
		{"replay-day", []string{"replay", "--trace", filepath.Join(tmp, "day.jsonl")}, false},
		{"replay-day-json", []string{"replay", "--json", "--per-day", "--trace", filepath.Join(tmp, "day.jsonl"), "--set", "strategies.promptcache.enabled=true"}, false},
		{"replay-unknown-model", []string{"replay", "--trace", "testdata/small.jsonl"}, true},
		// The oracle prices an unknown model's calls at $0 too (it used to stop the run).
		{"replay-unknown-model-zero", []string{"replay", "--unknown-model=zero", "--json", "--trace", "testdata/small.jsonl"}, false},
		{"mc-unknown-model-zero", []string{"mc", "--unknown-model=zero", "--samples", "10", "--json", "--trace", "testdata/small.jsonl"}, false},
		{"replay-bad-set", []string{"replay", "--trace", "testdata/small.jsonl", "--set", "strategies.router.bands[7].max=3"}, true},
		{"unknown-command", []string{"replay-all"}, true},
		{"bad-flag", []string{"inspect", "--colour", "x.jsonl"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runCLI(t, tmp, tt.args...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v\nstderr:\n%s", err, tt.wantErr, stderr)
			}
			golden(t, tt.name+".stdout", stdout)
			golden(t, tt.name+".stderr", stderr)
		})
	}
}

// The contract's conversion chain: parquet → jsonl → arrow → jsonl gives the same JSONL bytes.
func TestConvertChainIsExact(t *testing.T) {
	tmp := t.TempDir()
	p := func(name string) string { return filepath.Join(tmp, name) }
	steps := [][]string{
		{"gen", "-q", "--days", "2", "--seed", "5", "-o", p("base.parquet")},
		{"convert", p("base.parquet"), "-o", p("x.jsonl")},
		{"convert", p("x.jsonl"), "-o", p("y.arrow")},
		{"convert", p("y.arrow"), "-o", p("z.jsonl")},
		{"convert", p("z.jsonl"), "-o", p("w.csv.gz")},
		{"convert", p("w.csv.gz"), "-o", p("v.arrows.zst")},
		{"convert", p("v.arrows.zst"), "-o", p("u.jsonl")},
	}
	for _, args := range steps {
		if _, stderr, err := runCLI(t, tmp, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr)
		}
	}
	x, _ := os.ReadFile(p("x.jsonl"))
	for _, name := range []string{"z.jsonl", "u.jsonl"} {
		z, _ := os.ReadFile(p(name))
		if len(x) == 0 || !bytes.Equal(x, z) {
			t.Errorf("x.jsonl and %s differ (%d and %d bytes)", name, len(x), len(z))
		}
	}
}

// gen writes byte-identical files for the same seed, in every format.
func TestGenIsDeterministic(t *testing.T) {
	tmp := t.TempDir()
	for _, ext := range []string{"jsonl", "csv", "arrow", "arrows", "parquet", "jsonl.gz", "parquet.zst"} {
		var files [2][]byte
		for i := range files {
			name := filepath.Join(tmp, string(rune('a'+i))+"."+ext)
			if _, stderr, err := runCLI(t, tmp, "gen", "-q", "--days", "2", "--seed", "9", "-o", name); err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			files[i], _ = os.ReadFile(name)
		}
		if len(files[0]) == 0 || !bytes.Equal(files[0], files[1]) {
			t.Errorf("%s: two runs with the same seed wrote different files", ext)
		}
	}
}

// The contract: import then cost gives the total that cost gives on the logs directly.
func TestImportThenCostMatches(t *testing.T) {
	tmp := t.TempDir()
	for _, out := range []string{"t.parquet", "t.jsonl.zst"} {
		dst := filepath.Join(tmp, out)
		if _, stderr, err := runCLI(t, tmp, "import", "--from", "claude-code", "../../traces/importers/testdata/claude-code", "-o", dst); err != nil {
			t.Fatalf("import: %v\n%s", err, stderr)
		}
		direct, _, err := runCLI(t, tmp, "cost", "--json", "--from", "claude-code", "../../traces/importers/testdata/claude-code")
		if err != nil {
			t.Fatal(err)
		}
		viaTrace, _, err := runCLI(t, tmp, "cost", "--json", dst)
		if err != nil {
			t.Fatal(err)
		}
		var a, b struct {
			Total json.Number `json:"total_usd"`
			Days  []struct {
				Date   string                 `json:"date"`
				Total  json.Number            `json:"total_usd"`
				Models map[string]json.Number `json:"models"`
			} `json:"days"`
		}
		json.Unmarshal([]byte(direct), &a)
		json.Unmarshal([]byte(viaTrace), &b)
		if a.Total == "" || a.Total != b.Total || len(a.Days) == 0 || fmt.Sprint(a.Days) != fmt.Sprint(b.Days) {
			t.Errorf("%s: total %s from the logs, %s from the trace; days %v vs %v", out, a.Total, b.Total, a.Days, b.Days)
		}
	}
}

// The differences fixture of benchmarks/ccusage: one difference between ccusage and Anthropic's
// billing per day. tarsopt must bill each day as Anthropic does, to the nano-dollar.
func TestCcusageDifferencesFixture(t *testing.T) {
	const dir = "../../benchmarks/ccusage/testdata/differences"
	out, stderr, err := runCLI(t, "", "cost", "--from", "claude-code", "--json", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	type report struct {
		Total json.Number `json:"total_usd"`
		Days  []struct {
			Date   string                 `json:"date"`
			Total  json.Number            `json:"total_usd"`
			Models map[string]json.Number `json:"models"`
		} `json:"days"`
	}
	var got, want report
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(dir + "/expected-anthropic.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	amount := func(n json.Number) money.Amount {
		a, err := money.ParseAmount(string(n))
		if err != nil {
			t.Fatalf("%q: %v", n, err)
		}
		return a
	}
	if amount(got.Total) != amount(want.Total) {
		t.Errorf("total %s, Anthropic's rules give %s", got.Total, want.Total)
	}
	gotDays := map[string]map[string]json.Number{}
	for _, d := range got.Days {
		gotDays[d.Date] = d.Models
	}
	for _, d := range want.Days {
		for m, v := range d.Models {
			if amount(gotDays[d.Date][m]) != amount(v) {
				t.Errorf("%s %s: %s, Anthropic's rules give %s", d.Date, m, gotDays[d.Date][m], v)
			}
		}
	}
}

// The contract of tarsopt replay and tarsopt config, checked as a user would.
func TestReplayContract(t *testing.T) {
	tmp := t.TempDir()
	base := filepath.Join(tmp, "base.parquet")
	if _, stderr, err := runCLI(t, tmp, "gen", "-q", "--days", "3", "--seed", "4", "-o", base); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	// config default validates with config check.
	def, _, err := runCLI(t, tmp, "config", "default")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(tmp, "performance-config.json")
	os.WriteFile(cfgPath, []byte(def), 0o644)
	if _, stderr, err := runCLI(t, tmp, "config", "check", cfgPath); err != nil {
		t.Fatalf("config check of the default: %v\n%s", err, stderr)
	}
	replay := func(args ...string) (map[string]json.RawMessage, string) {
		t.Helper()
		out, stderr, err := runCLI(t, tmp, append([]string{"replay", "--json", "--trace", base}, args...)...)
		if err != nil {
			t.Fatalf("replay %v: %v\n%s", args, err, stderr)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		return m, out
	}
	m, out1 := replay("--config", cfgPath)
	type side struct {
		Cost     json.Number        `json:"cost_usd"`
		PerDay   json.Number        `json:"cost_per_day_usd"`
		Upstream *int64             `json:"calls_upstream"`
		Hit      *float64           `json:"cache_hit_rate"`
		Batched  *float64           `json:"batched_share"`
		Deferred *float64           `json:"deferred_share"`
		P95      *float64           `json:"latency_p95_ms"`
		Quality  *float64           `json:"quality_score"`
		Errors   *float64           `json:"error_rate"`
		Mix      map[string]float64 `json:"model_mix"`
	}
	var b, c side
	var red float64
	for _, k := range []string{"baseline", "configured", "reduction"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("replay --json lacks %q", k)
		}
	}
	json.Unmarshal(m["baseline"], &b)
	json.Unmarshal(m["configured"], &c)
	json.Unmarshal(m["reduction"], &red)
	for name, s := range map[string]side{"baseline": b, "configured": c} {
		if s.Cost == "" || s.PerDay == "" || s.Upstream == nil || s.Hit == nil || s.Batched == nil || s.Deferred == nil ||
			s.P95 == nil || s.Quality == nil || s.Errors == nil || len(s.Mix) == 0 {
			t.Errorf("%s lacks a contract key: %+v", name, s)
		}
	}
	bc, _ := b.Cost.Float64()
	cc, _ := c.Cost.Float64()
	if want := 1 - cc/bc; red != want || red <= 0 {
		t.Errorf("reduction %v, want 1 - %v/%v = %v", red, cc, bc, want)
	}
	// Two runs, byte-identical.
	if _, out2 := replay("--config", cfgPath); out1 != out2 {
		t.Error("two replays printed different JSON")
	}
	// Every strategy disabled through --set: configured = baseline = tarsopt cost.
	var sets []string
	for _, n := range []string{"responsecache", "router", "pruner", "batcher", "deferral", "promptcache"} {
		sets = append(sets, "--set", "strategies."+n+".enabled=false")
	}
	m, _ = replay(sets...)
	json.Unmarshal(m["baseline"], &b)
	json.Unmarshal(m["configured"], &c)
	costOut, _, err := runCLI(t, tmp, "cost", "--json", base)
	if err != nil {
		t.Fatal(err)
	}
	var cost struct {
		Total json.Number `json:"total_usd"`
	}
	json.Unmarshal([]byte(costOut), &cost)
	if c.Cost != b.Cost || b.Cost != cost.Total || cost.Total == "" {
		t.Errorf("all disabled: configured %s, baseline %s, tarsopt cost %s: want all equal", c.Cost, b.Cost, cost.Total)
	}
	// --set takes the contract's paths.
	if _, stderr, err := runCLI(t, tmp, "replay", "--json", "--trace", base, "--set", "strategies.router.enabled=false", "--set", "strategies.router.bands[1].max=40"); err != nil {
		t.Errorf("--set with contract paths: %v\n%s", err, stderr)
	}
}
