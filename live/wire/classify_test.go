package wire

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestBodyMasks checks the bitmaps against a byte-at-a-time reading.
func TestBodyMasks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{'\\', '\\', '\\', '"', 'n', 'a', 'u', '/', 0x01, ' ', 0xff}
	var m bodyMasks
	for range 2000 {
		b := make([]byte, rng.IntN(300))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		m.compute(b)
		escaped := false
		for i, c := range b {
			blk := m.blk[i/64]
			bit := func(w uint64) bool { return w>>(i%64)&1 != 0 }
			if bit(blk.esc) != escaped {
				t.Fatalf("%q: byte %d: escaped %v", b, i, !escaped)
			}
			if bit(blk.quote) != (c == '"' && !escaped) {
				t.Fatalf("%q: byte %d: quote wrong", b, i)
			}
			if bit(blk.bad) != (escaped && escFlag[c] != 0 || c < 0x20) {
				t.Fatalf("%q: byte %d: bad escape %v", b, i, bit(blk.bad))
			}
			escaped = c == '\\' && !escaped
		}
	}
}

// escFlag is 0 for the characters of canonical two-byte escapes.
var escFlag = func() (t [256]uint8) {
	for i := range t {
		t[i] = 1
	}
	for _, c := range `"\bfnrt` {
		t[c] = 0
	}
	return t
}()

// TestClassify checks the classifiers against the Go one.
func TestClassify(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const specials = "\"\\\\\\ \x1f\x20\x00bfnrtu/"
	for round := range 50 {
		b := make([]byte, 64*20)
		for i := range b {
			b[i] = byte(rng.IntN(256))
			if rng.IntN(3) == 0 {
				b[i] = specials[rng.IntN(len(specials))]
			}
		}
		n := len(b) / 64
		carry := uint64(round & 1)
		want := make([]block, n)
		wc := classifyGeneric(b, want, carry)
		for _, f := range classifiers() {
			got := make([]block, n)
			if gc := f.fn(b, got, carry); gc != wc {
				t.Fatalf("%s: carry %d, want %d", f.name, gc, wc)
			}
			for k := range n {
				if got[k] != want[k] {
					t.Fatalf("%s: block %d: %x, want %x", f.name, k, got[k], want[k])
				}
			}
		}
	}
}

// FuzzClassify checks the classifiers against the Go one on any bytes, with either carry.
func FuzzClassify(f *testing.F) {
	f.Add([]byte(`{"a":"b\\\"c\\\\","d":"\u00e9\/\x"}`), false)
	f.Add(bytes.Repeat([]byte{'\\'}, 129), true)
	f.Fuzz(func(t *testing.T, b []byte, carry bool) {
		b = b[:len(b)&^63]
		n := len(b) / 64
		var c uint64
		if carry {
			c = 1
		}
		want := make([]block, n)
		wc := classifyGeneric(b, want, c)
		for _, f := range classifiers() {
			got := make([]block, n)
			if gc := f.fn(b, got, c); gc != wc {
				t.Fatalf("%s: carry %d, want %d", f.name, gc, wc)
			}
			for k := range n {
				if got[k] != want[k] {
					t.Fatalf("%s: block %d: %x, want %x", f.name, k, got[k], want[k])
				}
			}
		}
	})
}

// BenchmarkClassify times the Go classifier and the one classify picks (AVX2 where the processor
// has it) on a 200 KB request.
func BenchmarkClassify(b *testing.B) {
	body := realisticRequest(200 << 10)
	body = body[:len(body)&^63]
	blk := make([]block, len(body)/64)
	for _, impl := range []string{"go", "classify"} {
		b.Run("impl="+impl, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if impl == "go" {
					classifyGeneric(body, blk, 0)
				} else {
					classify(body, blk, 0)
				}
			}
		})
	}
}
