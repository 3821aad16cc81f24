package traces

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Stdio is the file name that means standard input (for Open) or standard output (for Create).
const Stdio = "-"

// stdinName is how standard input is named in error messages.
const stdinName = "stdin"

// OpenStream opens name ("-" for stdin, read from stdin or os.Stdin when nil) and returns its
// content with a gzip or zstd layer removed, for importers of logs that are not traces. Errors from
// the returned reader name the compression ("corrupt gzip data: ...").
func OpenStream(name string, stdin io.Reader) (io.ReadCloser, Compression, error) {
	c, err := openContent(name, stdin)
	if err != nil {
		return nil, None, err
	}
	return &streamCloser{Reader: c.r, closers: c.closers}, c.comp, nil
}

// content is an opened input with its compression layer removed.
type content struct {
	r       *bufio.Reader // the decompressed bytes
	file    *os.File      // the file itself, when name is a file
	comp    Compression
	display string // the name for messages
	closers []func() error
}

func (c *content) close() {
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
}

func openContent(name string, stdin io.Reader) (_ *content, err error) {
	c := &content{display: name}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	var raw io.Reader
	if name == Stdio {
		c.display = stdinName
		raw = stdin
		if raw == nil {
			raw = os.Stdin
		}
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		c.closers = append(c.closers, f.Close)
		raw, c.file = f, f
	}
	br := bufio.NewReaderSize(raw, 1<<16)
	head, err := br.Peek(8)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, fatalError(Pos{File: c.display}, "read error", err)
	}
	if len(head) == 0 {
		return nil, &Error{Pos: Pos{File: c.display}, Reason: "empty file", Fatal: true, Err: ErrEmpty}
	}
	comp, unsupported := detectCompression(head)
	if unsupported != "" {
		return nil, fatalError(Pos{File: c.display}, "unsupported compression "+unsupported+" (use gzip or zstd)", nil)
	}
	c.comp, c.r = comp, br
	switch comp {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fatalError(Pos{File: c.display}, "corrupt gzip data", err)
		}
		c.closers = append(c.closers, zr.Close)
		c.r = bufio.NewReaderSize(&decompressErrReader{r: zr, what: "gzip"}, 1<<16)
	case Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fatalError(Pos{File: c.display}, "corrupt zstd data", err)
		}
		c.closers = append(c.closers, func() error { zr.Close(); return nil })
		c.r = bufio.NewReaderSize(&decompressErrReader{r: zr, what: "zstd"}, 1<<16)
	}
	return c, nil
}

type streamCloser struct {
	io.Reader
	closers []func() error
}

func (s *streamCloser) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	return errors.Join(errs...)
}

// decoded is a format reader over a possibly decompressed, possibly spooled input, with everything
// that must be closed after it.
type decoded struct {
	Reader
	format  Format
	comp    Compression
	closers []func() error
}

func (d *decoded) Close() error {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		errs = append(errs, d.closers[i]())
	}
	d.closers = nil
	return errors.Join(errs...)
}

// openDecoded opens name ("-" for stdin), removes a gzip or zstd layer, detects the format from the
// content (or takes forceFormat), and returns its reader.
func openDecoded(name, forceFormat string, stdin io.Reader) (_ *decoded, err error) {
	c, err := openContent(name, stdin)
	if err != nil {
		return nil, err
	}
	d := &decoded{comp: c.comp, closers: c.closers}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	display, file := c.display, c.file
	fail := func(reason string, err error) *Error { return fatalError(Pos{File: display}, reason, err) }
	var content io.Reader = c.r
	peek, err := c.r.Peek(4096)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		if c.comp != None {
			return nil, fail("corrupt "+c.comp.String()+" data", err)
		}
		return nil, fail("read error", err)
	}
	if len(bytes.TrimSpace(bytes.TrimPrefix(peek, utf8BOM))) == 0 && len(peek) < 4096 {
		return nil, &Error{Pos: Pos{File: display}, Reason: "empty file", Fatal: true, Err: ErrEmpty}
	}

	var format Format
	var ok bool
	if forceFormat != "" {
		format, ok = LookupFormat(forceFormat)
		if !ok {
			return nil, fmt.Errorf("traces: unknown format %q (known: %s)", forceFormat, FormatNames())
		}
	} else if format, ok = DetectFormat(peek); !ok {
		if format, _, ok = FormatForName(name); !ok {
			return nil, &Error{Pos: Pos{File: display}, Reason: "unknown trace format (formats: " + FormatNames() + ")", Fatal: true, Err: ErrUnknownFormat}
		}
	}
	d.format = format

	in := Input{Name: display, R: content}
	if file != nil && c.comp == None {
		// A regular file is offered to every format for random access (and mapping).
		if st, err := file.Stat(); err == nil && st.Mode().IsRegular() {
			in.At, in.Size = file, st.Size()
		}
	}
	if format.RandomAccess {
		if in.At == nil {
			tmp, size, err := spool(content)
			if err != nil {
				return nil, fail("copying to a temporary file", err)
			}
			d.closers = append(d.closers, func() error { tmp.Close(); return os.Remove(tmp.Name()) })
			in.At, in.Size, in.R = tmp, size, io.NewSectionReader(tmp, 0, size)
		}
	}
	r, err := format.NewReader(in)
	if err != nil {
		if _, ok := AsError(err); ok {
			return nil, err
		}
		return nil, fail("not a valid "+format.Name+" trace", err)
	}
	d.Reader = r
	if c, ok := r.(io.Closer); ok {
		d.closers = append(d.closers, c.Close)
	}
	return d, nil
}

// spool copies r to a new temporary file, for formats that need random access.
func spool(r io.Reader) (*os.File, int64, error) {
	tmp, err := os.CreateTemp("", "tarsopt-spool-*")
	if err != nil {
		return nil, 0, err
	}
	n, err := io.Copy(tmp, r)
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, 0, err
	}
	return tmp, n, nil
}

// decompressErrReader names the compression in the errors of a decompressing reader, so that a
// corrupt or truncated file reads "corrupt gzip data: unexpected EOF" and not just "unexpected EOF".
type decompressErrReader struct {
	r    io.Reader
	what string
}

func (d *decompressErrReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		err = &compressError{what: d.what, err: err}
	}
	return n, err
}

type compressError struct {
	what string
	err  error
}

func (e *compressError) Error() string {
	msg := e.err.Error()
	if errors.Is(e.err, io.ErrUnexpectedEOF) {
		msg = "truncated stream"
	}
	return "corrupt " + e.what + " data: " + strings.TrimPrefix(msg, e.what+": ")
}
func (e *compressError) Unwrap() error { return e.err }

// readError turns an error from the underlying stream into a fatal *Error at pos.
func readError(pos Pos, err error) *Error {
	var ce *compressError
	if errors.As(err, &ce) {
		return &Error{Pos: pos, Reason: ce.Error(), Fatal: true, Err: err}
	}
	return fatalError(pos, "read error", err)
}

// CreateOptions says how Create writes a trace. The zero value takes the format and compression
// from the file name and writes "-" to os.Stdout.
type CreateOptions struct {
	Format      string      // a registered format name, instead of the one the name's extension implies
	Compression Compression // instead of the one the name's extension implies, unless Auto
	Stdout      io.Writer   // where "-" writes; nil means os.Stdout
}

// Create creates the file name ("-" for standard output) and returns a Writer for it, in the format
// and compression that its extensions name unless opts says otherwise ("-" defaults to JSONL). The
// file appears under its name only when Close succeeds: until then it is written to a temporary
// file beside it, so a failed run leaves no half-written trace.
func Create(name string, m Meta, opts CreateOptions) (Writer, error) {
	f, c, ok := FormatForName(name)
	if opts.Format != "" {
		f, ok = LookupFormat(opts.Format)
		if !ok {
			return nil, fmt.Errorf("traces: unknown format %q (known: %s)", opts.Format, FormatNames())
		}
	}
	if opts.Compression != Auto {
		c = opts.Compression
	}
	if !ok {
		if name == Stdio {
			f, _ = LookupFormat("jsonl")
		} else {
			return nil, fmt.Errorf("traces: cannot tell the format of %s from its name; use one of the extensions of %s, or name the format", name, FormatNames())
		}
	}
	var out io.Writer
	var commit func() error
	var abort func()
	if name == Stdio {
		out = opts.Stdout
		if out == nil {
			out = os.Stdout
		}
		commit, abort = func() error { return nil }, func() {}
	} else {
		tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*")
		if err != nil {
			return nil, err
		}
		out = tmp
		commit = func() error {
			if err := tmp.Close(); err != nil {
				os.Remove(tmp.Name())
				return err
			}
			if err := os.Chmod(tmp.Name(), 0o644); err != nil {
				os.Remove(tmp.Name())
				return err
			}
			return os.Rename(tmp.Name(), name)
		}
		abort = func() { tmp.Close(); os.Remove(tmp.Name()) }
	}
	bw := bufio.NewWriterSize(out, 1<<16)
	var zc io.WriteCloser
	var w io.Writer = bw
	switch c {
	case Gzip:
		gw, _ := gzip.NewWriterLevel(bw, gzip.DefaultCompression)
		zc, w = gw, gw
	case Zstd:
		zw, err := zstd.NewWriter(bw, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
		if err != nil {
			abort()
			return nil, err
		}
		zc, w = zw, zw
	}
	fw, err := f.NewWriter(w, m)
	if err != nil {
		abort()
		return nil, err
	}
	return &fileWriter{Writer: fw, zc: zc, bw: bw, commit: commit, abort: abort}, nil
}

type fileWriter struct {
	Writer
	zc     io.WriteCloser
	bw     *bufio.Writer
	commit func() error
	abort  func()
	done   bool
}

func (w *fileWriter) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	err := w.Writer.Close()
	if err == nil && w.zc != nil {
		err = w.zc.Close()
	}
	if err == nil {
		err = w.bw.Flush()
	}
	if err != nil {
		w.abort()
		return err
	}
	return w.commit()
}

// Abort discards a Writer from Create without creating its file. It is a no-op after Close.
func Abort(w Writer) {
	if fw, ok := w.(*fileWriter); ok && !fw.done {
		fw.done = true
		fw.abort()
	}
}
