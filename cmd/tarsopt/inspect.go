package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tarsopt/tarsopt/internal/textfmt"
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/traces"
)

func init() {
	register(&command{
		name:    "inspect",
		summary: "summarise traces: volume, tokens, cost, models, field coverage",
		usage: `Usage: tarsopt inspect [--json] FILE...

Reads each trace (any format and compression; "-" for standard input) and prints what it holds:
records, span, calls, tokens and cost per day, models, query types, the share of records in which
each optional field is present, and how many records were invalid. Cost is computed from the price
book at list prices (the records' own cost_usd, where present, is shown beside it). With --json it
prints one JSON object per file (an array for several files).

Examples:
  tarsopt inspect base.parquet
  tarsopt inspect --json base.parquet | jq .cost_per_day_usd
  tarsopt inspect --skip-invalid --max-invalid 0.05 export.csv`,
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) error {
			asJSON := fs.Bool("json", false, "print JSON instead of a table")
			var rf readFlags
			rf.define(fs)
			return func(args []string, stdout, stderr io.Writer) error {
				if len(args) == 0 {
					return usagef("inspect: name at least one trace file (- for standard input)")
				}
				if err := rf.check(); err != nil {
					return err
				}
				var reports []*inspection
				for _, name := range args {
					rep, err := inspectFile(name, rf.options(os.Stdin), pricing.Default(), stderr)
					if err != nil {
						return err
					}
					reports = append(reports, rep)
				}
				if *asJSON {
					var v any = reports
					if len(reports) == 1 {
						v = reports[0]
					}
					enc := json.NewEncoder(stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(v)
				}
				for i, rep := range reports {
					if i > 0 {
						fmt.Fprintln(stdout)
					}
					rep.writeTable(stdout)
				}
				return nil
			}
		},
	})
}

// inspection is what inspect reports on one file; its JSON form is inspect's --json output.
type inspection struct {
	File           string                 `json:"file"`
	Format         string                 `json:"format"`
	Compression    string                 `json:"compression"`
	Source         string                 `json:"source,omitempty"`
	BlockSize      int                    `json:"block_size,omitempty"`
	Records        int64                  `json:"records"`
	Invalid        int64                  `json:"invalid"`
	InvalidReasons map[string]int64       `json:"invalid_reasons,omitempty"`
	First          string                 `json:"first,omitempty"`
	Last           string                 `json:"last,omitempty"`
	Days           float64                `json:"days"`
	CallsPerDay    float64                `json:"calls_per_day"`
	TokensPerDay   float64                `json:"tokens_per_day"`
	TokensPerDayBy map[string]float64     `json:"tokens_per_day_by_kind"`
	CostUSD        json.Number            `json:"cost_usd"`
	CostPerDayUSD  json.Number            `json:"cost_per_day_usd"`
	CostByKindUSD  map[string]json.Number `json:"cost_by_kind_usd"`
	Unpriced       map[string]int64       `json:"unpriced_models,omitempty"`
	RecordedCost   *json.Number           `json:"recorded_cost_usd,omitempty"`
	Models         map[string]int64       `json:"models"`
	QueryTypes     map[string]int64       `json:"query_types"`
	Priorities     map[string]int64       `json:"priorities"`
	ServiceTiers   map[string]int64       `json:"service_tiers"`
	Sessions       int                    `json:"sessions"`
	Tenants        int                    `json:"tenants"`
	ErrorRate      float64                `json:"error_rate"`
	Coverage       map[string]float64     `json:"coverage"`
}

func inspectFile(name string, opts traces.Options, book *pricing.Book, stderr io.Writer) (*inspection, error) {
	src, err := traces.Open(name, opts)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	sum := traces.NewSummary()
	var cost pricing.Breakdown
	var recorded money.Amount
	var hasRecorded bool
	unpriced := map[string]int64{}
	var r traces.Record
	for {
		err := src.Read(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			src.Stats().WriteSummary(stderr, src.Name())
			return nil, err
		}
		sum.Add(&r)
		if c, err := book.Cost(&r); err == nil {
			cost.Add(c)
		} else {
			unpriced[r.Model]++
		}
		if r.Has(traces.FieldCost) {
			recorded += r.Cost
			hasRecorded = true
		}
	}
	st := src.Stats()
	st.WriteSummary(stderr, src.Name())
	for _, m := range slices.Sorted(maps.Keys(unpriced)) {
		fmt.Fprintf(stderr, "%s: warning: no price for model %q (%d records): left out of the cost\n", src.Name(), m, unpriced[m])
	}

	meta := src.Meta()
	days := sum.Days(meta)
	perDay := func(v float64) float64 {
		if days == 0 {
			return 0
		}
		return v / days
	}
	rep := &inspection{
		File: src.Name(), Format: src.FormatName(), Compression: src.Compression().String(),
		Source: meta.Source, BlockSize: meta.BlockSize,
		Records: sum.Records, Invalid: st.Invalid, InvalidReasons: st.Reasons,
		Days:         days,
		CallsPerDay:  round(perDay(float64(sum.Records)), 3),
		TokensPerDay: round(perDay(float64(sum.Tokens.Total())), 1),
		TokensPerDayBy: map[string]float64{
			"input": round(perDay(float64(sum.Tokens.Input)), 1), "cache_write_5m": round(perDay(float64(sum.Tokens.CacheWrite5m)), 1),
			"cache_write_1h": round(perDay(float64(sum.Tokens.CacheWrite1h)), 1), "cache_read": round(perDay(float64(sum.Tokens.CacheRead)), 1),
			"output": round(perDay(float64(sum.Tokens.Output)), 1), "reasoning": round(perDay(float64(sum.Tokens.Reasoning)), 1),
		},
		CostUSD:       json.Number(cost.Total().String()),
		CostPerDayUSD: json.Number(divAmount(cost.Total(), days).String()),
		CostByKindUSD: map[string]json.Number{
			"input": json.Number(cost.Input.String()), "cache_write_5m": json.Number(cost.CacheWrite5m.String()),
			"cache_write_1h": json.Number(cost.CacheWrite1h.String()), "cache_read": json.Number(cost.CacheRead.String()),
			"output": json.Number(cost.Output.String()),
		},
		Models: sum.Models, QueryTypes: renameAbsent(sum.QueryTypes), Priorities: renameAbsent(sum.Priorities), ServiceTiers: renameAbsent(sum.ServiceTiers),
		Sessions: sum.Sessions(), Tenants: sum.Tenants(),
		Coverage: map[string]float64{},
	}
	if len(unpriced) > 0 {
		rep.Unpriced = unpriced
	}
	if hasRecorded {
		n := json.Number(recorded.String())
		rep.RecordedCost = &n
	}
	if sum.Records > 0 {
		rep.First = sum.First.Format(time.RFC3339Nano)
		rep.Last = sum.Last.Format(time.RFC3339Nano)
		rep.ErrorRate = round(float64(sum.Errors)/float64(sum.Records), 6)
	}
	for _, f := range traces.AllFields() {
		rep.Coverage[f.String()] = round(sum.Coverage(f), 6)
	}
	return rep, nil
}

// divAmount divides an exact amount by a number of days, rounding to the nano-dollar.
func divAmount(a money.Amount, days float64) money.Amount {
	if days == 0 {
		return 0
	}
	return money.Amount(math.Round(float64(a) / days))
}

func renameAbsent(m map[string]int64) map[string]int64 {
	if n, ok := m[""]; ok {
		delete(m, "")
		m["(absent)"] = n
	}
	return m
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// byCount returns the keys of m, most frequent first, then by name.
func byCount(m map[string]int64) []string {
	keys := slices.Sorted(maps.Keys(m))
	sort.SliceStable(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	return keys
}

func (rep *inspection) writeTable(w io.Writer) {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	kv := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	kv("file", "%s (%s, %s compression)", rep.File, rep.Format, rep.Compression)
	if rep.Source != "" {
		kv("source", "%s", rep.Source)
	}
	kv("records", "%s (%s invalid)", thousands(float64(rep.Records), 0), thousands(float64(rep.Invalid), 0))
	if rep.First != "" {
		kv("span", "%s to %s (%s days)", rep.First, rep.Last, thousands(rep.Days, 2))
	}
	kv("calls/day", "%s", thousands(rep.CallsPerDay, 1))
	kv("tokens/day", "%s", thousands(rep.TokensPerDay, 0))
	for _, k := range []string{"input", "cache_write_5m", "cache_write_1h", "cache_read", "output", "reasoning"} {
		if v := rep.TokensPerDayBy[k]; v > 0 {
			kv("  "+k, "%s", thousands(v, 0))
		}
	}
	kv("cost/day", "$%s at list prices (total $%s)", fmtUSD(rep.CostPerDayUSD), fmtUSD(rep.CostUSD))
	if rep.RecordedCost != nil {
		kv("recorded cost", "$%s (cost_usd as the source recorded it)", fmtUSD(*rep.RecordedCost))
	}
	for _, m := range slices.Sorted(maps.Keys(rep.Unpriced)) {
		kv("unpriced", "%s (%d records)", m, rep.Unpriced[m])
	}
	kv("sessions", "%s in %s tenant(s)", thousands(float64(rep.Sessions), 0), thousands(float64(rep.Tenants), 0))
	kv("error rate", "%s", pctString(rep.ErrorRate))
	tw.Flush()
	w.Write(b.Bytes())
	writeMix(w, "models", rep.Models, rep.Records)
	writeMix(w, "query types", rep.QueryTypes, rep.Records)
	writeMix(w, "priorities", rep.Priorities, rep.Records)
	fmt.Fprintf(w, "field coverage:\n")
	var present, absent []string
	for _, f := range traces.AllFields() {
		c := rep.Coverage[f.String()]
		switch {
		case c == 0:
			absent = append(absent, f.String())
		default:
			present = append(present, fmt.Sprintf("%s %s", f, pctString(c)))
		}
	}
	writeWrapped(w, "  present: ", present)
	if len(absent) > 0 {
		writeWrapped(w, "  absent:  ", absent)
	}
}

func writeMix(w io.Writer, title string, m map[string]int64, total int64) {
	var parts []string
	for _, k := range byCount(m) {
		parts = append(parts, fmt.Sprintf("%s %s", k, pctString(float64(m[k])/math.Max(1, float64(total)))))
	}
	writeWrapped(w, title+": ", parts)
}

func writeWrapped(w io.Writer, lead string, parts []string) {
	line := lead
	indent := strings.Repeat(" ", len(lead))
	for i, p := range parts {
		if i > 0 {
			if len(line)+len(p)+2 > 100 {
				fmt.Fprintln(w, line+",")
				line = indent
			} else {
				line += ", "
			}
		}
		line += p
	}
	fmt.Fprintln(w, line)
}

func pctString(v float64) string { return textfmt.Percent(v) }

func thousands(v float64, decimals int) string { return textfmt.Thousands(v, decimals) }

// fmtUSD formats dollars with cents, or with four decimals under a dollar so that small costs
// do not read as zero.
func fmtUSD(n json.Number) string {
	a, err := money.ParseAmount(string(n))
	if err != nil {
		return string(n)
	}
	if a < money.Dollar && a > -money.Dollar {
		return a.Format(4)
	}
	return a.Format(2)
}
