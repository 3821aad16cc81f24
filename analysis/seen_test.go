package analysis

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// seenSet answers as a Go map of (tenant, fingerprint) pairs does, over random and structured
// fingerprints (0, small consecutive integers, values that share their low bits), several tenants,
// repeats near and far, and the table's growth.
func TestSeenSetAgreesWithAMap(t *testing.T) {
	type key struct {
		tenant string
		fp     uint64
	}
	rng := rand.New(rand.NewPCG(1, 2))
	tenants := []string{"a", "b", "", "a-longer-tenant-name"}
	var s seenSet
	want := map[key]bool{}
	var history []key
	for i := range 300_000 {
		var k key
		k.tenant = tenants[rng.IntN(len(tenants))]
		switch rng.IntN(6) {
		case 0:
			k.fp = 0
		case 1:
			k.fp = uint64(rng.IntN(1000))
		case 2:
			k.fp = uint64(rng.IntN(1000)) << 40 // equal low bits
		case 3:
			if len(history) > 0 {
				k = history[rng.IntN(len(history))] // a repeat from anywhere before
			}
		default:
			k.fp = rng.Uint64()
		}
		history = append(history, k)
		got := s.add(k.tenant, k.fp)
		if got == want[k] {
			t.Fatalf("add #%d (%q, %#x) = %v, but the pair was seen before: %v", i, k.tenant, k.fp, got, want[k])
		}
		want[k] = true
	}
	if s.len() != len(want) {
		t.Fatalf("holds %d pairs, want %d", s.len(), len(want))
	}
	for _, set := range s.tenants {
		if 4*set.n > 3*len(set.slots)+4 {
			t.Errorf("a table of %d slots holds %d fingerprints: over three quarters full", len(set.slots), set.n)
		}
	}
}

// The set keeps no reference to the tenant strings it is handed: a reader may reuse its record's
// memory, as here, where the bytes under the first tenant change into the second's.
func TestSeenSetCopiesTheTenant(t *testing.T) {
	buf := []byte("tenant-1")
	aliased := unsafe.String(&buf[0], len(buf))
	var s seenSet
	if !s.add(aliased, 1) {
		t.Fatal("the first pair was not new")
	}
	copy(buf, "tenant-2") // aliased now reads "tenant-2"
	if !s.add(aliased, 1) {
		t.Error("(tenant-2, 1) was taken for (tenant-1, 1)")
	}
	if s.add("tenant-1", 1) || s.add("tenant-2", 1) {
		t.Error("a pair seen before was new")
	}
	if _, ok := s.tenants["tenant-1"]; !ok || len(s.tenants) != 2 {
		t.Errorf("tenants %v", s.tenants)
	}
}
