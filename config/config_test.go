package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tarsopt/tarsopt/strategies"
)

// The default configuration carries the seed plan's figures (../shared/design/SEED-PLAN.md).
func TestDefaultIsTheSeedPlan(t *testing.T) {
	c := Default()
	if diff := cmp.Diff([]string{"responsecache", "router", "pruner", "deferral", "batcher"}, c.Enabled()); diff != "" {
		t.Errorf("enabled strategies (-want +got):\n%s", diff)
	}
	js := func(v any) string {
		var b bytes.Buffer
		if err := jsonEncode(&b, v); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(b.String())
	}
	for _, tc := range []struct {
		name string
		got  any
		want string
	}{
		{"router bands", c.Strategies.Get("router"), `"bands":[{"max":25,"model":"claude-haiku-4-5"},{"max":50,"model":"claude-haiku-4-5"},{"max":75,"model":"claude-sonnet-4-5"},{"max":100,"model":"claude-sonnet-4-5"}]`},
		{"cache TTLs", c.Strategies.Get("responsecache"), `"ttl_s":{"code_pattern":86400,"fact_lookup":7200,"research":3600,"template":86400}`},
		{"off-peak window", c.Strategies.Get("deferral"), `"window":{"start":"00:00","end":"06:00"}`},
		{"max deferral", c.Strategies.Get("deferral"), `"max_deferral_s":3600`},
		{"eligible priorities", c.Strategies.Get("deferral"), `"priorities":["low","normal"]`},
		{"prompt cache off", c.Strategies.Get("promptcache"), `"enabled":false`},
	} {
		if got := js(tc.got); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %s does not contain %s", tc.name, got, tc.want)
		}
	}
	crit := map[string][2]float64{}
	for m, b := range c.SuccessCriteria {
		var lo, hi float64 = -1, -1
		if b.Min != nil {
			lo = *b.Min
		}
		if b.Max != nil {
			hi = *b.Max
		}
		crit[m] = [2]float64{lo, hi}
	}
	wantCrit := map[string][2]float64{
		"cost_reduction": {0.30, 0.40}, "monthly_cost_usd": {155, 181}, "response_time_s": {-1, 2},
		"error_rate": {-1, 0.02}, "quality_score": {0.94, -1}, "cache_hit_rate": {0.20, -1}, "batched_share": {0.25, -1},
	}
	if diff := cmp.Diff(wantCrit, crit); diff != "" {
		t.Errorf("success criteria (-want +got):\n%s", diff)
	}
	var trig []string
	for _, tr := range c.RollbackTriggers {
		trig = append(tr.Disable, tr.Metric)
		_ = trig
	}
	if len(c.RollbackTriggers) != 4 || *c.RollbackTriggers[0].Below != 0.10 || *c.RollbackTriggers[1].Below != 0.92 ||
		*c.RollbackTriggers[2].Above != 0.50 || *c.RollbackTriggers[3].Above != 0.03 || c.RollbackTriggers[3].Disable[0] != "all" {
		t.Errorf("rollback triggers: %+v", c.RollbackTriggers)
	}
	var phases [][3]any
	for _, p := range c.Phases {
		phases = append(phases, [3]any{p.Report, p.TargetReduction, p.TargetDailyCostUSD})
	}
	wantPhases := [][3]any{{"PHASE_1_BENCHMARK.md", 0.25, 6.43}, {"PHASE_2_BENCHMARK.md", 0.33, 5.73}, {"FINAL_BENCHMARK.md", 0.42, 4.97}}
	if diff := cmp.Diff(wantPhases, phases); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
}

func jsonEncode(b *bytes.Buffer, v any) error {
	s, ok := v.(strategies.Settings)
	if !ok {
		return nil
	}
	out, err := strategies.MarshalSettings(s)
	b.Write(out)
	return err
}

// Printing the default and reading it back gives the same configuration, byte for byte.
func TestDefaultRoundTrips(t *testing.T) {
	b1, err := Default().JSON()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(b1, "printed")
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := c.JSON()
	if !bytes.Equal(b1, b2) {
		t.Errorf("round trip differs:\n%s", cmp.Diff(string(b1), string(b2)))
	}
	if b3, _ := c.Clone().JSON(); !bytes.Equal(b1, b3) {
		t.Error("Clone differs")
	}
}

func TestParseErrorsNameThePath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"strategies": {"router": {"bandz": []}}}`, "line 1 col 28: strategies.router.bandz: unknown key"},
		{`{"strategies": {"routr": {}}}`, "strategies.routr: unknown strategy (known: batcher, deferral, promptcache, pruner, responsecache, router)"},
		{"{\n \"strategies\": {\"router\": {\"bands\": [{\"max\": 25, \"model\": \"m\"}, {\"max\": \"x\"}]}}}", "line 2 col 73: strategies.router.bands[1].max: want a number, got a string"},
		{`{"strategies": {"router": {"bands": [{"max": 50, "model": "a"}, {"max": 40, "model": "b"}, {"max": 100, "model": "c"}]}}}`, "strategies.router.bands[1].max"},
		{`{"order": ["router"]}`, "order: batcher is missing"},
		{`{"order": ["router", "router"]}`, "order[1]: router is already at order[0]"},
		{`{"success_criteria": {"cost_redux": {"min": 1}}}`, "success_criteria.cost_redux: unknown metric"},
		{`{"rollback_triggers": [{"metric": "error_rate", "disable": ["all"]}]}`, "rollback_triggers[0]: give exactly one of below and above"},
		{`{"phases": [{"name": "p", "start": "2026-02-30", "end": "2026-03-01"}]}`, `phases[0].start: want a date YYYY-MM-DD, got "2026-02-30"`},
		{`{"upstream": {"error_rate": 2}}`, "upstream.error_rate: want a share in [0, 1)"},
		{`{"upstream": {"quality": {"claude-x": {"easy": 0.5, "hard": 0.9, "shape": 1}}}}`, "upstream.quality.claude-x"},
		{`{"version": 2}`, "version: want 1, got 2"},
	} {
		_, err := Parse([]byte(tc.in), "f.json")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "f.json: ") {
			t.Errorf("%s:\n got %v\nwant f.json: ...%s", tc.in, err, tc.want)
		}
	}
}

func TestSet(t *testing.T) {
	c := Default()
	err := c.Set("strategies.router.enabled=false", "strategies.router.bands[1].max=40", "strategies.router.bands[0].model=claude-3-5-haiku",
		`strategies.responsecache.ttl_s.chat=60`, "seed=42", `name="quoted name"`)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.JSON()
	for _, want := range []string{`"max": 40`, `"model": "claude-3-5-haiku"`, `"chat": 60`, `"seed": 42`, `"name": "quoted name"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("after --set, configuration lacks %s", want)
		}
	}
	if c.Strategies.Get("router").Enabled() {
		t.Error("router still enabled")
	}
	before, _ := c.JSON()
	for _, tc := range []struct{ set, want string }{
		{"strategies.router.bands[9].max=1", "strategies.router.bands[9]: index out of range (the list has 4 elements"},
		{"strategies.router.bandz=1", "strategies.router.bandz: unknown key"},
		{"strategies.router.bands[1].max=20", "strategies.router.bands[1].max"},
		{"strategies.router.enabled=maybe", "strategies.router.enabled: want true or false, got a string"},
		{"strategies.router", "want PATH=VALUE"},
		{"strategies.router.bands[x]=1", "bad index"},
		{"seed.x=1", "seed is not an object"},
	} {
		err := c.Set(tc.set)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--set %s: got %v, want %s", tc.set, err, tc.want)
		}
	}
	if after, _ := c.JSON(); !bytes.Equal(before, after) {
		t.Error("a failed Set changed the configuration")
	}
	// Appending a band at the end.
	if err := c.Set("strategies.router.bands[3].max=90", `strategies.router.bands[4]={"max": 100, "model": "claude-opus-4-5"}`); err != nil {
		t.Fatal(err)
	}
}

func TestOnlyAndStack(t *testing.T) {
	c := Default()
	c.Only("router", "promptcache")
	if diff := cmp.Diff([]string{"router", "promptcache"}, c.Enabled()); diff != "" {
		t.Errorf("enabled (-want +got):\n%s", diff)
	}
}

// docs/config.md documents every key of the default configuration.
func TestDocsNameEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Default().JSON()
	if err != nil {
		t.Fatal(err)
	}
	var tree map[string]any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k, sub := range m {
			// Keys that are data (query types, model names, metric names) are not settings.
			if path == "strategies.responsecache.ttl_s" || path == "upstream.models" || path == "upstream.quality" || path == "success_criteria" {
				continue
			}
			if !bytes.Contains(doc, []byte("`"+k+"`")) && !bytes.Contains(doc, []byte("`"+k+".")) && !bytes.Contains(doc, []byte(`"`+k+`"`)) && !bytes.Contains(doc, []byte("."+k+"`")) {
				t.Errorf("docs/config.md does not mention %s.%s", path, k)
			}
			walk(strings.TrimPrefix(path+"."+k, "."), sub)
		}
	}
	walk("", tree)
}

// The example configurations shipped beside the default load.
func TestShippedConfigsLoad(t *testing.T) {
	files, _ := filepath.Glob("*.json")
	if len(files) < 2 {
		t.Fatalf("found %v", files)
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// Any file either fails with an error or gives a configuration that prints and reads back the same.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"strategies": {"router": {"bands": [{"max": 100, "model": "claude-haiku-4-5"}]}}}`))
	f.Add([]byte(`{"seed": 3, "order": ["router"]}`))
	f.Add([]byte(`{"upstream": {"models": {"x": {"ttft_s": 1, "tokens_per_s": 2}}}, "success_criteria": {"error_rate": {"max": 0.1}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.json")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.json: ") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		b1, err := c.JSON()
		if err != nil {
			t.Fatal(err)
		}
		c2, err := Parse(b1, "printed")
		if err != nil {
			t.Fatalf("a valid configuration printed as %s does not read back: %v", b1, err)
		}
		if b2, _ := c2.JSON(); !bytes.Equal(b1, b2) {
			t.Fatalf("round trip differs")
		}
	})
}

// Any assignment either fails, leaving the configuration as it was, or gives a valid one.
func FuzzSet(f *testing.F) {
	f.Add("strategies.router.bands[1].max=40")
	f.Add("strategies.router.enabled=false")
	f.Add(`phases[0].strategies[9]="x"`)
	f.Fuzz(func(t *testing.T, a string) {
		c := Default()
		before, _ := c.JSON()
		if err := c.Set(a); err != nil {
			if after, _ := c.JSON(); !bytes.Equal(before, after) {
				t.Fatal("a failed Set changed the configuration")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Set(%q) gave an invalid configuration: %v", a, err)
		}
	})
}

// The uncertainty section is checked like the rest: each problem names its JSON path.
func TestUncertaintyValidation(t *testing.T) {
	tests := []struct{ set, want string }{
		{`uncertainty.bootstrap=weeks`, "uncertainty.bootstrap"},
		{`uncertainty.thresholds[0]=1.5`, "uncertainty.thresholds[0]"},
		{`uncertainty.inputs[0].dist=gamma`, "uncertainty.inputs[0].dist"},
		{`uncertainty.inputs[0].sd=0`, "uncertainty.inputs[0].sd"},
		{`uncertainty.inputs[0].path=upstream.quality.claude-haiku.harder`, "uncertainty.inputs[0].path"},
		{`uncertainty.inputs[0].path=strategies.router.bands[9].max`, "uncertainty.inputs[0].path"},
		{`uncertainty.inputs[0].path=strategies.router.bands[0].model`, "not a number"},
		{`uncertainty.inputs[1].path=upstream.quality.claude-haiku.hard`, "already drawn"},
		{`uncertainty.repeat_rate.max=0.5`, "uncertainty.repeat_rate"},
	}
	for _, tt := range tests {
		c := Default()
		err := c.Set(tt.set)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--set %s: %v, want an error naming %s", tt.set, err, tt.want)
		}
	}
	c := Default()
	if err := c.Set(`uncertainty.inputs[4]={"path": "strategies.router.bands[1].max", "dist": "uniform", "min": 40, "max": 60}`); err != nil {
		t.Errorf("a new input: %v", err)
	}
}
