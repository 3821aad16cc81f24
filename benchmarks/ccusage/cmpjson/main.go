// Command cmpjson compares two daily cost reports, per day, per day and model, and in total, and
// prints every difference over the tolerance (half a cent by default). It exits 1 when there is
// one, 2 on bad input, 0 otherwise. It is the comparison step of benchmarks/ccusage/compare.sh.
//
// Usage:
//
//	cmpjson [-tol 0.005] [-fold-fast=true] [-a NAME] [-b NAME] A.json B.json
//
// Each file is read in whichever of two shapes it has:
//
//   - ccusage's `ccusage claude daily --json`: {"daily": [{"date", "totalCost",
//     "modelBreakdowns": [{"modelName", "cost"}]}], "totals": {"totalCost"}};
//   - tarsopt's `tarsopt cost --json`: {"total_usd": N, "days": [{"date": "YYYY-MM-DD",
//     "total_usd": N, "models": {"MODEL": N}}]}, amounts as JSON numbers (or decimal strings) in
//     dollars.
//
// Model names are compared after normalisation: a trailing "-fast" (ccusage's name for fast-mode
// calls, unless -fold-fast=false) and then a trailing -YYYYMMDD date are stripped, so
// "claude-sonnet-4-5-20250929" and "claude-sonnet-4-5" match. The report says which naming each
// side used. Amounts are compared exactly (decimal, no float rounding).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// report is one file, normalised: amounts per day, per day and model, and in total.
type report struct {
	shape    string
	total    *big.Rat
	hasTotal bool
	days     map[string]*big.Rat
	cells    map[[2]string]*big.Rat // (date, normalised model)
	raw      map[string]bool        // model names as written
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cmpjson", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tol := fs.String("tol", "0.005", "tolerance in dollars: differences larger than this are reported")
	foldFast := fs.Bool("fold-fast", true, `fold ccusage's "<model>-fast" names into "<model>"`)
	nameA := fs.String("a", "", "label of the first file (default: its shape, e.g. ccusage)")
	nameB := fs.String("b", "", "label of the second file (default: its shape, e.g. tarsopt)")
	verbose := fs.Bool("v", false, "print every compared row, not only the differences")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cmpjson [-tol 0.005] [-fold-fast=true] [-a NAME] [-b NAME] [-v] A.json B.json")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return 2
	}
	tolerance, ok := new(big.Rat).SetString(*tol)
	if !ok || tolerance.Sign() < 0 {
		fmt.Fprintf(stderr, "cmpjson: bad -tol %q\n", *tol)
		return 2
	}
	var reps [2]*report
	for i, path := range fs.Args() {
		r, err := load(path, *foldFast)
		if err != nil {
			fmt.Fprintf(stderr, "cmpjson: %s: %v\n", path, err)
			return 2
		}
		reps[i] = r
	}
	a, b := reps[0], reps[1]
	la, lb := *nameA, *nameB
	if la == "" {
		la = a.shape
	}
	if lb == "" {
		lb = b.shape
	}
	if la == lb {
		la, lb = la+"(A)", lb+"(B)"
	}

	fmt.Fprintf(stdout, "model naming: %s %s; %s %s\n", la, naming(a.raw), lb, naming(b.raw))

	type row struct {
		what, date, model string
		a, b, diff        *big.Rat
	}
	var rows []row
	differs := 0
	add := func(what, date, model string, x, y *big.Rat) {
		if x == nil {
			x = new(big.Rat)
		}
		if y == nil {
			y = new(big.Rat)
		}
		d := new(big.Rat).Sub(y, x)
		bad := new(big.Rat).Abs(d).Cmp(tolerance) > 0
		if bad {
			differs++
		}
		if bad || *verbose {
			rows = append(rows, row{what, date, model, x, y, d})
		}
	}

	dates := union(keys(a.days), keys(b.days))
	for _, d := range dates {
		add("day", d, "(all)", a.days[d], b.days[d])
	}
	var cells [][2]string
	seen := map[[2]string]bool{}
	for _, m := range []map[[2]string]*big.Rat{a.cells, b.cells} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				cells = append(cells, k)
			}
		}
	}
	sort.Slice(cells, func(i, j int) bool {
		if cells[i][0] != cells[j][0] {
			return cells[i][0] < cells[j][0]
		}
		return cells[i][1] < cells[j][1]
	})
	for _, c := range cells {
		add("model", c[0], c[1], a.cells[c], b.cells[c])
	}
	add("total", "", "(all)", a.total, b.total)

	if len(rows) > 0 {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "what\tdate\tmodel\t%s\t%s\t%s-%s\t\n", la, lb, lb, la)
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", r.what, r.date, r.model,
				r.a.FloatString(6), r.b.FloatString(6), r.diff.FloatString(6))
		}
		tw.Flush()
	}
	fmt.Fprintf(stdout, "%d days, %d day×model cells compared; %s total %s, %s total %s; %d differences over $%s\n",
		len(dates), len(cells), la, a.total.FloatString(6), lb, b.total.FloatString(6), differs, *tol)
	if differs > 0 {
		return 1
	}
	return 0
}

// naming tells how the model names of one side look.
func naming(raw map[string]bool) string {
	names := keys(raw)
	dated := 0
	for _, n := range names {
		if _, ok := stripDate(n); ok {
			dated++
		}
	}
	var how string
	switch {
	case len(names) == 0:
		how = "no models"
	case dated == len(names):
		how = "all dated ids"
	case dated == 0:
		how = "all undated ids"
	default:
		how = fmt.Sprintf("%d of %d dated", dated, len(names))
	}
	return fmt.Sprintf("%s [%s]", how, strings.Join(names, ", "))
}

// stripDate removes a trailing -YYYYMMDD.
func stripDate(m string) (string, bool) {
	if len(m) < 10 || m[len(m)-9] != '-' {
		return m, false
	}
	for _, c := range m[len(m)-8:] {
		if c < '0' || c > '9' {
			return m, false
		}
	}
	return m[:len(m)-9], true
}

func normalise(m string, foldFast bool) string {
	if foldFast {
		m = strings.TrimSuffix(m, "-fast")
	}
	m, _ = stripDate(m)
	return m
}

func load(path string, foldFast bool) (*report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var top map[string]json.RawMessage
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	r := &report{total: new(big.Rat), days: map[string]*big.Rat{}, cells: map[[2]string]*big.Rat{},
		raw: map[string]bool{}}
	addCell := func(date, model string, v *big.Rat) {
		r.raw[model] = true
		k := [2]string{date, normalise(model, foldFast)}
		if r.cells[k] == nil {
			r.cells[k] = new(big.Rat)
		}
		r.cells[k].Add(r.cells[k], v)
	}
	addDay := func(date string, v *big.Rat) {
		if r.days[date] == nil {
			r.days[date] = new(big.Rat)
		}
		r.days[date].Add(r.days[date], v)
	}
	switch {
	case top["daily"] != nil:
		r.shape = "ccusage"
		var doc struct {
			Daily []struct {
				Date            string      `json:"date"`
				TotalCost       json.Number `json:"totalCost"`
				ModelBreakdowns []struct {
					ModelName string      `json:"modelName"`
					Cost      json.Number `json:"cost"`
				} `json:"modelBreakdowns"`
			} `json:"daily"`
			Totals *struct {
				TotalCost json.Number `json:"totalCost"`
			} `json:"totals"`
		}
		if err := unmarshal(data, &doc); err != nil {
			return nil, err
		}
		for _, d := range doc.Daily {
			if d.Date == "" {
				return nil, errors.New(`a "daily" row has no "date" (was it run with -z and daily?)`)
			}
			v, err := amount(d.TotalCost)
			if err != nil {
				return nil, fmt.Errorf("%s totalCost: %w", d.Date, err)
			}
			addDay(d.Date, v)
			for _, m := range d.ModelBreakdowns {
				c, err := amount(m.Cost)
				if err != nil {
					return nil, fmt.Errorf("%s %s cost: %w", d.Date, m.ModelName, err)
				}
				addCell(d.Date, m.ModelName, c)
			}
		}
		if doc.Totals != nil && doc.Totals.TotalCost != "" {
			if r.total, err = amount(doc.Totals.TotalCost); err != nil {
				return nil, fmt.Errorf("totals.totalCost: %w", err)
			}
			r.hasTotal = true
		}
	case top["days"] != nil:
		r.shape = "tarsopt"
		var doc struct {
			Total json.RawMessage `json:"total_usd"`
			Days  []struct {
				Date   string                     `json:"date"`
				Total  json.RawMessage            `json:"total_usd"`
				Models map[string]json.RawMessage `json:"models"`
			} `json:"days"`
		}
		if err := unmarshal(data, &doc); err != nil {
			return nil, err
		}
		for _, d := range doc.Days {
			if d.Date == "" {
				return nil, errors.New(`a "days" row has no "date"`)
			}
			v, err := rawAmount(d.Total)
			if err != nil {
				return nil, fmt.Errorf("%s total_usd: %w", d.Date, err)
			}
			addDay(d.Date, v)
			for m, raw := range d.Models {
				c, err := rawAmount(raw)
				if err != nil {
					return nil, fmt.Errorf("%s %s: %w", d.Date, m, err)
				}
				addCell(d.Date, m, c)
			}
		}
		if len(doc.Total) > 0 {
			if r.total, err = rawAmount(doc.Total); err != nil {
				return nil, fmt.Errorf("total_usd: %w", err)
			}
			r.hasTotal = true
		}
	default:
		return nil, errors.New(`neither ccusage's shape (a "daily" array) nor tarsopt's (a "days" array)`)
	}
	if !r.hasTotal {
		for _, v := range r.days {
			r.total.Add(r.total, v)
		}
	}
	return r, nil
}

func unmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

// amount parses a JSON number exactly, e.g. 0.8906860000000001 or 1e-06.
func amount(n json.Number) (*big.Rat, error) {
	if n == "" {
		return new(big.Rat), nil
	}
	v, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return nil, fmt.Errorf("bad number %q", n)
	}
	return v, nil
}

// rawAmount parses a number or a decimal string such as "12.34" or "$12.34".
func rawAmount(raw json.RawMessage) (*big.Rat, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return new(big.Rat), nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return amount(json.Number(strings.TrimPrefix(strings.TrimSpace(s), "$")))
	}
	return amount(json.Number(raw))
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func union(a, b []string) []string {
	set := map[string]bool{}
	for _, s := range a {
		set[s] = true
	}
	for _, s := range b {
		set[s] = true
	}
	return keys(set)
}
