package gen

import "github.com/tarsopt/tarsopt/internal/hash64"

// A prompt is built from segments: runs of tokens with one identity (the agent's system prompt, a
// skill's instructions, one turn's new content, one turn's output). Two prompts that start with the
// same segments share their leading prefix blocks, which is what the provider's prompt cache and
// tarsopt's prefix hashes see.

// segment is a run of n tokens whose content is identified by id.
type segment struct {
	id uint64
	n  int64
}

func mix64(x uint64) uint64      { return hash64.Mix(x) }
func combine(h, v uint64) uint64 { return hash64.Combine(h, v) }
func hashString(s string) uint64 { return hash64.String(s) }

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
