package arrowtrace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/tarsopt/tarsopt/traces"
)

// fileMagic opens and closes an Arrow IPC file; the opening one is padded to 8 bytes.
var fileMagic = []byte("ARROW1")

const (
	corruptArrow = "corrupt arrow data"
	// maxMetaLen bounds an IPC message's flatbuffer header.
	maxMetaLen = 64 << 20
	// maxFooterLen bounds an IPC file's footer, which lists one 24-byte block per batch.
	maxFooterLen = 256 << 20
)

// NewFileReader returns a Reader of the Arrow IPC file format from r. It reads the file from
// start to end without seeking: an IPC file is the IPC stream format between a magic header and a
// footer, and the footer is only checked for consistency, so compressed files and pipes work.
// name is the file name for errors.
func NewFileReader(r io.Reader, name string) (*Reader, error) {
	var head [8]byte
	if _, err := io.ReadFull(r, head[:]); err != nil || !bytes.HasPrefix(head[:], fileMagic) {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &traces.Error{Pos: traces.Pos{File: name}, Reason: "read error", Detail: err.Error(), Fatal: true, Err: err}
		}
		return nil, &traces.Error{Pos: traces.Pos{File: name}, Reason: corruptArrow, Detail: "missing ARROW1 file header", Fatal: true}
	}
	return newIPCReader(r, name, true)
}

// NewStreamReader returns a Reader of the Arrow IPC stream format from r. name is the file name
// for errors.
func NewStreamReader(r io.Reader, name string) (*Reader, error) {
	return newIPCReader(r, name, false)
}

// newIPCInput reads an IPC file (file) or stream from in, mapping it into memory when it is a
// regular file, so that batch bodies are read in place, without a copy.
func newIPCInput(in traces.Input, file bool) (*Reader, error) {
	if f, ok := in.At.(*os.File); ok && in.Size > 0 {
		if data, unmap, err := mapFile(f, in.Size); err == nil {
			mr := &mappedReader{data: data}
			var r *Reader
			if file {
				r, err = NewFileReader(mr, in.Name)
			} else {
				r, err = NewStreamReader(mr, in.Name)
			}
			if err != nil {
				unmap()
				return nil, err
			}
			r.unmap = unmap
			return r, nil
		}
	}
	if file {
		return NewFileReader(in.R, in.Name)
	}
	return NewStreamReader(in.R, in.Name)
}

// mappedReader reads a file mapped into memory. Besides io.Reader, take hands out parts of the
// mapping itself.
type mappedReader struct {
	data []byte
	off  int
}

func (m *mappedReader) Read(p []byte) (int, error) {
	if m.off >= len(m.data) {
		return 0, io.EOF
	}
	n := copy(p, m.data[m.off:])
	m.off += n
	return n, nil
}

// take returns the next n bytes of the mapping, or io.ErrUnexpectedEOF when fewer remain.
func (m *mappedReader) take(n int64) ([]byte, error) {
	if n > int64(len(m.data)-m.off) {
		m.off = len(m.data)
		return nil, io.ErrUnexpectedEOF
	}
	b := m.data[m.off : m.off+int(n) : m.off+int(n)]
	m.off += int(n)
	return b, nil
}

func newIPCReader(r io.Reader, name string, file bool) (_ *Reader, err error) {
	fail := func(err error) error {
		return fatalError(traces.Pos{File: name}, corruptArrow, err)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fail(fmt.Errorf("%v", p))
		}
	}()
	mr := &msgReader{r: r}
	mr.refs = 1
	ir, err := ipc.NewReaderFromMessageReader(mr, ipc.WithAllocator(newAllocator()))
	if err != nil {
		return nil, fail(err)
	}
	schema := ir.Schema()
	var meta traces.Meta
	if md := schema.Metadata(); md.Len() > 0 {
		i := md.FindKey(traces.MetaKey)
		if meta, err = readMeta(valueAt(md, i), i >= 0, name); err != nil {
			ir.Release()
			return nil, err
		}
	}
	d, err := newReader(name, corruptArrow, schema, meta, &ipcSource{ir: ir, mr: mr, file: file})
	if err != nil {
		ir.Release()
		return nil, err
	}
	return d, nil
}

func valueAt(md arrow.Metadata, i int) string {
	if i < 0 {
		return ""
	}
	return md.Values()[i]
}

// ipcSource yields the batches of an IPC stream.
type ipcSource struct {
	ir   *ipc.Reader
	mr   *msgReader
	file bool // check the file footer after the end-of-stream marker
}

func (s *ipcSource) next() (arrow.RecordBatch, error) {
	if s.ir.Next() {
		return s.ir.RecordBatch(), nil
	}
	if err := s.ir.Err(); err != nil {
		return nil, err
	}
	if s.mr.truncated {
		return nil, errors.New("truncated stream: no end-of-stream marker")
	}
	if s.file {
		if err := s.checkFooter(); err != nil {
			return nil, err
		}
	}
	return nil, io.EOF
}

// checkFooter reads what follows the end-of-stream marker of an IPC file: the footer, its length
// and the closing magic.
func (s *ipcSource) checkFooter() error {
	if !s.mr.eos {
		return errors.New("truncated file: no end-of-stream marker before the footer")
	}
	rest, err := io.ReadAll(io.LimitReader(s.mr.r, maxFooterLen+10+1))
	if err != nil {
		return &ioError{err}
	}
	n := len(rest)
	if n > maxFooterLen+10 {
		return errors.New("file footer too long")
	}
	if n < 10 || !bytes.Equal(rest[n-6:], fileMagic) {
		return errors.New("truncated file: missing ARROW1 trailer")
	}
	if l := int32(binary.LittleEndian.Uint32(rest[n-10:])); int(l) != n-10 {
		return fmt.Errorf("bad file footer: length %d, found %d bytes", l, n-10)
	}
	return nil
}

func (s *ipcSource) close() {
	if s.ir != nil {
		s.ir.Release()
		s.ir = nil
	}
}

// msgReader reads IPC messages like ipc.NewMessageReader, but checks each message header before
// arrow-go sees it (checkMessage), does not trust a body length past maxTrusted (readFull), and
// reuses the memory of record batch bodies from one batch to the next.
type msgReader struct {
	r         io.Reader
	refs      int
	msg       *ipc.Message
	eos       bool // an end-of-stream marker was read
	truncated bool // the input ended inside a message
	hdr       [4]byte
	empty     *memory.Buffer
	body      []byte // memory of the last record batch body, reused for the next
}

func (m *msgReader) Retain() { m.refs++ }

func (m *msgReader) Release() {
	m.refs--
	if m.refs == 0 && m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
}

// maxTrusted is the largest message part that readFull allocates at once, before its bytes arrive.
const maxTrusted = 64 << 20

// readFull reads exactly n bytes into buf's memory (reallocated when too small) and returns them.
// Past maxTrusted bytes it grows the buffer as bytes arrive rather than trusting n, so that a
// corrupt length costs no more memory than the input holds. A stream ending early is
// io.ErrUnexpectedEOF.
func (m *msgReader) readFull(buf []byte, n int64) ([]byte, error) {
	if mr, ok := m.r.(*mappedReader); ok {
		// The bytes are all there already: no allocation, no copy, no trust needed.
		b, err := mr.take(n)
		if err != nil {
			return nil, m.readErr(err)
		}
		return b, nil
	}
	const chunk = 1 << 20
	if int64(cap(buf)) < n && n <= int64(min(maxAlloc, maxTrusted)) {
		// A quarter more, so that the next batches, of about the same size, fit too.
		buf = make([]byte, 0, (min(n+n/4, int64(min(maxAlloc, maxTrusted)))+63)&^63)
	}
	if int64(cap(buf)) >= n {
		buf = buf[:n]
		if _, err := io.ReadFull(m.r, buf); err != nil {
			return nil, m.readErr(err)
		}
		return buf, nil
	}
	buf = buf[:0]
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			c := min(n, max(2*int64(cap(buf)), chunk))
			nb := make([]byte, len(buf), (c+63)&^63)
			copy(nb, buf)
			buf = nb
		}
		k, err := io.ReadFull(m.r, buf[len(buf):min(int64(cap(buf)), n)])
		buf = buf[:len(buf)+k]
		if err != nil {
			return nil, m.readErr(err)
		}
	}
	return buf, nil
}

func (m *msgReader) readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		m.truncated = true
		return io.ErrUnexpectedEOF
	}
	return &ioError{err}
}

// Message returns the next message, valid until the next call, or io.EOF at the end of the stream.
func (m *msgReader) Message() (msg *ipc.Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			msg, err = nil, fmt.Errorf("invalid message: %v", p)
		}
	}()
	if m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
	if m.eos {
		return nil, io.EOF
	}
	k, err := io.ReadFull(m.r, m.hdr[:])
	if err != nil {
		if k == 0 && errors.Is(err, io.EOF) {
			return nil, io.EOF // a stream may end without its end-of-stream marker
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			m.truncated = true
			return nil, fmt.Errorf("truncated message header: %w", io.ErrUnexpectedEOF)
		}
		return nil, &ioError{err}
	}
	length := binary.LittleEndian.Uint32(m.hdr[:])
	if length == 0xFFFFFFFF {
		if _, err := io.ReadFull(m.r, m.hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				m.truncated = true
				return nil, fmt.Errorf("truncated message header: %w", io.ErrUnexpectedEOF)
			}
			return nil, &ioError{err}
		}
		length = binary.LittleEndian.Uint32(m.hdr[:])
	}
	if length == 0 {
		m.eos = true
		return nil, io.EOF
	}
	if length > maxMetaLen || length < 4 {
		return nil, fmt.Errorf("invalid message metadata length %d", int32(length))
	}
	meta, err := m.readFull(nil, int64(length))
	if err != nil {
		return nil, fmt.Errorf("reading message metadata: %w", err)
	}
	if err := checkMessage(meta); err != nil {
		return nil, fmt.Errorf("invalid message: %w", err)
	}
	if m.empty == nil {
		m.empty = memory.NewBufferBytes(nil)
	}
	metaBuf := memory.NewBufferBytes(meta)
	head := ipc.NewMessage(metaBuf, m.empty)
	bodyLen := head.BodyLen()
	defer head.Release()
	if bodyLen < 0 {
		return nil, fmt.Errorf("invalid message body length %d", bodyLen)
	}
	// A record batch's body is only used until the next batch (the Reader copies what it hands
	// out), so its memory is reused; dictionaries live on, and get their own.
	var reuse []byte
	if head.Type() == ipc.MessageRecordBatch {
		reuse = m.body
	}
	body, err := m.readFull(reuse, bodyLen)
	if err != nil {
		return nil, fmt.Errorf("reading message body of %d bytes: %w", bodyLen, err)
	}
	if head.Type() == ipc.MessageRecordBatch {
		m.body = body
	}
	m.msg = ipc.NewMessage(metaBuf, memory.NewBufferBytes(body))
	return m.msg, nil
}

// NewFileWriter returns a Writer of the Arrow IPC file format (uncompressed) to w, with m in the
// schema metadata.
func NewFileWriter(w io.Writer, m traces.Meta) (*Writer, error) {
	return newWriter(m, batchRows, func(s *arrow.Schema) (batchSink, error) {
		fw, err := ipc.NewFileWriter(noCloseWriter{w}, ipc.WithSchema(s), ipc.WithAllocator(memory.NewGoAllocator()))
		if err != nil {
			return nil, err
		}
		return ipcSink{fw}, nil
	})
}

// NewStreamWriter returns a Writer of the Arrow IPC stream format (uncompressed) to w, with m in
// the schema metadata.
func NewStreamWriter(w io.Writer, m traces.Meta) (*Writer, error) {
	return newWriter(m, batchRows, func(s *arrow.Schema) (batchSink, error) {
		return ipcSink{ipc.NewWriter(noCloseWriter{w}, ipc.WithSchema(s), ipc.WithAllocator(memory.NewGoAllocator()))}, nil
	})
}

type ipcSink struct {
	w interface {
		Write(arrow.RecordBatch) error
		Close() error
	}
}

func (s ipcSink) write(rec arrow.RecordBatch) error { return s.w.Write(rec) }
func (s ipcSink) close() error                      { return s.w.Close() }
