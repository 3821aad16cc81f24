package pricing

import (
	"math"
	"testing"
	"time"
)

func TestPeriod(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		from, until time.Time
		f, u        int64
	}{
		{time.Time{}, time.Time{}, math.MinInt64, math.MaxInt64},
		{at, time.Time{}, at.UnixNano(), math.MaxInt64},
		{time.Time{}, at, math.MinInt64, at.UnixNano()},
		{at, at.Add(time.Hour), at.UnixNano(), at.Add(time.Hour).UnixNano()},
	} {
		p := &Price{From: c.from, Until: c.until}
		if f, u := p.Period(); f != c.f || u != c.u {
			t.Errorf("Period of [%v, %v) = [%d, %d), want [%d, %d)", c.from, c.until, f, u, c.f, c.u)
		}
	}
}
