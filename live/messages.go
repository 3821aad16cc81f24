package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tarsopt/tarsopt/live/monitor"
	"github.com/tarsopt/tarsopt/live/wire"
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/strategies/responsecache"
	"github.com/tarsopt/tarsopt/traces"
)

// Request headers a client may send to tell the proxy about a call (never passed upstream).
const (
	// HeaderMaxDelay says how long the call may wait (Go duration such as "30m", or seconds):
	// it makes the call deferrable and eligible for batching.
	HeaderMaxDelay = "X-Tarsopt-Max-Delay"
	// HeaderQueryType names the call's query type (research, fact_lookup, code_pattern, template,
	// chat, tool, heartbeat): it chooses the response cache's TTL and the router's base complexity.
	HeaderQueryType = "X-Tarsopt-Query-Type"
	// HeaderPriority is urgent, normal or low.
	HeaderPriority = "X-Tarsopt-Priority"
	// HeaderSession groups calls of one conversation or task in the trace.
	HeaderSession = "X-Tarsopt-Session"
	// HeaderComplexity overrides the estimated complexity (0 to 100).
	HeaderComplexity = "X-Tarsopt-Complexity"
)

// hints are what a request's x-tarsopt-* headers say.
type hints struct {
	maxDelay   time.Duration
	queryType  traces.QueryType
	priority   traces.Priority
	session    string
	complexity float64
	hasComplex bool
}

func parseHints(h http.Header, def traces.QueryType) (hints, error) {
	x := hints{queryType: def, session: h.Get(HeaderSession)}
	if v := h.Get(HeaderMaxDelay); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			secs, ferr := strconv.ParseFloat(v, 64)
			if ferr != nil || secs < 0 {
				return x, fmt.Errorf("%s: %q is neither a duration (\"30m\") nor seconds", HeaderMaxDelay, v)
			}
			d = time.Duration(secs * float64(time.Second))
		}
		if d < 0 {
			return x, fmt.Errorf("%s: negative", HeaderMaxDelay)
		}
		x.maxDelay = d
	}
	if v := h.Get(HeaderQueryType); v != "" {
		q, ok := traces.ParseQueryType(v)
		if !ok {
			return x, fmt.Errorf("%s: unknown query type %q", HeaderQueryType, v)
		}
		x.queryType = q
	}
	if v := h.Get(HeaderPriority); v != "" {
		p, ok := traces.ParsePriority(v)
		if !ok {
			return x, fmt.Errorf("%s: unknown priority %q (urgent, normal, low)", HeaderPriority, v)
		}
		x.priority = p
	}
	if v := h.Get(HeaderComplexity); v != "" {
		c, err := strconv.ParseFloat(v, 64)
		if err != nil || c < 0 || c > 100 {
			return x, fmt.Errorf("%s: %q is not a number from 0 to 100", HeaderComplexity, v)
		}
		x.complexity, x.hasComplex = c, true
	}
	return x, nil
}

// exchange is one client call on its way through the proxy.
type exchange struct {
	key     string // the API key: in memory only
	header  http.Header
	req     *wire.Request
	orig    traces.Record // the client's request as recorded, before any stage changed it
	c       *strategies.Call
	arrival time.Time
	async   bool // a deferred job: no client waits on the connection

	hit, bodyMissing bool
	age              int64 // hit: the answer's age, nanoseconds
	pruned           int64 // estimated tokens the pruner removed from the messages
	breakpoints      int   // cache_control breakpoints the proxy inserted
	cost             money.Amount
	sendAt           time.Time
	fl               *flight
}

// result is the answer a call ends with.
type result struct {
	status int
	header http.Header
	body   []byte // the whole JSON answer (or error); for a streamed answer the accumulated message
	usage  wire.Usage
	err    string // error type, when status is not 200
	ttft   time.Duration
	done   time.Time
}

// flight lets followers (calls coalesced into another, identical one) wait for their leader's
// answer.
type flight struct {
	done   chan struct{}
	res    *result
	closed bool // done is closed; only the call's own goroutine touches it
}

func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1)
	defer s.inflight.Done()
	arrival := s.o.Now()
	key := apiKey(r)
	if key == "" {
		wire.WriteError(w, http.StatusUnauthorized, "authentication_error", "tarsopt serve: an x-api-key or Authorization: Bearer header is required")
		return
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, s.o.MaxBodyBytes), r.ContentLength, s.o.MaxBodyBytes)
	if err != nil {
		bodyError(w, err)
		return
	}
	x, status, err := s.newExchange(body, r.Header, key, arrival)
	if err != nil {
		wire.WriteError(w, status, wire.ErrorKind(status), err.Error())
		return
	}
	s.jobs.unpark(x.c.Rec.Tenant, key)
	s.execute(r.Context(), x, w)
}

// newExchange parses a call and builds its record.
func (s *Server) newExchange(body []byte, h http.Header, key string, arrival time.Time) (*exchange, int, error) {
	req, err := wire.ParseRequest(body)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	hs, err := parseHints(h, s.o.QueryType)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	rec := traces.Record{Time: arrival.UTC(), Provider: "anthropic", Model: req.Model, QueryType: hs.queryType,
		Priority: hs.priority, Session: hs.session}
	rec.ID = "live-" + strconv.FormatInt(arrival.UnixNano(), 36) + "-" + strconv.FormatInt(s.seq.Add(1), 36)
	rec.Tenant = tenantHash(key)
	if s.o.TenantHeader != "" {
		if t := h.Get(s.o.TenantHeader); t != "" {
			rec.Tenant = t
		}
	}
	if req.Temperature != nil {
		rec.Temperature = *req.Temperature
		rec.Set(traces.FieldTemperature)
	}
	if hs.maxDelay > 0 {
		rec.MaxDelay = hs.maxDelay
		rec.Set(traces.FieldMaxDelay)
	}
	tb := req.Tokens()
	rec.SystemTokens, rec.HistoryTokens, rec.NewTokens, rec.Turn = tb.System, tb.History, tb.New, tb.Turns
	rec.Input = tb.System + tb.History + tb.New
	for _, f := range []traces.Field{traces.FieldSystemTokens, traces.FieldHistoryTokens, traces.FieldNewTokens, traces.FieldTurn, traces.FieldInput} {
		rec.Set(f)
	}
	rec.Fingerprint = req.Fingerprint()
	rec.Set(traces.FieldFingerprint)
	rec.Prefix = req.PrefixHashes(s.o.BlockTokens)
	if hs.hasComplex {
		rec.Complexity = hs.complexity
	} else {
		rec.Complexity = strategies.Complexity(&rec)
	}
	rec.Set(traces.FieldComplexity)
	// h is the client request's (or the job's own): it outlives the exchange, so it is not copied.
	x := &exchange{key: key, header: h, req: req, arrival: arrival, orig: rec.Clone()}
	x.c = &strategies.Call{Rec: rec}
	x.c.Begin(strategies.KeyOf(&x.c.Rec, 0))
	x.fl = &flight{done: make(chan struct{})}
	if s.drv.cache != nil && s.drv.cache.Cacheable(&rec) {
		x.hit = false // decided by the stage; the header says miss unless it serves
	}
	return x, 0, nil
}

// execute runs x through the stack, upstream and back, answering on w (nil for a job, whose
// answer is kept). It returns the final result.
func (s *Server) execute(ctx context.Context, x *exchange, w http.ResponseWriter) *result {
	c := x.c
	s.flights.Store(c, x.fl)
	defer s.flights.Delete(c)
	s.syncShared(ctx, c)
	from := 0
	for {
		st := s.drv.advance(s.o.Now().UnixNano(), c, from)
		switch st.kind {
		case stepServe:
			if c.ServedBy == responsecache.Name {
				if res := s.serveHit(ctx, x, st, w); res != nil {
					return res
				}
				from = st.stage + 1 // the body is gone: go on as a miss
				continue
			}
			return s.follow(ctx, x, w)
		case stepSleep:
			if err := sleepUntil(ctx, s.o.Now, st.until); err != nil {
				return s.abandon(x, w, err)
			}
			from = st.stage + 1
			continue
		case stepWait:
			select {
			case <-st.wait:
			case <-ctx.Done():
				return s.abandon(x, w, ctx.Err())
			}
			if c.Served && c.Leader != nil {
				return s.follow(ctx, x, w)
			}
			from = st.stage + 1
			continue
		}
		// Past the last stage: send.
		res, final := s.send(ctx, x, w)
		outcome := strategies.Outcome{OK: res.status == http.StatusOK, P: 1, Failed: res.status != http.StatusOK,
			Done: res.done.UnixNano(), Output: res.usage.OutputTokens}
		retry, resume, stored := s.drv.observe(res.done.UnixNano(), c, &outcome)
		if stored {
			s.putBody(x, res)
		}
		s.dropBodies()
		if retry != "" && !final {
			s.o.Logf("live: %s failed on %s (%d %s): cascading to %s", c.Rec.ID, c.Rec.Model, res.status, res.err, retry)
			c.Rec.Model = retry
			c.Retries++
			from = resume
			continue
		}
		if !final {
			s.conclude(x, w, res)
		}
		s.finishFollowers(c, res, &outcome)
		return res
	}
}

// conclude ends a call with res: followers waiting on it are released, the call is recorded and
// the client answered (w nil: a job, whose caller keeps res).
func (s *Server) conclude(x *exchange, w http.ResponseWriter, res *result) *result {
	x.fl.res = res
	if !x.fl.closed {
		x.fl.closed = true
		close(x.fl.done)
	}
	s.finish(x, res)
	s.reply(x, w, res)
	return res
}

// abandon ends a call whose client went away while it waited.
func (s *Server) abandon(x *exchange, w http.ResponseWriter, err error) *result {
	res := &result{status: 499, err: "client_closed", done: s.o.Now()}
	if x.async && s.jobs.ctx.Err() != nil {
		// A job stopped by shutdown: not an answer; it runs again after a restart.
		x.fl.res = res
		if !x.fl.closed {
			x.fl.closed = true
			close(x.fl.done)
		}
		return res
	}
	if errors.Is(err, context.DeadlineExceeded) {
		res.status, res.err = http.StatusGatewayTimeout, "timeout_error"
	}
	return s.conclude(x, nil, res)
}

// follow answers a call that shares another call's answer (coalesced deferred duplicates).
func (s *Server) follow(ctx context.Context, x *exchange, w http.ResponseWriter) *result {
	v, ok := s.flights.Load(x.c.Leader)
	var res *result
	if ok {
		fl := v.(*flight)
		select {
		case <-fl.done:
			res = fl.res
		case <-ctx.Done():
			return s.abandon(x, w, ctx.Err())
		}
	}
	if res == nil {
		res = &result{status: http.StatusBadGateway, err: "api_error", done: s.o.Now(),
			body: errorJSON("api_error", "tarsopt serve: the call this one was coalesced with ended without an answer")}
	}
	out := &result{status: res.status, body: res.body, usage: res.usage, err: res.err, done: s.o.Now(), header: http.Header{}}
	x.cost = 0
	return s.conclude(x, w, out)
}

// finishFollowers completes the calls coalesced into c with its outcome.
func (s *Server) finishFollowers(c *strategies.Call, res *result, o *strategies.Outcome) {
	for _, f := range c.Followers {
		fo := *o
		fo.RetryWith = ""
		s.drv.observe(res.done.UnixNano(), f, &fo)
	}
}

// serveHit answers from the stored body; nil when the body is gone (the call goes on as a miss).
func (s *Server) serveHit(ctx context.Context, x *exchange, st step, w http.ResponseWriter) *result {
	c := x.c
	b, ok, err := s.cacheStore.Get(ctx, storeKey(c.Rec.Tenant, c.OrigModel, c.Rec.Fingerprint))
	if err != nil || !ok {
		if err != nil {
			s.o.Logf("live: reading a cached answer: %v", err)
		}
		c.Served, c.ServedBy = false, ""
		x.bodyMissing = true
		return nil
	}
	_, body, err := decodeEntry(b)
	if err != nil {
		s.o.Logf("live: a cached answer is corrupt: %v", err)
		c.Served, c.ServedBy = false, ""
		x.bodyMissing = true
		return nil
	}
	x.hit, x.age = true, st.age
	var usage wire.Usage
	if rp, err := wire.ParseResponse(body); err == nil {
		usage = rp.Usage
	}
	res := &result{status: http.StatusOK, body: body, usage: usage, done: s.o.Now(), header: http.Header{"Content-Type": {"application/json"}}}
	return s.conclude(x, w, res)
}

// apply rewrites the request as the stages decided: the routed model, the pruned history, the
// prompt-cache breakpoints.
func (s *Server) apply(x *exchange) error {
	c := x.c
	x.req.Model = c.Rec.Model
	if c.Pruned > 0 && x.pruned == 0 && s.keepTurns > 0 {
		removed, err := x.req.Prune(s.keepTurns, c.Rec.HistoryTokens)
		if err != nil {
			return err
		}
		x.pruned = removed
	}
	if s.cacheTTL != "" && !s.drv.isOff("promptcache") && x.breakpoints == 0 {
		x.breakpoints = x.req.AddCacheControl(s.cacheTTL, s.cacheBPs)
	}
	return nil
}

// send calls the upstream with the request as the stages shaped it. For a streamed call it
// writes the answer to w event by event as it comes, holding back the final message_stop until
// the call is recorded. final is false for a failed call that a cascade may retry: nothing was
// recorded or answered yet, and the caller concludes it when no retry follows.
func (s *Server) send(ctx context.Context, x *exchange, w http.ResponseWriter) (res *result, final bool) {
	if err := s.apply(x); err != nil {
		res := &result{status: http.StatusBadRequest, err: "invalid_request_error", done: s.o.Now(),
			body: errorJSON("invalid_request_error", "tarsopt serve: pruning: "+err.Error())}
		return s.conclude(x, w, res), true
	}
	if x.c.Send == 0 {
		x.c.Send = s.o.Now().UnixNano()
	}
	x.sendAt = s.o.Now()
	if x.c.Batched {
		return s.conclude(x, w, s.sendBatch(ctx, x)), true
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.UpstreamTimeout)
	defer cancel()
	stream := x.req.Stream && w != nil
	body := x.req.Marshal()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.upstream+"/v1/messages", bytes.NewReader(body))
	if err != nil {
		return s.failed(x, w, http.StatusBadGateway, "api_error", err.Error())
	}
	copyRequestHeaders(hreq.Header, x.header)
	if x.async {
		hreq.Header.Set("X-Api-Key", x.key)
		hreq.Header.Set("Anthropic-Version", defaultVersion(x.header))
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(hreq)
	if err != nil {
		st, kind, msg := upstreamStatus(err)
		return s.failed(x, w, st, kind, msg)
	}
	defer resp.Body.Close()
	if !stream || resp.StatusCode != http.StatusOK {
		b, err := readBody(resp.Body, resp.ContentLength, maxAnswerBytes)
		if err != nil {
			st, kind, msg := upstreamStatus(err)
			return s.failed(x, w, st, kind, msg)
		}
		res := &result{status: resp.StatusCode, body: b, done: s.o.Now(), header: resp.Header}
		res.ttft = res.done.Sub(x.sendAt)
		if resp.StatusCode == http.StatusOK {
			rp, err := wire.ParseResponse(b)
			if err != nil {
				return s.failed(x, w, http.StatusBadGateway, "api_error", "tarsopt serve: the upstream's answer is not a message: "+err.Error())
			}
			res.usage = rp.Usage
			if stream { // unreachable: streamed 200s take the other path
				res.header.Set("Content-Type", "application/json")
			}
		} else {
			res.err = errorType(b, resp.StatusCode)
		}
		if s.retryable(x, res) {
			return res, false
		}
		return s.conclude(x, w, res), true
	}
	return s.relay(x, w, resp), true
}

// retryable reports whether a failed call will be retried on another model (a cascade): the
// router's Observe decides, so this only says whether it may.
func (s *Server) retryable(x *exchange, res *result) bool {
	return res.status != http.StatusOK && x.c.Routed && s.cascade && !s.drv.isOff("router")
}

// relay passes a streamed answer to the client event by event.
func (s *Server) relay(x *exchange, w http.ResponseWriter, resp *http.Response) *result {
	h := w.Header()
	copyResponseHeaders(h, resp.Header)
	s.decorate(x, h)
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	er := wire.NewEventReader(resp.Body)
	var acc wire.Accumulator
	res := &result{status: http.StatusOK}
	var stop []byte
	first := true
	for {
		ev, err := er.Next()
		if err != nil {
			if errors.Is(err, io.EOF) && acc.Complete() {
				break
			}
			// The upstream went away mid-stream: tell the client in the stream's own terms.
			st, kind, msg := upstreamStatus(err)
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				st, kind, msg = http.StatusBadGateway, "api_error", "tarsopt serve: the upstream's stream ended before message_stop"
			}
			res.status, res.err, res.done = st, kind, s.o.Now()
			res.usage = acc.Usage()
			s.conclude(x, nil, res)
			writeEvent(w, "error", errorJSON(kind, msg))
			if fl != nil {
				fl.Flush()
			}
			return res
		}
		if first {
			res.ttft = s.o.Now().Sub(x.sendAt)
			first = false
		}
		if aerr := acc.Add(ev); aerr != nil && ev.Name == "error" {
			res.status, res.err = http.StatusBadGateway, errorType(ev.Data, 500)
		}
		if ev.Name == "message_stop" {
			stop = ev.Raw
			break
		}
		if _, err := w.Write(ev.Raw); err != nil {
			// The client went away: the upstream call is cancelled with the request's context.
			res.status, res.err, res.done = 499, "client_closed", s.o.Now()
			res.usage = acc.Usage()
			return s.conclude(x, nil, res)
		}
		if fl != nil {
			fl.Flush()
		}
	}
	res.done = s.o.Now()
	res.usage = acc.Usage()
	if msg, err := acc.Message(); err == nil {
		res.body = msg
	}
	s.conclude(x, nil, res) // recorded before the client sees the end of its answer
	if stop != nil {
		w.Write(stop)
	}
	if fl != nil {
		fl.Flush()
	}
	return res
}

// failed ends a call whose upstream call failed before any answer.
func (s *Server) failed(x *exchange, w http.ResponseWriter, status int, kind, msg string) (*result, bool) {
	res := &result{status: status, err: kind, done: s.o.Now(), body: errorJSON(kind, msg), header: http.Header{"Content-Type": {"application/json"}}}
	if s.retryable(x, res) {
		return res, false
	}
	return s.conclude(x, w, res), true
}

// reply writes a whole (non-streamed) result to w, with the proxy's headers; as SSE when the client
// asked for a stream and the answer is a message (a cache hit, a batched or coalesced answer).
func (s *Server) reply(x *exchange, w http.ResponseWriter, res *result) {
	if w == nil {
		return
	}
	h := w.Header()
	if res.header != nil {
		copyResponseHeaders(h, res.header)
	}
	s.decorate(x, h)
	if res.status == http.StatusOK && x.req.Stream {
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		if err := wire.WriteEvents(w, res.body); err != nil {
			s.o.Logf("live: writing a stored answer as events: %v", err)
		}
		return
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	w.WriteHeader(res.status)
	w.Write(res.body)
}

// decorate sets the x-tarsopt-* headers that say what the proxy did.
func (s *Server) decorate(x *exchange, h http.Header) {
	c := x.c
	h.Set("X-Tarsopt-Call-Id", c.Rec.ID)
	switch {
	case x.hit:
		h.Set("X-Tarsopt-Cache", "hit")
		h.Set("X-Tarsopt-Cache-Age-S", strconv.FormatFloat(float64(x.age)/1e9, 'f', 3, 64))
	case s.drv.cache == nil || s.drv.isOff(responsecache.Name):
		h.Set("X-Tarsopt-Cache", "off")
	case s.drv.cache.Cacheable(&x.orig):
		h.Set("X-Tarsopt-Cache", "miss")
	default:
		h.Set("X-Tarsopt-Cache", "bypass")
	}
	h.Set("X-Tarsopt-Model-From", c.OrigModel)
	h.Set("X-Tarsopt-Model-To", c.Rec.Model)
	if x.hit {
		h.Set("X-Tarsopt-Model-To", c.OrigModel)
	}
	h.Set("X-Tarsopt-Pruned-Tokens", strconv.FormatInt(x.pruned, 10))
	if c.Deferred {
		h.Set("X-Tarsopt-Deferred-Ms", strconv.FormatInt(max(c.Send-c.Arrival, 0)/1e6, 10))
	}
	if c.Batched {
		h.Set("X-Tarsopt-Batched", "true")
	}
	if x.breakpoints > 0 {
		h.Set("X-Tarsopt-Cache-Breakpoints", strconv.Itoa(x.breakpoints))
	}
}

// finish records a finished call: its trace record, the monitor's event, and any rollback.
func (s *Server) finish(x *exchange, res *result) {
	rec, billed := s.records(x, res)
	if err := s.rec.Write(&rec); err != nil {
		s.o.Logf("live: recording call %s: %v", rec.ID, err)
	}
	var cost money.Amount
	if !x.hit && !x.c.Served && billed != nil && res.status == http.StatusOK {
		if b, err := s.book.CostAt(billed, x.sendAt); err == nil {
			cost = b.Total()
		}
	}
	x.cost += cost
	var base money.Amount // what the client's request would have cost without the proxy; a failure costs nothing
	if res.status == http.StatusOK {
		if b, err := s.book.CostAt(&rec, rec.Time); err == nil {
			base = b.Total()
		}
	}
	c := x.c
	model := c.Rec.Model
	if x.hit {
		model = c.OrigModel
	}
	ev := &monitor.Event{
		ID: rec.ID, Time: x.arrival, Done: res.done, Tenant: rec.Tenant, Model: model, OrigModel: c.OrigModel,
		QueryType: rec.QueryType.String(), Status: res.status, Error: res.err,
		Cacheable: s.drv.cache != nil && s.drv.cache.Cacheable(&x.orig), CacheHit: x.hit, Stale: c.Stale,
		Routed: c.Routed && !x.hit, PrunedTokens: x.pruned, Batched: c.Batched, Deferred: c.Deferred,
		Streamed: x.req.Stream, Cost: x.cost, BaselineCost: base,
		Latency: res.done.Sub(x.arrival), TTFT: max(res.ttft+x.sendAt.Sub(x.arrival), 0),
		BaselineTTFT: time.Duration(s.up.SpeedOf(c.OrigModel).TTFT * float64(time.Second)),
		Quality:      s.up.QualityOf(model, strategies.Complexity(&x.orig)) * c.Quality,
	}
	if x.sendAt.IsZero() {
		ev.TTFT = ev.Latency
	}
	if billed != nil {
		ev.Input, ev.CacheWrite5m, ev.CacheWrite1h, ev.CacheRead, ev.Output = billed.Input, billed.CacheWrite5m, billed.CacheWrite1h, billed.CacheRead, billed.Output
	}
	if c.Deferred {
		ev.DeferredFor = time.Duration(max(c.Send-c.Arrival, 0))
	}
	for _, f := range s.mon.Record(ev) {
		for _, name := range f.Disable {
			if s.drv.setOff(name, true) {
				s.mon.SetEnabled(name, false, fmt.Sprintf("rollback: %s = %.4g", f.Trigger.Metric, f.Value))
				s.o.Logf("live: rollback: %s = %.4g crossed its threshold: %s switched off", f.Trigger.Metric, f.Value, name)
			}
		}
	}
}

// records builds the call's trace record (the client's request as it came, with the answer's
// tokens, so that a replay decides about it as the proxy did) and, for a call that went upstream,
// the record of what was billed (the model sent to, the tokens the provider counted).
func (s *Server) records(x *exchange, res *result) (rec traces.Record, billed *traces.Record) {
	rec = x.orig.Clone()
	u := res.usage
	rec.Status = res.status
	rec.Set(traces.FieldStatus)
	if res.err != "" {
		rec.Error = res.err
	}
	lat := res.done.Sub(x.arrival)
	rec.Latency = max(lat, 0)
	rec.Set(traces.FieldLatency)
	if res.ttft > 0 {
		rec.TTFT = min(res.ttft+max(x.sendAt.Sub(x.arrival), 0), rec.Latency)
		rec.Set(traces.FieldTTFT)
	}
	if x.hit || x.c.Served {
		// No upstream call: the prompt is the estimate, the output the answer's.
		rec.Output = u.OutputTokens
		rec.Set(traces.FieldOutput)
		return rec, nil
	}
	if res.status != http.StatusOK && u.InputTokens == 0 && u.OutputTokens == 0 {
		return rec, nil // no usage: the estimate stands
	}
	b := x.orig.Clone()
	b.Model = x.c.Rec.Model
	b.Input, b.CacheWrite5m, b.CacheWrite1h, b.CacheRead, b.Output = u.InputTokens, u.CacheWrite5m, u.CacheWrite1h, u.CacheReadInputTokens, u.OutputTokens
	if x.c.Batched {
		b.ServiceTier = traces.TierBatch
	}
	for _, f := range []traces.Field{traces.FieldInput, traces.FieldCacheWrite5m, traces.FieldCacheWrite1h, traces.FieldCacheRead, traces.FieldOutput} {
		b.Set(f)
	}
	billed = &b
	// The client's request: what was billed, plus what the proxy removed; the prompt-cache split
	// only when the client asked for it (breakpoints the proxy inserted are its strategy's doing).
	prompt := u.InputTokens + u.CacheWrite5m + u.CacheWrite1h + u.CacheReadInputTokens
	if x.breakpoints > 0 {
		rec.Input, rec.CacheWrite5m, rec.CacheWrite1h, rec.CacheRead = prompt+x.pruned, 0, 0, 0
	} else {
		rec.Input, rec.CacheWrite5m, rec.CacheWrite1h, rec.CacheRead = u.InputTokens+x.pruned, u.CacheWrite5m, u.CacheWrite1h, u.CacheReadInputTokens
	}
	rec.Output = u.OutputTokens
	for _, f := range []traces.Field{traces.FieldInput, traces.FieldCacheWrite5m, traces.FieldCacheWrite1h, traces.FieldCacheRead, traces.FieldOutput} {
		rec.Set(f)
	}
	if x.cost > 0 || res.status == http.StatusOK {
		if bb, err := s.book.CostAt(billed, x.sendAt); err == nil {
			rec.Cost = x.cost + bb.Total()
			rec.Set(traces.FieldCost)
		}
	}
	return rec, billed
}

// errorType reads the error type from an Anthropic error body, or names the status's.
func errorType(b []byte, status int) string {
	var e struct {
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Type != "" {
		return e.Error.Type
	}
	return wire.ErrorKind(status)
}

func errorJSON(kind, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": kind, "message": msg}})
	return b
}

func writeEvent(w io.Writer, name string, data []byte) {
	var b strings.Builder
	b.WriteString("event: ")
	b.WriteString(name)
	b.WriteString("\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	io.WriteString(w, b.String())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func defaultVersion(h http.Header) string {
	if v := h.Get("Anthropic-Version"); v != "" {
		return v
	}
	return "2023-06-01"
}
