package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tarsopt/tarsopt/gen"
	"github.com/tarsopt/tarsopt/traces"
)

func init() {
	register(&command{
		name:    "gen",
		summary: "generate a synthetic trace from a calibrated profile",
		usage: `Usage: tarsopt gen --profile NAME|FILE [--days N] [--seed S] -o FILE

Generates a trace from a profile, calibrated to the profile's targets, and writes it in the format
that the output name implies (.jsonl, .csv, .arrow, .arrows, .parquet, each optionally .gz or .zst;
"-" writes JSONL to standard output). The calibration (every choice made to meet the targets) and
what the trace turned out to be are printed on standard error. The same profile, days and seed
give a byte-identical file.

Built-in profiles: ` + strings.Join(gen.Profiles(), ", ") + `

Examples:
  tarsopt gen --profile tars-baseline --days 30 --seed 1 -o base.parquet
  tarsopt gen --profile agentic-coding --days 7 -o coding.jsonl.zst
  tarsopt gen --profile ./my-profile.json --days 1 -o - | head`,
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) error {
			profile := fs.String("profile", "tars-baseline", "built-in profile name or path to a profile JSON file")
			days := fs.Int("days", 30, "length of the trace in whole days")
			seed := fs.Uint64("seed", 1, "random seed")
			start := fs.String("start", "", "first day of the trace, YYYY-MM-DD (default: the profile's start)")
			out := fs.String("o", "", "output file, or - for standard output")
			quiet := fs.Bool("q", false, "do not print the calibration and summary")
			var wf writeFlags
			wf.define(fs)
			return func(args []string, stdout, stderr io.Writer) error {
				if len(args) > 0 {
					return usagef("gen: unexpected argument %q", args[0])
				}
				if *out == "" {
					return usagef("gen: -o FILE is required (- for standard output)")
				}
				if *days <= 0 {
					return usagef("gen: --days must be positive")
				}
				p, err := gen.LoadProfile(*profile)
				if err != nil {
					return err
				}
				opts := gen.Options{Days: *days, Seed: *seed}
				if *start != "" {
					t, err := time.Parse("2006-01-02", *start)
					if err != nil {
						return usagef("gen: --start: want YYYY-MM-DD, got %q", *start)
					}
					opts.Start = t
				}
				g, err := gen.New(p, opts)
				if err != nil {
					return err
				}
				if !*quiet {
					g.Calibration().WriteTo(stderr)
				}
				w, err := wf.create(*out, g.Meta(), stdout)
				if err != nil {
					return err
				}
				sum, err := g.Generate(w.Write)
				if err != nil {
					traces.Abort(w)
					return err
				}
				if err := w.Close(); err != nil {
					return fmt.Errorf("writing %s: %w", *out, err)
				}
				if !*quiet {
					sum.WriteTo(stderr)
					if *out != traces.Stdio {
						fmt.Fprintf(stderr, "wrote %s\n", *out)
					}
				}
				return nil
			}
		},
	})
}
