package main

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/traces"
	"github.com/tarsopt/tarsopt/traces/importers"
)

func init() {
	register(&command{
		name:    "cost",
		summary: "exact cost of a trace or of logs, by day, month, model, session and tenant",
		usage: `Usage: tarsopt cost [TRACE...]
       tarsopt cost --from KIND PATH...

Prices every call at the list price of its model in force on its date (or on --at DATE) under the
provider's billing rules, and adds the costs up exactly by day, month, model, session, tenant and
token kind (input, 5-minute and 1-hour cache writes, cache reads, output). Reads traces, or logs
directly with --from (the kinds of tarsopt import). Days are calendar days in --tz.

A model the price book does not know stops the command with the file and line of its first call;
--unknown-model=zero prices such calls at $0 instead, with a warning and a count. --prices reads a
price book: tarsopt's own JSON or LiteLLM's model_prices_and_context_window.json.

Examples:
  tarsopt cost base.parquet
  tarsopt cost --from claude-code ~/.claude --json
  tarsopt cost --from litellm spendlogs.csv --tz Europe/Berlin --csv > cost.csv
  tarsopt cost --at 2026-11-01 old-trace.jsonl`,
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) error {
			asJSON := fs.Bool("json", false, "print JSON")
			asCSV := fs.Bool("csv", false, "print CSV, one row per group and key")
			tz := fs.String("tz", "UTC", "time zone for day and month boundaries (IANA name, such as Europe/Berlin)")
			at := fs.String("at", "", "price every call at the prices in force on this date, YYYY-MM-DD, instead of on its own")
			prices := fs.String("prices", "", "price book file (tarsopt JSON or LiteLLM's model_prices_and_context_window.json); default: the built-in book")
			unknown := fs.String("unknown-model", "error", "what to do with a model the price book does not know: error, or zero (price it at $0 with a warning)")
			top := fs.Int("top", 10, "sessions to list in the table, most expensive first")
			var rf readFlags
			rf.define(fs)
			var imf importFlags
			imf.define(fs, false)
			return func(args []string, stdout, stderr io.Writer) error {
				if len(args) == 0 {
					return usagef("cost: name a trace file, or logs with --from KIND PATH")
				}
				if *asJSON && *asCSV {
					return usagef("cost: --json and --csv are exclusive")
				}
				if *unknown != "error" && *unknown != "zero" {
					return usagef("--unknown-model: want error or zero, got %q", *unknown)
				}
				if err := rf.check(); err != nil {
					return err
				}
				loc, err := time.LoadLocation(*tz)
				if err != nil {
					return usagef("--tz: unknown time zone %q", *tz)
				}
				var atTime time.Time
				if *at != "" {
					if atTime, err = time.Parse("2006-01-02", *at); err != nil {
						return usagef("--at: want YYYY-MM-DD, got %q", *at)
					}
				}
				book := pricing.Default()
				if *prices != "" {
					if book, err = pricing.Load(*prices); err != nil {
						return err
					}
				}
				cc := &costCounter{book: book, at: atTime, zeroUnknown: *unknown == "zero", ledger: pricing.NewLedger(loc), unpriced: map[string]*unpriced{}}
				cc.prog = startProgress(stderr, "pricing")
				if imf.from != "" {
					err = cc.fromLogs(&imf, args, &rf, stderr)
				} else {
					err = cc.fromTraces(args, &rf, stderr)
				}
				cc.prog.Done()
				if err != nil {
					return err
				}
				for _, m := range slices.Sorted(maps.Keys(cc.unpriced)) {
					u := cc.unpriced[m]
					fmt.Fprintf(stderr, "warning: model %q is not in the price book: %d calls priced at $0 (first at %s)\n", m, u.Calls, u.First)
				}
				switch {
				case *asJSON:
					enc := json.NewEncoder(stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(cc.report(*tz, *at, book, -1))
				case *asCSV:
					return cc.writeCSV(stdout)
				}
				sessions := *top
				if sessions <= 0 {
					sessions = -1
				}
				cc.report(*tz, *at, book, sessions).writeTable(stdout)
				return nil
			}
		},
	})
}

// unpriced counts the calls of a model the price book does not know.
type unpriced struct {
	Calls int64  `json:"calls"`
	First string `json:"first"` // position of its first call
}

// costCounter prices records into a ledger.
type costCounter struct {
	book        *pricing.Book
	at          time.Time
	zeroUnknown bool
	ledger      *pricing.Ledger
	unpriced    map[string]*unpriced
	recorded    money.Amount
	hasRecorded bool
	invalid     int64
	skipped     map[string]int64
	prog        *progress
}

func (cc *costCounter) add(r *traces.Record) error {
	at := r.Time
	if !cc.at.IsZero() {
		at = cc.at
	}
	c, err := cc.book.CostAt(r, at)
	if err != nil {
		if !errors.Is(err, pricing.ErrUnknownModel) {
			return err
		}
		u := cc.unpriced[r.Model]
		if u == nil {
			if !cc.zeroUnknown {
				return &traces.Error{Pos: r.Pos, Field: "model", Reason: "unknown model",
					Detail: fmt.Sprintf("%q (its first call); add it with --prices FILE, or price it at $0 with --unknown-model=zero", r.Model)}
			}
			u = &unpriced{First: r.Pos.String()}
			cc.unpriced[r.Model] = u
		}
		u.Calls++
	}
	if r.Has(traces.FieldCost) {
		cc.recorded += r.Cost
		cc.hasRecorded = true
	}
	cc.ledger.Add(r, c)
	cc.prog.Add(1)
	return nil
}

func (cc *costCounter) fromTraces(names []string, rf *readFlags, stderr io.Writer) error {
	for _, name := range names {
		src, err := traces.Open(name, rf.options(os.Stdin))
		if err != nil {
			return err
		}
		var r traces.Record
		for {
			err := src.Read(&r)
			if err == io.EOF {
				break
			}
			if err == nil {
				err = cc.add(&r)
			}
			if err != nil {
				src.Stats().WriteSummary(stderr, src.Name())
				src.Close()
				return err
			}
		}
		st := src.Stats()
		st.WriteSummary(stderr, src.Name())
		cc.invalid += st.Invalid
		src.Close()
	}
	return nil
}

func (cc *costCounter) fromLogs(imf *importFlags, paths []string, rf *readFlags, stderr io.Writer) error {
	imp, opts, err := imf.importer(paths)
	if err != nil {
		return err
	}
	c := &importers.Collector{SkipInvalid: rf.skipInvalid, MaxInvalid: rf.maxInvalid, Next: cc.add}
	err = imp.Import(paths, opts, c)
	what := strings.Join(paths, ", ")
	c.WriteSummary(stderr, what)
	if err == nil {
		err = c.Finish(what)
	}
	cc.invalid, cc.skipped = c.Stats.Invalid, c.Skipped
	return err
}

// usd is money in JSON: an exact decimal number of dollars.
type usd money.Amount

func (u usd) MarshalJSON() ([]byte, error) { return money.Amount(u).AppendDecimal(nil), nil }

// dollars formats an amount for people: cents, or four decimals under a dollar so that small
// costs do not read as zero.
func dollars[A ~int64](a A) string {
	if m := money.Amount(a); m != 0 && m < money.Dollar && m > -money.Dollar {
		return m.Format(4)
	}
	return money.Amount(a).Format(2)
}

type componentsJSON struct {
	Input        usd `json:"input"`
	CacheWrite5m usd `json:"cache_write_5m"`
	CacheWrite1h usd `json:"cache_write_1h"`
	CacheRead    usd `json:"cache_read"`
	Output       usd `json:"output"`
}

type tokensJSON struct {
	Input        int64 `json:"input"`
	CacheWrite5m int64 `json:"cache_write_5m"`
	CacheWrite1h int64 `json:"cache_write_1h"`
	CacheRead    int64 `json:"cache_read"`
	Output       int64 `json:"output"`
	Reasoning    int64 `json:"reasoning"`
}

// groupJSON is one row of a grouping (a day, a model, ...): exactly one of its key fields is set.
type groupJSON struct {
	Key        string         `json:"-"`
	Date       string         `json:"date,omitempty"`
	Month      string         `json:"month,omitempty"`
	Model      string         `json:"model,omitempty"`
	Session    *string        `json:"session,omitempty"`
	Tenant     *string        `json:"tenant,omitempty"`
	Calls      int64          `json:"calls"`
	Tokens     tokensJSON     `json:"tokens"`
	Components componentsJSON `json:"components_usd"`
	Total      usd            `json:"total_usd"`
	Models     map[string]usd `json:"models,omitempty"`
}

func group(t *pricing.Totals) groupJSON {
	return groupJSON{Calls: t.Calls,
		Tokens:     tokensJSON{t.Tokens.Input, t.Tokens.CacheWrite5m, t.Tokens.CacheWrite1h, t.Tokens.CacheRead, t.Tokens.Output, t.Tokens.Reasoning},
		Components: componentsJSON{usd(t.Cost.Input), usd(t.Cost.CacheWrite5m), usd(t.Cost.CacheWrite1h), usd(t.Cost.CacheRead), usd(t.Cost.Output)},
		Total:      usd(t.Cost.Total())}
}

// costReport is the output of tarsopt cost; its JSON form is --json's.
type costReport struct {
	Currency   string               `json:"currency"`
	Prices     string               `json:"prices"`
	TZ         string               `json:"tz"`
	At         string               `json:"at,omitempty"`
	Calls      int64                `json:"calls"`
	Total      usd                  `json:"total_usd"`
	Components componentsJSON       `json:"components_usd"`
	Tokens     tokensJSON           `json:"tokens"`
	Recorded   *usd                 `json:"recorded_usd,omitempty"`
	Days       []groupJSON          `json:"days"`
	Months     []groupJSON          `json:"months"`
	Models     []groupJSON          `json:"models"`
	Sessions   []groupJSON          `json:"sessions"`
	Tenants    []groupJSON          `json:"tenants"`
	Unpriced   map[string]*unpriced `json:"unpriced_models,omitempty"`
	Invalid    int64                `json:"invalid"`
	Skipped    map[string]int64     `json:"skipped,omitempty"`

	allSessions int // sessions in the trace; Sessions may hold only the most expensive
}

// report returns the report of the calls counted so far, with the sessions most expensive first
// (ties in key order), all of them when sessions < 0, else at most that many.
func (cc *costCounter) report(tz, at string, book *pricing.Book, sessions int) *costReport {
	l := cc.ledger
	all := group(&l.All)
	rep := &costReport{Currency: "USD", Prices: book.Source, TZ: tz, At: at, Calls: all.Calls, Total: all.Total,
		Components: all.Components, Tokens: all.Tokens, Invalid: cc.invalid, Skipped: cc.skipped,
		Days: []groupJSON{}, Months: []groupJSON{}, Models: []groupJSON{}, Sessions: []groupJSON{}, Tenants: []groupJSON{}}
	if cc.hasRecorded {
		r := usd(cc.recorded)
		rep.Recorded = &r
	}
	if len(cc.unpriced) > 0 {
		rep.Unpriced = cc.unpriced
	}
	for _, d := range pricing.Keys(l.Days) {
		g := group(l.Days[d])
		g.Key, g.Date, g.Models = d, d, map[string]usd{}
		for m, t := range l.DayModel[d] {
			g.Models[m] = usd(t.Cost.Total())
		}
		rep.Days = append(rep.Days, g)
	}
	for _, m := range pricing.Keys(l.Months) {
		g := group(l.Months[m])
		g.Key, g.Month = m, m
		rep.Months = append(rep.Months, g)
	}
	for _, m := range pricing.Keys(l.Models) {
		g := group(l.Models[m])
		g.Key, g.Model = m, m
		rep.Models = append(rep.Models, g)
	}
	// Rank the sessions in a slice of small rows: a trace may have millions, and sorting the wide
	// JSON rows (or sorting them stably: O(n log² n) moves) took most of the command's time.
	type sessionRow struct {
		key   string
		t     *pricing.Totals
		total money.Amount
	}
	rows := make([]sessionRow, 0, len(l.Sessions))
	for k, t := range l.Sessions {
		rows = append(rows, sessionRow{k, t, t.Cost.Total()})
	}
	slices.SortFunc(rows, func(a, b sessionRow) int {
		if c := cmp.Compare(b.total, a.total); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	rep.allSessions = len(rows)
	if sessions >= 0 && len(rows) > sessions {
		rows = rows[:sessions]
	}
	rep.Sessions = slices.Grow(rep.Sessions, len(rows))
	for _, r := range rows {
		g := group(r.t)
		g.Key, g.Session = r.key, &r.key
		rep.Sessions = append(rep.Sessions, g)
	}
	for _, tn := range pricing.Keys(l.Tenants) {
		g := group(l.Tenants[tn])
		g.Key, g.Tenant = tn, &tn
		rep.Tenants = append(rep.Tenants, g)
	}
	return rep
}

// writeTable writes the report as tables, with the sessions it holds.
func (rep *costReport) writeTable(w io.Writer) {
	fmt.Fprintf(w, "%s calls, $%s at %s prices", thousands(float64(rep.Calls), 0), dollars(rep.Total), rep.Prices)
	if rep.At != "" {
		fmt.Fprintf(w, " in force on %s", rep.At)
	}
	fmt.Fprintf(w, " (days in %s)\n", rep.TZ)
	if rep.Recorded != nil {
		fmt.Fprintf(w, "the logs themselves recorded $%s\n", dollars(*rep.Recorded))
	}
	fmt.Fprintf(w, "by token kind: input $%s, 5m cache writes $%s, 1h cache writes $%s, cache reads $%s, output $%s\n\n",
		dollars(rep.Components.Input), dollars(rep.Components.CacheWrite5m), dollars(rep.Components.CacheWrite1h),
		dollars(rep.Components.CacheRead), dollars(rep.Components.Output))
	// table writes rows and, when more > 0, how many rows it left out.
	table := func(title string, rows []groupJSON, more int) {
		var b bytes.Buffer
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%s\tcalls\tinput\tcache write\tcache read\toutput\tcost\t\n", title)
		for _, g := range rows {
			key := g.Key
			if key == "" {
				key = "(none)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t$%s\t\n", key, thousands(float64(g.Calls), 0), thousands(float64(g.Tokens.Input), 0),
				thousands(float64(g.Tokens.CacheWrite5m+g.Tokens.CacheWrite1h), 0), thousands(float64(g.Tokens.CacheRead), 0),
				thousands(float64(g.Tokens.Output), 0), dollars(g.Total))
		}
		if more > 0 {
			fmt.Fprintf(tw, "(%d more)\t\t\t\t\t\t\t\n", more)
		}
		tw.Flush()
		w.Write(b.Bytes())
		fmt.Fprintln(w)
	}
	table("day", rep.Days, 0)
	if len(rep.Months) > 1 {
		table("month", rep.Months, 0)
	}
	table("model", rep.Models, 0)
	if rep.allSessions > 1 {
		table("session", rep.Sessions, rep.allSessions-len(rep.Sessions))
	}
	if len(rep.Tenants) > 1 {
		table("tenant", rep.Tenants, 0)
	}
}

// writeCSV writes one row per group and key: total, day, month, model, day-model, session and
// tenant, with token counts and costs by kind.
func (cc *costCounter) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"group", "key", "calls", "input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "cache_read_tokens", "output_tokens",
		"input_usd", "cache_write_5m_usd", "cache_write_1h_usd", "cache_read_usd", "output_usd", "total_usd"})
	row := func(grp, key string, t *pricing.Totals) {
		i := func(v int64) string { return strconv.FormatInt(v, 10) }
		cw.Write([]string{grp, key, i(t.Calls), i(t.Tokens.Input), i(t.Tokens.CacheWrite5m), i(t.Tokens.CacheWrite1h), i(t.Tokens.CacheRead), i(t.Tokens.Output),
			t.Cost.Input.String(), t.Cost.CacheWrite5m.String(), t.Cost.CacheWrite1h.String(), t.Cost.CacheRead.String(), t.Cost.Output.String(), t.Cost.Total().String()})
	}
	l := cc.ledger
	row("total", "", &l.All)
	for _, grp := range []struct {
		name string
		m    map[string]*pricing.Totals
	}{{"day", l.Days}, {"month", l.Months}, {"model", l.Models}} {
		for _, k := range pricing.Keys(grp.m) {
			row(grp.name, k, grp.m[k])
		}
	}
	for _, d := range pricing.Keys(l.Days) {
		for _, m := range pricing.Keys(l.DayModel[d]) {
			row("day-model", d+"/"+m, l.DayModel[d][m])
		}
	}
	for _, grp := range []struct {
		name string
		m    map[string]*pricing.Totals
	}{{"session", l.Sessions}, {"tenant", l.Tenants}} {
		for _, k := range pricing.Keys(grp.m) {
			row(grp.name, k, grp.m[k])
		}
	}
	cw.Flush()
	return cw.Error()
}
