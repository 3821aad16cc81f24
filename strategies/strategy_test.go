package strategies

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/traces"
)

// Begin resets every field but Rec: a field added to Call and forgotten in Begin fails this test.
func TestBeginResetsEveryField(t *testing.T) {
	var c Call
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			f.SetInt(7)
		case reflect.Uint64:
			f.SetUint(7)
		case reflect.Float64:
			f.SetFloat(7)
		case reflect.String:
			f.SetString("x")
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.Struct: // Rec
		default:
			t.Fatalf("field %s of kind %v: teach this test about it", v.Type().Field(i).Name, f.Kind())
		}
	}
	c.Rec = traces.Record{Time: time.Unix(5, 0), Model: "m"}
	c.Rec.SetTokens(1, 2)
	c.Begin(9)
	want := Call{Rec: c.Rec, OrigModel: "m", OrigOutput: 2, Arrival: 5e9, Key: 9, Quality: 1}
	w := reflect.ValueOf(want)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if name == "Rec" || name == "Followers" {
			continue
		}
		if !reflect.DeepEqual(v.Field(i).Interface(), w.Field(i).Interface()) {
			t.Errorf("after Begin, %s = %v, want %v", name, v.Field(i), w.Field(i))
		}
	}
	if len(c.Followers) != 0 {
		t.Errorf("Followers = %v", c.Followers)
	}
}

// TestCurveFastPathsMatchPow checks that the shapes P computes without math.Pow give exactly
// what math.Pow gives, so that the fast paths change no result.
func TestCurveFastPathsMatchPow(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, shape := range []float64{1, 2} {
		q := Curve{Easy: 0.98, Hard: 0.6, Shape: shape}
		for i := range 1_000_000 {
			c := rng.Float64() * 100
			if i%1000 == 0 {
				c = float64(i / 1000 % 101) // integer scores, both ends included
			}
			want := q.Easy - (q.Easy-q.Hard)*math.Pow(c/100, shape)
			if got := q.P(c); got != want {
				t.Fatalf("shape %g, complexity %v: P = %v, math.Pow gives %v", shape, c, got, want)
			}
		}
	}
}
