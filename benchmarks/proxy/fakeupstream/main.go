// Command fakeupstream runs the fake Anthropic Messages API of internal/fakeapi as a process: the
// upstream of a gateway under benchmark (see ../README.md). It listens on a loopback address,
// prints its base URL on a line of its own, and serves until SIGINT or SIGTERM. It does not keep
// the requests it serves, so it can run for as long as a benchmark needs.
//
//	fakeupstream -listen 127.0.0.1:0
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tarsopt/tarsopt/internal/fakeapi"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback `address` to listen on (port 0 picks a free one)")
	turnaround := flag.Duration("batch-turnaround", 0, "how long a message batch stays in progress (0: it ends at the first GET)")
	latency := flag.Duration("latency", 0, "how long every answer waits before it starts, as a model's time to first token (0: at once)")
	jitter := flag.Duration("latency-jitter", 0, "spread the latency uniformly over [latency-jitter, latency+jitter], per request")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "fakeupstream: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	s, err := fakeapi.Listen(*listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakeupstream:", err)
		os.Exit(1)
	}
	s.KeepRequests(false)
	s.SetBatchTurnaround(*turnaround)
	s.SetLatency(max(*latency-*jitter, 0), *latency+*jitter)
	fmt.Println(s.URL())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	<-ctx.Done()
	stop()
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second): // a client holding a request open does not keep us up
	}
}
