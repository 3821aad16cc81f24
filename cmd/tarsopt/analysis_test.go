package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The attribute and compare contracts, from the outside: JSON keys, parts adding up to the whole,
// and identical bytes from two runs.
func TestAttributeAndCompareContracts(t *testing.T) {
	tmp := t.TempDir()
	base := filepath.Join(tmp, "base.parquet")
	if _, stderr, err := runCLI(t, tmp, "gen", "-q", "--days", "4", "--seed", "9", "-o", base); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	out1, stderr, err := runCLI(t, tmp, "attribute", "--trace", base, "--json")
	if err != nil {
		t.Fatalf("attribute: %v\n%s", err, stderr)
	}
	var att struct {
		Strategies map[string]float64 `json:"strategies"`
		Total      *float64           `json:"total_saving_usd_per_day"`
		Order      []string           `json:"order"`
		Replays    int                `json:"replays"`
	}
	if err := json.Unmarshal([]byte(out1), &att); err != nil {
		t.Fatal(err)
	}
	if att.Total == nil || len(att.Strategies) != len(att.Order) || len(att.Order) == 0 || att.Replays != 1<<len(att.Order) {
		t.Fatalf("attribute JSON lacks its keys or replays: %s", out1)
	}
	sum := 0.0
	for _, v := range att.Strategies {
		sum += v
	}
	if math.Abs(sum-*att.Total) > 1e-6 {
		t.Errorf("strategies sum to %v, total_saving_usd_per_day %v", sum, *att.Total)
	}
	if out2, _, err := runCLI(t, tmp, "attribute", "--trace", base, "--json", "--workers", "1"); err != nil || out2 != out1 {
		t.Errorf("a second attribute run (one worker) differs (err %v)", err)
	}
	table, _, err := runCLI(t, tmp, "attribute", "--trace", base)
	if err != nil || !strings.Contains(table, "Shapley") || !strings.Contains(table, "plan claims") {
		t.Errorf("attribute table (err %v):\n%s", err, table)
	}

	cmpOut, stderr, err := runCLI(t, tmp, "compare", "--trace", base, "--json", "--config", "default",
		"--config", "default", "--set", "strategies.router.enabled=false")
	if err != nil {
		t.Fatalf("compare: %v\n%s", err, stderr)
	}
	var cr struct {
		Baseline struct {
			Cost float64 `json:"cost_per_day_usd"`
		} `json:"baseline"`
		Configs []struct {
			Name    string   `json:"name"`
			Order   []string `json:"order"`
			Summary struct {
				Cost float64 `json:"cost_per_day_usd"`
			} `json:"summary"`
		} `json:"configs"`
		VsBaseline []struct {
			Saving struct{ Est, Lo, Hi float64 } `json:"saving_usd_per_day"`
		} `json:"vs_baseline"`
		VsFirst []json.RawMessage `json:"vs_first"`
	}
	if err := json.Unmarshal([]byte(cmpOut), &cr); err != nil {
		t.Fatal(err)
	}
	if len(cr.Configs) != 2 || len(cr.VsBaseline) != 2 || len(cr.VsFirst) != 1 {
		t.Fatalf("compare JSON: %d configs, %d against the baseline, %d against the first:\n%s", len(cr.Configs), len(cr.VsBaseline), len(cr.VsFirst), cmpOut)
	}
	// The --set after the second --config applies to it alone.
	if strings.Contains(strings.Join(cr.Configs[1].Order, " "), "router") || !strings.Contains(strings.Join(cr.Configs[0].Order, " "), "router") {
		t.Errorf("orders %v and %v: --set did not attach to the second configuration only", cr.Configs[0].Order, cr.Configs[1].Order)
	}
	for i, p := range cr.VsBaseline {
		want := cr.Baseline.Cost - cr.Configs[i].Summary.Cost
		if math.Abs(p.Saving.Est-want) > 1e-6 || !(p.Saving.Lo <= p.Saving.Est && p.Saving.Est <= p.Saving.Hi) {
			t.Errorf("config %d: saving %+v, want %v inside its interval", i+1, p.Saving, want)
		}
	}
	if again, _, err := runCLI(t, tmp, "compare", "--trace", base, "--json", "--config", "default",
		"--config", "default", "--set", "strategies.router.enabled=false"); err != nil || again != cmpOut {
		t.Errorf("a second compare run differs (err %v)", err)
	}
	if _, stderr, err := runCLI(t, tmp, "compare", "--trace", base); err == nil || !strings.Contains(stderr+err.Error(), "--config") {
		t.Errorf("compare with no --config: err %v, stderr %s", err, stderr)
	}
}

// The sweep contract: one point per setting with its parameters and metrics, and the Pareto
// front; calibration reaches its target; the points file reads back.
func TestSweepContract(t *testing.T) {
	tmp := t.TempDir()
	base := filepath.Join(tmp, "base.parquet")
	if _, stderr, err := runCLI(t, tmp, "gen", "-q", "--days", "4", "--seed", "9", "-o", base); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	csvPath := filepath.Join(tmp, "points.csv")
	out, stderr, err := runCLI(t, tmp, "sweep", "--trace", base, "--param", "strategies.router.bands[1].max=30:70:10", "--json", "--out", csvPath, "--min-quality", "0.9")
	if err != nil {
		t.Fatalf("sweep: %v\n%s", err, stderr)
	}
	var rep struct {
		Points []map[string]json.RawMessage `json:"points"`
		Pareto []map[string]json.RawMessage `json:"pareto"`
		Best   map[string]json.RawMessage   `json:"best"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Points) != 5 || len(rep.Pareto) == 0 || rep.Best == nil {
		t.Fatalf("%d points, %d on the front, best %v", len(rep.Points), len(rep.Pareto), rep.Best)
	}
	for i, p := range rep.Points {
		var params map[string]string
		json.Unmarshal(p["params"], &params)
		if want := []string{"30", "40", "50", "60", "70"}[i]; params["strategies.router.bands[1].max"] != want {
			t.Errorf("point %d: params %v, want max %s", i, params, want)
		}
		for _, k := range []string{"cost_usd", "quality_score", "latency_p95_ms"} {
			if _, ok := p[k]; !ok {
				t.Errorf("point %d has no %s", i, k)
			}
		}
	}
	if again, _, _ := runCLI(t, tmp, "sweep", "--trace", base, "--param", "strategies.router.bands[1].max=30:70:10", "--json", "--out", csvPath, "--min-quality", "0.9", "--workers", "1"); again != out {
		t.Error("a second sweep (one worker) differs")
	}
	if b, err := os.ReadFile(csvPath); err != nil || strings.Count(string(b), "\n") != 6 {
		t.Errorf("points.csv: %v\n%s", err, b)
	}
	cal, stderr, err := runCLI(t, tmp, "sweep", "--trace", base, "--param", "strategies.router.bands[1].max=26:74:1", "--target", "cheap_share=0.45", "--json")
	if err != nil {
		t.Fatalf("calibration: %v\n%s", err, stderr)
	}
	var c struct {
		Calibration struct {
			Achieved    float64           `json:"achieved"`
			Evaluations []json.RawMessage `json:"evaluations"`
		} `json:"calibration"`
	}
	json.Unmarshal([]byte(cal), &c)
	if math.Abs(c.Calibration.Achieved-0.45) > 0.03 || len(c.Calibration.Evaluations) < 3 {
		t.Errorf("calibrated cheap_share %v after %d replays, want about 0.45", c.Calibration.Achieved, len(c.Calibration.Evaluations))
	}
	if _, stderr, err := runCLI(t, tmp, "sweep", "--trace", base, "--param", "strategies.router.bands[1].max=1:3:1"); err == nil || !strings.Contains(stderr+err.Error(), "bands[1].max") {
		t.Errorf("an invalid point: err %v, stderr %s", err, stderr)
	}
}

// The mc contract: reduction percentiles, P(reduction ≥ x) keyed "0.30", "0.422", identical
// bytes from two runs (with different numbers of workers).
func TestMCContract(t *testing.T) {
	tmp := t.TempDir()
	base := filepath.Join(tmp, "base.parquet")
	if _, stderr, err := runCLI(t, tmp, "gen", "-q", "--days", "3", "--seed", "9", "-o", base); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	args := []string{"mc", "--trace", base, "--samples", "60", "--seed", "1", "--json"}
	out, stderr, err := runCLI(t, tmp, args...)
	if err != nil {
		t.Fatalf("mc: %v\n%s", err, stderr)
	}
	var rep struct {
		Samples   int                `json:"samples"`
		Reduction map[string]float64 `json:"reduction"`
		PGE       map[string]float64 `json:"p_reduction_ge"`
		Conv      []json.RawMessage  `json:"convergence"`
		Inputs    []struct {
			Name string `json:"name"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	r := rep.Reduction
	if rep.Samples != 60 || !(r["p5"] <= r["p50"] && r["p50"] <= r["p95"]) || r["p95"] <= 0 {
		t.Errorf("samples %d, reduction %v", rep.Samples, r)
	}
	for _, k := range []string{"0.30", "0.422", "0.25", "0.40"} {
		if p, ok := rep.PGE[k]; !ok || p < 0 || p > 1 {
			t.Errorf("p_reduction_ge[%q] = %v, %v", k, p, ok)
		}
	}
	if len(rep.Conv) < 3 || len(rep.Inputs) == 0 {
		t.Errorf("%d convergence checkpoints, %d inputs", len(rep.Conv), len(rep.Inputs))
	}
	if again, _, err := runCLI(t, tmp, append(args, "--workers", "1")...); err != nil || again != out {
		t.Errorf("a second mc run (one worker) differs (err %v)", err)
	}
	csvPath := filepath.Join(tmp, "samples.csv")
	if _, stderr, err := runCLI(t, tmp, "mc", "--trace", base, "--samples", "5", "--bootstrap", "sessions", "--out", csvPath); err != nil {
		t.Fatalf("mc --bootstrap sessions: %v\n%s", err, stderr)
	}
	if b, err := os.ReadFile(csvPath); err != nil || strings.Count(string(b), "\n") != 6 || !strings.HasPrefix(string(b), "sample,upstream.quality") {
		t.Errorf("samples.csv: %v\n%s", err, b)
	}
	if _, stderr, err := runCLI(t, tmp, "mc", "--trace", base, "--samples", "3", "--set", "uncertainty.inputs[0].max=2", "--set", "uncertainty.inputs[0].mean=1.5"); err == nil || !strings.Contains(stderr+err.Error(), "drawn settings") {
		t.Errorf("a draw above easy: err %v, stderr %s", err, stderr)
	}
}

// The validate contract: a list of claims with name, claimed, measured and verdict; the plan's
// arithmetic; a user's claims file read, and a broken one named with its path.
func TestValidateContract(t *testing.T) {
	tmp := t.TempDir()
	base := filepath.Join(tmp, "base.parquet")
	if _, stderr, err := runCLI(t, tmp, "gen", "-q", "--days", "4", "--seed", "9", "-o", base); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	out, stderr, err := runCLI(t, tmp, "validate", "--trace", base, "--json")
	if err != nil {
		t.Fatalf("validate: %v\n%s", err, stderr)
	}
	var rep struct {
		Claims []map[string]json.RawMessage `json:"claims"`
		Arith  []struct {
			Name       string `json:"name"`
			Consistent bool   `json:"consistent"`
		} `json:"arithmetic"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Claims) < 30 || len(rep.Arith) < 5 {
		t.Fatalf("%d claims, %d arithmetic checks", len(rep.Claims), len(rep.Arith))
	}
	for _, c := range rep.Claims {
		for _, k := range []string{"name", "claimed", "measured", "verdict"} {
			if _, ok := c[k]; !ok {
				t.Fatalf("claim without %s: %v", k, c)
			}
		}
	}
	if again, _, _ := runCLI(t, tmp, "validate", "--trace", base, "--json", "--workers", "1"); again != out {
		t.Error("a second validate run (one worker) differs")
	}
	claims, _, err := runCLI(t, tmp, "validate", "--print-claims")
	if err != nil || !strings.Contains(claims, `"claims"`) {
		t.Fatalf("--print-claims: %v", err)
	}
	mine := filepath.Join(tmp, "mine.json")
	os.WriteFile(mine, []byte(`{"claims": [{"name": "cheap", "metric": "cost_reduction", "min": 0.1}]}`), 0o644)
	if out, stderr, err := runCLI(t, tmp, "validate", "--trace", base, "--claims", mine, "--json"); err != nil || !strings.Contains(out, `"cheap"`) {
		t.Errorf("own claims: %v\n%s", err, stderr)
	}
	os.WriteFile(mine, []byte(`{"claims": [{"name": "cheap", "metric": "cost_reductio", "min": 0.1}]}`), 0o644)
	if _, stderr, err := runCLI(t, tmp, "validate", "--trace", base, "--claims", mine); err == nil || !strings.Contains(stderr, "claims[0].metric") {
		t.Errorf("broken claims: err %v, stderr %s", err, stderr)
	}
}

// backtest: one row per split, each with a prediction interval, the actual outcome and whether it
// covered it; calibration per split when asked.
func TestBacktest(t *testing.T) {
	tmp := t.TempDir()
	base := filepath.Join(tmp, "base.parquet")
	if _, stderr, err := runCLI(t, tmp, "gen", "-q", "--days", "8", "--seed", "9", "-o", base); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	out, stderr, err := runCLI(t, tmp, "backtest", "--trace", base, "--samples", "20", "--splits", "0.5,0.75",
		"--calibrate", "strategies.router.bands[1].max=26:74:1", "--target", "cheap_share=0.45", "--json")
	if err != nil {
		t.Fatalf("backtest: %v\n%s", err, stderr)
	}
	var rep struct {
		Splits []struct {
			PastDays   int `json:"past_days"`
			FutureDays int `json:"future_days"`
			Calibrated *struct {
				Value string `json:"value"`
			} `json:"calibrated"`
			Predicted struct {
				Reduction struct{ P5, P95 float64 } `json:"reduction"`
			} `json:"predicted"`
			Actual struct {
				Reduction float64 `json:"reduction"`
			} `json:"actual"`
			Covered struct {
				Reduction bool `json:"reduction"`
			} `json:"covered"`
		} `json:"splits"`
		Coverage struct {
			Reduction *float64 `json:"reduction"`
		} `json:"coverage"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Splits) != 2 || rep.Coverage.Reduction == nil {
		t.Fatalf("backtest JSON: %s", out)
	}
	for _, s := range rep.Splits {
		if s.PastDays+s.FutureDays != 8 || s.Calibrated == nil || s.Calibrated.Value == "" {
			t.Errorf("split %+v", s)
		}
		inside := s.Actual.Reduction >= s.Predicted.Reduction.P5 && s.Actual.Reduction <= s.Predicted.Reduction.P95
		if s.Predicted.Reduction.P5 > s.Predicted.Reduction.P95 || inside != s.Covered.Reduction {
			t.Errorf("split %+v: covered %v, but the interval is %v..%v around %v", s, s.Covered.Reduction, s.Predicted.Reduction.P5, s.Predicted.Reduction.P95, s.Actual.Reduction)
		}
	}
	if again, _, _ := runCLI(t, tmp, "backtest", "--trace", base, "--samples", "20", "--splits", "0.5,0.75",
		"--calibrate", "strategies.router.bands[1].max=26:74:1", "--target", "cheap_share=0.45", "--json", "--workers", "1"); again != out {
		t.Error("a second backtest (one worker) differs")
	}
}

// The report contract: the three phase reports, the index and the HTML page in DIR, charts they
// reference on disk, and byte-identical markdown from two runs.
func TestReportContract(t *testing.T) {
	tmp := t.TempDir()
	base := filepath.Join(tmp, "base.parquet")
	if _, stderr, err := runCLI(t, tmp, "gen", "-q", "--days", "5", "--seed", "9", "-o", base); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var outs [2]map[string][]byte
	for i := range outs {
		dir := filepath.Join(tmp, "reports"+strconv.Itoa(i))
		if _, stderr, err := runCLI(t, tmp, "report", "--trace", base, "--out", dir, "--samples", "20"); err != nil {
			t.Fatalf("report: %v\n%s", err, stderr)
		}
		outs[i] = map[string][]byte{}
		for _, f := range []string{"PHASE_1_BENCHMARK.md", "PHASE_2_BENCHMARK.md", "FINAL_BENCHMARK.md", "README.md", "index.html"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			outs[i][f] = b
		}
		pngs, _ := filepath.Glob(filepath.Join(dir, "charts", "*.png"))
		if len(pngs) < 6 {
			t.Errorf("%d PNG charts", len(pngs))
		}
		for _, f := range []string{"PHASE_1_BENCHMARK.md", "FINAL_BENCHMARK.md"} {
			if n := strings.Count(string(outs[i][f]), "](charts/"); n < 5 {
				t.Errorf("%s references %d charts", f, n)
			}
		}
	}
	for f, b := range outs[0] {
		if strings.HasSuffix(f, ".md") && !bytes.Equal(b, outs[1][f]) {
			t.Errorf("%s differs between two runs", f)
		}
	}
}
