package importers

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/traces"
)

// mooncakeAbsent are the fields a Mooncake record never has.
var mooncakeAbsent = []traces.Field{
	traces.FieldID, traces.FieldTenant, traces.FieldSession, traces.FieldAgent, traces.FieldParent,
	traces.FieldTurn, traces.FieldQueryType, traces.FieldPriority, traces.FieldMaxDelay,
	traces.FieldServiceTier, traces.FieldTemperature, traces.FieldCacheWrite5m,
	traces.FieldCacheWrite1h, traces.FieldCacheRead, traces.FieldReasoning, traces.FieldSystemTokens,
	traces.FieldHistoryTokens, traces.FieldNewTokens, traces.FieldFingerprint,
	traces.FieldComplexity, traces.FieldLatency, traces.FieldTTFT, traces.FieldStatus,
	traces.FieldError, traces.FieldCost,
}

// mooncakeRow is a line of a Mooncake trace, decoded independently of the importer.
type mooncakeRow struct {
	Timestamp    int64    `json:"timestamp"`
	InputLength  int64    `json:"input_length"`
	OutputLength int64    `json:"output_length"`
	HashIDs      []uint64 `json:"hash_ids"`
}

func readMooncakeRows(t *testing.T, path string) []mooncakeRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []mooncakeRow
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r mooncakeRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	return rows
}

func TestMooncakeFixture(t *testing.T) {
	p := publicFixtures["mooncake"][0]
	s := importPaths(t, "mooncake", Options{}, p)
	if len(s.bad) != 0 || len(s.skips) != 0 {
		t.Fatalf("bad %v, skips %v", s.badStrings(), s.skips)
	}
	if len(s.records) != 300 {
		t.Fatalf("got %d records, want 300", len(s.records))
	}
	validateAll(t, s.records)
	rows := readMooncakeRows(t, p)
	for i := range s.records {
		r := &s.records[i]
		checkAbsent(t, r, mooncakeAbsent...)
		w := rows[i]
		if r.Pos.Line != int64(i+1) || r.Origin != fmt.Sprintf("%s:%d", p, i+1) {
			t.Errorf("record %d at %v, origin %q", i, r.Pos, r.Origin)
		}
		if !r.Time.Equal(DefaultStart.Add(time.Duration(w.Timestamp)*time.Millisecond)) || r.Input != w.InputLength ||
			r.Output != w.OutputLength || len(r.Prefix) != int(w.InputLength/512) || r.Model != "mooncake-kimi" || r.Provider != "moonshot" {
			t.Errorf("line %d: %s, want %+v", i+1, showRecord(r), w)
		}
	}

	// {"timestamp": 0, "input_length": 6758, "output_length": 500, "hash_ids": [0, 1, ..., 13]}:
	// 13 full blocks (the 14th id is a partial block's).
	r := &s.records[0]
	if !r.Time.Equal(DefaultStart) || r.Input != 6758 || r.Output != 500 || len(r.Prefix) != 13 ||
		!r.Has(traces.FieldInput) || !r.Has(traces.FieldOutput) {
		t.Errorf("line 1: %s", showRecord(r))
	}
	h := mooncakeSeed(p)
	for i, id := range []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12} {
		h = chainHash(h, id)
		if r.Prefix[i] != h {
			t.Fatalf("line 1: prefix[%d] = %x, want %x", i, r.Prefix[i], h)
		}
	}
	// {"timestamp": 3000, "input_length": 13544, "output_length": 71, "hash_ids": [0, 219, ...]}
	if r := &s.records[10]; !r.Time.Equal(DefaultStart.Add(3*time.Second)) || r.Input != 13544 || r.Output != 71 || len(r.Prefix) != 26 {
		t.Errorf("line 11: %s", showRecord(r))
	}
	// The last line: {"timestamp": 102000, "input_length": 979, "output_length": 140, "hash_ids": [0, 7813]}
	if r := &s.records[299]; !r.Time.Equal(DefaultStart.Add(102*time.Second)) || r.Input != 979 || r.Output != 140 || len(r.Prefix) != 1 {
		t.Errorf("line 300: %s", showRecord(r))
	}
	if got := (mooncakeImporter{}).BlockSize(); got != 512 {
		t.Errorf("BlockSize() = %d", got)
	}
}

// TestMooncakePrefix checks the chaining: two records share prefix[i] exactly when they share the
// first i+1 hash ids, and another trace file shares no prefix hash with this one.
func TestMooncakePrefix(t *testing.T) {
	p := publicFixtures["mooncake"][0]
	s := importPaths(t, "mooncake", Options{}, p)
	rows := readMooncakeRows(t, p)
	byHash := map[uint64]int{}
	var seqs idSequences
	shared := 0
	for i, r := range s.records {
		key := 0
		for j, h := range r.Prefix {
			key = seqs.next(key, rows[i].HashIDs[j])
			if k, ok := byHash[h]; ok {
				if k != key {
					t.Fatalf("%s: prefix[%d] = %x also stands for another id sequence", r.Origin, j, h)
				}
				shared++
				continue
			}
			byHash[h] = key
		}
	}
	if len(invert(byHash)) != len(byHash) {
		t.Fatal("one id sequence has two hashes")
	}
	if shared == 0 {
		t.Fatal("no shared prefixes in the fixture")
	}

	// The same lines in a file of another name: a different trace, no common hash.
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	other := writeTemp(t, "toolagent_trace.jsonl", string(data))
	for _, r := range importPaths(t, "mooncake", Options{}, other).records {
		for _, h := range r.Prefix {
			if _, ok := byHash[h]; ok {
				t.Fatalf("%s shares prefix hash %x with %s", r.Origin, h, p)
			}
		}
	}
	// The same file elsewhere, compressed: the same trace, the same hashes.
	gz := importPaths(t, "mooncake", Options{}, gzipCopy(t, p))
	sameRecords(t, gz.records, s.records)
}

func invert(m map[uint64]int) map[int]uint64 {
	out := map[int]uint64{}
	for h, k := range m {
		out[k] = h
	}
	return out
}

// idSequences numbers sequences of ids: next(k, id) is the number of sequence k (0 is the empty
// one) followed by id, so that equal numbers mean equal sequences.
type idSequences struct{ m map[[2]uint64]int }

func (s *idSequences) next(k int, id uint64) int {
	if s.m == nil {
		s.m = map[[2]uint64]int{}
	}
	key := [2]uint64{uint64(k), id}
	n, ok := s.m[key]
	if !ok {
		n = len(s.m) + 1
		s.m[key] = n
	}
	return n
}

func TestMooncakeBadRows(t *testing.T) {
	p := writeTemp(t, "trace.jsonl", strings.Join([]string{
		`{"timestamp": 0, "input_length": 1000, "output_length": 5, "hash_ids": [0, 1]}`,   // 1
		`{"timestamp": 1, "input_length": 1000, "output_length": 5, "hash_ids": [0]}`,      // 2
		`{"timestamp": 2, "input_length": 1000, "hash_ids": [0, 1]}`,                       // 3
		`{"timestamp": 3, "input_length": "1000", "output_length": 5, "hash_ids": [0, 1]}`, // 4
		`{"timestamp": 4, "input_length": 1000, "output_length": 5, "hash_ids": [0, 1]`,    // 5
		``, // 6
		`{"timestamp": -5, "input_length": 1000, "output_length": 5, "hash_ids": [0, 1]}`,  // 7
		`{"timestamp": 8, "input_length": 1000, "output_length": 5.5, "hash_ids": [0, 1]}`, // 8
		`{"timestamp": 9, "input_length": 1000, "output_length": 5, "hash_ids": [0, "x"]}`, // 9
		`[1, 2]`, // 10
		`{"timestamp": 11.5, "input_length": 1024, "output_length": 0, "hash_ids": [7, 8], "extra": {"a": [null, true]}}`, // 11
		`{"timestamp": 12, "input_length": 10, "output_length": -1, "hash_ids": [7]}`,                                     // 12
	}, "\n")+"\n")
	s := importPaths(t, "mooncake", Options{}, p)
	want := []string{
		p + ":2: hash_ids: wrong length: 1 ids for 1000 tokens, want 2",
		p + ":3: output_length: missing",
		p + ":4: input_length: wrong JSON type: want number, got string",
		p + ":5: malformed JSON: unexpected end at column 78",
		p + ":7: timestamp: bad timestamp: \"-5\"",
		p + ":8: output_length: not an integer: \"5.5\"",
		p + ":9: hash_ids: wrong JSON type: want array of integers, got string element",
		p + ":10: malformed JSON: unexpected '[' at column 1",
		p + ":12: output_length: negative token count: \"-1\"",
	}
	if got := s.badStrings(); !slices.Equal(got, want) {
		t.Errorf("bad rows:\n got %q\nwant %q", got, want)
	}
	if len(s.records) != 2 || s.records[0].Pos.Line != 1 || s.records[1].Pos.Line != 11 {
		t.Fatalf("records %s", showRecords(s.records))
	}
	if r := &s.records[1]; !r.Time.Equal(DefaultStart.Add(11500*time.Microsecond)) || len(r.Prefix) != 2 || r.Output != 0 || !r.Has(traces.FieldOutput) {
		t.Errorf("line 11: %s", showRecord(r))
	}
}

func FuzzMooncake(f *testing.F) {
	f.Add([]byte(`{"timestamp": 0, "input_length": 6758, "output_length": 500, "hash_ids": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]}
{"timestamp": 3000, "input_length": 979, "output_length": 140, "hash_ids": [0, 7813]}
`))
	f.Add([]byte("{\"timestamp\":1e3,\"input_length\":0,\"output_length\":0,\"hash_ids\":[],\"x\":\"\\u00e9\\ud83d\\ude80\"}\r\n\n{}\n[\n"))
	// One directory per fuzzing process: a temporary directory per input would dominate the cost.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "trace.jsonl")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		mooncakeImporter{}.Import([]string{p}, Options{}, &countingSink{})
	})
}
