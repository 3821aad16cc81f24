package u64map

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestAgainstGoMap drives a Map and a Go map with the same random puts, gets and deletes, over
// few keys (long probe runs, many collisions of the home slot) and many, and checks they agree
// after every step.
func TestAgainstGoMap(t *testing.T) {
	for _, keys := range []uint64{8, 100, 5000} {
		rng := rand.New(rand.NewPCG(keys, 7))
		var m Map[int32]
		ref := map[uint64]int32{}
		for step := range 200_000 {
			k := rng.Uint64N(keys)
			if step%7 == 0 {
				k *= 1 << 40 // keys that differ only in high bits
			}
			switch rng.IntN(3) {
			case 0:
				v := rng.Int32()
				m.Put(k, v)
				ref[k] = v
			case 1:
				m.Delete(k)
				delete(ref, k)
			}
			got, ok := m.Get(k)
			want, wok := ref[k]
			if ok != wok || got != want {
				t.Fatalf("keys %d, step %d: Get(%d) = %d, %v; want %d, %v", keys, step, k, got, ok, want, wok)
			}
			if m.Len() != len(ref) {
				t.Fatalf("keys %d, step %d: Len = %d, want %d", keys, step, m.Len(), len(ref))
			}
		}
		for k, want := range ref {
			if got, ok := m.Get(k); !ok || got != want {
				t.Fatalf("keys %d: Get(%d) = %d, %v at the end; want %d", keys, k, got, ok, want)
			}
		}
		m.Clear()
		if _, ok := m.Get(1); ok || m.Len() != 0 {
			t.Fatal("Clear left keys")
		}
	}
}

// TestShrinks checks the table gives memory back once most keys are gone.
func TestShrinks(t *testing.T) {
	var m Map[int32]
	for k := range uint64(1 << 16) {
		m.Put(k, 1)
	}
	big := len(m.keys)
	for k := range uint64(1<<16 - 10) {
		m.Delete(k)
	}
	if len(m.keys) >= big/16 {
		t.Fatalf("table of %d slots for %d keys (was %d)", len(m.keys), m.Len(), big)
	}
	for k := uint64(1<<16 - 10); k < 1<<16; k++ {
		if _, ok := m.Get(k); !ok {
			t.Fatalf("lost key %d when shrinking", k)
		}
	}
}

// BenchmarkChurn inserts a new key and deletes the oldest one, with a fixed number of live keys
// (a cache index at steady state), in a Map and in a Go map.
func BenchmarkChurn(b *testing.B) {
	for _, live := range []int{1 << 10, 1 << 16} {
		b.Run(fmt.Sprintf("map=u64map/live=%d", live), func(b *testing.B) {
			b.ReportAllocs()
			var m Map[int32]
			var k uint64
			for b.Loop() {
				m.Put(k*0x9e3779b97f4a7c15, 1)
				if k >= uint64(live) {
					m.Delete((k - uint64(live)) * 0x9e3779b97f4a7c15)
				}
				m.Get((k / 2) * 0x9e3779b97f4a7c15)
				k++
			}
		})
		b.Run(fmt.Sprintf("map=go/live=%d", live), func(b *testing.B) {
			b.ReportAllocs()
			m := map[uint64]int32{}
			var k uint64
			for b.Loop() {
				m[k*0x9e3779b97f4a7c15] = 1
				if k >= uint64(live) {
					delete(m, (k-uint64(live))*0x9e3779b97f4a7c15)
				}
				_ = m[(k/2)*0x9e3779b97f4a7c15]
				k++
			}
		})
	}
}
