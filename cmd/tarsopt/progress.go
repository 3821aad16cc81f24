package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tarsopt/tarsopt/internal/textfmt"
)

// progress shows a count of records and their rate on stderr while a long input is read: only when
// stderr is a terminal, and only after the first second, so that quick runs and programs reading
// stderr see nothing. It redraws one line in place and erases it when done.
type progress struct {
	n     atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup
	unit  string // what is counted; "" for records (a rate, no total)
	total atomic.Int64
}

// startProgress starts a progress line for what on w; Done stops it. It returns nil (whose methods
// do nothing) when w is not a terminal.
func startProgress(w io.Writer, what string) *progress { return startCountProgress(w, what, "", 0) }

// startCountProgress starts a progress line for what on w that counts toward total units (the
// replays of a sweep or an attribution), with the time left estimated from the rate so far.
func startCountProgress(w io.Writer, what, unit string, total int64) *progress {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	p := &progress{stop: make(chan struct{}), unit: unit}
	p.total.Store(total)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		start := time.Now()
		select {
		case <-p.stop:
			return
		case <-time.After(time.Second):
		}
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		spin := `|/-\`
		for i := 0; ; i++ {
			n := p.n.Load()
			el := time.Since(start)
			if p.unit == "" {
				fmt.Fprintf(f, "\r%c %s: %s records, %s/s, %s ", spin[i%4], what, textfmt.Thousands(float64(n), 0),
					textfmt.Thousands(float64(n)/el.Seconds(), 0), el.Round(time.Second))
			} else {
				total := p.total.Load()
				eta := "ETA -"
				if n > 0 {
					eta = "ETA " + (time.Duration(float64(el) / float64(n) * float64(total-n))).Round(time.Second).String()
				}
				fmt.Fprintf(f, "\r%c %s: %d/%d %s, %s, %s \033[K", spin[i%4], what, n, total, p.unit, el.Round(time.Second), eta)
			}
			select {
			case <-p.stop:
				fmt.Fprint(f, "\r\033[K")
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// Add counts n records.
func (p *progress) Add(n int64) {
	if p != nil {
		p.n.Add(n)
	}
}

// Set sets the count to n.
func (p *progress) Set(n int64) {
	if p != nil {
		p.n.Store(n)
	}
}

// SetTotal sets what the count goes up to.
func (p *progress) SetTotal(n int64) {
	if p != nil {
		p.total.Store(n)
	}
}

// Count returns the count so far (0 for a nil progress).
func (p *progress) Count() int64 {
	if p == nil {
		return 0
	}
	return p.n.Load()
}

// Done stops and erases the progress line.
func (p *progress) Done() {
	if p != nil {
		close(p.stop)
		p.wg.Wait()
	}
}
