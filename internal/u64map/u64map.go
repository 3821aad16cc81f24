// Package u64map is a hash map from uint64 keys to small values for the simulator's hot paths:
// open addressing with linear probing and deletion by backward shift, so that a map that sees as
// many deletes as inserts (a cache's index, whose entries come and go all day) never fills with
// tombstones and keeps short probes. A byte per slot holds 7 bits of the key's hash, so that a
// probe mostly reads that small array. The table grows at half full and shrinks at an eighth
// full (above a thousand slots), so its memory follows its size. The zero Map is empty and ready to use.
//
// Go's own map, on the same workload, spends most of its time probing past deleted slots: see
// BenchmarkChurn.
package u64map

import "github.com/tarsopt/tarsopt/internal/hash64"

// Map maps uint64 keys to values of type V. It is not safe for concurrent use.
type Map[V any] struct {
	keys []uint64
	vals []V
	tags []uint8 // 0x80 | the hash's top 7 bits for a full slot, 0 for an empty one
	mask uint64
	n    int
}

const (
	minSize    = 16
	shrinkFrom = 1 << 10 // a table this size or smaller never shrinks: a small map whose size swings would reallocate all the time
)

func tagOf(h uint64) uint8 { return uint8(h>>57) | 0x80 }

// Len returns the number of keys in m.
func (m *Map[V]) Len() int { return m.n }

// Get returns the value of k.
func (m *Map[V]) Get(k uint64) (V, bool) {
	if m.n == 0 {
		var zero V
		return zero, false
	}
	h := hash64.Mix(k)
	tag := tagOf(h)
	for i := h & m.mask; ; i = (i + 1) & m.mask {
		switch m.tags[i] {
		case 0:
			var zero V
			return zero, false
		case tag:
			if m.keys[i] == k {
				return m.vals[i], true
			}
		}
	}
}

// Has reports whether m holds k.
func (m *Map[V]) Has(k uint64) bool {
	_, ok := m.Get(k)
	return ok
}

// Put sets the value of k.
func (m *Map[V]) Put(k uint64, v V) {
	if 2*(m.n+1) > len(m.keys) {
		m.resize(max(minSize, 2*len(m.keys)))
	}
	h := hash64.Mix(k)
	tag := tagOf(h)
	i := h & m.mask
	for ; m.tags[i] != 0; i = (i + 1) & m.mask {
		if m.tags[i] == tag && m.keys[i] == k {
			m.vals[i] = v
			return
		}
	}
	m.keys[i], m.vals[i], m.tags[i] = k, v, tag
	m.n++
}

// Delete removes k, if m holds it.
func (m *Map[V]) Delete(k uint64) {
	if m.n == 0 {
		return
	}
	h := hash64.Mix(k)
	tag := tagOf(h)
	i := h & m.mask
	for ; ; i = (i + 1) & m.mask {
		t := m.tags[i]
		if t == 0 {
			return
		}
		if t == tag && m.keys[i] == k {
			break
		}
	}
	m.n--
	// Move back the entries of the probe run after i that may fill the hole.
	for j := i; ; {
		j = (j + 1) & m.mask
		if m.tags[j] == 0 {
			break
		}
		// Slot j may move to the hole i if i lies on its probe path: from its home up to j.
		if home := hash64.Mix(m.keys[j]) & m.mask; (j-home)&m.mask >= (j-i)&m.mask {
			m.keys[i], m.vals[i], m.tags[i] = m.keys[j], m.vals[j], m.tags[j]
			i = j
		}
	}
	var zero V
	m.keys[i], m.vals[i], m.tags[i] = 0, zero, 0
	if len(m.keys) > shrinkFrom && 8*m.n < len(m.keys) {
		m.resize(len(m.keys) / 2)
	}
}

// Clear removes every key, keeping the memory.
func (m *Map[V]) Clear() {
	clear(m.keys)
	clear(m.vals)
	clear(m.tags)
	m.n = 0
}

func (m *Map[V]) resize(size int) {
	keys, vals, tags := m.keys, m.vals, m.tags
	m.keys, m.vals, m.tags, m.mask = make([]uint64, size), make([]V, size), make([]uint8, size), uint64(size-1)
	for i, t := range tags {
		if t == 0 {
			continue
		}
		j := hash64.Mix(keys[i]) & m.mask
		for m.tags[j] != 0 {
			j = (j + 1) & m.mask
		}
		m.keys[j], m.vals[j], m.tags[j] = keys[i], vals[i], t
	}
}
