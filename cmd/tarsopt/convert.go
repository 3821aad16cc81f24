package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tarsopt/tarsopt/traces"
)

func init() {
	register(&command{
		name:    "convert",
		summary: "convert a trace between formats and compressions",
		usage: `Usage: tarsopt convert IN -o OUT

Reads the trace IN (any format and compression, detected from the content; "-" for standard input)
and writes it to OUT in the format and compression its name implies ("-" writes JSONL to standard
output unless --format says otherwise). The trace metadata is carried over unchanged, so
converting there and back gives the same bytes.

Examples:
  tarsopt convert base.parquet -o base.jsonl
  tarsopt convert base.jsonl -o base.arrow
  tarsopt convert --skip-invalid --sort messy.csv -o clean.parquet`,
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) error {
			out := fs.String("o", "", "output file, or - for standard output")
			var rf readFlags
			rf.define(fs)
			var wf writeFlags
			wf.define(fs)
			return func(args []string, stdout, stderr io.Writer) error {
				if len(args) != 1 {
					return usagef("convert: want exactly one input file, got %d", len(args))
				}
				if *out == "" {
					return usagef("convert: -o OUT is required")
				}
				if err := rf.check(); err != nil {
					return err
				}
				src, err := traces.Open(args[0], rf.options(os.Stdin))
				if err != nil {
					return err
				}
				defer src.Close()
				w, err := wf.create(*out, src.Meta(), stdout)
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
						err = w.Write(&r)
					}
					if err != nil {
						traces.Abort(w)
						src.Stats().WriteSummary(stderr, src.Name())
						return err
					}
				}
				src.Stats().WriteSummary(stderr, src.Name())
				if err := w.Close(); err != nil {
					return fmt.Errorf("writing %s: %w", *out, err)
				}
				return nil
			}
		},
	})
}
