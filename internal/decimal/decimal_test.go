package decimal

import (
	"math"
	"strconv"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in    string
		scale int
		want  int64
		err   error
	}{
		{"2.3", 9, 2_300_000_000, nil},                               // seconds to nanoseconds, exactly
		{"3600", 9, 3_600_000_000_000, nil},                          // integer
		{"0.000000001", 9, 1, nil},                                   // one unit
		{"1e-10", 9, 0, nil},                                         // below half a unit
		{"-9223372036.854775808", 9, math.MinInt64, nil},             // most negative
		{"9223372036.854775808", 9, 0, ErrRange},                     // one past the largest
		{"12", 0, 12, nil},                                           // scale 0
		{"12.5", 0, 12, nil},                                         // half to even
		{"13.5", 0, 14, nil},                                         // half to even
		{"12.50000000000000000000000000000000000000001", 0, 13, nil}, // sticky digit past the buffer
		{"x", 9, 0, ErrSyntax},
		{"1e+", 9, 0, ErrSyntax},
		{"--1", 9, 0, ErrSyntax},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, tt.scale)
		if err != tt.err || got != tt.want {
			t.Errorf("Parse(%q, %d) = %d, %v; want %d, %v", tt.in, tt.scale, got, err, tt.want, tt.err)
		}
		gotb, errb := Parse([]byte(tt.in), tt.scale)
		if gotb != got || errb != err {
			t.Errorf("Parse([]byte(%q)) = %d, %v; string form gave %d, %v", tt.in, gotb, errb, got, err)
		}
	}
}

func TestAppend(t *testing.T) {
	tests := []struct {
		v     int64
		scale int
		trim  bool
		want  string
	}{
		{2_300_000_000, 9, true, "2.3"},
		{2_300_000_000, 9, false, "2.300000000"},
		{0, 9, true, "0"},
		{-5, 3, true, "-0.005"},
		{math.MinInt64, 9, true, "-9223372036.854775808"},
		{42, 0, false, "42"},
	}
	for _, tt := range tests {
		if got := string(Append(nil, tt.v, tt.scale, tt.trim)); got != tt.want {
			t.Errorf("Append(%d, %d, %v) = %q, want %q", tt.v, tt.scale, tt.trim, got, tt.want)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	b := []byte("1234.567890123")
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse(b, 9) }); n != 0 {
		t.Errorf("Parse allocates %v times per call", n)
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add(int64(0), uint8(9))
	f.Add(int64(math.MinInt64), uint8(9))
	f.Add(int64(123456789), uint8(3))
	f.Fuzz(func(t *testing.T, v int64, scale uint8) {
		sc := int(scale % 19)
		for _, trim := range []bool{true, false} {
			s := Append(nil, v, sc, trim)
			got, err := Parse(s, sc)
			if err != nil || got != v {
				t.Fatalf("Parse(Append(%d, %d, %v) = %q) = %d, %v", v, sc, trim, s, got, err)
			}
		}
		// Parse agrees with strconv on plain integers.
		if sc == 0 {
			if got, _ := Parse(strconv.FormatInt(v, 10), 0); got != v {
				t.Fatalf("Parse(%d) = %d", v, got)
			}
		}
	})
}
