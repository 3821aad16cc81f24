package traces

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Reader reads a trace one record at a time, in the manner of bufio.Scanner.
//
// Read fills r with the next record, reusing r's Prefix slice, and sets r.Pos. It returns io.EOF after
// the last record. For a record it cannot decode it returns an *Error; unless the Error is Fatal, the
// reader has moved past the bad record and the next Read continues with the one after. Decoders
// check syntax only; Open's Source adds Validate, ordering and the skip policy.
type Reader interface {
	Read(r *Record) error
	// Meta returns the trace metadata, read from the file's header before the first record.
	Meta() Meta
}

// Writer writes a trace one record at a time. Close flushes buffered records and the format's
// trailer; it does not close the underlying io.Writer unless the Writer came from Create.
type Writer interface {
	Write(r *Record) error
	Close() error
}

// Input is what a Format's reader is built from: a decompressed byte stream, and an io.ReaderAt over
// the same bytes when there is one: always for formats that need random access (Parquet), and for
// every format when the input is a regular, uncompressed file (At is then its *os.File, which a
// reader may map into memory). A reader uses R or At, not both.
type Input struct {
	Name string    // file name for error messages
	R    io.Reader // the decompressed content, from its first byte
	At   io.ReaderAt
	Size int64 // size of At in bytes
}

// Format is one encoding of traces. Formats register themselves with RegisterFormat; the JSONL and
// CSV formats live in this package, Arrow IPC and Parquet in traces/arrowtrace.
type Format struct {
	Name       string   // short name for --format: "jsonl", "csv", "arrow", "arrows", "parquet"
	Extensions []string // file name extensions, with the dot, most usual first
	// Match reports whether head (the first bytes of the decompressed content, BOM removed, at least
	// 512 bytes unless the file is shorter) looks like this format.
	Match func(head []byte) bool
	// RandomAccess says the reader needs Input.At: input that is compressed or not a regular file is
	// first copied to a temporary file.
	RandomAccess bool
	NewReader    func(in Input) (Reader, error)
	NewWriter    func(w io.Writer, m Meta) (Writer, error)
}

var (
	formatsMu sync.RWMutex
	formats   []Format
)

// RegisterFormat adds a format. It panics if a format of the same name is registered twice, which is
// a programming error (as image.RegisterFormat and caddy's RegisterModule do).
func RegisterFormat(f Format) {
	formatsMu.Lock()
	defer formatsMu.Unlock()
	for _, g := range formats {
		if g.Name == f.Name {
			panic("traces: format registered twice: " + f.Name)
		}
	}
	formats = append(formats, f)
}

// Formats returns the registered formats sorted by name.
func Formats() []Format {
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	out := append([]Format(nil), formats...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// FormatNames returns the names of the registered formats, sorted, joined with ", ".
func FormatNames() string {
	var names []string
	for _, f := range Formats() {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}

// LookupFormat returns the registered format with the given name.
func LookupFormat(name string) (Format, bool) {
	for _, f := range Formats() {
		if f.Name == name {
			return f, true
		}
	}
	return Format{}, false
}

// FormatForName returns the format and compression that a file name's extensions imply, such as
// ("parquet", None) for "base.parquet" or ("jsonl", Zstd) for "x.jsonl.zst".
func FormatForName(name string) (Format, Compression, bool) {
	base := strings.ToLower(filepath.Base(name))
	c := None
	for _, cc := range []Compression{Gzip, Zstd} {
		for _, ext := range cc.Extensions() {
			if strings.HasSuffix(base, ext) {
				c = cc
				base = strings.TrimSuffix(base, ext)
			}
		}
	}
	for _, f := range Formats() {
		for _, ext := range f.Extensions {
			if strings.HasSuffix(base, ext) {
				return f, c, true
			}
		}
	}
	return Format{}, c, false
}

// DetectFormat returns the registered format whose Match accepts head, trying binary formats (those
// with a magic number) before text ones.
func DetectFormat(head []byte) (Format, bool) {
	head = bytes.TrimPrefix(head, utf8BOM)
	fs := Formats()
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].RandomAccess && !fs[j].RandomAccess })
	for _, f := range fs {
		if f.Match != nil && f.Match(head) {
			return f, true
		}
	}
	return Format{}, false
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Compression is a whole-file compression wrapped around any format.
type Compression uint8

// Compressions. Auto, the zero value, means "as the file name's extension says" when writing.
const (
	Auto Compression = iota
	None
	Gzip
	Zstd
)

// String returns "auto", "none", "gzip" or "zstd".
func (c Compression) String() string {
	switch c {
	case Auto:
		return "auto"
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	}
	return "none"
}

// Extensions returns the file name extensions of c.
func (c Compression) Extensions() []string {
	switch c {
	case Gzip:
		return []string{".gz", ".gzip"}
	case Zstd:
		return []string{".zst", ".zstd"}
	}
	return nil
}

// ParseCompression returns the compression named s ("auto" or "", "none", "gzip", "gz", "zstd",
// "zst").
func ParseCompression(s string) (Compression, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return Auto, nil
	case "none":
		return None, nil
	case "gzip", "gz":
		return Gzip, nil
	case "zstd", "zst":
		return Zstd, nil
	}
	return Auto, fmt.Errorf("traces: unknown compression %q (want none, gzip or zstd)", s)
}

func detectCompression(head []byte) (Compression, string) {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return Gzip, ""
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return Zstd, ""
	case bytes.HasPrefix(head, []byte("BZh")):
		return None, "bzip2"
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return None, "xz"
	case bytes.HasPrefix(head, []byte{0x04, 0x22, 0x4d, 0x18}):
		return None, "lz4"
	}
	return None, ""
}
