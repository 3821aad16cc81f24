package wire

import "testing"

func BenchmarkParts(b *testing.B) {
	body := realisticRequest(200 << 10)
	r, _ := ParseRequest(body)
	b.Run("parse", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			ParseRequest(body)
		}
	})
	b.Run("tokens", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			r.Tokens()
		}
	})
	b.Run("fp", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			r.Fingerprint()
		}
	})
	b.Run("prefix", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			r.PrefixHashes(64)
		}
	})
	b.Run("marshal", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			r.Marshal()
		}
	})
}
