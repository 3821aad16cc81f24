package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tarsopt/tarsopt/traces"
	"github.com/tarsopt/tarsopt/traces/importers"
)

// importFlags are the flags of the commands that read logs through an importer.
type importFlags struct {
	from  string
	seed  uint64
	start string
}

func (f *importFlags) define(fs *flag.FlagSet, required bool) {
	what := "read logs of this kind instead of a trace: " + strings.Join(importers.Kinds(), ", ") + ", or auto to detect it"
	if required {
		what = "kind of logs to read: " + strings.Join(importers.Kinds(), ", ") + ", or auto to detect it"
	}
	fs.StringVar(&f.from, "from", "", what)
	fs.Uint64Var(&f.seed, "seed", 1, "seed for the importers that place relative timelines (weka)")
	fs.StringVar(&f.start, "start", "", "where relative timelines begin, YYYY-MM-DD (default "+importers.DefaultStart.Format("2006-01-02")+")")
}

func (f *importFlags) importer(paths []string) (importers.Importer, importers.Options, error) {
	var opts importers.Options
	opts.Seed = f.seed
	if f.start != "" {
		t, err := time.Parse("2006-01-02", f.start)
		if err != nil {
			return nil, opts, usagef("--start: want YYYY-MM-DD, got %q", f.start)
		}
		opts.Start = t
	}
	if f.from == "auto" {
		imp, err := importers.Detect(paths)
		return imp, opts, err
	}
	imp, ok := importers.Lookup(f.from)
	if !ok {
		return nil, opts, usagef("--from: unknown kind %q (known: %s, auto)", f.from, strings.Join(importers.Kinds(), ", "))
	}
	return imp, opts, nil
}

// blockSizer is implemented by importers whose sources carry prefix hashes.
type blockSizer interface{ BlockSize() int }

func init() {
	register(&command{
		name:    "import",
		summary: "turn logs (Claude Code, OpenClaw, LiteLLM, public traces) into a trace",
		usage: `Usage: tarsopt import --from KIND PATH... -o TRACE

Reads logs of one kind and writes them as a canonical trace, in time order, in the format its name
implies. PATH may be a file or a folder (walked for the kind's files): for claude-code a folder laid
out like ~/.claude/projects or like ~/.claude. Kinds:
` + kindsHelp() + `
Lines that the source's own rules leave out (streaming duplicates, synthetic messages, archived
transcripts) are counted by reason on stderr. A line that cannot be read stops the import, unless
--skip-invalid is given.

Examples:
  tarsopt import --from claude-code ~/.claude -o claude.parquet
  tarsopt import --from auto ./spendlogs.csv -o litellm.jsonl
  tarsopt import --from weka --seed 7 traces/ -o weka.arrow`,
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) error {
			var imf importFlags
			imf.define(fs, true)
			out := fs.String("o", "", "output trace file, or - for standard output")
			skip := fs.Bool("skip-invalid", false, "skip lines that cannot be read, count them by reason and report them on stderr, instead of stopping")
			maxInvalid := fs.Float64("max-invalid", traces.DefaultMaxInvalid, "with --skip-invalid, fail if more than this share (0 to 1) of lines is invalid")
			var wf writeFlags
			wf.define(fs)
			return func(paths []string, stdout, stderr io.Writer) error {
				if imf.from == "" {
					return usagef("import: --from KIND is required (%s, auto)", strings.Join(importers.Kinds(), ", "))
				}
				if len(paths) == 0 {
					return usagef("import: name at least one file or folder to read")
				}
				if *out == "" {
					return usagef("import: -o TRACE is required")
				}
				if *maxInvalid < 0 || *maxInvalid > 1 {
					return usagef("--max-invalid must be between 0 and 1, got %g", *maxInvalid)
				}
				imp, opts, err := imf.importer(paths)
				if err != nil {
					return err
				}
				var sorter traces.Sorter
				defer sorter.Close()
				prog := startProgress(stderr, "importing "+imp.Kind())
				c := &importers.Collector{SkipInvalid: *skip, MaxInvalid: *maxInvalid, Next: func(r *traces.Record) error {
					prog.Add(1)
					return sorter.Add(r)
				}}
				err = imp.Import(paths, opts, c)
				prog.Done()
				what := strings.Join(paths, ", ")
				c.WriteSummary(stderr, what)
				if err == nil {
					err = c.Finish(what)
				}
				if err != nil {
					return err
				}
				meta := traces.Meta{Source: "import:" + imp.Kind(), Attrs: map[string]string{"paths": strings.Join(paths, " ")}}
				if bs, ok := imp.(blockSizer); ok {
					meta.BlockSize = bs.BlockSize()
				}
				sorted, err := sorter.Finish()
				if err != nil {
					return err
				}
				defer sorted.Close()
				w, err := wf.create(*out, meta, stdout)
				if err != nil {
					return err
				}
				var r traces.Record
				n := 0
				for {
					err := sorted.Read(&r)
					if err == io.EOF {
						break
					}
					if err == nil {
						err = w.Write(&r)
					}
					if err != nil {
						traces.Abort(w)
						return err
					}
					n++
				}
				if err := w.Close(); err != nil {
					return fmt.Errorf("writing %s: %w", *out, err)
				}
				if *out != traces.Stdio {
					fmt.Fprintf(stderr, "imported %d calls from %s logs into %s\n", n, imp.Kind(), *out)
				}
				return nil
			}
		},
	})
}

// kindsHelp lists the importers with their descriptions, one per line.
func kindsHelp() string {
	var b strings.Builder
	for _, k := range importers.Kinds() {
		imp, _ := importers.Lookup(k)
		fmt.Fprintf(&b, "  %-12s %s\n", k, imp.Describe())
	}
	return b.String()
}
