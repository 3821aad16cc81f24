package traces

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxInvalid is the share of invalid records that --skip-invalid tolerates by default (1%).
const DefaultMaxInvalid = 0.01

// Options says how Open reads a trace.
type Options struct {
	// Format forces a registered format instead of detecting it from the content.
	Format string
	// SkipInvalid skips records that fail to decode or validate (or are out of order), counting them by
	// reason, instead of stopping at the first.
	SkipInvalid bool
	// MaxInvalid is the largest share of skipped records (0 to 1) that still counts as success; over
	// it, the final Read returns an error instead of io.EOF. It applies only with SkipInvalid.
	MaxInvalid float64
	// Sort accepts a trace whose records are out of time order by sorting it (stably; in memory up
	// to DefaultSortRun records, in temporary files beyond) before the first record is returned.
	// Without it an out-of-order record is an error.
	Sort bool
	// Stdin is what the name "-" reads; nil means os.Stdin.
	Stdin io.Reader
}

// Source is a validated trace being read: a decoded file plus the checks every command applies.
// Records it returns are valid (Record.Validate) and in non-decreasing time order.
type Source struct {
	name  string
	dec   *decoded
	opts  Options
	stats Stats
	last  time.Time
	lastP Pos

	sorted ReadCloser // with Options.Sort, the whole trace in order
	done   bool
}

// Open opens the trace file name ("-" for standard input) for reading, whatever its format and
// compression. Close the Source when done.
//
// A directory is read as one trace: its trace files (those of its subfolder "trace" when it has
// one, as the live proxy's data directory does), in name order, with Sort implied, since files
// recorded as calls complete are not in the order the calls arrived.
func Open(name string, opts Options) (*Source, error) {
	var d *decoded
	var err error
	if st, serr := os.Stat(name); serr == nil && st.IsDir() && name != Stdio {
		d, err = openDir(name, opts.Format)
		opts.Sort = true
	} else {
		d, err = openDecoded(name, opts.Format, opts.Stdin)
	}
	if err != nil {
		return nil, err
	}
	s := &Source{name: name, dec: d, opts: opts}
	if name == Stdio {
		s.name = stdinName
	}
	if opts.Sort {
		if err := s.loadSorted(); err != nil {
			d.Close()
			return nil, err
		}
	}
	return s, nil
}

// Name returns the file name as error messages give it.
func (s *Source) Name() string { return s.name }

// Meta returns the trace metadata.
func (s *Source) Meta() Meta { return s.dec.Meta() }

// FormatName returns the name of the format that was detected or forced.
func (s *Source) FormatName() string { return s.dec.format.Name }

// Compression returns the compression found around the file's content.
func (s *Source) Compression() Compression { return s.dec.comp }

// Stats returns the counts so far: records returned, and records skipped by reason.
func (s *Source) Stats() Stats { return s.stats }

// Close releases the file and any temporary copy.
func (s *Source) Close() error {
	if s.sorted != nil {
		s.sorted.Close()
	}
	return s.dec.Close()
}

// Read fills r with the next valid record. At the end it returns io.EOF, or an error if the share of
// skipped records exceeds Options.MaxInvalid. Any other error is the first bad record (without
// SkipInvalid) or a fatal problem with the file.
func (s *Source) Read(r *Record) error {
	if s.done {
		return io.EOF
	}
	if s.sorted != nil {
		err := s.sorted.Read(r)
		if err == io.EOF {
			s.done = true
		}
		return err
	}
	for {
		err := s.readValid(r)
		if err == io.EOF {
			s.done = true
			return s.finish()
		}
		if err != nil {
			if !s.skip(err) {
				return err
			}
			continue
		}
		if r.Time.Before(s.last) {
			err := &Error{Pos: r.Pos, Field: "time", Reason: "out of order",
				Detail: fmt.Sprintf("%s is before %s at %s (sort the trace, or pass --sort)",
					appendTime(nil, r.Time), appendTime(nil, s.last), s.lastP)}
			if !s.skip(err) {
				return err
			}
			continue
		}
		s.last, s.lastP = r.Time, r.Pos
		s.stats.Records++
		return nil
	}
}

// readValid reads the next record and validates it.
func (s *Source) readValid(r *Record) error {
	if err := s.dec.Read(r); err != nil {
		return err
	}
	if e := r.Validate(); e != nil {
		return e
	}
	return nil
}

// skip records err and reports whether reading may go on past it.
func (s *Source) skip(err error) bool {
	e, ok := AsError(err)
	if !ok || e.Fatal || !s.opts.SkipInvalid {
		return false
	}
	s.stats.Add(e)
	return true
}

func (s *Source) finish() error {
	if s.opts.SkipInvalid {
		if err := s.stats.Check(s.name, s.opts.MaxInvalid); err != nil {
			return err
		}
	}
	return io.EOF
}

func (s *Source) loadSorted() error {
	var sorter Sorter
	var r Record
	for {
		err := s.readValid(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			if !s.skip(err) {
				sorter.Close()
				return err
			}
			continue
		}
		if err := sorter.Add(&r); err != nil {
			sorter.Close()
			return err
		}
	}
	s.stats.Records = sorter.Len()
	if err := s.finish(); err != io.EOF {
		sorter.Close()
		return err
	}
	sorted, err := sorter.Finish()
	if err != nil {
		return err
	}
	s.sorted = sorted
	return nil
}

// Stats counts what a Source read and skipped.
type Stats struct {
	Records  int64            // valid records returned
	Invalid  int64            // records skipped
	Reasons  map[string]int64 // skipped records by "field: reason"
	Examples []*Error         // the first few skipped records' errors, in file order
}

// maxExamples is how many skipped-record errors Stats keeps verbatim.
const maxExamples = 5

// Add counts a skipped record by its error's Key, keeping the first few errors.
func (st *Stats) Add(e *Error) {
	st.Invalid++
	if st.Reasons == nil {
		st.Reasons = make(map[string]int64)
	}
	st.Reasons[e.Key()]++
	if len(st.Examples) < maxExamples {
		st.Examples = append(st.Examples, e)
	}
}

// Check returns a fatal *Error naming file if the share of skipped records exceeds max (0 to 1),
// and nil otherwise.
func (st Stats) Check(file string, max float64) error {
	if st.Invalid > 0 && st.InvalidShare() > max {
		return &Error{Pos: Pos{File: file}, Reason: "too many invalid records",
			Detail: fmt.Sprintf("%d of %d (%s), over the limit of %s", st.Invalid, st.Invalid+st.Records,
				percent(st.InvalidShare()), percent(max)),
			Fatal: true}
	}
	return nil
}

// InvalidShare returns Invalid / (Invalid + Records), or 0 for an empty trace.
func (st Stats) InvalidShare() float64 {
	if n := st.Invalid + st.Records; n > 0 {
		return float64(st.Invalid) / float64(n)
	}
	return 0
}

// WriteSummary writes a human-readable account of skipped records to w: a headline, the count per
// reason (most frequent first), and the first few errors verbatim. It writes nothing when no record
// was skipped.
func (st Stats) WriteSummary(w io.Writer, name string) {
	if st.Invalid == 0 {
		return
	}
	fmt.Fprintf(w, "%s: skipped %d invalid of %d records (%s)\n", name, st.Invalid, st.Invalid+st.Records, percent(st.InvalidShare()))
	keys := make([]string, 0, len(st.Reasons))
	for k := range st.Reasons {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if st.Reasons[keys[i]] != st.Reasons[keys[j]] {
			return st.Reasons[keys[i]] > st.Reasons[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		fmt.Fprintf(w, "  %8d  %s\n", st.Reasons[k], k)
	}
	for _, e := range st.Examples {
		fmt.Fprintf(w, "  e.g. %v\n", e)
	}
}

// percent formats a share as a percentage with up to two decimals: 0.0125 → "1.25%", 0.5 → "50%".
func percent(share float64) string {
	s := strconv.FormatFloat(share*100, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}
