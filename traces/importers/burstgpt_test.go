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

// burstAbsent are the fields a BurstGPT record never has.
var burstAbsent = []traces.Field{
	traces.FieldID, traces.FieldTenant, traces.FieldAgent, traces.FieldParent, traces.FieldPriority,
	traces.FieldMaxDelay, traces.FieldServiceTier, traces.FieldTemperature, traces.FieldCacheWrite5m,
	traces.FieldCacheWrite1h, traces.FieldCacheRead, traces.FieldReasoning, traces.FieldSystemTokens,
	traces.FieldHistoryTokens, traces.FieldFingerprint, traces.FieldPrefix, traces.FieldComplexity,
	traces.FieldTTFT, traces.FieldStatus, traces.FieldCost,
}

func TestBurstGPTFixture6(t *testing.T) {
	p := publicFixtures["burstgpt"][0]
	s := importPaths(t, "burstgpt", Options{}, p)
	if len(s.bad) != 0 || len(s.skips) != 0 {
		t.Fatalf("bad %v, skips %v", s.badStrings(), s.skips)
	}
	if len(s.records) != 299 {
		t.Fatalf("got %d records, want 299", len(s.records))
	}
	validateAll(t, s.records)
	failures, api := 0, 0
	for i := range s.records {
		r := &s.records[i]
		checkAbsent(t, r, burstAbsent...)
		// The 6-column schema has no sessions and no elapsed time.
		checkAbsent(t, r, traces.FieldSession, traces.FieldTurn, traces.FieldLatency)
		if r.Error != "" {
			failures++
		} else {
			checkAbsent(t, r, traces.FieldNewTokens)
		}
		if r.QueryType == 0 {
			api++
		}
		if r.Provider != "openai" || (r.Model != "gpt-3.5-turbo" && r.Model != "gpt-4") {
			t.Errorf("%s: provider/model %s/%s", r.Origin, r.Provider, r.Model)
		}
	}
	// Failures (0 response tokens) on lines 22, 40, 42, 43, 83, 123, 124, 125, 178, 245, 262;
	// API-log rows on lines 102 and 103.
	if failures != 11 || api != 2 {
		t.Errorf("%d failures and %d API-log rows, want 11 and 2", failures, api)
	}

	// 5,ChatGPT,472,18,490,Conversation log
	r := &s.records[0]
	if !r.Time.Equal(DefaultStart.Add(5*time.Second)) || r.Model != "gpt-3.5-turbo" || r.Input != 472 || r.Output != 18 ||
		!r.Has(traces.FieldInput) || !r.Has(traces.FieldOutput) || r.QueryType != traces.QueryChat ||
		r.Origin != p+":2" || r.Pos != (traces.Pos{File: p, Line: 2}) || r.Error != "" {
		t.Errorf("line 2: %s", showRecord(r))
	}
	// 118,GPT-4,417,276,693,Conversation log
	if r := &s.records[2]; !r.Time.Equal(DefaultStart.Add(118*time.Second)) || r.Model != "gpt-4" || r.Input != 417 || r.Output != 276 {
		t.Errorf("line 4: %s", showRecord(r))
	}
	// 1106,ChatGPT,0,0,0,Conversation log: a failure.
	r = &s.records[20]
	if r.Pos.Line != 22 || !r.Time.Equal(DefaultStart.Add(1106*time.Second)) || r.Error != "no_response" ||
		!r.Has(traces.FieldInput) || r.Input != 0 || !r.Has(traces.FieldOutput) || r.Output != 0 ||
		!r.Has(traces.FieldNewTokens) || r.NewTokens != 0 || r.Has(traces.FieldStatus) {
		t.Errorf("line 22: %s", showRecord(r))
	}
	// 28765,GPT-4,930,83,1013,API log
	if r := &s.records[100]; r.Pos.Line != 102 || r.QueryType != 0 || r.Input != 930 || r.Output != 83 || r.Model != "gpt-4" {
		t.Errorf("line 102: %s", showRecord(r))
	}
}

func TestBurstGPTFixture8(t *testing.T) {
	p := publicFixtures["burstgpt"][1]
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	s := importPaths(t, "burstgpt", Options{Start: start}, p)
	if len(s.bad) != 0 || len(s.records) != 20 {
		t.Fatalf("%d records, bad %v", len(s.records), s.badStrings())
	}
	validateAll(t, s.records)
	for i := range s.records {
		checkAbsent(t, &s.records[i], burstAbsent...)
	}
	at := func(sec float64) time.Time { return start.Add(time.Duration(sec * float64(time.Second))) }
	const (
		s1 = "0b9e4f1a-6a1e-4c53-9d1e-1f5f0a7c2e01"
		s2 = "5c2d8e77-3f0b-4b1a-8e2c-7d9a1b6c3f02"
		s3 = "9a7f3c20-1d4e-4e8b-b5a6-2c8d0e9f1a03"
	)
	type want struct {
		line         int64
		time         time.Time
		session      string
		turn         int // -1: absent
		latency      time.Duration
		model        string
		in, out, new int64 // new -1: absent
		qt           traces.QueryType
		err          string
	}
	for _, w := range []want{
		// 19440110.0,0b9e…01,43,GPT-4,906,446,1352,Conversation log
		{2, at(19440110), s1, 0, 43 * time.Second, "gpt-4", 906, 446, -1, traces.QueryChat, ""},
		// 19440161.0,5c2d…02,2,ChatGPT,36,29,65,Conversation log
		{3, at(19440161), s2, 0, 2 * time.Second, "gpt-3.5-turbo", 36, 29, -1, traces.QueryChat, ""},
		// 19440192.0,,8,GPT-4,1779,123,1902,API log
		{4, at(19440192), "", -1, 8 * time.Second, "gpt-4", 1779, 123, -1, 0, ""},
		// 19440301.0,0b9e…01,26,GPT-4,1631,282,1913,Conversation log
		{6, at(19440301), s1, 1, 26 * time.Second, "gpt-4", 1631, 282, -1, traces.QueryChat, ""},
		// 19440537.5,,3,ChatGPT,15,118,133,API log
		{9, at(19440537.5), "", -1, 3 * time.Second, "gpt-3.5-turbo", 15, 118, -1, 0, ""},
		// 19440574.0,9a7f…03,0,ChatGPT,880,0,880,Conversation log: a failure.
		{10, at(19440574), s3, 1, 0, "gpt-3.5-turbo", 0, 0, 880, traces.QueryChat, "no_response"},
		// 19440640.0,9a7f…03,3,ChatGPT,880,163,1043,Conversation log: its retry.
		{11, at(19440640), s3, 2, 3 * time.Second, "gpt-3.5-turbo", 880, 163, -1, traces.QueryChat, ""},
		// 19441654.0,5c2d…02,4,ChatGPT,640,339,979,Conversation log: the session's fifth row.
		{20, at(19441654), s2, 4, 4 * time.Second, "gpt-3.5-turbo", 640, 339, -1, traces.QueryChat, ""},
	} {
		r := &s.records[w.line-2]
		if r.Pos.Line != w.line || r.Origin != p+":"+strconv.FormatInt(w.line, 10) {
			t.Errorf("line %d: at %v, origin %q", w.line, r.Pos, r.Origin)
		}
		if !r.Time.Equal(w.time) {
			t.Errorf("line %d: time %v, want %v", w.line, r.Time, w.time)
		}
		if r.Session != w.session || r.Has(traces.FieldTurn) != (w.turn >= 0) || (w.turn >= 0 && r.Turn != w.turn) {
			t.Errorf("line %d: session %q turn %d (present %v), want %q %d", w.line, r.Session, r.Turn, r.Has(traces.FieldTurn), w.session, w.turn)
		}
		if !r.Has(traces.FieldLatency) || r.Latency != w.latency {
			t.Errorf("line %d: latency %v, want %v", w.line, r.Latency, w.latency)
		}
		if r.Model != w.model || r.Provider != "openai" || r.QueryType != w.qt || r.Error != w.err {
			t.Errorf("line %d: %s/%s %v %q", w.line, r.Provider, r.Model, r.QueryType, r.Error)
		}
		if r.Input != w.in || r.Output != w.out || !r.Has(traces.FieldInput) || !r.Has(traces.FieldOutput) ||
			r.Has(traces.FieldNewTokens) != (w.new >= 0) || (w.new >= 0 && r.NewTokens != w.new) {
			t.Errorf("line %d: input %d output %d new %d", w.line, r.Input, r.Output, r.NewTokens)
		}
	}
}

func TestBurstGPTBadRows(t *testing.T) {
	p := writeTemp(t, "BurstGPT_3.csv", "Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,Total tokens,Log Type\n"+
		"10,aaa,5,ChatGPT,100,50,150,Conversation log\n"+ // 2
		"20,aaa,5,ChatGPT,100,50,151,Conversation log\n"+ // 3
		"abc,aaa,5,ChatGPT,100,50,150,Conversation log\n"+ // 4
		"30,aaa,zzz,ChatGPT,120,40,160,Conversation log\n"+ // 5
		"40,aaa,7,ChatGPT,0,0,0,Email log\n"+ // 6
		"50,aaa\n"+ // 7
		"60,aaa,1,,1,1,2,API log\n"+ // 8
		"-5,aaa,1,GPT-4,1,1,2,API log\n"+ // 9
		"70,aaa,1,GPT-4,x,1,2,API log\n"+ // 10
		"80,aaa,1,GPT-4,1,1.5,2,API log\n"+ // 11
		"90,aaa,2,GPT-4,10,20,30,Conversation log\n") // 12
	s := importPaths(t, "burstgpt", Options{}, p)
	want := []string{
		p + ":3: Total tokens: does not add up: 100 + 50 != 151",
		p + ":4: Timestamp: bad timestamp: \"abc\"",
		p + ":5: Elapsed time: bad duration: \"zzz\"",
		p + ":6: Log Type: unknown log type: \"Email log\"",
		p + ":7: wrong number of columns: 2, want 8",
		p + ":8: Model: missing",
		p + ":9: Timestamp: bad timestamp: \"-5\"",
		p + ":10: Request tokens: not an integer: \"x\"",
		p + ":11: Response tokens: not an integer: \"1.5\"",
	}
	if got := s.badStrings(); !slices.Equal(got, want) {
		t.Errorf("bad rows:\n got %q\nwant %q", got, want)
	}
	// Bad rows take no turn.
	if len(s.records) != 2 || s.records[0].Turn != 0 || s.records[1].Turn != 1 || s.records[1].Pos.Line != 12 {
		t.Errorf("records: %s", showRecords(s.records))
	}

	// A header that is not BurstGPT's is fatal.
	other := writeTemp(t, "x.csv", "request_id,spend,prompt_tokens\n1,0.1,10\n")
	if err := (burstGPTImporter{}).Import([]string{other}, Options{}, &recordingSink{}); err == nil {
		t.Error("foreign CSV imported")
	}
}

func TestBurstGPTTurnsAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	head := "Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
	os.WriteFile(filepath.Join(dir, "a.csv"), []byte(head+"1,s,1,GPT-4,1,1,2,Conversation log\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.csv"), []byte(head+"2,s,1,GPT-4,1,1,2,Conversation log\n3,t,1,GPT-4,1,1,2,Conversation log\n"), 0o644)
	s := importPaths(t, "burstgpt", Options{}, dir)
	var turns []int
	for _, r := range s.records {
		turns = append(turns, r.Turn)
	}
	if !slices.Equal(turns, []int{0, 1, 0}) {
		t.Errorf("turns %v, want [0 1 0]", turns)
	}
}

func TestBurstGPTGzip(t *testing.T) {
	for _, src := range publicFixtures["burstgpt"] {
		plain := importPaths(t, "burstgpt", Options{}, src)
		gz := importPaths(t, "burstgpt", Options{}, gzipCopy(t, src))
		sameRecords(t, gz.records, plain.records)
	}
}

func FuzzBurstGPT(f *testing.F) {
	f.Add([]byte("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,472,18,490,Conversation log\n1106,ChatGPT,0,0,0,Conversation log\n28765,GPT-4,930,83,1013,API log\n"))
	f.Add([]byte("Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,Total tokens,Log Type\n19440110.0,a,43,GPT-4,906,446,1352,Conversation log\n19440192.0,,8,GPT-4,1,0,1,API log\n19440193.5,a,1e1,x,1,1,3,\n"))
	// One directory per fuzzing process: a temporary directory per input would dominate the cost.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "BurstGPT.csv")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		burstGPTImporter{}.Import([]string{p}, Options{}, &countingSink{})
	})
}
