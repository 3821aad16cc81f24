package analysis

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/traces"
)

func TestThresholdKey(t *testing.T) {
	for x, want := range map[float64]string{0.3: "0.30", 0.422: "0.422", 0.25: "0.25", 1: "1.00", 0: "0.00", 0.4: "0.40"} {
		if got := ThresholdKey(x); got != want {
			t.Errorf("ThresholdKey(%v) = %q, want %q", x, got, want)
		}
	}
}

func TestStatsOf(t *testing.T) {
	xs := make([]float64, 101)
	for i := range xs {
		xs[100-i] = float64(i) // unsorted on purpose
	}
	s := StatsOf(xs)
	if s.Mean != 50 || s.Min != 0 || s.Max != 100 || s.P50 != 50 || s.P5 != 5 || s.P25 != 25 || s.P95 != 95 {
		t.Errorf("stats of 0..100: %+v", s)
	}
	if want := math.Sqrt(858.5); math.Abs(s.SD-want) > 1e-9 || math.Abs(s.SE-want/math.Sqrt(101)) > 1e-9 {
		t.Errorf("sd %v, se %v; want %v", s.SD, s.SE, want)
	}
	if xs[0] != 100 {
		t.Error("StatsOf sorted its argument")
	}
}

// smallTrace is a hand-built trace: 5 days, sessions of three calls, a third of the calls repeats.
func smallTrace() *Trace {
	start := time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
	tr := &Trace{Meta: traces.Meta{Start: start, End: start.AddDate(0, 0, 5)}}
	for i := range 150 {
		r := traces.Record{Time: start.Add(time.Duration(i) * 48 * time.Minute), Model: "claude-sonnet-4-5",
			ID: "c" + string(rune('A'+i%26)) + string(rune('a'+i/26)), Session: "s" + string(rune('A'+i/3%26)) + string(rune('a'+i/78)),
			Tenant: "t", Input: 100, Output: 10}
		r.Fingerprint = uint64(i) // a request of its own, except every third, which repeats the one before
		if i%3 == 1 {
			r.Fingerprint = uint64(i - 1)
		}
		r.Set(traces.FieldFingerprint)
		tr.Records = append(tr.Records, r)
	}
	return tr
}

func ordered(recs []traces.Record) bool {
	return slices.IsSortedFunc(recs, func(a, b traces.Record) int { return a.Time.Compare(b.Time) })
}

func TestDayBootstrap(t *testing.T) {
	tr := smallTrace()
	x := newDayIndex(tr)
	if len(x.from) != 6 || x.from[0] != 0 || x.from[5] != len(tr.Records) {
		t.Fatalf("day starts %v", x.from)
	}
	for seed := range uint64(20) {
		out := x.resample(rand.New(rand.NewPCG(seed, 1)), nil)
		if !ordered(out) {
			t.Fatalf("seed %d: resampled trace out of time order", seed)
		}
		for _, r := range out {
			if r.Time.Before(tr.Meta.Start) || !r.Time.Before(tr.Meta.End) {
				t.Fatalf("seed %d: a call at %v, outside the window", seed, r.Time)
			}
		}
		ids := map[string]bool{}
		for _, r := range out {
			if ids[r.ID] {
				t.Fatalf("seed %d: ID %s twice: a copied day's calls must be made distinct", seed, r.ID)
			}
			ids[r.ID] = true
		}
	}
}

func TestSessionBootstrap(t *testing.T) {
	tr := smallTrace()
	x := newSessionIndex(tr)
	if len(x.blocks) != 50 {
		t.Fatalf("%d sessions, want 50", len(x.blocks))
	}
	out := x.resample(rand.New(rand.NewPCG(4, 1)), nil)
	if len(out) != 150 || !ordered(out) {
		t.Fatalf("%d calls (want 150, as every session has 3), ordered %v", len(out), ordered(out))
	}
	sessions := map[string]int{}
	for _, r := range out {
		sessions[r.Session]++
	}
	for s, n := range sessions {
		if n != 3 || (strings.Contains(s, "#") && n != 3) {
			t.Fatalf("session %s has %d calls after resampling, want 3", s, n)
		}
	}
}

func repeatShare(recs []traces.Record) float64 {
	seen := map[uint64]bool{}
	n := 0
	for _, r := range recs {
		if seen[r.Fingerprint] {
			n++
		}
		seen[r.Fingerprint] = true
	}
	return float64(n) / float64(len(recs))
}

func TestRewriteRepeats(t *testing.T) {
	base := repeatShare(smallTrace().Records) // 1/3
	var scratch repeatScratch                 // reused across calls, as a worker does
	for _, f := range []float64{0, 0.5, 1.5} {
		var sum float64
		for seed := range uint64(40) {
			recs := smallTrace().Records
			rewriteRepeats(recs, f, rand.New(rand.NewPCG(seed, 9)), &scratch)
			sum += repeatShare(recs)
		}
		got, want := sum/40, math.Min(f*base, 1)
		if math.Abs(got-want) > 0.06 {
			t.Errorf("factor %v: repeat share %.3f, want about %.3f", f, got, want)
		}
	}
}

func TestSliceDays(t *testing.T) {
	tr := smallTrace() // 150 calls, 48 minutes apart: 30 a day over 5 days
	if n := tr.NumDays(); n != 5 {
		t.Fatalf("NumDays = %d", n)
	}
	past, future := tr.SliceDays(0, 3), tr.SliceDays(3, 5)
	if len(past.Records)+len(future.Records) != 150 || len(past.Records) != 90 {
		t.Fatalf("%d past and %d future calls", len(past.Records), len(future.Records))
	}
	if past.NumDays() != 3 || future.NumDays() != 2 || !future.Meta.Start.Equal(tr.Meta.Start.AddDate(0, 0, 3)) {
		t.Errorf("past %d days, future %d days from %v", past.NumDays(), future.NumDays(), future.Meta.Start)
	}
	for _, r := range future.Records {
		if r.Time.Before(future.Meta.Start) {
			t.Fatalf("a future call at %v, before its window", r.Time)
		}
	}
}
