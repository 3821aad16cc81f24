// Package importers turns the logs people already have into canonical trace records: Claude Code
// and OpenClaw transcripts, LiteLLM spend logs, and the public Azure, BurstGPT, Mooncake and WEKA
// traces. There is one importer per source, each in a file of its own, registered under its kind.
//
// An import goes:
//
//  1. Lookup (or Detect, for --from auto) picks the importer for the paths.
//  2. Importer.Import reads every file under the paths and hands each model call to a Sink as a
//     record, each bad line as a *traces.Error, and each line it drops by the source's own rules
//     (a streaming duplicate, a synthetic message) as a counted skip.
//  3. The Sink (usually a Collector) validates the records, applies the --skip-invalid policy,
//     and passes them on: to a trace writer (tarsopt import, which sorts them by time first) or to
//     a cost aggregation (tarsopt cost).
//
// Where a source lacks a field, the record leaves it absent. Records reach the Sink in no
// particular order.
package importers

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tarsopt/tarsopt/traces"
)

// Options are the settings an import may need.
type Options struct {
	// Start places relative timelines (BurstGPT, Mooncake, WEKA) on absolute time; zero means
	// DefaultStart.
	Start time.Time
	// Seed drives every random choice an importer makes (WEKA's conversation start times).
	Seed uint64
}

// DefaultStart is where relative timelines begin unless Options.Start says otherwise: the seed
// plan's first day.
var DefaultStart = time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)

func (o Options) start() time.Time {
	if o.Start.IsZero() {
		return DefaultStart
	}
	return o.Start.UTC()
}

// Sink receives what an importer finds. Its methods are called from one goroutine at a time.
type Sink interface {
	// Record receives a model call. The record is reused after Record returns: copy what you keep.
	Record(r *traces.Record) error
	// Bad receives a line that could not be imported. It returns nil to go on (the line is skipped
	// and counted) or an error to stop the import.
	Bad(e *traces.Error) error
	// Skip counts n lines that the source's own rules leave out, by reason ("streaming duplicate",
	// "synthetic message"): they are not errors, but they are reported.
	Skip(reason string, n int)
}

// Importer reads one kind of log.
type Importer interface {
	// Kind is the name --from takes: "claude-code", "weka", ...
	Kind() string
	// Describe says in a line what the importer reads.
	Describe() string
	// Sniff reports whether a file, by its name and first bytes, looks like this kind.
	Sniff(name string, head []byte) bool
	// Import reads every file under paths (a directory is walked for the files this kind keeps)
	// and hands what it finds to sink. It returns the first error the sink returns, or a fatal one
	// (an unreadable file, a corrupt compressed stream).
	Import(paths []string, opts Options, sink Sink) error
}

var (
	mu        sync.RWMutex
	importers = map[string]Importer{}
)

// Register adds an importer. It panics if the kind is taken, which is a programming error.
func Register(imp Importer) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := importers[imp.Kind()]; dup {
		panic("importers: kind registered twice: " + imp.Kind())
	}
	importers[imp.Kind()] = imp
}

// Lookup returns the importer of a kind.
func Lookup(kind string) (Importer, bool) {
	mu.RLock()
	defer mu.RUnlock()
	imp, ok := importers[kind]
	return imp, ok
}

// Kinds returns the registered kinds, sorted.
func Kinds() []string {
	mu.RLock()
	defer mu.RUnlock()
	var out []string
	for k := range importers {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Detect returns the importer for paths, for --from auto: every importer sniffs the first files
// found under the paths, and exactly one kind must claim them.
func Detect(paths []string) (Importer, error) {
	var files []string
	for _, p := range paths {
		fs, err := walk(p, func(string) bool { return true })
		if err != nil {
			return nil, err
		}
		files = append(files, fs...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("importers: no files under %s", strings.Join(paths, ", "))
	}
	votes := map[string]int{}
	sniffed := 0
	for _, f := range files {
		head, err := readHead(f, 64<<10)
		if err != nil || len(head) == 0 {
			continue
		}
		sniffed++
		for _, k := range Kinds() {
			imp, _ := Lookup(k)
			if imp.Sniff(f, head) {
				votes[k]++
			}
		}
		if sniffed == 20 {
			break
		}
	}
	var best []string
	for k, n := range votes {
		if len(best) == 0 || n > votes[best[0]] {
			best = []string{k}
		} else if n == votes[best[0]] {
			best = append(best, k)
		}
	}
	sort.Strings(best)
	switch {
	case len(best) == 0:
		return nil, fmt.Errorf("importers: cannot tell what kind of log %s is; name it with --from (%s)", strings.Join(paths, ", "), strings.Join(Kinds(), ", "))
	case len(best) > 1:
		return nil, fmt.Errorf("importers: %s could be %s; name the kind with --from", strings.Join(paths, ", "), strings.Join(best, " or "))
	}
	imp, _ := Lookup(best[0])
	return imp, nil
}

// readHead returns up to n first bytes of a file, decompressed.
func readHead(name string, n int) ([]byte, error) {
	rc, _, err := traces.OpenStream(name, nil)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := make([]byte, n)
	k, _ := readFull(rc, buf)
	return buf[:k], nil
}

func readFull(r interface{ Read([]byte) (int, error) }, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// walk returns path itself if it is a file, or the files under it that keep accepts, sorted, if it
// is a directory. Hidden directories are not entered.
func walk(path string, keep func(string) bool) ([]string, error) {
	if path == traces.Stdio {
		return []string{path}, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var out []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != path && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && keep(p) {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// Files returns the files under paths that keep accepts, each path walked as walk does, in order.
func Files(paths []string, keep func(string) bool) ([]string, error) {
	var out []string
	for _, p := range paths {
		fs, err := walk(p, keep)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	return out, nil
}

// hasExt reports whether name ends in one of exts, possibly followed by ".gz" or ".zst".
func hasExt(name string, exts ...string) bool {
	name = strings.ToLower(name)
	name = strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".zst")
	for _, e := range exts {
		if strings.HasSuffix(name, e) {
			return true
		}
	}
	return false
}
