// Command bareproxy is the floor of the gateway overhead benchmark: a bare
// net/http/httputil.ReverseProxy that forwards every request to the upstream as it is, with no
// parsing, no strategy and no logging. Whatever a Go gateway adds on top of it is its own work.
//
//	GATEWAY_CMD='go run ./benchmarks/proxy/bareproxy -listen 127.0.0.1:{PORT} -upstream {UPSTREAM}' benchmarks/proxy/run.sh
package main

import (
	"flag"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "loopback `address` to listen on")
	upstream := flag.String("upstream", "", "base `URL` of the upstream (required)")
	flag.Parse()
	u, err := url.Parse(*upstream)
	if err != nil || u.Scheme == "" || u.Host == "" {
		fmt.Fprintln(os.Stderr, "usage: bareproxy -listen ADDR -upstream URL")
		os.Exit(2)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("/", rp)
	if err := http.ListenAndServe(*listen, mux); err != nil {
		fmt.Fprintln(os.Stderr, "bareproxy:", err)
		os.Exit(1)
	}
}
