package promptcache

import (
	"hash/maphash"

	"github.com/tarsopt/tarsopt/internal/hash64"
	"github.com/tarsopt/tarsopt/internal/u64map"
)

// keyIndex maps session and head keys to their slots in Stage.sess. A Go map keyed by the struct
// of three strings hashes and compares all three on every probe; this one is keyed by a 64-bit
// hash of the key (maphash, which runs on the CPU's AES instructions) and checks the slot's own
// key, so that a probe costs one integer lookup and one key comparison. The rare key whose hash
// another live key already has lives in an exact map instead, so no key is ever confused with
// another. The hash's seed is random, which is harmless: it decides nothing but where keys sit.
type keyIndex struct {
	seed   maphash.Seed
	byHash u64map.Map[uint32]
	exact  map[sessKey]uint32 // keys whose hash collided with a live key's
}

func newKeyIndex() keyIndex {
	return keyIndex{seed: maphash.MakeSeed()}
}

func (x *keyIndex) hash(k sessKey) uint64 {
	h := hash64.Combine(maphash.String(x.seed, k.tenant), uint64(k.kind))
	h = hash64.Combine(h, maphash.String(x.seed, k.session))
	return hash64.Combine(h, maphash.String(x.seed, k.agent))
}

func (x *keyIndex) len() int { return x.byHash.Len() + len(x.exact) }

// get returns the slot of k, whose hash (x.hash) is h.
func (x *keyIndex) get(k sessKey, h uint64, slots []hint) (uint32, bool) {
	i, ok := x.byHash.Get(h)
	if ok && slots[i].key == k {
		return i, true
	}
	if len(x.exact) == 0 {
		return 0, false
	}
	i, ok = x.exact[k]
	return i, ok
}

// put adds k, which the index must not hold, at slot i; h is its hash (x.hash).
func (x *keyIndex) put(k sessKey, h uint64, i uint32, slots []hint) {
	if j, ok := x.byHash.Get(h); ok && slots[j].key != k {
		if x.exact == nil {
			x.exact = map[sessKey]uint32{}
		}
		x.exact[k] = i
		return
	}
	x.byHash.Put(h, i)
}

// del removes k, held at slot i, whose hash is h (put's, kept so that removing never reads the
// key's strings again).
func (x *keyIndex) del(k sessKey, h uint64, i uint32) {
	if j, ok := x.byHash.Get(h); ok && j == i {
		x.byHash.Delete(h)
		return
	}
	delete(x.exact, k)
}
