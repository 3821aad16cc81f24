package traces

import (
	"math"
	"strconv"
	"time"
)

// Limits that Validate enforces beyond each field's type.
const (
	minYear     = 1990                  // earlier timestamps are taken for unconverted epoch offsets
	maxYear     = 2200                  // later ones for unit mistakes (milliseconds read as seconds)
	maxDuration = 366 * 24 * time.Hour  // latencies and delays longer than a year are absurd
	maxCost     = 100_000 * 1_000000000 // $100,000 for a single call is absurd (nano-dollars)
)

// Validate checks r against the rules of the canonical format and returns the first problem as an
// *Error (with r.Pos and the field), or nil. Decoders call it on every record they return; code that
// builds records should call it too.
//
// Rules: Time and Model are present; token counts are in 0..MaxTokens; reasoning does not exceed
// output; durations are in 0..1 year and ttft does not exceed latency; complexity is in 0..100;
// temperature in 0..2; turn is not negative; status is an HTTP status (100..599); a recorded cost is
// in $0..$100,000; the year of Time is in 1990..2199.
func (r *Record) Validate() *Error {
	// Fast path: absent numeric fields hold zero, which every range admits (but status), so one
	// pass of comparisons over the values clears the common valid record; only a record that fails
	// it goes through the detailed checks below, which name the field.
	if r.quickValid() {
		return nil
	}
	return r.validateSlow()
}

var (
	minTime = time.Date(minYear, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxTime = time.Date(maxYear, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
)

func (r *Record) quickValid() bool {
	if r.Model == "" {
		return false
	}
	if sec := r.Time.Unix(); sec < minTime || sec >= maxTime {
		return false
	}
	// The OR of the token counts is at least the largest of them and has the sign bit of any
	// negative one: when it is within range, so is each count.
	if uint64(r.Input|r.CacheWrite5m|r.CacheWrite1h|r.CacheRead|r.Output|r.Reasoning|r.SystemTokens|r.HistoryTokens|r.NewTokens) > MaxTokens {
		return false
	}
	if r.Reasoning > r.Output {
		return false
	}
	if uint64(r.MaxDelay|r.Latency|r.TTFT) > uint64(maxDuration) {
		return false
	}
	if r.TTFT > r.Latency && r.present&(1<<FieldLatency) != 0 {
		return false
	}
	if !(r.Complexity >= 0 && r.Complexity <= 100) || !(r.Temperature >= 0 && r.Temperature <= 2) {
		return false
	}
	if uint(r.Turn) > math.MaxInt32 || uint64(r.Cost) > maxCost {
		return false
	}
	if r.present&(1<<FieldStatus) != 0 && (r.Status < 100 || r.Status > 599) {
		return false
	}
	return true
}

func (r *Record) validateSlow() *Error {
	bad := func(f Field, reason, detail string) *Error {
		return &Error{Pos: r.Pos, Field: f.String(), Reason: reason, Detail: detail}
	}
	if r.Time.IsZero() {
		return bad(FieldTime, "missing", "")
	}
	if y := r.Time.Year(); y < minYear || y >= maxYear {
		return bad(FieldTime, "year out of range", string(appendTime(nil, r.Time)))
	}
	if r.Model == "" {
		return bad(FieldModel, "missing", "")
	}
	for f := FieldInput; f <= FieldNewTokens; f++ {
		if !r.Has(f) {
			continue
		}
		v := *r.tokenPtr(f)
		if v < 0 {
			return bad(f, "negative token count", strconv.FormatInt(v, 10))
		}
		if v > MaxTokens {
			return bad(f, "token count over 10M", strconv.FormatInt(v, 10))
		}
	}
	if r.Has(FieldReasoning) && r.Reasoning > r.Output {
		return bad(FieldReasoning, "exceeds output", strconv.FormatInt(r.Reasoning, 10)+" > "+strconv.FormatInt(r.Output, 10))
	}
	for _, f := range [...]Field{FieldMaxDelay, FieldLatency, FieldTTFT} {
		if !r.Has(f) {
			continue
		}
		if d := *r.durationPtr(f); d < 0 || d > maxDuration {
			return bad(f, "out of range", d.String())
		}
	}
	if r.Has(FieldTTFT) && r.Has(FieldLatency) && r.TTFT > r.Latency {
		return bad(FieldTTFT, "exceeds latency", r.TTFT.String()+" > "+r.Latency.String())
	}
	if r.Has(FieldComplexity) && !(r.Complexity >= 0 && r.Complexity <= 100) {
		return bad(FieldComplexity, "out of range", strconv.FormatFloat(r.Complexity, 'g', -1, 64))
	}
	if r.Has(FieldTemperature) && !(r.Temperature >= 0 && r.Temperature <= 2) {
		return bad(FieldTemperature, "out of range", strconv.FormatFloat(r.Temperature, 'g', -1, 64))
	}
	if r.Has(FieldTurn) && (r.Turn < 0 || r.Turn > math.MaxInt32) {
		return bad(FieldTurn, "out of range", strconv.Itoa(r.Turn))
	}
	if r.Has(FieldStatus) && (r.Status < 100 || r.Status > 599) {
		return bad(FieldStatus, "not an HTTP status", strconv.Itoa(r.Status))
	}
	if r.Has(FieldCost) && (r.Cost < 0 || r.Cost > maxCost) {
		return bad(FieldCost, "out of range", r.Cost.String())
	}
	return nil
}
