package money

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in   string
		want Amount
		err  bool
	}{
		{"8.50", 8_500_000_000, false},     // plain dollars and cents
		{"$8.5", 8_500_000_000, false},     // currency sign accepted
		{"-0.0001", -100_000, false},       // negative
		{"1.25e-05", 12_500, false},        // exponent, as JavaScript prints small costs
		{"3", 3 * Dollar, false},           // integer
		{"0.0000000005", 0, false},         // half a nano rounds to even (0)
		{"0.0000000015", 2, false},         // 1.5 nano rounds to even (2)
		{"0.00000000250000001", 3, false},  // just above half rounds up
		{"0.0000000024999", 2, false},      // below half rounds down
		{"000012.000", 12 * Dollar, false}, // leading and trailing zeros
		{"1e9", 1e9 * Dollar, false},       // a billion dollars fits
		{"1e10", 0, true},                  // ten billion does not
		{"9223372036.854775807", math.MaxInt64, false},
		{"9223372036.854775808", 0, true},
		{"", 0, true},
		{"abc", 0, true},
		{"1.2.3", 0, true},
		{"1e", 0, true},
		{"NaN", 0, true},
		{".5", 500_000_000, false},
		{"5.", 5 * Dollar, false},
		{"-", 0, true},
		{"1e-400", 0, false}, // far below a nano-dollar
	}
	for _, tt := range tests {
		got, err := ParseAmount(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseAmount(%q) error = %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseAmount(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestAmountStringRoundTrip(t *testing.T) {
	for _, a := range []Amount{0, 1, -1, Dollar, 8_500_000_000, -123_456_789_012, math.MaxInt64, math.MinInt64 + 1} {
		s := a.String()
		b, err := ParseAmount(s)
		if err != nil || b != a {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", s, b, err, a)
		}
	}
	if got := Amount(8_500_000_000).String(); got != "8.5" {
		t.Errorf("String = %q, want 8.5", got)
	}
	if got := Amount(-3).String(); got != "-0.000000003" {
		t.Errorf("String = %q", got)
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		a      Amount
		places int
		want   string
	}{
		{8_499_999_999, 2, "8.50"},
		{8_495_000_000, 2, "8.50"}, // half to even: 849.5 cents → 850
		{8_485_000_000, 2, "8.48"}, // 848.5 → 848
		{-1_005_000_000, 2, "-1.00"},
		{-1_015_000_000, 2, "-1.02"},
		{1, 9, "0.000000001"},
		{Dollar, 0, "1"},
	}
	for _, tt := range tests {
		if got := tt.a.Format(tt.places); got != tt.want {
			t.Errorf("Amount(%d).Format(%d) = %q, want %q", tt.a, tt.places, got, tt.want)
		}
	}
}

func TestRateCost(t *testing.T) {
	sonnetIn := MustPerMillion("3")
	tests := []struct {
		name   string
		r      Rate
		tokens int64
		want   Amount
	}{
		{"sonnet input, 1513 tokens", sonnetIn, 1513, 4_539_000},
		{"sonnet output, one million tokens", MustPerMillion("15"), 1_000_000, 15 * Dollar},
		{"fractional nano rounds half to even (down)", MustPerMillion("0.0005"), 1, 0}, // 0.5 nano → 0
		{"fractional nano rounds half to even (up)", MustPerMillion("0.0005"), 3, 2},   // 1.5 nano → 2
		{"gemini cache read 0.01875/M", MustPerMillion("0.01875"), 1001, 18769},        // 18,768.75 nano
		{"ten million tokens at $600/M does not overflow", MustPerMillion("600"), 1e7, 6000 * Dollar},
		{"negative tokens give negative cost", sonnetIn, -1000, -3_000_000},
	}
	for _, tt := range tests {
		if got := tt.r.Cost(tt.tokens); got != tt.want {
			t.Errorf("%s: Cost = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestRateCostMatchesBigArithmetic checks Cost, both its 64-bit and its 128-bit path, against
// exact big-integer arithmetic with half-to-even rounding.
func TestRateCostMatchesBigArithmetic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	million := big.NewInt(1e6)
	for i := range 200_000 {
		n := rng.Int64N(1 << uint(1+i%40))
		r := Rate(rng.Int64N(1 << uint(1+i%45)))
		if i%3 == 0 {
			n = -n
		}
		if i%5 == 0 {
			r = -r
		}
		prod := new(big.Int).Mul(big.NewInt(n), big.NewInt(int64(r)))
		if new(big.Int).Abs(prod).Cmp(new(big.Int).Mul(million, big.NewInt(math.MaxInt64))) > 0 {
			continue // Cost panics on overflow; not this test's concern
		}
		q, m := new(big.Int).QuoRem(new(big.Int).Abs(prod), million, new(big.Int))
		if c := m.Int64(); c > 500_000 || (c == 500_000 && q.Bit(0) == 1) {
			q.Add(q, big.NewInt(1))
		}
		if prod.Sign() < 0 {
			q.Neg(q)
		}
		if got := r.Cost(n); int64(got) != q.Int64() {
			t.Fatalf("Rate(%d).Cost(%d) = %d, want %s", r, n, got, q)
		}
	}
}

func TestRateScale(t *testing.T) {
	if got := MustPerMillion("3.75").Scale(1, 2); got != MustPerMillion("1.875") {
		t.Errorf("Scale(1,2) = %v", got)
	}
	if got := Rate(3).Scale(1, 2); got != 2 { // 1.5 → 2
		t.Errorf("Scale half-even = %d", got)
	}
	if got := Rate(5).Scale(1, 2); got != 2 { // 2.5 → 2
		t.Errorf("Scale half-even = %d", got)
	}
}

func TestFromDollars(t *testing.T) {
	a, err := FromDollars(0.1 + 0.2)
	if err != nil || a != 300_000_000 {
		t.Errorf("FromDollars(0.1+0.2) = %d, %v", a, err)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), 1e12} {
		if _, err := FromDollars(bad); err == nil {
			t.Errorf("FromDollars(%v): want error", bad)
		}
	}
}

// Sums of Amounts do not depend on order, unlike float sums.
func TestSumIsOrderIndependent(t *testing.T) {
	r := MustPerMillion("3")
	var fwd, back Amount
	var ffwd, fback float64
	n := int64(100000)
	for i := int64(1); i <= n; i++ {
		fwd += r.Cost(i)
		ffwd += r.Cost(i).Dollars()
	}
	for i := n; i >= 1; i-- {
		back += r.Cost(i)
		fback += r.Cost(i).Dollars()
	}
	if fwd != back {
		t.Fatalf("Amount sums differ: %d vs %d", fwd, back)
	}
	_ = ffwd != fback // floats may or may not differ; Amounts never do.
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"8.5", "-1e-9", "0.0000000015", "9223372036.854775807", "1e400", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAmount(s)
		if err != nil {
			return
		}
		b, err := ParseAmount(a.String())
		if err != nil || a != b {
			t.Fatalf("round trip of %q: %d → %q → %d, %v", s, a, a.String(), b, err)
		}
	})
}

func TestRateScaleLarge(t *testing.T) {
	// 4.25e9 × 2.5e9 overflows 64 bits before the division; 128-bit arithmetic does not.
	if got := MustPerMillion("4.25").Scale(2_500_000_000, 2_500_000_000); got != MustPerMillion("4.25") {
		t.Errorf("Scale by a large unit fraction = %v", got)
	}
	if got := Rate(-3).Scale(1, 2); got != -2 { // -1.5 → -2 (half to even)
		t.Errorf("negative half-even = %d", got)
	}
}
