package strategies

import (
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
