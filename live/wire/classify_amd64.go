package wire

//go:noescape
func classifySSE2(b []byte, blk []block, carry uint64) uint64

//go:noescape
func classifyAVX2(b []byte, blk []block, carry uint64) uint64

func cpuAVX2() bool

var hasAVX2 = cpuAVX2()

// classify sets the masks of each 64-byte block of b (whose length is a multiple of 64) in blk,
// the escape state before b being carry, and returns the escape state after.
func classify(b []byte, blk []block, carry uint64) uint64 {
	n := len(b) / 64
	if n == 0 {
		return carry
	}
	_ = blk[n-1]
	if hasAVX2 {
		return classifyAVX2(b, blk, carry)
	}
	return classifySSE2(b, blk, carry)
}
