package wire

import (
	"bytes"
	"errors"
	"io"
)

// Limits of EventReader, in bytes: a longer line or event is an error, so that a stream cannot make
// the reader hold unbounded memory.
const (
	MaxLineBytes  = 8 << 20
	MaxEventBytes = 16 << 20
)

// ErrTooLong is returned by EventReader.Next for a line longer than MaxLineBytes or an event
// longer than MaxEventBytes.
var ErrTooLong = errors.New("wire: server-sent event line or event too long")

// Event is one server-sent event.
type Event struct {
	// Name is the event's type (the "event:" field), such as message_start; "" when absent.
	Name string
	// Data is the event's data: its "data:" lines joined with '\n'; nil when it has none (a
	// comment, or a stray blank line).
	Data []byte
	// Raw is the event's exact bytes as read: its lines (comments and unknown fields included)
	// with their line endings, and the blank line that ends it, so that a proxy can pass the event
	// on untouched. Raw and Data belong to the caller: Next allocates them anew.
	Raw []byte
}

// EventReader reads server-sent events one at a time from a stream, never holding more than the
// current event. It accepts LF, CRLF and CR line endings, comment lines (":..."), fields it does
// not know (id, retry), several data lines per event and a final event without its blank line.
type EventReader struct {
	r       io.Reader
	buf     []byte
	lo, hi  int  // buffered data is buf[lo:hi]
	scanned int  // buf[lo:lo+scanned] holds no line ending
	eof     bool // r is exhausted
	err     error
	started bool // a line has been read (for the byte-order mark)
}

// NewEventReader returns a reader of the events of r.
func NewEventReader(r io.Reader) *EventReader {
	return &EventReader{r: r, buf: make([]byte, 4<<10)}
}

// line returns the next line with its ending, valid until the next call, and the length of its
// content (without the ending). It returns io.EOF at the end of the stream.
func (er *EventReader) line() (full []byte, n int, err error) {
	for {
		data := er.buf[er.lo:er.hi]
		if i := bytes.IndexByte(data[er.scanned:], '\n'); i >= 0 {
			i += er.scanned
			if c := bytes.IndexByte(data[er.scanned:i], '\r'); c >= 0 && er.scanned+c < i-1 {
				c += er.scanned
				return er.take(c+1, c) // a lone CR ends the line
			}
			if i > 0 && data[i-1] == '\r' {
				return er.take(i+1, i-1)
			}
			return er.take(i+1, i)
		}
		if c := bytes.IndexByte(data[er.scanned:], '\r'); c >= 0 {
			if c += er.scanned; c < len(data)-1 || er.eof {
				return er.take(c+1, c) // a CR not followed by LF
			}
		}
		if er.eof {
			if len(data) == 0 {
				return nil, 0, io.EOF
			}
			return er.take(len(data), len(data))
		}
		if er.err != nil {
			return nil, 0, er.err
		}
		er.scanned = len(data)
		if er.scanned > 0 && data[er.scanned-1] == '\r' {
			er.scanned-- // look at it again once the next byte is known
		}
		if len(data) > MaxLineBytes+1 {
			er.err = ErrTooLong
			return nil, 0, ErrTooLong
		}
		er.fill()
	}
}

func (er *EventReader) take(length, content int) ([]byte, int, error) {
	full := er.buf[er.lo : er.lo+length]
	er.lo += length
	er.scanned = 0
	return full, content, nil
}

// fill reads more data, making room first.
func (er *EventReader) fill() {
	if er.lo > 0 {
		n := copy(er.buf, er.buf[er.lo:er.hi])
		er.lo, er.hi = 0, n
	}
	if er.hi == len(er.buf) {
		size := min(2*len(er.buf), MaxLineBytes+64<<10)
		if size <= len(er.buf) {
			er.err = ErrTooLong
			return
		}
		nb := make([]byte, size)
		copy(nb, er.buf[:er.hi])
		er.buf = nb
	}
	for range 100 {
		n, err := er.r.Read(er.buf[er.hi:])
		er.hi += n
		if err == io.EOF {
			er.eof = true
			return
		}
		if err != nil {
			er.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	er.err = io.ErrNoProgress
}

// Next returns the next event. At the end of the stream it returns io.EOF; a stream that ends in
// the middle of an event returns that event first (its Raw without a blank line). Any other error
// (the reader's, or ErrTooLong) ends the stream.
func (er *EventReader) Next() (Event, error) {
	var ev Event
	var raw []byte
	dataOff, dataLen, dataLines := 0, 0, 0
	var data []byte // for two data lines and more
	for {
		full, n, err := er.line()
		if err == io.EOF && len(raw) > 0 {
			break
		}
		if err != nil {
			return Event{}, err
		}
		if len(raw)+len(full) > MaxEventBytes {
			er.err = ErrTooLong
			return Event{}, ErrTooLong
		}
		if raw == nil {
			raw = make([]byte, 0, max(2*len(full), 256))
		}
		off := len(raw)
		raw = append(raw, full...)
		content := raw[off : off+n]
		if !er.started {
			er.started = true
			if bytes.HasPrefix(content, []byte("\xEF\xBB\xBF")) {
				content = content[3:]
				off += 3
			}
		}
		if len(content) == 0 {
			break // the blank line that ends the event
		}
		if content[0] == ':' {
			continue // a comment
		}
		name, value := content, content[len(content):]
		vOff := off + len(content)
		if i := bytes.IndexByte(content, ':'); i >= 0 {
			name, value = content[:i], content[i+1:]
			vOff = off + i + 1
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
				vOff++
			}
		}
		switch string(name) {
		case "event":
			ev.Name = eventName(value)
		case "data":
			switch dataLines {
			case 0:
				dataOff, dataLen = vOff, len(value)
			case 1:
				data = append(data, raw[dataOff:dataOff+dataLen]...)
				fallthrough
			default:
				data = append(data, '\n')
				data = append(data, value...)
			}
			dataLines++
		}
	}
	ev.Raw = raw
	switch {
	case dataLines == 1:
		ev.Data = raw[dataOff : dataOff+dataLen : dataOff+dataLen]
	case dataLines > 1:
		ev.Data = data
	}
	return ev, nil
}

// eventName returns the event name, without allocating for the API's names.
func eventName(b []byte) string {
	switch string(b) {
	case "message_start":
		return "message_start"
	case "content_block_start":
		return "content_block_start"
	case "content_block_delta":
		return "content_block_delta"
	case "content_block_stop":
		return "content_block_stop"
	case "message_delta":
		return "message_delta"
	case "message_stop":
		return "message_stop"
	case "ping":
		return "ping"
	case "error":
		return "error"
	}
	return string(b)
}
