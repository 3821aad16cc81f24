package wire

import (
	"encoding/binary"
	"math/bits"
)

// The single pass reads strings from bitmaps of the body, 64 bytes per word, computed ahead of it
// a chunk at a time: for each 64-byte block, the quotes that end a string (not escaped), the
// escaped characters (those after a backslash that starts an escape), the control characters, and
// the escaped characters that do not make a canonical two-byte escape. A string is then checked
// and measured with a few operations per block, whatever its escapes. The escape state runs
// across the whole body, as if it were one string: outside strings a valid body has no backslash,
// and a backslash outside a string is a syntax error that the parse finds where it stands.

// block holds the bitmaps of a 64-byte block: bit j is byte j.
type block struct {
	quote uint64 // '"' not escaped
	esc   uint64 // escaped characters
	bad   uint64 // control characters (< 0x20), and escaped characters other than " \ b f n r t
}

// bodyMasks are the bitmaps of a body, computed a chunk at a time as the parse reaches it, while
// that part of the body is in cache.
type bodyMasks struct {
	b     []byte
	blk   []block
	done  int    // blocks computed
	carry uint64 // the escape state after them
}

const chunkBlocks = 64 // 4 KB of body

// reset starts the masks of b.
func (m *bodyMasks) reset(b []byte) {
	n := (len(b) + 63) / 64
	if cap(m.blk) < n {
		m.blk = make([]block, n, n+n/4)
	}
	m.b, m.blk, m.done, m.carry = b, m.blk[:n], 0, 0
}

// compute fills all the masks of b.
func (m *bodyMasks) compute(b []byte) {
	m.reset(b)
	m.upTo(len(m.blk) - 1)
}

// upTo computes the masks up to block k (at least).
func (m *bodyMasks) upTo(k int) {
	for m.done <= k && m.done < len(m.blk) {
		m.chunk()
	}
}

// chunk computes the next chunk of blocks.
func (m *bodyMasks) chunk() {
	k0 := m.done
	n := min(chunkBlocks, len(m.blk)-k0)
	start := k0 * 64
	full := min(n, (len(m.b)-start)/64)
	m.carry = classify(m.b[start:start+full*64], m.blk[k0:k0+full], m.carry)
	if full < n {
		// The last block, padded with spaces.
		var last [64]byte
		for i := range last {
			last[i] = ' '
		}
		copy(last[:], m.b[start+full*64:])
		m.carry = classify(last[:], m.blk[k0+full:k0+n], m.carry)
		r := len(m.b) & 63
		m.blk[k0+full].esc &= 1<<r - 1 // after a backslash at the end
		m.blk[k0+full].bad &= 1<<r - 1
	}
	m.done = k0 + n
}

// escapedChars returns, of the backslashes bs of a block, the escaped characters: those after an
// odd run of backslashes. carry is 1 when the block before ended with an escape's backslash. (After
// simdjson's json_escape_scanner.)
func escapedChars(bs uint64, carry *uint64) uint64 {
	const odd = 0xaaaaaaaaaaaaaaaa
	potential := bs &^ *carry
	maybe := potential << 1
	code := ((maybe | odd) - potential) ^ odd
	escaped := code ^ (bs | *carry)
	*carry = (code & bs) >> 63
	return escaped
}

const lo7 = 0x7f7f7f7f7f7f7f7f

// zeroBytes flags, in their high bits, the zero bytes of y (exactly).
func zeroBytes(y uint64) uint64 { return ^((y & lo7) + lo7 | y) & highs }

// gather packs the high bits of the bytes of m into a byte.
func gather(m uint64) uint64 { return m * 0x0002040810204081 >> 56 }

// classifyGeneric is classify in Go, eight bytes at a time.
func classifyGeneric(b []byte, blk []block, carry uint64) uint64 {
	for k := 0; k+64 <= len(b); k += 64 {
		var q, s, c uint64
		for w := 0; w < 64; w += 8 {
			x := binary.LittleEndian.Uint64(b[k+w:])
			q |= gather(zeroBytes(x^('"'*lows))) << w
			s |= gather(zeroBytes(x^('\\'*lows))) << w
			c |= gather(^((x&lo7)+0x6060606060606060|x)&highs) << w
		}
		esc := escapedChars(s, &carry)
		var bad uint64
		for e := esc; e != 0; e &= e - 1 {
			if j := bits.TrailingZeros64(e); !shortEscape[b[k+j]] {
				bad |= 1 << j
			}
		}
		blk[k/64] = block{quote: q &^ esc, esc: esc, bad: bad | c}
	}
	return carry
}

// shortEscape holds the characters of canonical two-byte escapes.
var shortEscape = [256]bool{'"': true, '\\': true, 'b': true, 'f': true, 'n': true, 'r': true, 't': true}

// strScan reads, as scanner.strv does, the string whose opening quote is at s.i, from the masks.
// onMasks is false when it had to read the string one escape at a time (non-canonical escapes).
func (p *fastParser) strScan() (start, end, extra int, canon, onMasks bool, err error) {
	s := &p.s
	q := s.i
	s.last = q
	start = q + 1
	k := start >> 6
	low := ^uint64(0) << (start & 63)
	var bad uint64
	for ; k < len(p.m.blk); k++ {
		if k >= p.m.done {
			p.m.upTo(k)
		}
		blk := &p.m.blk[k]
		e := blk.esc & low
		if u := blk.quote & low; u != 0 {
			t := bits.TrailingZeros64(u)
			below := uint64(1)<<t - 1
			extra += bits.OnesCount64(e & below)
			bad |= blk.bad & low & below
			end = k<<6 + t
			if bad != 0 || end >= len(s.b) {
				break
			}
			s.i = end + 1
			return start, end, extra, true, true, nil
		}
		extra += bits.OnesCount64(e)
		bad |= blk.bad & low
		low = ^uint64(0)
	}
	// \/, \u, an invalid escape, a control character or no end: strv reads it one escape at a
	// time, or says what is wrong.
	s.i = q
	start, end, extra, canon, err = s.strv()
	return start, end, extra, canon, false, err
}
