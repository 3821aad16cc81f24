package arrowtrace

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// maxAlloc bounds a single buffer that a reader lets the Arrow and Parquet libraries allocate. Sizes
// come from the file (a compressed IPC buffer's uncompressed length, a Parquet page's size), so a
// corrupt file could otherwise ask for terabytes. Tests lower it.
var maxAlloc = 1 << 30

// errTooBig is the panic value of a refused allocation; readers recover it as corrupt data.
type errTooBig struct{ size, max int }

func (e errTooBig) Error() string {
	return fmt.Sprintf("buffer of %d bytes requested, over the limit of %d", e.size, e.max)
}

// cappedAllocator is Go-heap memory (so buffers are garbage-collected and may be aliased freely)
// with a bound on each allocation.
type cappedAllocator struct {
	goa memory.GoAllocator
	max int
}

func newAllocator() *cappedAllocator { return &cappedAllocator{max: maxAlloc} }

func (a *cappedAllocator) check(size int) {
	if size < 0 || size > a.max {
		panic(errTooBig{size, a.max})
	}
}

func (a *cappedAllocator) Allocate(size int) []byte {
	a.check(size)
	return a.goa.Allocate(size)
}

func (a *cappedAllocator) Reallocate(size int, b []byte) []byte {
	a.check(size)
	return a.goa.Reallocate(size, b)
}

func (a *cappedAllocator) Free(b []byte) {}

var _ memory.Allocator = (*cappedAllocator)(nil)
