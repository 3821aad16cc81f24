package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/tarsopt/tarsopt/live"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/traces"
)

func init() {
	register(&command{
		name:    "serve",
		summary: "run the strategies live: a proxy for the Anthropic Messages API",
		usage: `Usage: tarsopt serve --data DIR [--listen ADDR] [--upstream URL] [--config FILE] [--set PATH=VALUE]...

Runs the configured strategies (the built-in seed plan unless --config names a file) in front of
the Anthropic Messages API, as a proxy any client uses by changing its base URL (for the official
SDKs: ANTHROPIC_BASE_URL=http://ADDR). Keys are passed through from x-api-key or Authorization:
Bearer and never written anywhere; the cache is keyed per tenant (a hash of the key).

Into DIR it writes the trace of every call (DIR/trace, which tarsopt inspect, cost and replay read
as a directory), the monitoring logs (optimization-metrics.log, model-routing.log,
cache-performance.log, batch-processing.log, quality-tracking.log), costs.json, and its state
(DIR/state.db: cached answers and deferred jobs).

Endpoints: POST /v1/messages (JSON or streamed), POST /v1/messages/count_tokens, GET /v1/models,
/v1/messages/batches (passed through), POST /v1/tarsopt/jobs and GET /v1/tarsopt/jobs/ID
(deferrable calls answered later), GET /metrics (Prometheus), GET /healthz, GET /admin/strategies
and POST /admin/strategies/NAME/enable|disable. Request headers x-tarsopt-max-delay,
x-tarsopt-query-type, x-tarsopt-priority, x-tarsopt-session and x-tarsopt-complexity tell the proxy
about a call; answers carry x-tarsopt-cache, x-tarsopt-model-from, x-tarsopt-model-to,
x-tarsopt-pruned-tokens and more. See docs/live.md.

SIGINT or SIGTERM shuts down gracefully (calls in flight finish, the trace is flushed); SIGHUP
reads the configuration again and switches each strategy on or off as it says (bringing back the
strategies a rollback trigger switched off).

Examples:
  tarsopt serve --data ./live
  tarsopt serve --listen 127.0.0.1:8080 --data ./live --config my-plan.json
  tarsopt serve --data ./live --set strategies.promptcache.enabled=true --store redis://127.0.0.1:6379/0`,
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) error {
			listen := fs.String("listen", "127.0.0.1:8080", "address to listen on (loopback unless you say otherwise)")
			upstream := fs.String("upstream", live.DefaultUpstream, "base URL of the API calls are sent to")
			data := fs.String("data", "", "directory for the trace, logs, costs.json and state (required)")
			cfgPath := fs.String("config", "", "performance configuration file (default: the built-in seed plan)")
			var sets setFlags
			fs.Var(&sets, "set", "override a setting: PATH=VALUE (repeatable)")
			storeSpec := fs.String("store", "", "where cached answers and jobs live: bolt (DIR/state.db, the default), memory, or redis://HOST:PORT/DB")
			tenantHeader := fs.String("tenant-header", "", "request header that names the tenant (default: a hash of the API key)")
			queryType := fs.String("query-type", "fact_lookup", "query type of calls without an x-tarsopt-query-type header (chooses the cache TTL)")
			maxBody := fs.Int64("max-body", 32<<20, "largest request body accepted, bytes")
			timeout := fs.Duration("upstream-timeout", 10*time.Minute, "longest an upstream call may take")
			rotate := fs.Int64("rotate-bytes", 64<<20, "start a new trace file past this size, bytes")
			window := fs.Duration("rollback-window", 15*time.Minute, "sliding window the rollback triggers see")
			minCalls := fs.Int("rollback-min-calls", 50, "calls the window must hold before a trigger may fire")
			batchPoll := fs.Duration("batch-poll", 30*time.Second, "how often a submitted message batch is polled")
			prices := fs.String("prices", "", "price book file; default: the built-in book")
			drain := fs.Duration("drain", 30*time.Second, "how long shutdown waits for calls in flight")
			quiet := fs.Bool("quiet", false, "do not log each event of note to stderr")
			return func(args []string, stdout, stderr io.Writer) error {
				if len(args) > 0 {
					return usagef("serve: unexpected argument %q", args[0])
				}
				if *data == "" {
					return usagef("serve: name the data directory with --data")
				}
				qt, ok := traces.ParseQueryType(*queryType)
				if !ok {
					return usagef("--query-type: unknown query type %q", *queryType)
				}
				cfg, err := loadConfig(*cfgPath, sets)
				if err != nil {
					return err
				}
				book := pricing.Default()
				if *prices != "" {
					if book, err = pricing.Load(*prices); err != nil {
						return err
					}
				}
				logf := func(format string, a ...any) {
					if !*quiet {
						fmt.Fprintf(stderr, time.Now().UTC().Format("2006-01-02T15:04:05Z ")+format+"\n", a...)
					}
				}
				if os.Getenv("GOGC") == "" {
					// The proxy's live heap is small (a few MiB of stage state) and every call
					// allocates tens of KiB, so Go's default collects many times a second; each
					// cycle's CPU lands in some call's latency. Collecting at 5× the live heap
					// instead cut the proxy's added p99 in benchmarks/proxy runs (docs/live.md).
					debug.SetGCPercent(400)
				}
				srv, err := live.New(live.Options{Upstream: *upstream, DataDir: *data, Config: cfg, Book: book,
					Store: *storeSpec, TenantHeader: *tenantHeader, QueryType: qt, MaxBodyBytes: *maxBody,
					UpstreamTimeout: *timeout, RotateBytes: *rotate, Window: *window, MinCalls: *minCalls,
					BatchPoll: *batchPoll, Logf: logf})
				if err != nil {
					return err
				}
				ln, err := net.Listen("tcp", *listen)
				if err != nil {
					srv.Close(context.Background())
					return err
				}
				if host, _, _ := net.SplitHostPort(*listen); host != "" && !isLoopback(host) {
					logf("serve: listening on %s, not loopback: anyone who can reach it can spend through it", *listen)
				}
				hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second, MaxHeaderBytes: 1 << 20}
				fmt.Fprintf(stderr, "tarsopt serve: listening on http://%s, upstream %s, data in %s\n", ln.Addr(), strings.TrimSuffix(*upstream, "/"), *data)
				sig := make(chan os.Signal, 4)
				signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
				defer signal.Stop(sig)
				served := make(chan error, 1)
				go func() { served <- hs.Serve(ln) }()
				for {
					select {
					case err := <-served:
						srv.Close(context.Background())
						return err
					case s := <-sig:
						if s == syscall.SIGHUP {
							reload(srv, *cfgPath, sets, logf)
							continue
						}
						logf("serve: %v: shutting down, draining calls in flight (up to %v)", s, *drain)
						ctx, cancel := context.WithTimeout(context.Background(), *drain)
						err := hs.Shutdown(ctx)
						cerr := srv.Close(ctx)
						cancel()
						if err != nil && !errors.Is(err, http.ErrServerClosed) {
							return err
						}
						return cerr
					}
				}
			}
		},
	})
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// reload reads the configuration again (SIGHUP) and applies what can change without a restart.
func reload(srv *live.Server, path string, sets setFlags, logf func(string, ...any)) {
	cfg, err := loadConfig(path, sets)
	if err != nil {
		logf("serve: SIGHUP: the configuration does not load, nothing changed: %v", err)
		return
	}
	logf("serve: SIGHUP: configuration reloaded")
	srv.Reload(cfg)
}
