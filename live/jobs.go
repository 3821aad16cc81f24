package live

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tarsopt/tarsopt/live/wire"
)

// jobs is the asynchronous endpoint for deferrable calls: POST /v1/tarsopt/jobs takes a Messages
// request (with the same x-tarsopt-* headers as /v1/messages, x-tarsopt-max-delay saying how long
// it may wait) and answers 202 with a job id at once; GET /v1/tarsopt/jobs/{id} gives its status
// and, once done, the answer. A job is written to the store (durably) before the 202, and its
// result when it ends, so a job survives a restart or a kill: the restarted proxy runs the jobs it
// finds unfinished.
//
// API keys are never stored. A job restored after a restart waits ("waiting_for_key") until its
// tenant shows its key again, by fetching the job's status or by any other call through the proxy;
// then it runs with that key.
type jobs struct {
	s      *Server
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	parked map[string][]*job // tenant → jobs waiting for its key
}

// job is what the store keeps of a job.
type job struct {
	ID      string            `json:"id"`
	Tenant  string            `json:"tenant"`
	Created time.Time         `json:"created_at"`
	Status  string            `json:"status"` // queued, waiting_for_key, done
	Header  map[string]string `json:"header"` // the request's API version, betas and x-tarsopt-* hints
	Body    json.RawMessage   `json:"request"`
	Result  *jobResult        `json:"result,omitempty"`
}

type jobResult struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
	CallID string          `json:"call_id"`
	Done   time.Time       `json:"done_at"`
}

const jobPrefix = "job/"

func newJobs(s *Server) *jobs {
	ctx, cancel := context.WithCancel(context.Background())
	return &jobs{s: s, ctx: ctx, cancel: cancel, parked: map[string][]*job{}}
}

// keptHeaders are the request headers a job keeps to run with later.
func keptHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for k, vs := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "anthropic-") || strings.HasPrefix(lk, "x-tarsopt-") {
			out[http.CanonicalHeaderKey(k)] = strings.Join(vs, ",")
		}
	}
	return out
}

func (j *jobs) save(jb *job) error {
	b, err := json.Marshal(jb)
	if err != nil {
		return err
	}
	return j.s.store.Put(context.Background(), jobPrefix+jb.ID, b, 0)
}

// submit answers POST /v1/tarsopt/jobs.
func (j *jobs) submit(w http.ResponseWriter, r *http.Request) {
	s := j.s
	key := apiKey(r)
	if key == "" {
		wire.WriteError(w, http.StatusUnauthorized, "authentication_error", "tarsopt serve: an x-api-key or Authorization: Bearer header is required")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.o.MaxBodyBytes))
	if err != nil {
		bodyError(w, err)
		return
	}
	now := s.o.Now()
	// Check the request now, so that a bad one is refused rather than failing later.
	if _, status, err := s.newExchange(body, r.Header, key, now); err != nil {
		wire.WriteError(w, status, wire.ErrorKind(status), err.Error())
		return
	}
	jb := &job{ID: "job_" + strconv.FormatInt(now.UnixNano(), 36) + strconv.FormatInt(s.seq.Add(1), 36),
		Tenant: s.tenantOf(r, key), Created: now.UTC(), Status: "queued", Header: keptHeaders(r.Header), Body: body}
	if err := j.save(jb); err != nil {
		wire.WriteError(w, http.StatusInternalServerError, "api_error", "tarsopt serve: storing the job: "+err.Error())
		return
	}
	j.run(jb, key)
	writeJSON(w, http.StatusAccepted, map[string]any{"id": jb.ID, "status": jb.Status, "created_at": jb.Created, "url": "/v1/tarsopt/jobs/" + jb.ID})
}

// get answers GET /v1/tarsopt/jobs/{id}: only to the tenant that submitted the job.
func (j *jobs) get(w http.ResponseWriter, r *http.Request) {
	s := j.s
	key := apiKey(r)
	if key == "" {
		wire.WriteError(w, http.StatusUnauthorized, "authentication_error", "tarsopt serve: an x-api-key or Authorization: Bearer header is required")
		return
	}
	id := r.PathValue("id")
	b, ok, err := s.store.Get(r.Context(), jobPrefix+id)
	if err != nil {
		wire.WriteError(w, http.StatusInternalServerError, "api_error", "tarsopt serve: reading the job: "+err.Error())
		return
	}
	var jb job
	if !ok || json.Unmarshal(b, &jb) != nil || jb.Tenant != s.tenantOf(r, key) {
		wire.WriteError(w, http.StatusNotFound, "not_found_error", "tarsopt serve: no job "+id)
		return
	}
	j.unpark(jb.Tenant, key)
	writeJSON(w, http.StatusOK, jb)
}

// run starts jb with key in the background.
func (j *jobs) run(jb *job, key string) {
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		h := http.Header{}
		for k, v := range jb.Header {
			h.Set(k, v)
		}
		x, status, err := j.s.newExchange(jb.Body, h, key, jb.Created)
		var res *result
		if err != nil {
			res = &result{status: status, body: errorJSON(wire.ErrorKind(status), err.Error()), done: j.s.o.Now()}
		} else {
			x.async = true
			res = j.s.execute(j.ctx, x, nil)
			if j.ctx.Err() != nil {
				return // stopped by shutdown: the job stays queued and runs after a restart
			}
		}
		jb.Status = "done"
		callID := ""
		if x != nil {
			callID = x.c.Rec.ID
		}
		jb.Result = &jobResult{Status: res.status, Body: json.RawMessage(res.body), CallID: callID, Done: res.done.UTC()}
		if !json.Valid(res.body) {
			jb.Result.Body, _ = json.Marshal(string(res.body))
		}
		if err := j.save(jb); err != nil {
			j.s.o.Logf("live: storing the result of %s: %v", jb.ID, err)
		}
	}()
}

// restore runs the unfinished jobs the store holds; they wait for their tenant's key.
func (j *jobs) restore(ctx context.Context) error {
	var pending []*job
	err := j.s.store.Scan(ctx, jobPrefix, func(key string, val []byte) bool {
		var jb job
		if json.Unmarshal(val, &jb) == nil && jb.Status != "done" {
			pending = append(pending, &jb)
		}
		return true
	})
	if err != nil {
		return err
	}
	j.mu.Lock()
	for _, jb := range pending {
		jb.Status = "waiting_for_key"
		j.parked[jb.Tenant] = append(j.parked[jb.Tenant], jb)
		if err := j.save(jb); err != nil {
			j.s.o.Logf("live: %s: %v", jb.ID, err)
		}
	}
	j.mu.Unlock()
	if len(pending) > 0 {
		j.s.o.Logf("live: %d unfinished jobs restored; each runs when its tenant's key is seen again", len(pending))
	}
	return nil
}

// unpark runs the jobs of tenant that were waiting for its key.
func (j *jobs) unpark(tenant, key string) {
	j.mu.Lock()
	list := j.parked[tenant]
	delete(j.parked, tenant)
	j.mu.Unlock()
	for _, jb := range list {
		jb.Status = "queued"
		if err := j.save(jb); err != nil {
			j.s.o.Logf("live: %s: %v", jb.ID, err)
		}
		j.run(jb, key)
	}
}

// stop cancels the jobs still running and waits for them to return.
func (j *jobs) stop() {
	j.cancel()
	j.wg.Wait()
}
