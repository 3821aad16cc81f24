//go:build !amd64

package prefetch

func lines(p uintptr, n int) {}
