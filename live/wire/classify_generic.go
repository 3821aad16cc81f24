//go:build !amd64 || purego

package wire

// classify sets the masks of each 64-byte block of b (whose length is a multiple of 64) in blk,
// the escape state before b being carry, and returns the escape state after.
func classify(b []byte, blk []block, carry uint64) uint64 { return classifyGeneric(b, blk, carry) }
