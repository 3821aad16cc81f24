// Package traces defines tarsopt's canonical trace: the Record (one model call as it happened), the
// trace Meta, and the readers and writers that move records between files and memory.
//
// A trace flows through these steps:
//
//  1. Open names a file ("-" for standard input). It removes a gzip or zstd layer, detects the format
//     from the content (falling back to the file name), and returns a Source.
//  2. The format's Reader decodes one record at a time into a caller-owned Record, reporting
//     undecodable records as *Error values with file, line (or row) and field.
//  3. The Source validates each record (Record.Validate), checks time order, and applies the skip
//     policy of Options: stop at the first bad record, or skip and count by reason up to a share.
//  4. Create writes records in any registered format, compressed by the name's extension, and makes
//     the file appear only once it is complete.
//
// JSONL and CSV live here; Arrow IPC and Parquet register themselves from traces/arrowtrace, so that
// programs that do not need Arrow do not link it. The package knows nothing of prices, strategies or
// statistics: those packages build on it.
//
// Readers stream: memory does not grow with the length of a trace (except with Options.Sort, which
// sorts in memory). Records handed out by a Reader are valid until the next Read; Clone what you keep.
package traces
