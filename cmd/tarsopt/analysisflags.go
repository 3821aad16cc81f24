package main

import (
	"context"
	"flag"
	"io"
	"os"
	"os/signal"

	"github.com/tarsopt/tarsopt/analysis"
	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/pricing"
)

// analysisFlags are the flags every command that replays a trace many times shares (attribute,
// compare, sweep, mc, validate, backtest, report): the trace and how to read it, the
// configuration, the price book, unknown models and the number of workers.
type analysisFlags struct {
	cmd     string
	trace   string
	cfgPath string
	sets    setFlags
	workers int
	prices  string
	unknown string
	rf      readFlags
}

// define adds the flags to fs; withConfig adds --config and --set (compare defines its own).
func (a *analysisFlags) define(fs *flag.FlagSet, cmd string, withConfig bool) {
	a.cmd = cmd
	fs.StringVar(&a.trace, "trace", "", "the trace to replay (required)")
	if withConfig {
		fs.StringVar(&a.cfgPath, "config", "", "performance configuration file (default: the built-in seed plan)")
		fs.Var(&a.sets, "set", "override a setting: PATH=VALUE (repeatable)")
	}
	fs.IntVar(&a.workers, "workers", 0, "replays to run at once (default: the number of CPUs)")
	fs.StringVar(&a.prices, "prices", "", "price book file; default: the built-in book")
	fs.StringVar(&a.unknown, "unknown-model", "error", "what to do with a model the price book does not know: error, or zero")
	a.rf.define(fs)
}

// check rejects stray arguments, a missing trace and bad flag values.
func (a *analysisFlags) check(args []string) error {
	if len(args) > 0 {
		return usagef("%s: unexpected argument %q (name the trace with --trace)", a.cmd, args[0])
	}
	if a.trace == "" {
		return usagef("%s: name the trace with --trace", a.cmd)
	}
	if a.unknown != "error" && a.unknown != "zero" {
		return usagef("--unknown-model: want error or zero, got %q", a.unknown)
	}
	return a.rf.check()
}

// config loads the configuration with the --set assignments.
func (a *analysisFlags) config() (*config.Config, error) { return loadConfig(a.cfgPath, a.sets) }

// book returns the price book.
func (a *analysisFlags) book() (*pricing.Book, error) {
	if a.prices == "" {
		return pricing.Default(), nil
	}
	return pricing.Load(a.prices)
}

// load reads the trace into memory, reporting skipped records on stderr.
func (a *analysisFlags) load(stderr io.Writer) (*analysis.Trace, error) {
	tr, err := analysis.Load(a.trace, a.rf.options(os.Stdin))
	if err != nil {
		return nil, err
	}
	tr.Stats.WriteSummary(stderr, a.trace)
	return tr, nil
}

// runner returns the runner of the replays, reporting progress to p.
func (a *analysisFlags) runner(book *pricing.Book, p *progress) *analysis.Runner {
	return &analysis.Runner{Book: book, ZeroUnknown: a.unknown == "zero", Workers: a.workers,
		Progress: func(done, total int) { p.SetTotal(int64(total)); p.Set(int64(done)) }}
}

// interruptible returns a context that Ctrl-C cancels.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt)
}
