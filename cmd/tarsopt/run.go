package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/tarsopt/tarsopt/traces"
	_ "github.com/tarsopt/tarsopt/traces/arrowtrace" // Arrow IPC and Parquet formats
)

// command is one subcommand: its one-line summary, its usage text (the flags are appended), and
// setup, which defines its flags on fs and returns the function that runs it with the positional
// arguments.
type command struct {
	name    string
	summary string
	usage   string
	setup   func(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) error
}

var commands []*command

func register(c *command) { commands = append(commands, c) }

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// usageError is a mistake in the command line; main exits with status 2 for it.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// errReported is returned when the error has already been printed.
var errReported = errors.New("reported")

// run is the whole program: it parses args and runs a subcommand, writing data to stdout and
// messages to stderr. Tests call it in-process.
func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		writeUsage(stderr)
		return usagef("no command given")
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			c := lookup(args[1])
			if c == nil {
				return usagef("unknown command %q (run tarsopt help)", args[1])
			}
			fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
			c.setup(fs)
			writeCommandUsage(stdout, c, fs)
			return nil
		}
		writeUsage(stdout)
		return nil
	}
	c := lookup(name)
	if c == nil {
		return usagef("unknown command %q (run tarsopt help)", name)
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	runner := c.setup(fs)
	pos, err := parseArgs(fs, args[1:])
	if errors.Is(err, errHelp) {
		writeCommandUsage(stdout, c, fs)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w (run tarsopt help %s)", c.name, err, c.name)
	}
	return runner(pos, stdout, stderr)
}

func writeUsage(w io.Writer) {
	fmt.Fprintf(w, "tarsopt replays recorded LLM traffic to check what cost strategies would save.\n\nUsage: tarsopt COMMAND [flags] [args]\n\nCommands:\n")
	cs := append([]*command(nil), commands...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'tarsopt help COMMAND' for a command's flags and examples.\n")
}

func writeCommandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "%s\n\nFlags:\n", strings.TrimSpace(c.usage))
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parseArgs parses flags that may come before, between or after positional arguments, as users
// type them ("convert in.jsonl -o out.parquet"); "--" ends the flags.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, &usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// errHelp is returned by parseArgs for -h.
var errHelp = errors.New("help requested")

// readFlags are the flags of every command that reads traces.
type readFlags struct {
	format      string
	skipInvalid bool
	maxInvalid  float64
	sort        bool
}

func (rf *readFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&rf.format, "input-format", "", "read input as this format ("+traces.FormatNames()+") instead of detecting it")
	fs.BoolVar(&rf.skipInvalid, "skip-invalid", false, "skip invalid records, count them by reason and report them on stderr, instead of stopping at the first")
	fs.Float64Var(&rf.maxInvalid, "max-invalid", traces.DefaultMaxInvalid, "with --skip-invalid, fail if more than this share (0 to 1) of records is invalid")
	fs.BoolVar(&rf.sort, "sort", false, "accept records out of time order by sorting them in memory")
}

func (rf *readFlags) check() error {
	if rf.maxInvalid < 0 || rf.maxInvalid > 1 {
		return usagef("--max-invalid must be between 0 and 1, got %g", rf.maxInvalid)
	}
	if rf.format != "" {
		if _, ok := traces.LookupFormat(rf.format); !ok {
			return usagef("--input-format: unknown format %q (known: %s)", rf.format, traces.FormatNames())
		}
	}
	return nil
}

func (rf *readFlags) options(stdin io.Reader) traces.Options {
	return traces.Options{Format: rf.format, SkipInvalid: rf.skipInvalid, MaxInvalid: rf.maxInvalid, Sort: rf.sort, Stdin: stdin}
}

// writeFlags are the flags of every command that writes a trace.
type writeFlags struct {
	format   string
	compress string
}

func (wf *writeFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&wf.format, "format", "", "write this format ("+traces.FormatNames()+") instead of the one the output name's extension implies")
	fs.StringVar(&wf.compress, "compress", "", "compress the output with gzip, zstd or none instead of what the name's extension implies")
}

func (wf *writeFlags) create(name string, m traces.Meta, stdout io.Writer) (traces.Writer, error) {
	opts := traces.CreateOptions{Format: wf.format, Stdout: stdout}
	if wf.compress != "" {
		c, err := traces.ParseCompression(wf.compress)
		if err != nil {
			return nil, &usageError{err.Error()}
		}
		opts.Compression = c
	}
	return traces.Create(name, m, opts)
}
