//go:build !purego

package wire

import "golang.org/x/sys/cpu"

// classifyAVX2 is classifyGeneric with AVX2, 64 bytes a step (classify_amd64.s). TestClassify
// checks it against classifyGeneric bit for bit.
//
//go:noescape
func classifyAVX2(b []byte, blk []block, carry uint64) uint64

var hasAVX2 = cpu.X86.HasAVX2

// classify sets the masks of each 64-byte block of b (whose length is a multiple of 64) in blk,
// the escape state before b being carry, and returns the escape state after. It takes AVX2 where
// the processor has it (ten times the Go version's 1.2 GB/s), and the Go version elsewhere or
// when built with the purego tag.
func classify(b []byte, blk []block, carry uint64) uint64 {
	n := len(b) / 64
	if n == 0 {
		return carry
	}
	_ = blk[n-1]
	if hasAVX2 {
		return classifyAVX2(b, blk, carry)
	}
	return classifyGeneric(b, blk, carry)
}
