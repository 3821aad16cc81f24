package wire

import (
	"fmt"
	"testing"
)

// BenchmarkCallPath runs the proxy's per-call sequence on a request: ParseRequest, Tokens,
// Fingerprint, PrefixHashes(64) and Marshal.
func BenchmarkCallPath(b *testing.B) {
	for _, size := range []int{20, 200} {
		body := realisticRequest(size << 10)
		b.Run(fmt.Sprintf("size=%dKB", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				r, err := ParseRequest(body)
				if err != nil {
					b.Fatal(err)
				}
				r.Tokens()
				r.Fingerprint()
				r.PrefixHashes(64)
				r.Marshal()
			}
		})
	}
}
