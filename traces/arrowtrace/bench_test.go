package arrowtrace

import (
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/tarsopt/tarsopt/internal/tracetest"
	"github.com/tarsopt/tarsopt/traces"
)

const benchRecords = 100_000

var benchRecs = sync.OnceValue(func() []traces.Record {
	return tracetest.Records(rand.New(rand.NewPCG(1, 2)), benchRecords)
})

// benchFiles holds the benchmark trace encoded in each format.
var benchFiles = sync.OnceValue(func() map[string][]byte {
	m := map[string][]byte{}
	for _, c := range codecs {
		m[c.name] = encode(&testing.B{}, c, benchRecs(), testMeta())
	}
	return m
})

func BenchmarkDecode(b *testing.B) {
	for _, c := range codecs {
		b.Run(fmt.Sprintf("format=%s/records=%d", c.name, benchRecords), func(b *testing.B) {
			data := benchFiles()[c.name]
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var r traces.Record
			for b.Loop() {
				d, err := c.read(data, "bench")
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					err := d.Read(&r)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				d.Close()
				if n != benchRecords {
					b.Fatalf("read %d records", n)
				}
			}
			b.ReportMetric(float64(b.N)*benchRecords/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	recs := benchRecs()
	for _, c := range codecs {
		b.Run(fmt.Sprintf("format=%s/records=%d", c.name, benchRecords), func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				w, err := c.write(io.Discard, testMeta())
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
			size = len(benchFiles()[c.name])
			b.ReportMetric(float64(b.N)*benchRecords/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(size)/benchRecords, "bytes/record")
		})
	}
}
