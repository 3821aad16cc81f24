package store

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	benchValueLen = 4 << 10 // a typical cached response body
	benchKeys     = 1 << 16 // keys cycle through this many (bounds the file)
	benchDelay    = time.Millisecond
)

type benchBackend struct {
	name string
	open func(b *testing.B) Store
}

func benchBolt(b *testing.B, noSync bool) Store {
	s, err := openBolt(filepath.Join(b.TempDir(), "state.db"), nil, noSync)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

var benchBackends = []benchBackend{
	{"memory", func(b *testing.B) Store { return OpenMemory(nil) }},
	{"bolt", func(b *testing.B) Store { return benchBolt(b, false) }},
	{"bolt-nosync", func(b *testing.B) Store { return benchBolt(b, true) }},
	{"batched-bolt", func(b *testing.B) Store {
		under := benchBolt(b, false)
		return closeBoth{NewBatched(under, benchDelay), under}
	}},
	{"redis", func(b *testing.B) Store { s, _ := openTestRedis(b); return s }},
}

func benchKey(i int64) string { return fmt.Sprintf("cache/%016x", i%benchKeys) }

// reportLatency adds the median and 99th percentile of one call as metrics.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkPut measures Put of a 4 KiB value with a 1 h ttl from one
// goroutine. ns/op includes the final flush of a batched store, so for large
// b.N it is the sustained cost; p50-ns and p99-ns are the latency of one Put
// call as the proxy would see it.
func BenchmarkPut(b *testing.B) {
	ctx := context.Background()
	val := make([]byte, benchValueLen)
	for _, be := range benchBackends {
		b.Run("backend="+be.name, func(b *testing.B) {
			s := be.open(b)
			defer s.Close()
			lat := make([]time.Duration, 0, min(b.N, 1<<20))
			b.ReportAllocs()
			b.SetBytes(benchValueLen)
			b.ResetTimer()
			for i := range int64(b.N) {
				t0 := time.Now()
				if err := s.Put(ctx, benchKey(i), val, time.Hour); err != nil {
					b.Fatal(err)
				}
				if len(lat) < cap(lat) {
					lat = append(lat, time.Since(t0))
				}
			}
			if f, ok := s.(Flusher); ok {
				if err := f.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportLatency(b, lat)
		})
	}
}

// BenchmarkPutParallel is BenchmarkPut from GOMAXPROCS×4 goroutines.
func BenchmarkPutParallel(b *testing.B) {
	ctx := context.Background()
	val := make([]byte, benchValueLen)
	for _, be := range benchBackends {
		if be.name != "batched-bolt" && be.name != "bolt" {
			continue
		}
		b.Run("backend="+be.name, func(b *testing.B) {
			s := be.open(b)
			defer s.Close()
			var (
				next int64
				mu   sync.Mutex
				lat  []time.Duration
			)
			b.ReportAllocs()
			b.SetBytes(benchValueLen)
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					i := atomic.AddInt64(&next, 1)
					t0 := time.Now()
					if err := s.Put(ctx, benchKey(i), val, time.Hour); err != nil {
						b.Error(err)
						return
					}
					if len(mine) < 1<<18 {
						mine = append(mine, time.Since(t0))
					}
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			if f, ok := s.(Flusher); ok {
				if err := f.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportLatency(b, lat)
		})
	}
}

// BenchmarkGet measures a cache hit of a 4 KiB value.
func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	val := make([]byte, benchValueLen)
	const keys = 1024
	for _, be := range benchBackends {
		if be.name == "bolt-nosync" {
			continue
		}
		b.Run("backend="+be.name, func(b *testing.B) {
			s := be.open(b)
			defer s.Close()
			for i := range int64(keys) {
				if err := s.Put(ctx, benchKey(i), val, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
			if f, ok := s.(Flusher); ok {
				if err := f.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range int64(b.N) {
				if _, ok, err := s.Get(ctx, benchKey(i%keys)); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
