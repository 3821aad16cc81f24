package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tarsopt/tarsopt/analysis"
	"github.com/tarsopt/tarsopt/internal/textfmt"
)

func init() {
	register(&command{
		name:    "validate",
		summary: "check a plan's claims (the seed plan's by default) against replays of a trace",
		usage: `Usage: tarsopt validate --trace TRACE [--claims FILE] [--config FILE] [--set PATH=VALUE]... [--json]
       tarsopt validate --print-claims > claims.json

Checks every figure of a plan against replays of the trace: the baseline, the configured
strategies, each phase's strategies, and every subset of the configured strategies when a claim
names one strategy's saving (its Shapley share). Each claim gets the replayed value with a
bootstrap interval over days, and a verdict: holds (the replayed value is within the claim),
plausible (it is not, but its interval reaches the claim), or fails (measured above or below).

Then it checks the plan's arithmetic: whether its figures agree with each other (the two
baselines, the parts against the headline, the daily against the monthly and annual figures, the
routing saving against the price book).

The claims are the seed plan's (built in; --print-claims prints them) unless --claims names a
file of your own in the same form.

Examples:
  tarsopt validate --trace base.parquet
  tarsopt validate --trace base.parquet --json
  tarsopt validate --print-claims > my-claims.json && tarsopt validate --trace base.parquet --claims my-claims.json`,
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) error {
			var af analysisFlags
			af.define(fs, "validate", true)
			claimsPath := fs.String("claims", "", "claims file (default: the built-in seed plan's)")
			printClaims := fs.Bool("print-claims", false, "print the built-in claims file and exit")
			asJSON := fs.Bool("json", false, "print JSON")
			resamples := fs.Int("resamples", analysis.DefaultBootstrap.Resamples, "bootstrap resamples for the intervals")
			level := fs.Float64("level", analysis.DefaultBootstrap.Level, "confidence level of the intervals")
			seed := fs.Uint64("seed", analysis.DefaultBootstrap.Seed, "seed of the bootstrap")
			return func(args []string, stdout, stderr io.Writer) error {
				if *printClaims {
					_, err := stdout.Write(analysis.SeedPlanClaimsJSON())
					return err
				}
				if err := af.check(args); err != nil {
					return err
				}
				if !(*level > 0 && *level < 1) || *resamples < 1 {
					return usagef("--level must be in (0, 1) and --resamples at least 1")
				}
				pc := analysis.SeedPlanClaims()
				if *claimsPath != "" {
					var err error
					if pc, err = analysis.LoadClaims(*claimsPath); err != nil {
						return err
					}
				}
				cfg, err := af.config()
				if err != nil {
					return err
				}
				book, err := af.book()
				if err != nil {
					return err
				}
				tr, err := af.load(stderr)
				if err != nil {
					return err
				}
				if tr.NumDays() < 2 {
					fmt.Fprintf(stderr, "warning: %s covers one day: the intervals, a bootstrap over days, are single points\n", af.trace)
				}
				ctx, stop := interruptible()
				defer stop()
				prog := startCountProgress(stderr, "validate", "replays", 0)
				rn := af.runner(book, prog)
				v, err := rn.Validate(ctx, tr, pc, cfg.Enabled(), func(on []string) analysis.Scenario { return scenarioOf(cfg, on) },
					analysis.Bootstrap{Level: *level, Resamples: *resamples, Seed: *seed})
				prog.Done()
				if err != nil {
					if ctx.Err() != nil {
						return fmt.Errorf("validate: interrupted after %d replays", prog.Count())
					}
					return fmt.Errorf("validate: %w", err)
				}
				fmt.Fprintf(stderr, "validate: %d replays of %s calls\n", v.Replays, textfmt.Thousands(float64(len(tr.Records)), 0))
				rep := validateReport{Trace: af.trace, Config: cfg.Name, Source: pc.Source, Validation: v, Verdicts: map[string]int{}}
				for _, c := range v.Claims {
					rep.Verdicts[c.Verdict]++
				}
				for _, a := range v.Arithmetic {
					if !a.Consistent {
						rep.Inconsistent++
					}
				}
				if *asJSON {
					enc := json.NewEncoder(stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(rep)
				}
				rep.writeTable(stdout)
				return nil
			}
		},
	})
}

// validateReport is what tarsopt validate prints.
type validateReport struct {
	Trace  string `json:"trace"`
	Config string `json:"config"`
	Source string `json:"claims_source"`
	*analysis.Validation
	Verdicts     map[string]int `json:"verdicts"`
	Inconsistent int            `json:"arithmetic_inconsistent"`
}

func (rep *validateReport) writeTable(w io.Writer) {
	fmt.Fprintf(w, "claims of %s\nchecked on %s (%d days, %d replays, config %q); intervals: %s bootstrap over days\n\n",
		rep.Source, rep.Trace, rep.Days, rep.Replays, rep.Config, textfmt.Percent(rep.Level))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "claim\tclaimed\treplayed\tinterval\tverdict\t")
	for _, c := range rep.Claims {
		claimed := ""
		switch {
		case c.Claimed.Value != nil:
			claimed = num(*c.Claimed.Value)
			if c.Claimed.Min != nil {
				claimed += fmt.Sprintf(" (%s..%s)", num(*c.Claimed.Min), num(*c.Claimed.Max))
			}
		case c.Claimed.Min != nil && c.Claimed.Max != nil:
			claimed = num(*c.Claimed.Min) + " to " + num(*c.Claimed.Max)
		case c.Claimed.Min != nil:
			claimed = "at least " + num(*c.Claimed.Min)
		case c.Claimed.Max != nil:
			claimed = "at most " + num(*c.Claimed.Max)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t[%s, %s]\t%s\t\n", c.Name, claimed, num(c.Measured.Est), num(c.Measured.Lo), num(c.Measured.Hi), c.Verdict)
	}
	tw.Flush()
	var parts []string
	for _, k := range []string{analysis.VerdictHolds, analysis.VerdictPlausible, analysis.VerdictAbove, analysis.VerdictBelow} {
		if n := rep.Verdicts[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	fmt.Fprintf(w, "\n%d claims: %s\n", len(rep.Claims), strings.Join(parts, ", "))
	if len(rep.Arithmetic) > 0 {
		fmt.Fprintln(w, "\nthe plan's own arithmetic (consistent within 2%):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, a := range rep.Arithmetic {
			mark := "consistent"
			if !a.Consistent {
				mark = "INCONSISTENT"
			}
			fmt.Fprintf(tw, "%s\t%s gives %s\tstated %s\t%s\t\n", a.Name, a.Derivation, num(a.Derived), num(a.Stated), mark)
		}
		tw.Flush()
	}
}

// num prints a claim's figure: shares and small numbers with four significant digits, large
// ones with thousands separators.
func num(v float64) string {
	if v >= 1000 || v <= -1000 {
		return textfmt.Thousands(v, 0)
	}
	return fmt.Sprintf("%.4g", v)
}
