package traces

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// DirTraceSubdir is the folder of a data directory that holds its trace files: Open of a directory
// that has it reads the files there (the live proxy records its calls into DIR/trace).
const DirTraceSubdir = "trace"

// traceFiles lists the trace files of directory dir (or of dir/trace when it exists): the files
// whose name says a trace format (.jsonl, .csv, .arrow, .parquet, ..., compressed or not), in
// name order. Empty files (a segment opened and not yet written) are left out.
func traceFiles(dir string) ([]string, error) {
	if st, err := os.Stat(filepath.Join(dir, DirTraceSubdir)); err == nil && st.IsDir() {
		dir = filepath.Join(dir, DirTraceSubdir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		if _, _, ok := FormatForName(e.Name()); !ok {
			continue
		}
		if info, err := e.Info(); err != nil || info.Size() == 0 {
			continue
		}
		files = append(files, filepath.Join(dir, e.Name()))
	}
	slices.Sort(files)
	if len(files) == 0 {
		return nil, &Error{Pos: Pos{File: dir}, Reason: "no trace files in directory (looked for " + FormatNames() + " files)", Fatal: true, Err: ErrEmpty}
	}
	return files, nil
}

// multiReader reads several trace files one after the other, as one trace. Every file must have
// the same block size; the metadata is the first file's, with Start and End widened to cover all.
type multiReader struct {
	files  []string
	format string
	cur    *decoded
	next   int
	meta   Meta
}

func openDir(dir, format string) (*decoded, error) {
	files, err := traceFiles(dir)
	if err != nil {
		return nil, err
	}
	m := &multiReader{files: files, format: format}
	// Read every file's metadata up front, so that Meta is known before the first record and a
	// file whose block size differs is an error before any record is used.
	for i, f := range files {
		d, err := openDecoded(f, format, nil)
		if err != nil {
			return nil, err
		}
		fm := d.Meta()
		d.Close()
		if i == 0 {
			m.meta = fm
			continue
		}
		if fm.BlockSize != m.meta.BlockSize {
			return nil, &Error{Pos: Pos{File: f}, Field: "block_size", Reason: "differs between the files of a directory",
				Detail: fmt.Sprintf("%d here, %d in %s", fm.BlockSize, m.meta.BlockSize, files[0]), Fatal: true}
		}
		if !fm.Start.IsZero() && (m.meta.Start.IsZero() || fm.Start.Before(m.meta.Start)) {
			m.meta.Start = fm.Start
		}
		if fm.End.After(m.meta.End) {
			m.meta.End = fm.End
		}
	}
	first, err := openDecoded(files[0], format, nil)
	if err != nil {
		return nil, err
	}
	m.cur, m.next = first, 1
	return &decoded{Reader: m, format: first.format, comp: first.comp, closers: []func() error{m.Close}}, nil
}

func (m *multiReader) Meta() Meta { return m.meta }

func (m *multiReader) Read(r *Record) error {
	for m.cur != nil {
		err := m.cur.Read(r)
		if !errors.Is(err, io.EOF) {
			return err
		}
		if err := m.cur.Close(); err != nil {
			return err
		}
		m.cur = nil
		if m.next < len(m.files) {
			d, err := openDecoded(m.files[m.next], m.format, nil)
			if err != nil {
				return err
			}
			m.cur = d
			m.next++
		}
	}
	return io.EOF
}

func (m *multiReader) Close() error {
	if m.cur == nil {
		return nil
	}
	err := m.cur.Close()
	m.cur = nil
	return err
}
