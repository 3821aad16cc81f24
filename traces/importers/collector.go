package importers

import (
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/tarsopt/tarsopt/traces"
)

// Collector is the Sink that commands use. It validates each record, applies the --skip-invalid
// policy to bad records and lines, counts the lines the source's rules leave out, and passes valid
// records to Next.
type Collector struct {
	Next        func(*traces.Record) error // receives each valid record; may be nil
	SkipInvalid bool                       // skip bad lines and records instead of stopping
	MaxInvalid  float64                    // with SkipInvalid, the largest tolerated share of bad ones

	Stats   traces.Stats     // records passed on, and bad ones by reason
	Skipped map[string]int64 // lines left out by the source's rules, by reason
}

// Record validates r and passes it on.
func (c *Collector) Record(r *traces.Record) error {
	if e := r.Validate(); e != nil {
		return c.Bad(e)
	}
	c.Stats.Records++
	if c.Next != nil {
		return c.Next(r)
	}
	return nil
}

// Bad skips and counts e under --skip-invalid, or returns it.
func (c *Collector) Bad(e *traces.Error) error {
	if e.Fatal || !c.SkipInvalid {
		return e
	}
	c.Stats.Add(e)
	return nil
}

// Skip counts lines left out by the source's rules.
func (c *Collector) Skip(reason string, n int) {
	if c.Skipped == nil {
		c.Skipped = map[string]int64{}
	}
	c.Skipped[reason] += int64(n)
}

// Finish returns an error if more bad records were skipped than MaxInvalid allows; what names the
// input in the message.
func (c *Collector) Finish(what string) error {
	if !c.SkipInvalid {
		return nil
	}
	return c.Stats.Check(what, c.MaxInvalid)
}

// WriteSummary writes the skipped lines by reason and the bad ones (see traces.Stats) to w.
func (c *Collector) WriteSummary(w io.Writer, what string) {
	if len(c.Skipped) > 0 {
		fmt.Fprintf(w, "%s: left out by the source's rules:\n", what)
		for _, k := range slices.Sorted(maps.Keys(c.Skipped)) {
			fmt.Fprintf(w, "  %8d  %s\n", c.Skipped[k], k)
		}
	}
	c.Stats.WriteSummary(w, what)
}
