// Package tracetest builds random valid trace records for round-trip tests, fuzz seeds and
// benchmarks. Every optional field is present or absent at random, and values span their full valid
// range, edges included: zero and 10M tokens, nanosecond durations, Unicode and CSV-hostile strings,
// empty and long prefixes.
package tracetest

import (
	"io"
	"math/rand/v2"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/traces"
)

// Strings are the values random string fields take: plain, Unicode, and ones that need quoting or
// escaping in CSV and JSON.
var Strings = []string{"a", "tenant-1", "sess/ü/日本", "with,comma", `with "quotes"`, "tab\there", "new\nline", " lead", "x\u2028y", "émoji 🚀"}

// Record returns a random record that passes Validate, with about half of the optional fields
// present, at time t.
func Record(rng *rand.Rand, t time.Time) traces.Record {
	var r traces.Record
	r.Time = t
	r.Model = pick(rng, Strings)
	maybe := func() bool { return rng.IntN(2) == 0 }
	for _, f := range traces.AllFields() {
		if f == traces.FieldTime || f == traces.FieldModel || !maybe() {
			continue
		}
		info := f.Info()
		switch info.Kind {
		case traces.KindString:
			r.SetString(f, pick(rng, Strings))
		case traces.KindEnum:
			switch f {
			case traces.FieldQueryType:
				r.QueryType = pick(rng, traces.QueryTypes)
			case traces.FieldPriority:
				r.Priority = pick(rng, traces.Priorities)
			case traces.FieldServiceTier:
				r.ServiceTier = pick(rng, traces.ServiceTiers)
			case traces.FieldSpeed:
				r.Speed = pick(rng, traces.Speeds)
			}
		case traces.KindTokens:
			if f != traces.FieldReasoning {
				r.SetInt(f, tokens(rng))
			}
		case traces.KindInt:
			if f == traces.FieldStatus {
				r.SetInt(f, 100+rng.Int64N(500))
			} else {
				r.SetInt(f, rng.Int64N(1<<31))
			}
		case traces.KindDuration:
			if f != traces.FieldTTFT {
				r.SetInt(f, rng.Int64N(int64(24*time.Hour)))
			}
		case traces.KindFloat:
			if f == traces.FieldTemperature {
				r.SetFloat(f, float64(rng.IntN(21))/10)
			} else {
				r.SetFloat(f, rng.Float64()*100)
			}
		case traces.KindHash:
			r.SetInt(f, int64(rng.Uint64()))
		case traces.KindHashList:
			for k := rng.IntN(40); k > 0; k-- {
				r.Prefix = append(r.Prefix, rng.Uint64())
			}
		case traces.KindMoney:
			r.SetInt(f, rng.Int64N(int64(1000*money.Dollar)))
		}
	}
	if r.Has(traces.FieldOutput) && maybe() {
		r.SetInt(traces.FieldReasoning, rng.Int64N(r.Output+1))
	}
	if r.Has(traces.FieldLatency) && maybe() {
		r.SetInt(traces.FieldTTFT, rng.Int64N(int64(r.Latency)+1))
	}
	return r
}

// Records returns n random records in non-decreasing time order from 2026-02-10 UTC, at nanosecond
// resolution.
func Records(rng *rand.Rand, n int) []traces.Record {
	out := make([]traces.Record, n)
	t := time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
	for i := range out {
		t = t.Add(time.Duration(rng.Int64N(int64(10 * time.Second))))
		out[i] = Record(rng, t)
	}
	return out
}

func tokens(rng *rand.Rand) int64 {
	switch rng.IntN(8) {
	case 0:
		return 0
	case 1:
		return traces.MaxTokens
	default:
		return rng.Int64N(200_000)
	}
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// ReadAll reads every record of r, each cloned, until io.EOF (nil error) or the first error, which
// it returns with the records read before it.
func ReadAll(r traces.Reader) ([]traces.Record, error) {
	var out []traces.Record
	var rec traces.Record
	for {
		err := r.Read(&rec)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec.Clone())
	}
}

// CmpOptions makes go-cmp compare records by value and presence, treating nil and empty prefixes
// alike and ignoring where each record was read from.
var CmpOptions = []cmp.Option{
	cmpopts.EquateEmpty(),
	cmp.AllowUnexported(traces.Record{}),
	cmpopts.IgnoreFields(traces.Record{}, "Pos"),
}
