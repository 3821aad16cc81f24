// Package prefetch asks the CPU to start loading memory that will be read soon, so that a loop
// over records much larger than the caches does not wait on each one in turn.
package prefetch

import "unsafe"

// Lines prefetches the n 64-byte cache lines from p (at most 16). It never faults, whatever p is,
// and does nothing on architectures without an implementation.
func Lines(p unsafe.Pointer, n int) {
	if n > 0 {
		lines(uintptr(p), min(n, 16))
	}
}
