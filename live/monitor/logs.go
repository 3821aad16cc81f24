package monitor

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tarsopt/tarsopt/internal/jsonscan"
	"github.com/tarsopt/tarsopt/money"
)

// The files the monitor writes in Options.Dir. Each log is JSONL: one JSON object per line, each
// with "time" (RFC 3339, UTC, nine decimal places) and "event".
const (
	// RoutingLog has one "route" line per routed call: id, from (the asked model), to.
	RoutingLog = "model-routing.log"
	// CacheLog has one "lookup" line per cacheable call (id, hit, stale, query_type) and a
	// "summary" line with the window's hit rate every 100 cacheable calls or at the first
	// cacheable call a minute (of Done time) after the previous summary, whichever comes first.
	CacheLog = "cache-performance.log"
	// BatchLog has one "batch" line per batched or deferred call: id, batched, deferred,
	// waited_s (time held for the off-peak window), latency_s.
	BatchLog = "batch-processing.log"
	// QualityLog has one "call" line per call: id, tenant (hash), model, orig_model, query_type,
	// status, error, quality (answered calls only), cache_hit, streamed, latency_s, ttft_s,
	// cost_usd, baseline_cost_usd.
	QualityLog = "quality-tracking.log"
	// MetricsLog has a "window" line with the window metrics and the process's totals every
	// minute of Done time or every 1,000 calls, whichever comes first; a "rollback" line per
	// trigger firing; a "strategy" line per SetEnabled; "start" and "stop" lines.
	MetricsLog = "optimization-metrics.log"
	// CostsFile holds the daily costs (CostsJSON). New loads it, so days accumulate across
	// restarts; it is rewritten atomically (temporary file, then rename) at most once a minute
	// and on Close.
	CostsFile = "costs.json"
)

// appendTime appends t in UTC as RFC 3339 with nine decimal places, 2026-11-26T10:00:00.000000000Z
// (what t.UTC().AppendFormat does with that layout, several times faster).
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	if y < 0 || y > 9999 {
		return t.AppendFormat(b, "2006-01-02T15:04:05.000000000Z07:00")
	}
	b = appendDigits(b, y, 4)
	b = append(b, '-')
	b = appendDigits(b, int(mo), 2)
	b = append(b, '-')
	b = appendDigits(b, d, 2)
	b = append(b, 'T')
	b = appendDigits(b, h, 2)
	b = append(b, ':')
	b = appendDigits(b, mi, 2)
	b = append(b, ':')
	b = appendDigits(b, s, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond(), 9)
	return append(b, 'Z')
}

// appendDigits appends v (≥ 0) in exactly n decimal digits.
func appendDigits(b []byte, v, n int) []byte {
	b = append(b, "000000000"[:n]...)
	for i := len(b) - 1; n > 0; i, n = i-1, n-1 {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// logFile is one JSONL log. Lines are appended to pending under the Monitor's mutex, which
// Record holds; the file is written only by the Monitor's flusher goroutine (or by Close and
// Reopen), outside that mutex, so that no call waits on a write to disk.
type logFile struct {
	path    string
	f       *os.File
	pending []byte
	kick    chan<- struct{} // wakes the flusher when pending passes flushBytes
}

// flushBytes is how much a log buffers before its flusher is woken early.
const flushBytes = 64 << 10

func openLog(dir, name string) (*logFile, error) {
	l := &logFile{path: filepath.Join(dir, name), pending: make([]byte, 0, flushBytes)}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *logFile) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	l.f = f
	return nil
}

// reopen writes what is pending, closes and reopens the file at its path (after a log rotation
// moved it). Under both of the Monitor's mutexes.
func (l *logFile) reopen() error {
	err := l.writeOut(l.take())
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if oerr := l.open(); oerr != nil {
		l.f = nil
		return oerr
	}
	return err
}

// write appends a line. Under the Monitor's mutex.
func (l *logFile) write(b []byte) error {
	if l == nil || l.f == nil {
		return nil
	}
	l.pending = append(l.pending, b...)
	if len(l.pending) >= flushBytes && l.kick != nil {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// take hands over the pending lines. Under the Monitor's mutex.
func (l *logFile) take() []byte {
	if l == nil || len(l.pending) == 0 {
		return nil
	}
	b := l.pending
	l.pending = make([]byte, 0, max(flushBytes, cap(b)/2))
	return b
}

// writeOut writes lines taken from pending. Under the Monitor's write mutex only.
func (l *logFile) writeOut(b []byte) error {
	if l == nil || l.f == nil || len(b) == 0 {
		return nil
	}
	_, err := l.f.Write(b)
	return err
}

func (l *logFile) close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.writeOut(l.take())
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// line builds one JSON object in a reused buffer, without reflection or allocation.
type line struct{ b []byte }

func (l *line) start(t time.Time, event string) {
	l.b = append(l.b[:0], `{"time":"`...)
	l.b = appendTime(l.b, t)
	l.b = append(l.b, `","event":`...)
	l.b = jsonscan.AppendString(l.b, event)
}

func (l *line) key(k string) {
	l.b = append(l.b, ',', '"')
	l.b = append(l.b, k...)
	l.b = append(l.b, '"', ':')
}

func (l *line) str(k, v string) {
	l.key(k)
	l.b = jsonscan.AppendString(l.b, v)
}

func (l *line) int(k string, v int64) {
	l.key(k)
	l.b = strconv.AppendInt(l.b, v, 10)
}

func (l *line) bool(k string, v bool) {
	l.key(k)
	l.b = strconv.AppendBool(l.b, v)
}

// float writes v, or null when it is NaN or infinite (JSON has neither).
func (l *line) float(k string, v float64) {
	l.key(k)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		l.b = append(l.b, "null"...)
		return
	}
	l.b = strconv.AppendFloat(l.b, v, 'g', -1, 64)
}

func (l *line) seconds(k string, d time.Duration) { l.float(k, d.Seconds()) }

// amount writes a as an exact decimal string of dollars ("0.004539").
func (l *line) amount(k string, a money.Amount) {
	l.key(k)
	l.b = append(l.b, '"')
	l.b = a.AppendDecimal(l.b)
	l.b = append(l.b, '"')
}

func (l *line) strs(k string, v []string) {
	l.key(k)
	l.b = append(l.b, '[')
	for i, s := range v {
		if i > 0 {
			l.b = append(l.b, ',')
		}
		l.b = jsonscan.AppendString(l.b, s)
	}
	l.b = append(l.b, ']')
}

func (l *line) end() []byte {
	l.b = append(l.b, '}', '\n')
	return l.b
}
