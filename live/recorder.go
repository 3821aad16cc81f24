package live

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/tarsopt/tarsopt/traces"
)

// recorder appends every finished call to the data directory's trace, DIR/trace/calls-NNNNNN.jsonl,
// one canonical record per line, starting a new file when the current one passes maxBytes. Each
// record is written with one write(2) on a file opened with O_APPEND before the client gets its
// answer's end, so a call that was answered is on disk (in the page cache) even if the process is
// killed; Sync makes it durable against a machine crash. Files are recorded in completion order:
// traces.Open of the directory sorts them.
type recorder struct {
	mu       sync.Mutex
	dir      string
	meta     traces.Meta
	maxBytes int64
	f        *os.File
	seq      int
	size     int64
	buf      []byte
	n        int64 // records written since open
}

// segmentName is the name of segment seq.
func segmentName(seq int) string { return fmt.Sprintf("calls-%06d.jsonl", seq) }

func openRecorder(dataDir string, meta traces.Meta, maxBytes int64) (*recorder, error) {
	dir := filepath.Join(dataDir, traces.DirTraceSubdir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var seqs []int
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, "calls-") || !strings.HasSuffix(name, ".jsonl") {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "calls-"), ".jsonl")); err == nil {
			seqs = append(seqs, n)
		}
	}
	sort.Ints(seqs)
	r := &recorder{dir: dir, meta: meta, maxBytes: maxBytes}
	if len(seqs) > 0 {
		r.seq = seqs[len(seqs)-1]
	}
	// A restart always begins a new segment: the previous one may end in a line cut by a crash
	// of the machine (never by a kill of the process, which loses no whole write).
	if err := r.rotate(); err != nil {
		return nil, err
	}
	return r, nil
}

// rotate closes the current segment and opens the next. Under r.mu (or before use).
func (r *recorder) rotate() error {
	if r.f != nil {
		if err := r.f.Sync(); err != nil {
			return err
		}
		if err := r.f.Close(); err != nil {
			return err
		}
		r.f = nil
	}
	r.seq++
	f, err := os.OpenFile(filepath.Join(r.dir, segmentName(r.seq)), os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	var h bytes.Buffer
	if _, err := traces.NewJSONLWriter(&h, r.meta); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(h.Bytes()); err != nil {
		f.Close()
		return err
	}
	r.f, r.size = f, int64(h.Len())
	return nil
}

// Write appends rec to the trace.
func (r *recorder) Write(rec *traces.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return os.ErrClosed
	}
	if r.size >= r.maxBytes {
		if err := r.rotate(); err != nil {
			return err
		}
	}
	r.buf = append(traces.AppendJSON(r.buf[:0], rec), '\n')
	n, err := r.f.Write(r.buf)
	r.size += int64(n)
	r.n++
	return err
}

// Sync makes what was written durable.
func (r *recorder) Sync() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	return r.f.Sync()
}

// Close syncs and closes the current segment.
func (r *recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Sync()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	r.f = nil
	return err
}
