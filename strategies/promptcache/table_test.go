package promptcache

import (
	"math/rand/v2"
	"testing"
)

// TestTable checks the open-addressing table against a Go map over random inserts, updates and
// removals, through growth to 32k entries and shrinking back, with keys that collide in their
// hash (the same block hash in several spaces) and in their first slot (a small key range).
func TestTable(t *testing.T) {
	type key struct {
		h  uint64
		sp uint32
	}
	rng := rand.New(rand.NewPCG(1, 2))
	tb := newTable()
	ref := map[key]int64{}
	pos := map[key]int32{}
	var keys []key // ref's keys, for picking one to remove without depending on map order
	check := func(step int) {
		t.Helper()
		if tb.n != len(ref) {
			t.Fatalf("step %d: %d entries, want %d", step, tb.n, len(ref))
		}
		for k, exp := range ref {
			i, ok := tb.find(k.h, k.sp)
			if !ok || tb.slots[i].exp != exp || tb.slots[i].h != k.h || tb.slots[i].sp != k.sp+1 || tb.slots[i].pos != pos[k] {
				t.Fatalf("step %d: %v not found as %d", step, k, exp)
			}
		}
		counts := map[int32]int32{}
		for _, p := range pos {
			counts[p]++
		}
		for p := range tb.atPos {
			if tb.atPos[p] != counts[int32(p)] || tb.mayHold(p) != (counts[int32(p)] > 0) {
				t.Fatalf("step %d: atPos[%d] = %d, want %d", step, p, tb.atPos[p], counts[int32(p)])
			}
		}
		full := 0
		for i := range tb.slots {
			if (tb.tags[i] == 0) != (tb.slots[i].sp == 0) {
				t.Fatalf("step %d: slot %d tag %#x for sp %d", step, i, tb.tags[i], tb.slots[i].sp)
			}
			if tb.tags[i] != 0 {
				full++
			}
		}
		if full != tb.n || 2*tb.n > len(tb.slots) {
			t.Fatalf("step %d: %d full slots of %d for %d entries", step, full, len(tb.slots), tb.n)
		}
	}
	randKey := func(space uint64) key { return key{rng.Uint64N(space), uint32(rng.IntN(3))} }
	step := 0
	for _, phase := range []struct {
		ops     int
		pInsert float64
		space   uint64
	}{{40000, 0.9, 1 << 62}, {40000, 0.1, 1 << 62}, {20000, 0.5, 500}, {20000, 0.05, 500}} {
		for i := 0; i < phase.ops; i++ {
			step++
			k := randKey(phase.space)
			if _, ok := ref[k]; !ok && len(ref) > 0 && rng.Float64() >= phase.pInsert {
				j := rng.IntN(len(keys)) // remove an existing key
				k = keys[j]
				keys[j] = keys[len(keys)-1]
				keys = keys[:len(keys)-1]
				i, ok := tb.find(k.h, k.sp)
				if !ok {
					t.Fatalf("step %d: %v missing", step, k)
				}
				tb.remove(i)
				delete(ref, k)
				delete(pos, k)
			} else if idx, ok := tb.find(k.h, k.sp); ok {
				tb.slots[idx].exp = int64(step)
				ref[k] = int64(step)
				p := int32(1 + rng.IntN(60))
				tb.setPos(idx, p)
				pos[k] = p
			} else {
				p := int32(1 + rng.IntN(60))
				tb.insert(k.h, k.sp, p, int64(step))
				ref[k] = int64(step)
				pos[k] = p
				keys = append(keys, k)
			}
			if step%997 == 0 {
				check(step)
			}
		}
		check(step)
	}
	for _, k := range keys {
		i, _ := tb.find(k.h, k.sp)
		tb.remove(i)
		delete(ref, k)
		delete(pos, k)
	}
	check(step)
	if len(tb.slots) != minTable {
		t.Errorf("empty table has %d slots, want %d", len(tb.slots), minTable)
	}
}

func TestRing(t *testing.T) {
	var q ring[int]
	next, want := 0, 0
	for round := 0; round < 3; round++ {
		for i := 0; i < 10000; i++ {
			q.push(next, int64(next))
			next++
		}
		for q.n > 100 {
			if it := q.front(); it.key != want || it.exp != int64(want) {
				t.Fatalf("front %v, want %d", it, want)
			}
			q.pop()
			want++
		}
	}
	if len(q.buf) > 1<<12 {
		t.Errorf("ring of %d slots for %d items: did not shrink", len(q.buf), q.n)
	}
}
