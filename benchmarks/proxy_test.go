package benchmarks

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/internal/fakeapi"
	"github.com/tarsopt/tarsopt/live"
)

// BenchmarkProxy measures the latency tarsopt serve adds, in one process: calls to a fake
// upstream on loopback, directly (path=direct) and through the proxy with every strategy on
// (path=proxy; all calls are cache misses: temperature 1, each unique), and through a bare
// reverse proxy (path=bare), at concurrency 1 and 32.
// ns/op is wall time per call over all workers; p50-ms and p99-ms are per-call latencies. The
// added latency is proxy − direct in the same run. With upstream=0s the fake answers at once, so
// at c=32 the three parties saturate the machine's cores and the figures measure throughput under
// contention; with upstream=50ms (each answer waits 25 to 75 ms, drawn per request, as a model's
// time to first token, still far below a real one's) the machine is not saturated and the added
// latency is the proxy's own. The fake reports its own time per answer (X-Fake-Service-Us), and
// p50-outside-ms and p99-outside-ms are the percentiles of each call's time outside the upstream:
// the added latency is proxy's minus direct's, free of the upstream's spread. benchmarks/proxy/run.sh measures the same with
// the processes apart, for any gateway.
func BenchmarkProxy(b *testing.B) {
	fake := fakeapi.New()
	defer fake.Close()
	fake.KeepRequests(false)
	cfg := config.Default()
	if err := cfg.Set("strategies.promptcache.enabled=true"); err != nil {
		b.Fatal(err)
	}
	srv, err := live.New(live.Options{Upstream: fake.URL(), DataDir: b.TempDir(), Config: cfg})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer func() {
		ts.Close()
		srv.Close(context.Background())
	}()
	// A bare reverse proxy (net/http/httputil) is the floor any Go gateway starts from: one more
	// loopback hop, one more HTTP server and client. path=bare shows it in the same run.
	up, _ := url.Parse(fake.URL())
	bare := httptest.NewServer(httputil.NewSingleHostReverseProxy(up))
	defer bare.Close()
	system := strings.Repeat("You are a careful assistant for an operations team. ", 20)
	var seq atomic.Int64
	body := func() string {
		return fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":64,"temperature":1,"system":%q,"messages":[`+
			`{"role":"user","content":"What failed in last night's deploy?"},{"role":"assistant","content":"The migration step timed out."},`+
			`{"role":"user","content":"Why, and what do we change? (request %d)"}]}`, system, seq.Add(1))
	}
	for _, lat := range []time.Duration{0, 50 * time.Millisecond} {
		fake.SetLatency(lat/2, lat*3/2)
		for _, c := range []int{1, 32} {
			for _, path := range []struct{ name, url string }{{"direct", fake.URL()}, {"bare", bare.URL}, {"proxy", ts.URL}} {
				b.Run(fmt.Sprintf("upstream=%v/c=%d/path=%s", lat, c, path.name), func(b *testing.B) {
					b.ReportAllocs()
					cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c, MaxIdleConns: c}}
					lat := make([]time.Duration, 0, b.N)
					over := make([]time.Duration, 0, b.N)
					var mu sync.Mutex
					var next atomic.Int64
					var failed atomic.Int64
					b.ResetTimer()
					var wg sync.WaitGroup
					for range c {
						wg.Add(1)
						go func() {
							defer wg.Done()
							var mine, mineOver []time.Duration
							for next.Add(1) <= int64(b.N) {
								req, _ := http.NewRequest("POST", path.url+"/v1/messages", strings.NewReader(body()))
								req.Header.Set("X-Api-Key", "sk-ant-bench")
								req.Header.Set("Anthropic-Version", "2023-06-01")
								req.Header.Set("Content-Type", "application/json")
								t0 := time.Now()
								resp, err := cl.Do(req)
								if err != nil {
									failed.Add(1)
									continue
								}
								io.Copy(io.Discard, resp.Body)
								resp.Body.Close()
								d := time.Since(t0)
								mine = append(mine, d)
								us, _ := strconv.ParseInt(resp.Header.Get("X-Fake-Service-Us"), 10, 64)
								mineOver = append(mineOver, d-time.Duration(us)*time.Microsecond)
								if resp.StatusCode != 200 {
									failed.Add(1)
								}
							}
							mu.Lock()
							lat = append(lat, mine...)
							over = append(over, mineOver...)
							mu.Unlock()
						}()
					}
					wg.Wait()
					b.StopTimer()
					if failed.Load() > 0 {
						b.Fatalf("%d calls failed", failed.Load())
					}
					slices.Sort(lat)
					slices.Sort(over)
					q := func(x []time.Duration, p float64) float64 { return float64(x[int(p*float64(len(x)-1))]) / 1e6 }
					b.ReportMetric(q(lat, 0.5), "p50-ms")
					b.ReportMetric(q(lat, 0.99), "p99-ms")
					// Outside the upstream: each call's time less the fake's own (its latency included).
					b.ReportMetric(q(over, 0.5), "p50-outside-ms")
					b.ReportMetric(q(over, 0.99), "p99-outside-ms")
				})
			}
		}
	}
}
