package promptcache

import "github.com/tarsopt/tarsopt/internal/hash64"

// table holds the live cache entries: an open-addressing hash table (linear probing, deletion by
// backward shift, no tombstones) keyed by (block hash, space id). A probe costs a mix of the key
// and a few slot comparisons, with no pointer and no string hashing. It grows at half full and
// shrinks when an eighth full, so its memory follows the live entries. A byte per slot, tags,
// holds 7 bits of the key's hash (0 for an empty slot), so that a probe that misses, the common
// case, mostly reads that small array only. Before that, atPos counts the entries of each length
// (over all spaces), so that most positions of a lookback window, where no entry of that length
// lives, cost one load and no hashing.
type table struct {
	slots []slot  // a power of two of them
	tags  []uint8 // 0x80 | the hash's top 7 bits for a full slot, 0 for an empty one
	mask  uint64
	n     int
	atPos []int32 // atPos[p]: entries of p blocks; as long as the longest entry seen + 1
}

// slot is one entry, or an empty slot when sp is 0.
type slot struct {
	h   uint64 // the block hash ending the cached prefix
	exp int64  // expiry, Unix nanoseconds: the entry is live while now < exp
	sp  uint32 // space id + 1; 0 marks an empty slot
	pos int32  // the prefix's length in blocks
}

const minTable = 1 << 10

func newTable() table {
	return table{slots: make([]slot, minTable), tags: make([]uint8, minTable), mask: minTable - 1}
}

func tagOf(hash uint64) uint8 { return uint8(hash>>57) | 0x80 }

// home returns the key's hash (its first slot is home & mask).
func home(h uint64, sp uint32) uint64 { return hash64.Mix(h ^ uint64(sp+1)*0x9e3779b97f4a7c15) }

// mayHold reports whether some entry has length pos (in blocks).
func (t *table) mayHold(pos int) bool { return pos < len(t.atPos) && t.atPos[pos] > 0 }

func (t *table) countPos(pos int32, d int32) {
	if int(pos) >= len(t.atPos) {
		t.atPos = append(t.atPos, make([]int32, int(pos)+1-len(t.atPos)+len(t.atPos)/2)...)
	}
	t.atPos[pos] += d
}

// setPos changes the length of the entry in slot i.
func (t *table) setPos(i uint64, pos int32) {
	if old := t.slots[i].pos; old != pos {
		t.countPos(old, -1)
		t.countPos(pos, 1)
		t.slots[i].pos = pos
	}
}

// find returns the slot of (h, sp), if the table holds it. The index is valid until the next
// insert or remove.
func (t *table) find(h uint64, sp uint32) (uint64, bool) {
	sp1, hash := sp+1, home(h, sp)
	tag := tagOf(hash)
	for i := hash & t.mask; ; i = (i + 1) & t.mask {
		switch t.tags[i] {
		case 0:
			return 0, false
		case tag:
			if s := &t.slots[i]; s.h == h && s.sp == sp1 {
				return i, true
			}
		}
	}
}

// insert adds (h, sp), which the table must not hold.
func (t *table) insert(h uint64, sp uint32, pos int32, exp int64) {
	if 2*(t.n+1) > len(t.slots) {
		t.resize(2 * len(t.slots))
	}
	t.put(slot{h: h, exp: exp, sp: sp + 1, pos: pos})
	t.n++
	t.countPos(pos, 1)
}

func (t *table) put(s slot) {
	hash := home(s.h, s.sp-1)
	i := hash & t.mask
	for t.tags[i] != 0 {
		i = (i + 1) & t.mask
	}
	t.slots[i], t.tags[i] = s, tagOf(hash)
}

// remove empties slot i, moving back the entries of the probe run after it that may fill the hole.
func (t *table) remove(i uint64) {
	t.n--
	t.countPos(t.slots[i].pos, -1)
	for j := i; ; {
		j = (j + 1) & t.mask
		if t.tags[j] == 0 {
			break
		}
		// Slot j may move to the hole i if i lies on its probe path: from its home k up to j.
		s := t.slots[j]
		if k := home(s.h, s.sp-1) & t.mask; (j-k)&t.mask >= (j-i)&t.mask {
			t.slots[i], t.tags[i] = s, t.tags[j]
			i = j
		}
	}
	t.slots[i], t.tags[i] = slot{}, 0
	if len(t.slots) > minTable && 8*t.n < len(t.slots) {
		t.resize(len(t.slots) / 2)
	}
}

func (t *table) resize(size int) {
	old := t.slots
	t.slots, t.tags, t.mask = make([]slot, size), make([]uint8, size), uint64(size-1)
	for _, s := range old {
		if s.sp != 0 {
			t.put(s)
		}
	}
}

// ring is a FIFO of references with their expiry, in push order, which is expiry order (the TTL
// being fixed and time non-decreasing). Its buffer's length is a power of two; it grows when full
// and shrinks when mostly empty.
type ring[K any] struct {
	buf     []item[K]
	head, n int
}

type item[K any] struct {
	key K
	exp int64
}

func (q *ring[K]) push(k K, exp int64) {
	if q.n == len(q.buf) {
		q.resize(max(64, 2*len(q.buf)))
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = item[K]{k, exp}
	q.n++
}

func (q *ring[K]) front() item[K] { return q.buf[q.head] }

func (q *ring[K]) pop() {
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
	if len(q.buf) > 1<<12 && q.n < len(q.buf)/8 {
		q.resize(len(q.buf) / 2)
	}
}

func (q *ring[K]) resize(size int) {
	nb := make([]item[K], size)
	for i := 0; i < q.n; i++ {
		nb[i] = q.buf[(q.head+i)&(len(q.buf)-1)]
	}
	q.buf, q.head = nb, 0
}
