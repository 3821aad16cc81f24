package traces_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tarsopt/tarsopt/internal/tracetest"
	"github.com/tarsopt/tarsopt/traces"
)

// cmpRecords compares records on their values and presence, ignoring where they were read from.
var cmpRecords = tracetest.CmpOptions

func TestJSONLDecodeFields(t *testing.T) {
	in := `{"tarsopt_trace":1,"block_size":64,"source":"test"}
{"time":"2026-02-10T08:00:01.5Z","id":"c1","tenant":"t","session":"s1","turn":2,"provider":"anthropic","model":"claude-sonnet-4-5","query_type":"fact_lookup","priority":"low","max_delay":"x","input":10}
`
	d, err := traces.NewJSONLReader(strings.NewReader(in), "f.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Meta(); got.BlockSize != 64 || got.Source != "test" || got.Version != 1 {
		t.Errorf("Meta = %+v", got)
	}
	var r traces.Record
	err = d.Read(&r)
	e, ok := traces.AsError(err)
	if !ok || e.Field != "max_delay" || e.Reason != "wrong JSON type" || e.Pos.Line != 2 {
		t.Fatalf("Read error = %v, want wrong JSON type on max_delay at line 2", err)
	}
	if err := d.Read(&r); err != io.EOF {
		t.Fatalf("Read after last = %v, want EOF", err)
	}

	in = `{"time":"2026-02-10T08:00:01.5Z","model":"m","max_delay":3600,"latency":2.3,"ttft":0.000000001,"temperature":0,"complexity":37.5,"fingerprint":"00000000000000ff","prefix":["a","B"],"cost_usd":0.0045390,"status":200,"error":null,"input":0}`
	d, err = traces.NewJSONLReader(strings.NewReader(in), "f.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Read(&r); err != nil {
		t.Fatal(err)
	}
	want := traces.Record{Time: time.Date(2026, 2, 10, 8, 0, 1, 5e8, time.UTC), Model: "m", Prefix: []uint64{10, 11}}
	want.SetInt(traces.FieldMaxDelay, int64(time.Hour))
	want.SetInt(traces.FieldLatency, 2_300_000_000)
	want.SetInt(traces.FieldTTFT, 1)
	want.SetFloat(traces.FieldTemperature, 0)
	want.SetFloat(traces.FieldComplexity, 37.5)
	want.SetInt(traces.FieldFingerprint, 255)
	want.SetInt(traces.FieldCost, 4_539_000)
	want.SetInt(traces.FieldStatus, 200)
	want.SetInt(traces.FieldInput, 0)
	if diff := cmp.Diff(want, r, cmpRecords...); diff != "" {
		t.Errorf("decoded record (-want +got):\n%s", diff)
	}
	if !r.Has(traces.FieldInput) || r.Has(traces.FieldOutput) || r.Has(traces.FieldError) {
		t.Errorf("presence: input %v (want true), output %v, error %v (want false)", r.Has(traces.FieldInput), r.Has(traces.FieldOutput), r.Has(traces.FieldError))
	}
	if r.Pos.String() != "f.jsonl:1" {
		t.Errorf("Pos = %v, want f.jsonl:1", r.Pos)
	}
}

// Each row: a broken line and the error it must give.
func TestJSONLErrors(t *testing.T) {
	tests := []struct {
		name, line, want string
	}{
		{"truncated line", `{"time":"2026-02-10T08:00:00Z","model":"m","inp`, "f:1: truncated record"},
		{"truncated value", `{"time":"2026-02-10T08:00:00Z","model":"m","input":`, "f:1: input: truncated record"},
		{"wrong type", `{"time":"2026-02-10T08:00:00Z","model":"m","input":"12"}`, "f:1: input: wrong JSON type: want number, got string"},
		{"float token count", `{"time":"2026-02-10T08:00:00Z","model":"m","input":1.5}`, `f:1: input: not an integer: "1.5"`},
		{"object for string", `{"time":"2026-02-10T08:00:00Z","model":{"a":1}}`, "f:1: model: wrong JSON type: want string, got object"},
		{"unknown enum", `{"time":"2026-02-10T08:00:00Z","model":"m","priority":"asap"}`, `f:1: priority: unknown value: "asap"`},
		{"unknown field", `{"time":"2026-02-10T08:00:00Z","model":"m","tokens":5}`, "f:1: tokens: unknown field"},
		{"duplicate field", `{"time":"2026-02-10T08:00:00Z","model":"m","model":"n"}`, "f:1: model: duplicate field"},
		{"bad timestamp", `{"time":"yesterday","model":"m"}`, `f:1: time: bad timestamp: "yesterday"`},
		{"bad date", `{"time":"2026-02-30T00:00:00Z","model":"m"}`, `f:1: time: bad timestamp`},
		{"bad hash", `{"time":"2026-02-10T08:00:00Z","model":"m","fingerprint":"xyz"}`, `f:1: fingerprint: bad hash: "xyz"`},
		{"trailing garbage", `{"time":"2026-02-10T08:00:00Z","model":"m"} x`, "f:1: malformed JSON: unexpected 'x' at column 45"},
		{"not an object", `[1,2]`, "f:1: malformed JSON"},
		{"leading zero", `{"time":"2026-02-10T08:00:00Z","model":"m","input":012}`, `f:1: input: bad number: "012"`},
		{"control char", "{\"time\":\"2026-02-10T08:00:00Z\",\"model\":\"a\x01b\"}", "f:1: model: malformed JSON"},
		{"invalid utf-8", "{\"time\":\"2026-02-10T08:00:00Z\",\"model\":\"a\xffb\"}", "f:1: model: invalid UTF-8"},
		{"empty enum", `{"time":"2026-02-10T08:00:00Z","model":"m","query_type":""}`, "f:1: query_type: empty value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := traces.NewJSONLReader(strings.NewReader(tt.line+"\n"), "f")
			if err != nil {
				t.Fatal(err)
			}
			var r traces.Record
			err = d.Read(&r)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error = %v, want prefix %q", err, tt.want)
			}
			if e, ok := traces.AsError(err); !ok || e.Fatal {
				t.Errorf("error %v: want a non-fatal *Error", err)
			}
		})
	}
}

func TestJSONLBOMAndCRLF(t *testing.T) {
	in := "\xEF\xBB\xBF{\"tarsopt_trace\":1}\r\n\r\n{\"time\":\"2026-02-10T08:00:00Z\",\"model\":\"m\"}\r\n{\"time\":\"2026-02-10T08:00:01Z\",\"model\":\"m\"}"
	d, err := traces.NewJSONLReader(strings.NewReader(in), "f")
	if err != nil {
		t.Fatal(err)
	}
	var r traces.Record
	var lines []int64
	for {
		err := d.Read(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, r.Pos.Line)
	}
	if diff := cmp.Diff([]int64{3, 4}, lines); diff != "" {
		t.Errorf("record lines (-want +got):\n%s", diff)
	}
}

func TestJSONLEscapes(t *testing.T) {
	in := `{"time":"2026-02-10T08:00:00Z","model":"m","error":"a\"b\\c\/d\n\u00e9\ud83d\ude80\u2028"}`
	d, _ := traces.NewJSONLReader(strings.NewReader(in), "f")
	var r traces.Record
	if err := d.Read(&r); err != nil {
		t.Fatal(err)
	}
	if want := "a\"b\\c/d\né🚀\u2028"; r.Error != want {
		t.Errorf("Error = %q, want %q", r.Error, want)
	}
	b := traces.AppendJSON(nil, &r)
	d2, _ := traces.NewJSONLReader(bytes.NewReader(b), "f")
	var r2 traces.Record
	if err := d2.Read(&r2); err != nil {
		t.Fatalf("re-reading %s: %v", b, err)
	}
	if r2.Error != r.Error {
		t.Errorf("round trip: %q, want %q", r2.Error, r.Error)
	}
}

func TestJSONLRoundTrip(t *testing.T) {
	recs := randomRecords(t, 3000)
	m := traces.Meta{BlockSize: 64, Source: "test", Start: time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC), Attrs: map[string]string{"seed": "1"}}
	var buf bytes.Buffer
	w, err := traces.NewJSONLWriter(&buf, m)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	d, err := traces.NewJSONLReader(&buf, "x")
	if err != nil {
		t.Fatal(err)
	}
	m.Version = traces.FormatVersion
	if diff := cmp.Diff(m, d.Meta()); diff != "" {
		t.Errorf("meta (-want +got):\n%s", diff)
	}
	got := readAll(t, d)
	if diff := cmp.Diff(recs, got, cmpRecords...); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestJSONLDecodeAllocs(t *testing.T) {
	recs := randomRecords(t, 200)
	for i := range recs {
		recs[i].ID, recs[i].Origin = "", "" // unique strings must allocate; the rest must not
	}
	var buf bytes.Buffer
	w, _ := traces.NewJSONLWriter(&buf, traces.Meta{})
	for i := range recs {
		w.Write(&recs[i])
	}
	data := buf.Bytes()
	d, _ := traces.NewJSONLReader(bytes.NewReader(data), "x")
	var r traces.Record
	readAll(t, d) // warm the intern table
	allocs := testing.AllocsPerRun(5, func() {
		d, _ := traces.NewJSONLReader(bytes.NewReader(data), "x")
		for d.Read(&r) == nil {
		}
	})
	// The reader itself allocates a few buffers; per record it must not allocate.
	if perRec := allocs / float64(len(recs)); perRec > 0.5 {
		t.Errorf("%.2f allocations per record, want under 0.5", perRec)
	}
}

func randomRecords(t testing.TB, n int) []traces.Record {
	t.Helper()
	return tracetest.Records(rand.New(rand.NewPCG(1, 2)), n)
}

func readAll(t testing.TB, d traces.Reader) []traces.Record {
	t.Helper()
	out, err := tracetest.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func FuzzJSONL(f *testing.F) {
	recs := tracetest.Records(rand.New(rand.NewPCG(3, 4)), 8)
	var buf bytes.Buffer
	w, _ := traces.NewJSONLWriter(&buf, traces.Meta{BlockSize: 64})
	for i := range recs {
		w.Write(&recs[i])
		f.Add(traces.AppendJSON(nil, &recs[i]))
	}
	f.Add(buf.Bytes())
	f.Add([]byte("\xEF\xBB\xBF{\"time\":\"2026-02-10T08:00:00Z\",\"model\":\"m\"}\r\n"))
	f.Add([]byte(`{"time":"2026-02-10T08:00:00Z","model":"m","error":"\ud83d\ude80"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := traces.NewJSONLReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		var r traces.Record
		for i := 0; i < 1000; i++ {
			err := d.Read(&r)
			if err == io.EOF {
				return
			}
			if err != nil {
				if e, ok := traces.AsError(err); !ok || e.Fatal {
					return
				}
				continue
			}
			// A record that decodes re-encodes to a line that decodes to the same record.
			line := traces.AppendJSON(nil, &r)
			d2, err := traces.NewJSONLReader(bytes.NewReader(line), "re")
			if err != nil {
				t.Fatalf("re-reading %s: %v", line, err)
			}
			var r2 traces.Record
			if err := d2.Read(&r2); err != nil {
				t.Fatalf("re-reading %s: %v", line, err)
			}
			if diff := cmp.Diff(r, r2, cmpRecords...); diff != "" {
				t.Fatalf("re-encoded record differs (-first +second):\n%s", diff)
			}
		}
	})
}

// Validate's fast path and its detailed checks agree: every record the fast path rejects, the
// detailed checks reject too, and the other way round.
func FuzzValidateAgrees(f *testing.F) {
	f.Add(int64(5), int64(-1), int64(0), float64(50), float64(0), int64(200), int64(0), int64(1_000_000_000))
	f.Add(int64(10_000_001), int64(3), int64(4), float64(-1), float64(3), int64(99), int64(5), int64(0))
	f.Fuzz(func(t *testing.T, input, output, reasoning int64, complexity, temperature float64, status, ttft, latency int64) {
		r := traces.Record{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Model: "m"}
		set := func(fl traces.Field, v int64) {
			if v%7 != 3 { // leave some absent
				r.SetInt(fl, v)
			}
		}
		set(traces.FieldInput, input)
		set(traces.FieldOutput, output)
		set(traces.FieldReasoning, reasoning)
		set(traces.FieldStatus, status)
		set(traces.FieldTTFT, ttft)
		set(traces.FieldLatency, latency)
		r.SetFloat(traces.FieldComplexity, complexity)
		r.SetFloat(traces.FieldTemperature, temperature)
		fast := r.Validate() == nil
		slow := traces.ValidateDetailed(&r) == nil
		if fast != slow {
			t.Fatalf("Validate says valid=%v, detailed checks say %v: %v", fast, slow, traces.ValidateDetailed(&r))
		}
	})
}
