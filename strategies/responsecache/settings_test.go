package responsecache

import (
	"encoding/json"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Settings)
		path   string // the path the error must start with; "" for valid settings
	}{
		{"defaults", func(*Settings) {}, ""},
		{"every type", func(s *Settings) {
			for _, q := range traces.QueryTypes {
				s.TTL[q.String()] = 60
				s.Fresh[q.String()] = 30
			}
		}, ""},
		{"fresh equal to ttl", func(s *Settings) { s.Fresh["research"] = 3600 }, ""},
		{"fresh for a type without ttl", func(s *Settings) { s.Fresh["chat"] = 10 }, ""},
		{"nil maps", func(s *Settings) { s.TTL, s.Fresh = nil, nil }, ""},
		{"unknown ttl type", func(s *Settings) { s.TTL["reserch"] = 60 }, "ttl_s.reserch: unknown query type"},
		{"first unknown in sorted order", func(s *Settings) { s.TTL["zz"], s.TTL["aa"] = 1, 1 }, "ttl_s.aa:"},
		{"negative ttl", func(s *Settings) { s.TTL["research"] = -1 }, "ttl_s.research: must be"},
		{"NaN ttl", func(s *Settings) { s.TTL["template"] = math.NaN() }, "ttl_s.template: must be"},
		{"huge ttl", func(s *Settings) { s.TTL["template"] = 1e12 }, "ttl_s.template: must be"},
		{"unknown fresh type", func(s *Settings) { s.Fresh["Research"] = 60 }, "fresh_s.Research: unknown query type"},
		{"negative fresh", func(s *Settings) { s.Fresh["research"] = -5 }, "fresh_s.research: must be"},
		{"fresh above ttl", func(s *Settings) { s.Fresh["research"] = 3601 }, "fresh_s.research: must not exceed ttl_s.research (3600)"},
		{"stale penalty above 1", func(s *Settings) { s.StalePenalty = 1.5 }, "stale_penalty:"},
		{"stale penalty negative", func(s *Settings) { s.StalePenalty = -0.1 }, "stale_penalty:"},
		{"stale penalty NaN", func(s *Settings) { s.StalePenalty = math.NaN() }, "stale_penalty:"},
		{"no entries", func(s *Settings) { s.MaxEntries = 0 }, "max_entries:"},
		{"bytes below one entry", func(s *Settings) { s.MaxBytes = 63 }, "max_bytes: must be at least 64"},
		{"unknown policy", func(s *Settings) { s.Policy = "arc" }, `policy: must be "lru", "sieve" or "s3fifo", got "arc"`},
		{"empty policy", func(s *Settings) { s.Policy = "" }, "policy:"},
		{"negative hit latency", func(s *Settings) { s.HitLatencyMS = -1 }, "hit_latency_ms:"},
		{"infinite hit latency", func(s *Settings) { s.HitLatencyMS = math.Inf(1) }, "hit_latency_ms:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Defaults()
			tt.change(s)
			err := s.Validate()
			if tt.path == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if _, err := New(s); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.path) {
				t.Fatalf("error %v, want it to start with %q", err, tt.path)
			}
			if _, err := New(s); err == nil {
				t.Fatal("New accepted invalid settings")
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s := Defaults()
	if s.Enabled() {
		t.Error("defaults enabled")
	}
	want := map[string]float64{"research": 3600, "fact_lookup": 7200, "code_pattern": 86400, "template": 86400}
	if diff := cmp.Diff(want, s.TTL); diff != "" {
		t.Errorf("TTLs (-want +got):\n%s", diff)
	}
	if s.StalePenalty != 0.05 || !s.DeterministicOnly || s.MaxEntries != 100000 || s.MaxBytes != 268435456 ||
		s.HitLatencyMS != 20 || s.Policy != DefaultPolicy {
		t.Errorf("defaults %+v", s)
	}
}

// The settings round-trip through encoding/json under the documented keys.
func TestJSON(t *testing.T) {
	s := Defaults()
	s.On = true
	s.Fresh["research"] = 1800
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	wantNames := []string{"deterministic_only", "enabled", "fresh_s", "hit_latency_ms", "max_bytes", "max_entries", "policy", "stale_penalty", "ttl_s"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("JSON keys (-want +got):\n%s", diff)
	}
	var back Settings
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, &back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}

	// The defaults as they are (an empty fresh_s) round-trip too.
	b, err = json.Marshal(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	var def Settings
	if err := json.Unmarshal(b, &def); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Defaults(), &def); diff != "" {
		t.Errorf("defaults round trip (-want +got):\n%s", diff)
	}

	// A TTL of 0 stops caching a type (encoding/json merges maps; tarsopt's config decoder replaces
	// them, and this holds either way).
	over := Defaults()
	if err := json.Unmarshal([]byte(`{"enabled":true,"ttl_s":{"research":0,"chat":60}}`), over); err != nil {
		t.Fatal(err)
	}
	if err := over.Validate(); err != nil {
		t.Fatal(err)
	}
	st, _ := New(over)
	for _, q := range []struct {
		qt   traces.QueryType
		want bool
	}{{traces.QueryResearch, false}, {traces.QueryChat, true}, {traces.QueryTemplate, true}, {traces.QueryTool, false}} {
		r := rec("a", 1, q.qt, "m", 1)
		if _, ok := st.cacheable(&r); ok != q.want {
			t.Errorf("%v cacheable %v, want %v", q.qt, ok, q.want)
		}
	}
}

func TestRegistered(t *testing.T) {
	d, ok := strategies.Lookup(Name)
	if !ok {
		t.Fatal("responsecache not registered")
	}
	s := d.Defaults()
	if s.Enabled() {
		t.Error("registered defaults enabled")
	}
	if diff := cmp.Diff(Defaults(), s); diff != "" {
		t.Errorf("registered defaults (-want +got):\n%s", diff)
	}
	s.SetEnabled(true)
	st, err := d.Build(s, strategies.Env{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if st.Name() != Name {
		t.Errorf("name %q", st.Name())
	}
	if _, ok := st.(strategies.Observer); !ok {
		t.Error("not an Observer")
	}
	bad := Defaults()
	bad.Policy = "fifo"
	if _, err := d.Build(bad, strategies.Env{}); err == nil || !strings.HasPrefix(err.Error(), "policy:") {
		t.Errorf("Build of invalid settings: %v", err)
	}
}
