package arrowtrace

import (
	"bytes"
	"io"

	"github.com/tarsopt/tarsopt/traces"
)

func init() {
	traces.RegisterFormat(traces.Format{
		Name:       "arrow",
		Extensions: []string{".arrow", ".feather", ".ipc"},
		Match:      func(head []byte) bool { return bytes.HasPrefix(head, fileMagic) },
		NewReader:  func(in traces.Input) (traces.Reader, error) { return reader(newIPCInput(in, true)) },
		NewWriter:  func(w io.Writer, m traces.Meta) (traces.Writer, error) { return writer(NewFileWriter(w, m)) },
	})
	traces.RegisterFormat(traces.Format{
		Name:       "arrows",
		Extensions: []string{".arrows"},
		Match:      func(head []byte) bool { return bytes.HasPrefix(head, []byte{0xFF, 0xFF, 0xFF, 0xFF}) },
		NewReader:  func(in traces.Input) (traces.Reader, error) { return reader(newIPCInput(in, false)) },
		NewWriter:  func(w io.Writer, m traces.Meta) (traces.Writer, error) { return writer(NewStreamWriter(w, m)) },
	})
	traces.RegisterFormat(traces.Format{
		Name:         "parquet",
		Extensions:   []string{".parquet", ".pq"},
		Match:        func(head []byte) bool { return bytes.HasPrefix(head, []byte("PAR1")) },
		RandomAccess: true,
		NewReader:    func(in traces.Input) (traces.Reader, error) { return reader(NewParquetReader(in.At, in.Size, in.Name)) },
		NewWriter:    func(w io.Writer, m traces.Meta) (traces.Writer, error) { return writer(NewParquetWriter(w, m)) },
	})
}

// reader and writer keep a nil *Reader or *Writer from becoming a non-nil interface.
func reader(r *Reader, err error) (traces.Reader, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}

func writer(w *Writer, err error) (traces.Writer, error) {
	if err != nil {
		return nil, err
	}
	return w, nil
}
