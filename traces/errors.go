package traces

import (
	"errors"
	"strings"
)

// Error is a problem with one record, or with a trace file as a whole, at a known position. It prints
// as "FILE:LINE: FIELD: REASON: DETAIL" (text formats) or "FILE: row N: FIELD: ..." (binary formats),
// leaving out the parts that do not apply.
//
// A reader that returns an Error with Fatal false has skipped the bad record and can go on reading;
// after a fatal Error (a corrupt stream, an I/O failure) it cannot.
type Error struct {
	Pos    Pos
	Field  string // name of the offending field, "" when it concerns the whole record or file
	Reason string // fixed description, used to count skipped records: "negative token count"
	Detail string // the specific offending value or context, may be ""
	Fatal  bool   // the reader cannot continue past this error
	Err    error  // underlying cause, if any
}

// Error implements the error interface.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Pos.File != "" {
		b.Write(e.Pos.appendTo(nil))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Key returns "FIELD: REASON", the key under which skipped records are counted.
func (e *Error) Key() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// AsError reports whether err is or wraps an *Error, and returns it.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Sentinel errors.
var (
	// ErrEmpty is returned for a file with no bytes at all, which is never a valid trace: a trace with
	// no records still has its header.
	ErrEmpty = errors.New("traces: empty file")
	// ErrUnknownFormat is returned when neither the content nor the file name tells the format.
	ErrUnknownFormat = errors.New("traces: unknown trace format")
)

func fatalError(pos Pos, reason string, err error) *Error {
	e := &Error{Pos: pos, Reason: reason, Fatal: true, Err: err}
	if err != nil {
		e.Detail = err.Error()
	}
	return e
}
