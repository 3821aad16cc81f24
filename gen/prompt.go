package gen

// A prompt is built from segments: runs of tokens with one identity (the agent's system prompt, a
// skill's instructions, one turn's new content, one turn's output). Two prompts that start with the
// same segments share their leading prefix blocks, which is what the provider's prompt cache and
// tarsopt's prefix hashes see.

// segment is a run of n tokens whose content is identified by id.
type segment struct {
	id uint64
	n  int64
}

// mix64 is the SplitMix64 finaliser: a bijective 64-bit mixer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// combine hashes v into h.
func combine(h, v uint64) uint64 { return mix64(h ^ mix64(v+0x9e3779b97f4a7c15)) }

// hashString hashes a string with FNV-1a, then mixes.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}

func tokensOf(segs []segment) int64 {
	var n int64
	for _, s := range segs {
		n += s.n
	}
	return n
}

// appendPrefix appends the chained hashes of the full blocks of the prompt made of segs: block i's
// hash covers every token of blocks 0..i, so equal hashes at index i mean equal first (i+1)×size
// tokens. A trailing partial block gets no hash, as in the public agentic traces.
func appendPrefix(dst []uint64, segs []segment, size int64, seed uint64) []uint64 {
	h := seed
	var fill int64
	var content uint64
	for _, s := range segs {
		var off int64
		for off < s.n {
			take := min(size-fill, s.n-off)
			content = combine(content, combine(s.id, uint64(off)<<24^uint64(take)))
			fill += take
			off += take
			if fill == size {
				h = combine(h, content)
				dst = append(dst, h)
				content, fill = 0, 0
			}
		}
	}
	return dst
}

// fingerprint identifies a request: its model, temperature and prompt segments.
func fingerprint(model string, temperature float64, segs []segment) uint64 {
	h := combine(hashString(model), uint64(temperature*1000))
	for _, s := range segs {
		h = combine(combine(h, s.id), uint64(s.n))
	}
	return h
}
