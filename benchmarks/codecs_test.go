package benchmarks

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/gen"
	"github.com/tarsopt/tarsopt/traces"
	_ "github.com/tarsopt/tarsopt/traces/arrowtrace"
)

// corpusRecords is the size of the benchmark corpus: a million records of the tars-baseline profile.
const corpusRecords = 1_000_000

var formats = []string{"jsonl", "csv", "arrow", "arrows", "parquet"}

var extension = map[string]string{"jsonl": ".jsonl", "csv": ".csv", "arrow": ".arrow", "arrows": ".arrows", "parquet": ".parquet"}

type corpus struct {
	dir   string
	files map[string]string // format → path
	meta  traces.Meta
	err   error
}

var (
	corpusOnce sync.Once
	theCorpus  corpus
)

// getCorpus generates the corpus once per process and writes it in every format to a temporary
// folder (removed by TestMain).
func getCorpus(b *testing.B) *corpus {
	corpusOnce.Do(func() {
		c := &theCorpus
		c.files = map[string]string{}
		c.dir, c.err = os.MkdirTemp("", "tarsopt-bench-")
		if c.err != nil {
			return
		}
		p, err := gen.LoadProfile("tars-baseline")
		if err != nil {
			c.err = err
			return
		}
		days := corpusRecords/234 + 10
		g, err := gen.New(p, gen.Options{Days: days, Seed: 1})
		if err != nil {
			c.err = err
			return
		}
		c.meta = g.Meta()
		ws := map[string]traces.Writer{}
		for _, f := range formats {
			path := filepath.Join(c.dir, "corpus"+extension[f])
			w, err := traces.Create(path, c.meta, traces.CreateOptions{})
			if err != nil {
				c.err = err
				return
			}
			ws[f], c.files[f] = w, path
		}
		n := 0
		errStop := fmt.Errorf("enough")
		_, err = g.Generate(func(r *traces.Record) error {
			if n == corpusRecords {
				return errStop
			}
			n++
			for _, f := range formats {
				if err := ws[f].Write(r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil && err != errStop {
			c.err = err
			return
		}
		for _, f := range formats {
			if err := ws[f].Close(); err != nil {
				c.err = err
				return
			}
		}
	})
	if theCorpus.err != nil {
		b.Fatal(theCorpus.err)
	}
	return &theCorpus
}

func TestMain(m *testing.M) {
	code := m.Run()
	if theCorpus.dir != "" {
		os.RemoveAll(theCorpus.dir)
	}
	os.Exit(code)
}

// decodeFile reads every record of path as commands do (traces.Open: decode, validate, order), and
// returns the count and the peak heap in use, sampled every 100,000 records.
func decodeFile(path string) (n int, peak uint64, err error) {
	s, err := traces.Open(path, traces.Options{})
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	var r traces.Record
	var ms runtime.MemStats
	for {
		err := s.Read(&r)
		if err == io.EOF {
			return n, peak, nil
		}
		if err != nil {
			return n, peak, err
		}
		n++
		if n%100_000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
}

// jsonRecord mirrors the canonical JSONL schema for plain encoding/json: the baseline the JSONL
// decoder is measured against. Optional fields are pointers, so absent stays absent.
type jsonRecord struct {
	Time          time.Time `json:"time"`
	ID            *string   `json:"id"`
	Tenant        *string   `json:"tenant"`
	Session       *string   `json:"session"`
	Agent         *string   `json:"agent"`
	Parent        *string   `json:"parent"`
	Turn          *int      `json:"turn"`
	Provider      *string   `json:"provider"`
	Model         string    `json:"model"`
	QueryType     *string   `json:"query_type"`
	Priority      *string   `json:"priority"`
	MaxDelay      *float64  `json:"max_delay"`
	ServiceTier   *string   `json:"service_tier"`
	Temperature   *float64  `json:"temperature"`
	Input         *int64    `json:"input"`
	CacheWrite5m  *int64    `json:"cache_write_5m"`
	CacheWrite1h  *int64    `json:"cache_write_1h"`
	CacheRead     *int64    `json:"cache_read"`
	Output        *int64    `json:"output"`
	Reasoning     *int64    `json:"reasoning"`
	SystemTokens  *int64    `json:"system_tokens"`
	HistoryTokens *int64    `json:"history_tokens"`
	NewTokens     *int64    `json:"new_tokens"`
	Fingerprint   *string   `json:"fingerprint"`
	Prefix        []string  `json:"prefix"`
	Complexity    *float64  `json:"complexity"`
	Latency       *float64  `json:"latency"`
	TTFT          *float64  `json:"ttft"`
	Status        *int      `json:"status"`
	Error         *string   `json:"error"`
	Cost          *float64  `json:"cost_usd"`
	Origin        *string   `json:"origin"`
}

// decodeEncodingJSON unmarshals every record line of a JSONL file with encoding/json into the same
// mirror struct, reused (the header line is skipped).
func decodeEncodingJSON(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	n := 0
	var r jsonRecord
	for line := 0; sc.Scan(); line++ {
		if line == 0 {
			continue
		}
		r = jsonRecord{Prefix: r.Prefix[:0]}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return n, fmt.Errorf("line %d: %w", line+1, err)
		}
		n++
	}
	return n, sc.Err()
}

func BenchmarkDecode(b *testing.B) {
	c := getCorpus(b)
	for _, f := range append(formats, "encoding-json") {
		b.Run(fmt.Sprintf("format=%s/records=%d", f, corpusRecords), func(b *testing.B) {
			b.ReportAllocs()
			runtime.GC() // start from a collected heap: peak-heap-MiB is this decoder's
			var peak uint64
			for b.Loop() {
				var n int
				var err error
				if f == "encoding-json" {
					n, err = decodeEncodingJSON(c.files["jsonl"])
				} else {
					var p uint64
					n, p, err = decodeFile(c.files[f])
					peak = max(peak, p)
				}
				if err != nil || n != corpusRecords {
					b.Fatalf("decoded %d records: %v", n, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/corpusRecords, "ns/record")
			if peak > 0 {
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	c := getCorpus(b)
	// The records in memory once, decoded from Arrow.
	recs := make([]traces.Record, 0, corpusRecords)
	s, err := traces.Open(c.files["arrow"], traces.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var r traces.Record
	for s.Read(&r) == nil {
		recs = append(recs, r.Clone())
	}
	s.Close()
	for _, f := range formats {
		b.Run(fmt.Sprintf("format=%s/records=%d", f, len(recs)), func(b *testing.B) {
			b.ReportAllocs()
			format, _ := traces.LookupFormat(f)
			for b.Loop() {
				w, err := format.NewWriter(io.Discard, c.meta)
				if err != nil {
					b.Fatal(err)
				}
				for i := range recs {
					if err := w.Write(&recs[i]); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(recs)), "ns/record")
		})
	}
}

// BenchmarkDecodeRatios times Arrow IPC, canonical JSONL and plain encoding/json decoding of the
// same million records in the same run, alternating them, each after a garbage collection, and
// reports the median over iterations of the speed ratios the project targets: arrow-x-jsonl (JSONL
// time over Arrow time, target at least 10) and jsonl-x-encoding-json (encoding/json time over
// JSONL time, target at least 3). Run it with -benchtime 5x or more.
func BenchmarkDecodeRatios(b *testing.B) {
	c := getCorpus(b)
	timed := func(decode func() (int, error)) time.Duration {
		runtime.GC()
		t0 := time.Now()
		if n, err := decode(); err != nil || n != corpusRecords {
			b.Fatalf("decoded %d records: %v", n, err)
		}
		return time.Since(t0)
	}
	viaOpen := func(format string) func() (int, error) {
		return func() (int, error) {
			n, _, err := decodeFile(c.files[format])
			return n, err
		}
	}
	var arrowX, stdX []float64
	for b.Loop() {
		tArrow := timed(viaOpen("arrow"))
		tJSONL := timed(viaOpen("jsonl"))
		tStd := timed(func() (int, error) { return decodeEncodingJSON(c.files["jsonl"]) })
		arrowX = append(arrowX, float64(tJSONL)/float64(tArrow))
		stdX = append(stdX, float64(tStd)/float64(tJSONL))
	}
	b.ReportMetric(median(arrowX), "arrow-x-jsonl")
	b.ReportMetric(median(stdX), "jsonl-x-encoding-json")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
