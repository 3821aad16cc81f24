package arrowtrace

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/tarsopt/tarsopt/internal/tracetest"
	"github.com/tarsopt/tarsopt/traces"
)

// fuzzCodec fuzzes one decoder. Seeds are small files from the writers (in batches of two
// records), files from plain arrow-go code, and truncations of them. The body reads at most 1000
// records: decoding must end in io.EOF or a fatal error, report every problem as a *traces.Error,
// and never panic.
func fuzzCodec(f *testing.F, c codec, foreign func(testing.TB, arrow.RecordBatch) []byte) {
	old := maxAlloc
	maxAlloc = 4 << 20 // a corrupt length must not make the fuzzer allocate gigabytes
	f.Cleanup(func() { maxAlloc = old })
	withBatchRows(f, 2)

	recs := tracetest.Records(rand.New(rand.NewPCG(21, 22)), 3)
	var seeds [][]byte
	seeds = append(seeds, encode(f, c, recs, testMeta()), encode(f, c, recs[:1], traces.Meta{}), encode(f, c, nil, testMeta()))
	for _, dict := range []bool{false, true} {
		rec := buildBatch(f, minimalCols(dict), nil)
		seeds = append(seeds, foreign(f, rec))
		rec.Release()
	}
	for _, s := range seeds {
		f.Add(s)
		for _, n := range []int{len(s) / 3, len(s) / 2, len(s) - 7} {
			if n > 0 {
				f.Add(s[:n])
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		go func() { defer close(done); decodeCapped(data, c, 1000) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("decoding %d bytes takes over 5s", len(data))
		}
	})
}

func FuzzArrowFile(f *testing.F) { fuzzCodec(f, codecs[0], writeIPCFile) }

func FuzzArrowStream(f *testing.F) {
	fuzzCodec(f, codecs[1], func(t testing.TB, r arrow.RecordBatch) []byte { return writeIPCStream(t, r, ipc.WithZstd()) })
}

func FuzzParquet(f *testing.F) {
	fuzzCodec(f, codecs[2], func(t testing.TB, r arrow.RecordBatch) []byte { return writeParquet(t, r, false) })
}
