package traces

import (
	"container/heap"
	"io"
	"os"
	"slices"
)

// DefaultSortRun is the number of records a Sorter keeps in memory before it spills a run.
const DefaultSortRun = 1 << 20

// Sorter puts records in time order, stably (records with equal times keep the order they were
// added in), in bounded memory: it holds up to Run records, and beyond that writes sorted runs to
// temporary files, which Finish merges. Importers' records, which come file by file, go through it
// on their way to a trace.
type Sorter struct {
	// Run is the number of records kept in memory at a time; 0 means DefaultSortRun.
	Run int

	buf   []Record
	runs  []string // temporary files holding sorted runs, in the order they were written
	added int64
}

// Add copies r into the sorter.
func (s *Sorter) Add(r *Record) error {
	limit := s.Run
	if limit <= 0 {
		limit = DefaultSortRun
	}
	s.buf = append(s.buf, r.Clone())
	s.added++
	if len(s.buf) >= limit {
		return s.spill()
	}
	return nil
}

// Len returns the number of records added.
func (s *Sorter) Len() int64 { return s.added }

func (s *Sorter) sortBuf() {
	slices.SortStableFunc(s.buf, func(a, b Record) int { return a.Time.Compare(b.Time) })
}

// spillFormat is the format runs are written in: Arrow IPC streams when that format is registered
// (fast to write and read back), canonical JSONL otherwise.
func spillFormat() Format {
	if f, ok := LookupFormat("arrows"); ok {
		return f
	}
	f, _ := LookupFormat("jsonl")
	return f
}

func (s *Sorter) spill() error {
	s.sortBuf()
	tmp, err := os.CreateTemp("", "tarsopt-sort-*")
	if err != nil {
		return err
	}
	s.runs = append(s.runs, tmp.Name())
	w, err := Create(tmp.Name(), Meta{}, CreateOptions{Format: spillFormat().Name, Compression: None})
	tmp.Close()
	if err != nil {
		return err
	}
	for i := range s.buf {
		if err := w.Write(&s.buf[i]); err != nil {
			Abort(w)
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	clear(s.buf)
	s.buf = s.buf[:0]
	return nil
}

// Finish returns a Reader of every record added, in time order. Close it to remove the temporary
// files.
func (s *Sorter) Finish() (ReadCloser, error) {
	s.sortBuf()
	if len(s.runs) == 0 {
		return &sliceReader{recs: s.buf}, nil
	}
	if len(s.buf) > 0 {
		if err := s.spill(); err != nil {
			s.Close()
			return nil, err
		}
	}
	m := &mergeReader{files: s.runs}
	s.runs = nil
	for i, name := range m.files {
		src, err := Open(name, Options{})
		if err != nil {
			m.Close()
			return nil, err
		}
		c := &cursor{src: src, run: i}
		m.open = append(m.open, src)
		if err := c.advance(); err == io.EOF {
			continue
		} else if err != nil {
			m.Close()
			return nil, err
		}
		m.h = append(m.h, c)
	}
	heap.Init(&m.h)
	return m, nil
}

// Close removes the sorter's temporary files; after Finish, close the reader it returned instead.
func (s *Sorter) Close() error {
	for _, f := range s.runs {
		os.Remove(f)
	}
	s.runs, s.buf = nil, nil
	return nil
}

// ReadCloser is a Reader that must be closed.
type ReadCloser interface {
	Reader
	io.Closer
}

type sliceReader struct {
	recs []Record
	i    int
}

func (r *sliceReader) Read(rec *Record) error {
	if r.i == len(r.recs) {
		return io.EOF
	}
	p := rec.Prefix[:0]
	*rec = r.recs[r.i]
	rec.Prefix = append(p, rec.Prefix...)
	r.recs[r.i] = Record{}
	r.i++
	return nil
}

func (r *sliceReader) Meta() Meta   { return Meta{} }
func (r *sliceReader) Close() error { r.recs = nil; return nil }

type cursor struct {
	src *Source
	run int
	rec Record
}

func (c *cursor) advance() error { return c.src.Read(&c.rec) }

type cursorHeap []*cursor

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(i, j int) bool {
	if c := h[i].rec.Time.Compare(h[j].rec.Time); c != 0 {
		return c < 0
	}
	return h[i].run < h[j].run // earlier runs hold earlier-added records
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// mergeReader merges sorted runs.
type mergeReader struct {
	h     cursorHeap
	open  []*Source
	files []string
}

func (m *mergeReader) Read(r *Record) error {
	if len(m.h) == 0 {
		return io.EOF
	}
	c := m.h[0]
	p := r.Prefix[:0]
	*r = c.rec
	r.Prefix = append(p, c.rec.Prefix...)
	r.Pos = Pos{}
	switch err := c.advance(); err {
	case nil:
		heap.Fix(&m.h, 0)
	case io.EOF:
		heap.Pop(&m.h)
	default:
		return err
	}
	return nil
}

func (m *mergeReader) Meta() Meta { return Meta{} }

func (m *mergeReader) Close() error {
	for _, s := range m.open {
		s.Close()
	}
	for _, f := range m.files {
		os.Remove(f)
	}
	m.open, m.files, m.h = nil, nil, nil
	return nil
}
