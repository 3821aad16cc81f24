package prefetch

//go:noescape
func lines(p uintptr, n int)
