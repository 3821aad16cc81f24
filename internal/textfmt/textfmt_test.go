package textfmt

import "testing"

func TestThousands(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		d    int
		want string
	}{{1234567.891, 1, "1,234,567.9"}, {-1234, 0, "-1,234"}, {999, 2, "999.00"}, {0, 0, "0"}, {1000, 0, "1,000"}} {
		if got := Thousands(tt.v, tt.d); got != tt.want {
			t.Errorf("Thousands(%v, %d) = %q, want %q", tt.v, tt.d, got, tt.want)
		}
	}
	if got := Percent(0.4567); got != "45.7%" {
		t.Errorf("Percent = %q", got)
	}
}
