package importers

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/traces"
)

// azureAbsent are the fields an Azure record never has.
var azureAbsent = []traces.Field{
	traces.FieldID, traces.FieldTenant, traces.FieldSession, traces.FieldAgent, traces.FieldParent,
	traces.FieldTurn, traces.FieldQueryType, traces.FieldPriority, traces.FieldMaxDelay,
	traces.FieldServiceTier, traces.FieldTemperature, traces.FieldCacheWrite5m,
	traces.FieldCacheWrite1h, traces.FieldCacheRead, traces.FieldReasoning, traces.FieldSystemTokens,
	traces.FieldHistoryTokens, traces.FieldNewTokens, traces.FieldFingerprint, traces.FieldPrefix,
	traces.FieldComplexity, traces.FieldLatency, traces.FieldTTFT, traces.FieldStatus,
	traces.FieldError, traces.FieldCost,
}

func TestAzureFixture(t *testing.T) {
	files := publicFixtures["azure"]
	s := importPaths(t, "azure", Options{}, files...)
	if len(s.bad) != 0 || len(s.skips) != 0 {
		t.Fatalf("bad %v, skips %v", s.badStrings(), s.skips)
	}
	if len(s.records) != 299+299+8 {
		t.Fatalf("got %d records, want 606", len(s.records))
	}
	validateAll(t, s.records)
	for i := range s.records {
		checkAbsent(t, &s.records[i], azureAbsent...)
	}
	type want struct {
		i       int
		file    string
		line    int64
		time    time.Time
		model   string
		in, out int64
	}
	code, conv, week := files[0], files[1], files[2]
	for _, w := range []want{
		// 2023-11-16 18:17:03.9799600,4808,10
		{0, code, 2, time.Date(2023, 11, 16, 18, 17, 3, 979960000, time.UTC), "azure-llm-code", 4808, 10},
		// 2023-11-16 18:17:04.0319600,3180,8
		{1, code, 3, time.Date(2023, 11, 16, 18, 17, 4, 31960000, time.UTC), "azure-llm-code", 3180, 8},
		// 2023-11-16 18:17:04.0781490,110,27
		{2, code, 4, time.Date(2023, 11, 16, 18, 17, 4, 78149000, time.UTC), "azure-llm-code", 110, 27},
		// 2023-11-16 18:15:46.6805900,374,44
		{299, conv, 2, time.Date(2023, 11, 16, 18, 15, 46, 680590000, time.UTC), "azure-llm-conversation", 374, 44},
		// 2023-11-16 18:15:50.9951690,396,109
		{300, conv, 3, time.Date(2023, 11, 16, 18, 15, 50, 995169000, time.UTC), "azure-llm-conversation", 396, 109},
		// 2024-05-12 00:00:00+00:00,1024,87
		{598, week, 2, time.Date(2024, 5, 12, 0, 0, 0, 0, time.UTC), "azure-llm-conversation", 1024, 87},
		// 2024-05-12 00:00:00.009930+00:00,4310,212
		{599, week, 3, time.Date(2024, 5, 12, 0, 0, 0, 9930000, time.UTC), "azure-llm-conversation", 4310, 212},
		// 2024-05-12 00:00:00.1+00:00,27,5
		{600, week, 4, time.Date(2024, 5, 12, 0, 0, 0, 100000000, time.UTC), "azure-llm-conversation", 27, 5},
	} {
		r := &s.records[w.i]
		if r.Pos.File != w.file || r.Pos.Line != w.line {
			t.Errorf("record %d: Pos %v, want %s:%d", w.i, r.Pos, w.file, w.line)
		}
		if want := w.file + ":" + strconv.FormatInt(w.line, 10); r.Origin != want {
			t.Errorf("record %d: Origin %q, want %q", w.i, r.Origin, want)
		}
		if !r.Time.Equal(w.time) || r.Time.Location() != time.UTC {
			t.Errorf("record %d: Time %v, want %v", w.i, r.Time, w.time)
		}
		if r.Provider != "azure" || r.Model != w.model {
			t.Errorf("record %d: provider/model %q/%q, want azure/%q", w.i, r.Provider, r.Model, w.model)
		}
		if !r.Has(traces.FieldInput) || !r.Has(traces.FieldOutput) || r.Input != w.in || r.Output != w.out {
			t.Errorf("record %d: input/output %d/%d, want %d/%d", w.i, r.Input, r.Output, w.in, w.out)
		}
	}
	// The last code row: 2023-11-16 18:17:47.2441920,... is line 300.
	if r := &s.records[298]; r.Pos.Line != 300 || r.Pos.File != code {
		t.Errorf("last code record at %v", r.Pos)
	}
}

func TestAzureModelFromName(t *testing.T) {
	for name, want := range map[string]string{
		"AzureLLMInferenceTrace_code.csv":             "azure-llm-code",
		"AzureLLMInferenceTrace_conv.csv.gz":          "azure-llm-conversation",
		"/data/AzureLLMInferenceTrace_code_1week.csv": "azure-llm-code",
		"AzureLMMInferenceTrace_multimodal.csv.gz":    "azure-lmm-multimodal",
		"trace.csv":      "azure-llm",
		"/conv/x.csv":    "azure-llm",
		traces.Stdio:     "azure-llm",
		"AZURE_CODE.CSV": "azure-llm-code",
	} {
		if got := azureModel(name); got != want {
			t.Errorf("azureModel(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestAzureTime(t *testing.T) {
	utc := func(y, mo, d, h, mi, s, ns int) time.Time {
		return time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC)
	}
	for in, want := range map[string]time.Time{
		"2023-11-16 18:17:03.9799600":       utc(2023, 11, 16, 18, 17, 3, 979960000),
		"2023-11-16 18:17:03":               utc(2023, 11, 16, 18, 17, 3, 0),
		"2024-05-10 00:00:00.009930+00:00":  utc(2024, 5, 10, 0, 0, 0, 9930000),
		"2024-05-10 00:00:00+00:00":         utc(2024, 5, 10, 0, 0, 0, 0),
		"2024-10-15T12:00:00.269Z":          utc(2024, 10, 15, 12, 0, 0, 269000000),
		"2024-05-10 02:30:00+02:30":         utc(2024, 5, 10, 0, 0, 0, 0),
		"2024-05-09 19:00:00-0500":          utc(2024, 5, 10, 0, 0, 0, 0),
		"2024-05-10 01:00:00+01":            utc(2024, 5, 10, 0, 0, 0, 0),
		"2024-05-10 00:00:00.1234567891234": utc(2024, 5, 10, 0, 0, 0, 123456789),
		" 2024-02-29 23:59:59.5 ":           utc(2024, 2, 29, 23, 59, 59, 500000000),
	} {
		got, ok := parseAzureTime([]byte(in))
		if !ok || !got.Equal(want) {
			t.Errorf("parseAzureTime(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{
		"", "2023-11-16", "2023-11-16 18:17", "2023-13-16 18:17:03", "2023-02-29 18:17:03",
		"2023-11-16 24:00:00", "2023-11-16 18:17:03.", "2023-11-16 18:17:03.12x", "2023-11-16 18:17:03+25:00",
		"2023-11-16 18:17:03 UTC", "2023/11/16 18:17:03", "1700150223", "2023-11-16 18:17:03+0",
	} {
		if got, ok := parseAzureTime([]byte(in)); ok {
			t.Errorf("parseAzureTime(%q) = %v, want failure", in, got)
		}
	}
}

func TestAzureBadRows(t *testing.T) {
	p := writeTemp(t, "AzureLLMInferenceTrace_code.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n"+
		"2023-11-16 18:17:03.9799600,4808,10\n"+ // 2
		"2023-11-16 18:17:04,abc,8\n"+ // 3
		"2023-11-16 18:17:05,1,2,3\n"+ // 4
		"not a time,1,2\n"+ // 5
		"2023-11-16 18:17:06,-5,2\n"+ // 6
		"2023-11-16 18:17:07,5,\n"+ // 7
		"\n"+ // 8
		"2023-11-16 18:17:08,7,1.5\n"+ // 9
		"\"2023-11-16 18:17:09\", 7 ,\"8\"\r\n") // 10
	s := importPaths(t, "azure", Options{}, p)
	want := []string{
		p + ":3: ContextTokens: not an integer: \"abc\"",
		p + ":4: wrong number of columns: 4, want 3",
		p + ":5: TIMESTAMP: bad timestamp: \"not a time\"",
		p + ":6: ContextTokens: negative token count: \"-5\"",
		p + ":7: GeneratedTokens: missing",
		p + ":9: GeneratedTokens: not an integer: \"1.5\"",
	}
	if got := s.badStrings(); !slices.Equal(got, want) {
		t.Errorf("bad rows:\n got %q\nwant %q", got, want)
	}
	if len(s.records) != 2 || s.records[0].Pos.Line != 2 || s.records[1].Pos.Line != 10 {
		t.Fatalf("records %v", s.records)
	}
	if r := &s.records[1]; r.Input != 7 || r.Output != 8 || !r.Time.Equal(time.Date(2023, 11, 16, 18, 17, 9, 0, time.UTC)) {
		t.Errorf("quoted row: %s", showRecord(r))
	}

	// A sink that stops at the first bad row stops the import with it.
	stop := &recordingSink{stopOnBad: true}
	err := azureImporter{}.Import([]string{p}, Options{}, stop)
	if e, ok := traces.AsError(err); !ok || e.Error() != want[0] || len(stop.records) != 1 {
		t.Errorf("stopping import: %v, %d records", err, len(stop.records))
	}

	// A file that is not an Azure trace is a fatal error.
	other := writeTemp(t, "x.csv", "time,model\n2026-01-01T00:00:00Z,m\n")
	err = azureImporter{}.Import([]string{other}, Options{}, &recordingSink{})
	if e, ok := traces.AsError(err); !ok || !e.Fatal || e.Pos.Line != 1 {
		t.Errorf("foreign CSV: %v", err)
	}
}

func TestAzureGzip(t *testing.T) {
	src := publicFixtures["azure"][0]
	plain := importPaths(t, "azure", Options{}, src)
	gz := importPaths(t, "azure", Options{}, gzipCopy(t, src))
	sameRecords(t, gz.records, plain.records)
	if gz.records[0].Model != "azure-llm-code" {
		t.Errorf("model of the .gz: %q", gz.records[0].Model)
	}

	// A truncated gzip stream is fatal.
	data, err := os.ReadFile(gzipCopy(t, src))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "AzureLLMInferenceTrace_code.csv.gz")
	os.WriteFile(cut, data[:len(data)/2], 0o644)
	err = azureImporter{}.Import([]string{cut}, Options{}, &countingSink{})
	if e, ok := traces.AsError(err); !ok || !e.Fatal {
		t.Errorf("truncated gzip: %v", err)
	}
}

func FuzzAzure(f *testing.F) {
	f.Add([]byte("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,4808,10\n2023-11-16 18:17:04.0319600,3180,8\n"))
	f.Add([]byte("TIMESTAMP,ContextTokens,GeneratedTokens\n2024-05-10 00:00:00.009930+00:00,1,2\n\"2024-05-10 00:00:00Z\",\"3\",4\n,,\n"))
	f.Add([]byte("TIMESTAMP,NumImages,ContextTokens,GeneratedTokens\r\n2024-10-15T12:00:00.269Z,1,2,3\r\nx,y\n"))
	// One directory per fuzzing process: a temporary directory per input would dominate the cost.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "AzureLLMInferenceTrace_code.csv")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s := &countingSink{}
		azureImporter{}.Import([]string{p}, Options{}, s)
	})
}
