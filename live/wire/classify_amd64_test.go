//go:build !purego

package wire

type classifier struct {
	name string
	fn   func([]byte, []block, uint64) uint64
}

func classifiers() []classifier {
	cs := []classifier{{"classify", classify}}
	if hasAVX2 {
		cs = append(cs, classifier{"AVX2", classifyAVX2})
	}
	return cs
}
