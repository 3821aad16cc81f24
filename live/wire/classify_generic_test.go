//go:build !amd64 || purego

package wire

type classifier struct {
	name string
	fn   func([]byte, []block, uint64) uint64
}

func classifiers() []classifier { return []classifier{{"classify", classify}} }
