package wire

import "testing"

func BenchmarkSplitParse(b *testing.B) {
	body := realisticRequest(20 << 10)
	b.ReportAllocs()
	for b.Loop() {
		ParseRequest(body)
	}
}
func BenchmarkSplitFP(b *testing.B) {
	r, _ := ParseRequest(realisticRequest(20 << 10))
	b.ReportAllocs()
	for b.Loop() {
		r.Fingerprint()
	}
}
func BenchmarkSplitTokens(b *testing.B) {
	r, _ := ParseRequest(realisticRequest(20 << 10))
	b.ReportAllocs()
	for b.Loop() {
		r.Tokens()
	}
}
func BenchmarkSplitMarshal(b *testing.B) {
	r, _ := ParseRequest(realisticRequest(20 << 10))
	b.ReportAllocs()
	for b.Loop() {
		r.Marshal()
	}
}
func BenchmarkSplitSkip(b *testing.B) {
	body := realisticRequest(20 << 10)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		s := scanner{b: body}
		s.skip()
	}
}
