package strictjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type band struct {
	Max   float64 `json:"max"`
	Model string  `json:"model"`
}

type inner struct {
	Enabled bool            `json:"enabled"`
	Bands   []band          `json:"bands"`
	TTL     map[string]int  `json:"ttl_s"`
	Wait    time.Duration   `json:"wait"`
	Opt     *float64        `json:"opt,omitempty"`
	Raw     json.RawMessage `json:"raw,omitempty"`
	Pair    [2]int          `json:"pair"`
	Any     any             `json:"any"`
}

type Embedded struct {
	Seed uint64 `json:"seed"`
}

type doc struct {
	Embedded
	Name  string           `json:"name"`
	Inner inner            `json:"inner"`
	Plug  plugins          `json:"plug"`
	Skip  int              `json:"-"`
	Small int8             `json:"small"`
	Map   map[string]inner `json:"map"`
}

// plugins decodes each member into a settings type chosen by its key.
type plugins map[string]any

func (p *plugins) Target(key string) (any, error) {
	if *p == nil {
		*p = plugins{}
	}
	switch key {
	case "a":
		v := &band{}
		(*p)[key] = v
		return v, nil
	}
	return nil, fmt.Errorf("unknown plug-in %q", key)
}

func TestDecodes(t *testing.T) {
	in := `{"seed": 3, "name": "x", "inner": {"enabled": true, "bands": [{"max": 25, "model": "h"}, {"max": 100, "model": "s"}],
	"ttl_s": {"research": 3600}, "wait": "90s", "opt": 0.5, "raw": {"k": [1, 2]}, "pair": [1, 2], "any": {"n": 1}},
	"plug": {"a": {"max": 1, "model": "m"}}, "small": -8, "map": {"k": {"enabled": true}}}`
	var d doc
	if err := Unmarshal([]byte(in), &d); err != nil {
		t.Fatal(err)
	}
	half := 0.5
	want := doc{Embedded: Embedded{Seed: 3}, Name: "x", Inner: inner{Enabled: true, Bands: []band{{25, "h"}, {100, "s"}},
		TTL: map[string]int{"research": 3600}, Wait: 90 * time.Second, Opt: &half, Raw: json.RawMessage(`{"k": [1, 2]}`),
		Pair: [2]int{1, 2}, Any: map[string]any{"n": json.Number("1")}},
		Plug: plugins{"a": &band{1, "m"}}, Small: -8, Map: map[string]inner{"k": {Enabled: true}}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Struct fields the document leaves out keep their values; maps and lists it gives replace.
func TestOverlayKeepsWhatTheDocumentLeavesOut(t *testing.T) {
	d := doc{Name: "keep", Inner: inner{TTL: map[string]int{"a": 1}, Bands: []band{{1, "x"}, {2, "y"}}}}
	if err := Unmarshal([]byte(`{"inner": {"ttl_s": {"b": 2}, "bands": [{"max": 5}]}}`), &d); err != nil {
		t.Fatal(err)
	}
	if d.Name != "keep" || !cmp.Equal(d.Inner.TTL, map[string]int{"b": 2}) || !cmp.Equal(d.Inner.Bands, []band{{5, ""}}) {
		t.Errorf("got %+v", d)
	}
}

func TestErrorsNamePathAndPosition(t *testing.T) {
	for _, tc := range []struct{ in, path, msg string }{
		{`{"nme": 1}`, "nme", "unknown key"},
		{`{"inner": {"bands": [{"max": 1}, {"max": "x"}]}}`, "inner.bands[1].max", "want a number, got a string"},
		{`{"inner": {"bands": [{"max": 1}, {"mx": 2}]}}`, "inner.bands[1].mx", "unknown key (known: max, model)"},
		{`{"inner": {"ttl_s": {"a": 1.5}}}`, "inner.ttl_s.a", "want an integer"},
		{`{"inner": {"wait": "soon"}}`, "inner.wait", "want a duration"},
		{`{"inner": {"wait": 5}}`, "inner.wait", "want a duration string"},
		{`{"inner": {"pair": [1]}}`, "inner.pair", "want 2 elements, got 1"},
		{`{"inner": {"enabled": "yes"}}`, "inner.enabled", "want true or false"},
		{`{"plug": {"b": {}}}`, "plug.b", `unknown plug-in "b"`},
		{`{"plug": {"a": {"max": true}}}`, "plug.a.max", "want a number"},
		{`{"small": 300}`, "small", "fits in 8 bits"},
		{`{"seed": -1}`, "seed", "non-negative integer"},
		{`{"name": "x"} {}`, "", "unexpected data after the top-level value"},
		{`{"name": "x"} x`, "", "unexpected data after the top-level value"},
		{`{"name": "x"`, "", "unexpected end"},
		{`{"name": x}`, "name", "invalid JSON"},
		{`[]`, "", "want an object, got an array"},
		{`{"map": {"k": {"bad": 1}}}`, "map.k.bad", "unknown key"},
	} {
		var d doc
		err := Unmarshal([]byte(tc.in), &d)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: err = %v, want an *Error", tc.in, err)
			continue
		}
		if e.Path != tc.path || !strings.Contains(e.Msg, tc.msg) || e.Line < 1 || e.Col < 1 {
			t.Errorf("%s: got path %q line %d col %d msg %q; want path %q and %q", tc.in, e.Path, e.Line, e.Col, e.Msg, tc.path, tc.msg)
		}
	}
}

func TestLineAndColumn(t *testing.T) {
	in := "{\n  \"inner\": {\n    \"bands\": [\n      {\"max\": 1, \"modl\": \"x\"}\n    ]\n  }\n}"
	var d doc
	err := Unmarshal([]byte(in), &d)
	if err == nil || err.Error() != `line 4 col 18: inner.bands[0].modl: unknown key (known: max, model)` {
		t.Errorf("err = %v", err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"seed": 3, "inner": {"bands": [{"max": 25}], "wait": "1s", "pair": [1, 2]}, "plug": {"a": {}}}`))
	f.Add([]byte(`{"nme": 1}`))
	f.Add([]byte(`{"inner": {"any": [1, {"a": null}], "raw": [true]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d doc
		err := Unmarshal(data, &d)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		// Whatever strictjson accepts is valid JSON.
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
	})
}
