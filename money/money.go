// Package money holds tarsopt's exact money types: amounts in integer nano-dollars and token prices in
// nano-dollars per million tokens.
//
// Every cost tarsopt computes is a sum of such integers, so a total does not depend on the order in
// which calls were added, and a replay prints the same figures on every machine. Dollars as float64
// appear only at the edges (charts, percentages); decimal strings are exact both ways.
//
// The package is a leaf: it imports nothing from the project, and every other package may import it.
package money

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/tarsopt/tarsopt/internal/decimal"
)

// Amount is an exact amount of US dollars, counted in nano-dollars (1e-9 USD). Its range, about ±9.2
// billion dollars, bounds any total tarsopt adds up; the zero value is $0.
type Amount int64

// Units of Amount.
const (
	Nano   Amount = 1
	Micro  Amount = 1e3
	Cent   Amount = 1e7
	Dollar Amount = 1e9
)

// Dollars returns a as a float64 number of dollars, for display and statistics only: never add
// these up, add Amounts.
func (a Amount) Dollars() float64 { return float64(a) / float64(Dollar) }

// FromDollars converts a float64 number of dollars to the nearest nano-dollar (halves away from
// zero). Use it only at the edges, for costs that a source recorded as binary floats; NaN, ±Inf and
// values out of range return an error.
func FromDollars(d float64) (Amount, error) {
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return 0, fmt.Errorf("money: %v is not an amount", d)
	}
	n := math.Round(d * 1e9)
	if n >= math.MaxInt64 || n <= math.MinInt64 {
		return 0, fmt.Errorf("money: $%g is out of range", d)
	}
	return Amount(n), nil
}

// String returns a as an exact decimal number of dollars with no trailing zeros and no currency
// sign: "8.5", "0.000003", "-1". ParseAmount reads it back unchanged.
func (a Amount) String() string { return string(a.AppendDecimal(nil)) }

// AppendDecimal appends the String form of a to b and returns the extended slice.
func (a Amount) AppendDecimal(b []byte) []byte { return decimal.Append(b, int64(a), 9, true) }

// Format returns a rounded to the given number of decimal places (0 to 9), halves to even, with
// trailing zeros kept: Format(2) of 8.499999 dollars is "8.50".
func (a Amount) Format(places int) string {
	if places < 0 || places > 9 {
		panic("money: Format places out of range 0..9")
	}
	v := decimal.DivRoundHalfEven(int64(a), decimal.Pow10(9-places))
	return string(decimal.Append(nil, v, places, false))
}

// ParseAmount parses a decimal number of dollars such as "8.50", "-0.0001", "1.25e-05" or "3". Digits
// beyond the ninth decimal place are rounded half to even; a leading "$" is accepted. It returns an
// error for anything else, including NaN, Inf and values out of range.
func ParseAmount(s string) (Amount, error) {
	if len(s) > 0 && s[0] == '$' {
		s = s[1:]
	}
	v, err := decimal.Parse(s, 9)
	if err != nil {
		return 0, fmt.Errorf("money: parsing %q: %w", s, err)
	}
	return Amount(v), nil
}

// Rate is a token price in nano-dollars per million tokens, which is also femto-dollars per token:
// $3 per million tokens is Rate(3e9). Every list price in use (down to fractions of a cent per
// million) is an exact Rate.
type Rate int64

// PerMillion returns the Rate of d dollars per million tokens given as a decimal string, such as
// "3.75" or "0.0375". Digits beyond the ninth decimal place are rounded half to even.
func PerMillion(d string) (Rate, error) {
	v, err := decimal.Parse(d, 9)
	if err != nil {
		return 0, fmt.Errorf("money: parsing rate %q: %w", d, err)
	}
	return Rate(v), nil
}

// MustPerMillion is PerMillion for price tables in source code; it panics on a malformed literal.
func MustPerMillion(d string) Rate {
	r, err := PerMillion(d)
	if err != nil {
		panic(err)
	}
	return r
}

// String returns r as an exact decimal number of dollars per million tokens.
func (r Rate) String() string { return string(decimal.Append(nil, int64(r), 9, true)) }

// PerToken returns r in dollars per token, for display.
func (r Rate) PerToken() float64 { return float64(r) / 1e15 }

// Cost returns the price of n tokens at rate r: n×r/1e6 nano-dollars, computed exactly in 128 bits
// and rounded half to even at the nano-dollar. It is the only place where a rounding happens, once per
// priced component of a call. Negative n or r is allowed and gives a negative cost.
func (r Rate) Cost(n int64) Amount {
	neg := (n < 0) != (r < 0)
	un, ur := decimal.Abs(n), decimal.Abs(int64(r))
	hi, lo := bits.Mul64(un, ur)
	if hi == 0 {
		// The common case: a division by a constant, which compiles to a multiply, where
		// bits.Div64 costs tens of cycles.
		q, rem := lo/1e6, lo%1e6
		if rem > 1e6/2 || (rem == 1e6/2 && q&1 == 1) {
			q++
		}
		if q > math.MaxInt64 {
			panic(fmt.Sprintf("money: %d tokens at %v/M overflows", n, r))
		}
		if neg {
			return -Amount(q)
		}
		return Amount(q)
	}
	if hi >= 1e6 { // quotient would not fit in 64 bits
		panic(fmt.Sprintf("money: %d tokens at %v/M overflows", n, r))
	}
	q, rem := bits.Div64(hi, lo, 1e6)
	// Round half to even.
	if rem > 1e6/2 || (rem == 1e6/2 && q&1 == 1) {
		q++
	}
	if q > math.MaxInt64 {
		panic(fmt.Sprintf("money: %d tokens at %v/M overflows", n, r))
	}
	if neg {
		return -Amount(q)
	}
	return Amount(q)
}

// Scale returns r multiplied by num/den, computed in 128 bits and rounded half to even: the batch
// discount is Scale(1, 2). It panics if den is zero or the result does not fit.
func (r Rate) Scale(num, den int64) Rate {
	if den == 0 {
		panic("money: Scale by zero denominator")
	}
	neg := (r < 0) != (num < 0) != (den < 0)
	hi, lo := bits.Mul64(decimal.Abs(int64(r)), decimal.Abs(num))
	d := decimal.Abs(den)
	if hi >= d {
		panic(fmt.Sprintf("money: %v × %d/%d overflows", r, num, den))
	}
	q, rem := bits.Div64(hi, lo, d)
	if rem > d-rem || (rem == d-rem && q&1 == 1) { // rem > d/2, or exactly half and q odd
		q++
	}
	if q > math.MaxInt64 {
		panic(fmt.Sprintf("money: %v × %d/%d overflows", r, num, den))
	}
	if neg {
		return -Rate(q)
	}
	return Rate(q)
}
