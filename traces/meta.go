package traces

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// FormatVersion is the version of the canonical trace format that this package writes.
const FormatVersion = 1

// Meta describes a trace as a whole. Every format stores it: the first line of JSONL, a comment
// line in CSV, schema metadata in Arrow and key-value metadata in Parquet, always as the JSON object
// that MarshalJSON produces, under the key "tarsopt_trace".
//
// Meta holds no creation time or host name, so that the same inputs give byte-identical files.
type Meta struct {
	// Version is the format version the trace was written with; 0 on a trace without metadata.
	Version int
	// BlockSize is the number of prompt tokens per Prefix hash; 0 when records carry no prefixes.
	BlockSize int
	// Source says what produced the trace: "gen:tars-baseline", "import:claude-code", ...
	Source string
	// Start and End bound the window the trace covers, when known (a generated trace covers whole
	// days); the zero Time means unknown. Records lie in [Start, End).
	Start, End time.Time
	// Description is free text for people.
	Description string
	// Attrs holds further provenance as sorted key-value pairs (a generator's seed and profile).
	Attrs map[string]string
}

type metaJSON struct {
	Version     int               `json:"tarsopt_trace"`
	BlockSize   int               `json:"block_size,omitempty"`
	Source      string            `json:"source,omitempty"`
	Start       string            `json:"start,omitempty"`
	End         string            `json:"end,omitempty"`
	Description string            `json:"description,omitempty"`
	Attrs       map[string]string `json:"attrs,omitempty"`
}

// MarshalJSON encodes m as one line of JSON with the key "tarsopt_trace" first and keys in a fixed
// order; Attrs keys are sorted.
func (m Meta) MarshalJSON() ([]byte, error) {
	v := m.Version
	if v == 0 {
		v = FormatVersion
	}
	j := metaJSON{Version: v, BlockSize: m.BlockSize, Source: m.Source, Description: m.Description, Attrs: m.Attrs}
	if !m.Start.IsZero() {
		j.Start = string(appendTime(nil, m.Start))
	}
	if !m.End.IsZero() {
		j.End = string(appendTime(nil, m.End))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// UnmarshalJSON decodes metadata written by MarshalJSON. Unknown keys are errors, and a version newer
// than FormatVersion is refused.
func (m *Meta) UnmarshalJSON(b []byte) error {
	var j metaJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("trace metadata: %w", err)
	}
	if j.Version < 1 || j.Version > FormatVersion {
		return fmt.Errorf("trace metadata: format version %d, this tarsopt reads up to %d", j.Version, FormatVersion)
	}
	if j.BlockSize < 0 {
		return fmt.Errorf("trace metadata: negative block_size %d", j.BlockSize)
	}
	out := Meta{Version: j.Version, BlockSize: j.BlockSize, Source: j.Source, Description: j.Description, Attrs: j.Attrs}
	for _, p := range []struct {
		s   string
		dst *time.Time
		key string
	}{{j.Start, &out.Start, "start"}, {j.End, &out.End, "end"}} {
		if p.s == "" {
			continue
		}
		t, ok := parseTime([]byte(p.s))
		if !ok {
			return fmt.Errorf("trace metadata: %s: bad timestamp %q", p.key, p.s)
		}
		*p.dst = t
	}
	*m = out
	return nil
}

// MetaKey is the key under which binary formats store the metadata JSON.
const MetaKey = "tarsopt_trace"
