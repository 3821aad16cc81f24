package live

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tarsopt/tarsopt/config"
	"github.com/tarsopt/tarsopt/live/monitor"
	"github.com/tarsopt/tarsopt/live/store"
	"github.com/tarsopt/tarsopt/live/wire"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/strategies/batcher"
	"github.com/tarsopt/tarsopt/strategies/promptcache"
	"github.com/tarsopt/tarsopt/strategies/pruner"
	"github.com/tarsopt/tarsopt/strategies/router"
	"github.com/tarsopt/tarsopt/traces"
)

// DefaultUpstream is the Anthropic API's base URL.
const DefaultUpstream = "https://api.anthropic.com"

// Options configure a Server. Zero values take the defaults documented on each field.
type Options struct {
	// Upstream is the base URL calls are sent to; DefaultUpstream when empty.
	Upstream string
	// DataDir receives the recorded trace (DataDir/trace), the monitoring logs, costs.json and the
	// store (DataDir/state.db). Required.
	DataDir string
	// Config is the performance configuration: the stack, its settings, the upstream model
	// (quality curves for the quality estimate) and the rollback triggers; config.Default() when nil.
	Config *config.Config
	// Book prices calls; pricing.Default() when nil.
	Book *pricing.Book
	// Store says where answers and jobs are kept: "" or "bolt" (DataDir/state.db), "memory", or a
	// redis:// URL for several proxies sharing one cache.
	Store string
	// TenantHeader, when set, names a request header whose value is the tenant (a workspace id, say)
	// instead of a hash of the API key. Calls without it are keyed by the hash.
	TenantHeader string
	// QueryType is the query type of calls that do not say theirs in an x-tarsopt-query-type header;
	// traces.QueryFactLookup when zero. It chooses the response cache's TTL.
	QueryType traces.QueryType
	// MaxBodyBytes bounds a request body; 32 MiB when 0.
	MaxBodyBytes int64
	// UpstreamTimeout bounds one upstream call from send to the end of its answer; 10 minutes when 0.
	UpstreamTimeout time.Duration
	// RotateBytes starts a new trace file when the current one passes this size; 64 MiB when 0.
	RotateBytes int64
	// BlockTokens is the number of estimated prompt tokens per prefix hash in the trace; 64 when 0.
	BlockTokens int
	// Window and MinCalls set the rollback triggers' sliding window (monitor.Options).
	Window   time.Duration
	MinCalls int
	// BatchPoll is how often a submitted Message Batch is polled; 30 s when 0.
	BatchPoll time.Duration
	// Client sends upstream calls; a client with a transport sized for many concurrent calls when nil.
	Client *http.Client
	// Logf reports what the operator should know (rollbacks, failures to store); discarded when nil.
	Logf func(format string, args ...any)
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Server is the live proxy: an http.Handler for the Messages API that runs the configured strategy
// stack, plus what it writes to DataDir. Create it with New; call Close after the HTTP server has
// shut down.
type Server struct {
	o        Options
	upstream string
	cfg      *config.Config
	book     *pricing.Book
	up       *strategies.Upstream
	drv      *driver
	store    store.Store // jobs: every write durable when it returns
	// cacheStore holds the response cache's answers: the store with writes grouped into one
	// commit every few milliseconds (an answer lost in a crash is only a future miss).
	cacheStore store.Store
	rec        *recorder
	mon        *monitor.Monitor
	client     *http.Client
	mux        *http.ServeMux
	jobs       *jobs

	cascade    bool   // the router retries failed routed calls on a stronger model
	shared     bool   // the store is shared with other proxies (Redis)
	keepTurns  int    // the pruner's keep_turns, when the pruner is on
	cacheTTL   string // the prompt cache's TTL ("5m" or "1h"), when it is on
	cacheBPs   int    // the prompt cache's breakpoints
	seq        atomic.Int64
	flights    sync.Map // *strategies.Call → *flight, for followers to find their leader
	inflight   sync.WaitGroup
	closed     atomic.Bool
	closeOnce  sync.Once
	closeErr   error
	keys       sync.Map // tenant → API key, in memory only, for deferred jobs to run with
	storeFails atomic.Int64
}

// New builds a Server: it opens the store, the trace recorder and the monitor in o.DataDir and
// builds the stack from o.Config.
func New(o Options) (*Server, error) {
	if o.DataDir == "" {
		return nil, errors.New("live: no data directory")
	}
	if o.Upstream == "" {
		o.Upstream = DefaultUpstream
	}
	if o.Config == nil {
		o.Config = config.Default()
	}
	if o.Book == nil {
		o.Book = pricing.Default()
	}
	if o.QueryType == 0 {
		o.QueryType = traces.QueryFactLookup
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 32 << 20
	}
	if o.UpstreamTimeout <= 0 {
		o.UpstreamTimeout = 10 * time.Minute
	}
	if o.RotateBytes <= 0 {
		o.RotateBytes = 64 << 20
	}
	if o.BlockTokens <= 0 {
		o.BlockTokens = 64
	}
	if o.BatchPoll <= 0 {
		o.BatchPoll = 30 * time.Second
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1024, 256
		tr.ResponseHeaderTimeout = o.UpstreamTimeout
		o.Client = &http.Client{Transport: tr}
	}
	cfg := o.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if b, ok := cfg.Strategies.Get(batcher.Name).(*batcher.Settings); ok && b.Enabled() && b.Mode == batcher.ModeMerge {
		return nil, errors.New("live: strategies.batcher.mode merge is simulation only: the proxy cannot merge client requests into one; use batch_api")
	}
	s := &Server{o: o, upstream: strings.TrimSuffix(o.Upstream, "/"), cfg: cfg, book: o.Book, up: cfg.Upstream, client: o.Client}
	// Every strategy of the order is built, the disabled ones switched off, so that a reload (or
	// the admin endpoint) can switch any of them on without losing the others' state.
	js, err := cfg.JSON()
	if err != nil {
		return nil, err
	}
	all, err := config.Parse(js, "configuration")
	if err != nil {
		return nil, err
	}
	all.Only(cfg.Order...)
	stages, err := all.Stack(strategies.Env{Book: o.Book, Upstream: cfg.Upstream, BlockSize: o.BlockTokens, Seed: cfg.Seed})
	if err != nil {
		return nil, err
	}
	s.drv = newDriver(stages, func() int64 { return o.Now().UnixNano() })
	enabled := cfg.Enabled()
	for _, n := range s.drv.names {
		if !slices.Contains(enabled, n) {
			s.drv.setOff(n, true)
		}
	}
	if r, ok := cfg.Strategies.Get(router.Name).(*router.Settings); ok {
		s.cascade = r.Cascade.On
	}
	if p, ok := cfg.Strategies.Get(pruner.Name).(*pruner.Settings); ok {
		s.keepTurns = p.KeepTurns
	}
	if p, ok := cfg.Strategies.Get(promptcache.Name).(*promptcache.Settings); ok {
		s.cacheTTL, s.cacheBPs = p.TTL, p.Breakpoints
		if s.cacheBPs <= 0 || s.cacheBPs > 4 {
			s.cacheBPs = 4
		}
	}
	if s.store, err = store.Open(o.Store, o.DataDir); err != nil {
		return nil, err
	}
	s.cacheStore = store.NewBatched(s.store, 5*time.Millisecond)
	s.shared = strings.HasPrefix(o.Store, "redis://") || strings.HasPrefix(o.Store, "rediss://")
	if s.rec, err = openRecorder(o.DataDir, traces.Meta{Source: "live:tarsopt-serve", BlockSize: o.BlockTokens,
		Description: "calls recorded by tarsopt serve, in the order they completed"}, o.RotateBytes); err != nil {
		s.store.Close()
		return nil, err
	}
	s.mon, err = monitor.New(monitor.Options{Dir: o.DataDir, Triggers: cfg.RollbackTriggers, Window: o.Window,
		MinCalls: o.MinCalls, Strategies: s.drv.names, Now: o.Now})
	if err != nil {
		s.rec.Close()
		s.store.Close()
		return nil, err
	}
	for _, n := range s.drv.names {
		if s.drv.isOff(n) {
			s.mon.SetEnabled(n, false, "disabled in the configuration")
		}
	}
	if err := s.restoreCache(context.Background()); err != nil {
		o.Logf("live: restoring the response cache: %v", err)
	}
	s.jobs = newJobs(s)
	if err := s.jobs.restore(context.Background()); err != nil {
		o.Logf("live: restoring deferred jobs: %v", err)
	}
	s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /v1/messages", s.handleMessages)
	m.HandleFunc("POST /v1/messages/count_tokens", s.passThrough)
	m.HandleFunc("GET /v1/models", s.passThrough)
	m.HandleFunc("GET /v1/models/{id}", s.passThrough)
	m.HandleFunc("/v1/messages/batches", s.passThrough)
	m.HandleFunc("/v1/messages/batches/", s.passThrough)
	m.HandleFunc("POST /v1/tarsopt/jobs", s.jobs.submit)
	m.HandleFunc("GET /v1/tarsopt/jobs/{id}", s.jobs.get)
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if s.closed.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("closing\n"))
			return
		}
		w.Write([]byte("ok\n"))
	})
	m.Handle("GET /metrics", s.mon.Handler())
	m.HandleFunc("GET /admin/strategies", s.adminList)
	m.HandleFunc("POST /admin/strategies/{name}/{action}", s.adminSet)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		wire.WriteError(w, http.StatusNotFound, "not_found_error", "tarsopt serve: no route for "+r.Method+" "+r.URL.Path)
	})
	s.mux = m
}

// apiKey returns the request's API key: x-api-key, or the token of Authorization: Bearer.
func apiKey(r *http.Request) string {
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return k
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// tenantOf returns the tenant of a request: the configured header's value, or "k-" and the first
// 16 hex digits of the SHA-256 of the key (the key itself is never kept beyond memory).
func (s *Server) tenantOf(r *http.Request, key string) string {
	if s.o.TenantHeader != "" {
		if t := r.Header.Get(s.o.TenantHeader); t != "" {
			return t
		}
	}
	return tenantHash(key)
}

func tenantHash(key string) string {
	h := sha256.Sum256([]byte(key))
	return "k-" + hex.EncodeToString(h[:8])
}

// Reload applies a configuration read again (what serve does on SIGHUP): each strategy is switched
// on or off as cfg says, so a strategy a rollback switched off comes back on when cfg enables it.
// Changed settings and rollback triggers need a restart (the stages' state would be lost); Reload
// logs each one it leaves as it was.
func (s *Server) Reload(cfg *config.Config) {
	enabled := cfg.Enabled()
	for _, n := range s.drv.names {
		on := slices.Contains(enabled, n)
		if s.drv.isOff(n) == on {
			s.drv.setOff(n, !on)
			s.mon.SetEnabled(n, on, "reload")
			s.o.Logf("live: reload: %s switched %s", n, map[bool]string{true: "on", false: "off"}[on])
		}
		if !sameSettings(s.cfg.Strategies.Get(n), cfg.Strategies.Get(n)) {
			s.o.Logf("live: reload: strategies.%s settings changed: restart tarsopt serve to apply them", n)
		}
	}
	a, _ := json.Marshal(s.cfg.RollbackTriggers)
	b, _ := json.Marshal(cfg.RollbackTriggers)
	if !bytes.Equal(a, b) {
		s.o.Logf("live: reload: rollback_triggers changed: restart tarsopt serve to apply them")
	}
}

// sameSettings reports whether two strategy settings agree in everything but enabled.
func sameSettings(a, b strategies.Settings) bool {
	strip := func(x strategies.Settings) map[string]any {
		var m map[string]any
		if j, err := json.Marshal(x); err == nil {
			json.Unmarshal(j, &m)
		}
		delete(m, "enabled")
		return m
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

// Close finishes: it waits for the calls in flight (the HTTP server's Shutdown has stopped new
// ones), stops the timers, and flushes and closes the trace, the monitoring logs and the store.
// ctx bounds the wait.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		done := make(chan struct{})
		go func() { s.inflight.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.o.Logf("live: closing with calls still in flight: %v", ctx.Err())
		}
		s.drv.stop()
		s.jobs.stop()
		s.closeErr = errors.Join(s.rec.Close(), s.mon.Close(), s.cacheStore.Close(), s.store.Close())
	})
	return s.closeErr
}

// adminList answers GET /admin/strategies: each strategy of the stack, whether it is on, and its
// counters.
func (s *Server) adminList(w http.ResponseWriter, r *http.Request) {
	type st struct {
		Name     string             `json:"name"`
		On       bool               `json:"on"`
		Counters map[string]float64 `json:"counters,omitempty"`
	}
	cs := s.drv.counters()
	var out []st
	for _, n := range s.drv.names {
		x := st{Name: n, On: !s.drv.isOff(n), Counters: map[string]float64{}}
		for _, c := range cs[n] {
			x.Counters[c.Name] = c.Value
		}
		out = append(out, x)
	}
	writeJSON(w, http.StatusOK, map[string]any{"strategies": out, "window": s.mon.Window()})
}

// adminSet answers POST /admin/strategies/{name}/enable|disable.
func (s *Server) adminSet(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("name"), r.PathValue("action")
	var off bool
	switch action {
	case "enable":
	case "disable":
		off = true
	default:
		wire.WriteError(w, http.StatusNotFound, "not_found_error", "action must be enable or disable")
		return
	}
	if !s.drv.setOff(name, off) {
		wire.WriteError(w, http.StatusNotFound, "not_found_error", fmt.Sprintf("strategy %q is not in the stack (stack: %s)", name, strings.Join(s.drv.names, ", ")))
		return
	}
	s.mon.SetEnabled(name, !off, "admin")
	s.o.Logf("live: %s %sd by the admin endpoint", name, action)
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "on": !off})
}
