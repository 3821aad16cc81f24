// Package hash64 holds the 64-bit hashing that prefix hashes and fingerprints are built from, so
// that the generator and the importers chain block hashes the same way.
package hash64

// Mix is the SplitMix64 finaliser: a bijective 64-bit mixer.
func Mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Combine extends the hash h by v: Combine(prefix[i-1], block) is prefix[i].
func Combine(h, v uint64) uint64 { return Mix(h ^ Mix(v+0x9e3779b97f4a7c15)) }

// String hashes s with FNV-1a, then mixes.
func String[S ~string | ~[]byte](s S) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return Mix(h)
}
