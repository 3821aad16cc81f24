// Package decimal parses and formats fixed-point decimal numbers exactly: an integer count of
// 10^-scale units written as a decimal string. tarsopt stores money as nano-dollars and durations as
// nanoseconds, and writes both as decimal numbers (dollars, seconds) that read back bit for bit.
package decimal

import (
	"errors"
	"math"
	"math/bits"
	"strconv"
)

// Errors returned by Parse.
var (
	ErrSyntax = errors.New("not a decimal number")
	ErrRange  = errors.New("out of range")
)

var pow10 = [...]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// Pow10 returns 10^n for 0 <= n <= 18.
func Pow10(n int) int64 { return pow10[n] }

// Abs returns |v| as an unsigned integer, correct for math.MinInt64 too.
func Abs(v int64) uint64 {
	if v < 0 {
		return uint64(-v)
	}
	return uint64(v)
}

// DivRoundHalfEven returns v/d rounded half to even; d must be positive.
func DivRoundHalfEven(v, d int64) int64 {
	q, r := v/d, v%d // truncated toward zero
	if r < 0 {
		r = -r
	}
	if 2*r > d || (2*r == d && q&1 != 0) {
		if v < 0 {
			q--
		} else {
			q++
		}
	}
	return q
}

// Append appends v/10^scale as a decimal number to b. With trim, trailing fractional zeros (and a
// bare decimal point) are dropped, which gives the shortest exact form; without it, exactly scale
// fractional digits are written. scale must be in 0..18.
func Append(b []byte, v int64, scale int, trim bool) []byte {
	if v < 0 {
		b = append(b, '-')
	}
	u := Abs(v)
	if scale == 0 {
		return strconv.AppendUint(b, u, 10)
	}
	p := uint64(pow10[scale])
	b = strconv.AppendUint(b, u/p, 10)
	frac := u % p
	if trim && frac == 0 {
		return b
	}
	var digits [18]byte
	for i := scale - 1; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := scale
	if trim {
		for n > 0 && digits[n-1] == '0' {
			n--
		}
	}
	b = append(b, '.')
	return append(b, digits[:n]...)
}

// Parse parses s, an optionally signed decimal number with optional fraction and exponent (the JSON
// number grammar, plus a leading '+' and a bare leading or trailing '.'), as an integer count of
// 10^-scale units. Digits beyond the last unit are rounded half to even. It returns ErrSyntax or
// ErrRange and does not allocate for inputs of up to 40 significant digits.
func Parse[S ~string | ~[]byte](s S, scale int) (int64, error) {
	if len(s) == 0 {
		return 0, ErrSyntax
	}
	i := 0
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		i++
	}
	var buf [40]byte
	digits := buf[:0]
	frac := 0
	sawDigit, sawDot := false, false
	for ; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			sawDigit = true
			if sawDot {
				frac++
			}
			if len(digits) == 0 && c == '0' {
				continue
			}
			digits = append(digits, c)
			continue
		}
		if c == '.' && !sawDot {
			sawDot = true
			continue
		}
		break
	}
	if !sawDigit {
		return 0, ErrSyntax
	}
	e := 0
	if i < len(s) {
		if s[i] != 'e' && s[i] != 'E' {
			return 0, ErrSyntax
		}
		i++
		eneg := false
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			eneg = s[i] == '-'
			i++
		}
		if i == len(s) {
			return 0, ErrSyntax
		}
		for ; i < len(s); i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, ErrSyntax
			}
			if e < 100000 {
				e = e*10 + int(c-'0')
			}
		}
		if eneg {
			e = -e
		}
	}
	if len(digits) == 0 {
		return 0, nil
	}
	// value = digits × 10^(e-frac); in units of 10^-scale it is digits × 10^shift.
	shift := e - frac + scale
	var q uint64
	if shift >= 0 {
		if len(digits)+shift > 19 {
			return 0, ErrRange
		}
		hi, lo := bits.Mul64(atou(digits), uint64(pow10[shift]))
		if hi != 0 {
			return 0, ErrRange
		}
		q = lo
	} else {
		k := len(digits) + shift // digits left of the rounding point
		if k > 19 {
			return 0, ErrRange
		}
		var first byte = '0'
		var rest []byte
		if k >= 0 {
			q = atou(digits[:k])
			if k < len(digits) {
				first, rest = digits[k], digits[k+1:]
			}
		}
		switch {
		case first > '5':
			q++
		case first == '5':
			if nonzero(rest) || q&1 == 1 {
				q++
			}
		}
	}
	if neg {
		if q > 1<<63 {
			return 0, ErrRange
		}
		return int64(-q), nil
	}
	if q > math.MaxInt64 {
		return 0, ErrRange
	}
	return int64(q), nil
}

func atou(d []byte) uint64 {
	var v uint64
	for _, c := range d {
		v = v*10 + uint64(c-'0')
	}
	return v
}

func nonzero(d []byte) bool {
	for _, c := range d {
		if c != '0' {
			return true
		}
	}
	return false
}
