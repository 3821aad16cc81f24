package responsecache

import "testing"

// checkInvariants verifies the cache's structure: every stored entry is in the index, in exactly
// one policy list and in the expiry list of its query type, and the counts and byte sums agree.
func checkInvariants(t testing.TB, st *Stage) {
	t.Helper()
	c := st.c
	walk := func(name string, l *list, w int, want func(*entry) bool) (int, int64) {
		n, b := 0, int64(0)
		prev := none
		for i := l.head; i != none; i = c.slab[i].ln[w].next {
			e := &c.slab[i]
			if e.ln[w].prev != prev {
				t.Fatalf("%s: entry %d: prev %d, want %d", name, i, e.ln[w].prev, prev)
			}
			if !want(e) {
				t.Fatalf("%s: entry %d (queue %d, type %v) does not belong", name, i, e.queue, e.qt)
			}
			if j, ok := c.index.Get(e.h); !ok || j != i || e.h != c.hs.hash(&e.k) {
				t.Fatalf("%s: entry %d: index has %d, %v", name, i, j, ok)
			}
			prev = i
			n++
			b += e.size
			if n > len(c.slab) {
				t.Fatalf("%s: cycle", name)
			}
		}
		if l.tail != prev || l.n != n || l.bytes != b {
			t.Fatalf("%s: tail %d n %d bytes %d, walked tail %d n %d bytes %d", name, l.tail, l.n, l.bytes, prev, n, b)
		}
		return n, b
	}
	nm, bm := walk("main", &c.main, polLink, func(e *entry) bool { return e.queue == qMain })
	ns, bs := walk("small", &c.small, polLink, func(e *entry) bool { return e.queue == qSmall })
	nt, bt := 0, int64(0)
	for qt := range c.byType {
		n, b := walk("type", &c.byType[qt], expLink, func(e *entry) bool { return int(e.qt) == qt })
		nt += n
		bt += b
	}
	if nm+ns != c.n || nt != c.n || c.index.Len() != c.n || bm+bs != c.bytes || bt != c.bytes {
		t.Fatalf("counts: main %d + small %d, types %d, index %d, n %d; bytes %d + %d, types %d, total %d",
			nm, ns, nt, c.index.Len(), c.n, bm, bs, bt, c.bytes)
	}
	if c.n > c.maxEntries || c.bytes > c.maxBytes {
		t.Fatalf("over the bounds: %d entries (max %d), %d bytes (max %d)", c.n, c.maxEntries, c.bytes, c.maxBytes)
	}
	if len(c.free)+c.n != len(c.slab) {
		t.Fatalf("free %d + n %d != slab %d", len(c.free), c.n, len(c.slab))
	}
	if c.hand != none && c.slab[c.hand].queue != qMain {
		t.Fatalf("hand %d on a free entry", c.hand)
	}
	if c.ghost.size > c.ghost.max || len(c.ghost.set) > c.ghost.size {
		t.Fatalf("ghost: size %d, set %d, max %d", c.ghost.size, len(c.ghost.set), c.ghost.max)
	}
}
