package live

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tarsopt/tarsopt/live/wire"
)

// sendBatch sends a call the batcher released through the Message Batches API: the call is
// submitted as a batch, polled every Options.BatchPoll until the batch has ended, and answered
// with its result, billed at the batch price. The batcher decides when calls go (by size or by its
// window); each call is its own request in the API, so a batch's price does not depend on how
// many calls it carries.
func (s *Server) sendBatch(ctx context.Context, x *exchange) *result {
	fail := func(status int, kind, msg string) *result {
		return &result{status: status, err: kind, done: s.o.Now(), body: errorJSON(kind, msg), header: http.Header{"Content-Type": {"application/json"}}}
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(x.req.Marshal(), &params); err != nil {
		return fail(http.StatusBadRequest, "invalid_request_error", err.Error())
	}
	delete(params, "stream")
	body, _ := json.Marshal(map[string]any{"requests": []any{map[string]any{"custom_id": x.c.Rec.ID, "params": params}}})
	var batch struct {
		ID               string `json:"id"`
		ProcessingStatus string `json:"processing_status"`
		ResultsURL       string `json:"results_url"`
	}
	call := func(method, url string, body []byte, into any) (int, []byte, error) {
		cctx, cancel := context.WithTimeout(ctx, s.o.UpstreamTimeout)
		defer cancel()
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(cctx, method, url, rd)
		if err != nil {
			return 0, nil, err
		}
		copyRequestHeaders(req.Header, x.header)
		req.Header.Set("X-Api-Key", x.key)
		req.Header.Del("Authorization")
		req.Header.Set("Anthropic-Version", defaultVersion(x.header))
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := s.client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
		if err != nil {
			return resp.StatusCode, nil, err
		}
		if into != nil && resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(b, into); err != nil {
				return resp.StatusCode, b, err
			}
		}
		return resp.StatusCode, b, nil
	}
	st, b, err := call(http.MethodPost, s.upstream+"/v1/messages/batches", body, &batch)
	if err != nil {
		code, kind, msg := upstreamStatus(err)
		return fail(code, kind, msg)
	}
	if st != http.StatusOK {
		return &result{status: st, err: errorType(b, st), body: b, done: s.o.Now(), header: http.Header{"Content-Type": {"application/json"}}}
	}
	s.o.Logf("live: %s submitted as message batch %s", x.c.Rec.ID, batch.ID)
	for batch.ProcessingStatus != "ended" {
		select {
		case <-time.After(s.o.BatchPoll):
		case <-ctx.Done():
			return fail(http.StatusGatewayTimeout, "timeout_error", "tarsopt serve: gave up waiting for message batch "+batch.ID)
		}
		st, b, err = call(http.MethodGet, s.upstream+"/v1/messages/batches/"+batch.ID, nil, &batch)
		if err != nil || st != http.StatusOK {
			if err == nil {
				err = fmt.Errorf("status %d: %s", st, errorType(b, st))
			}
			s.o.Logf("live: polling message batch %s: %v", batch.ID, err)
		}
	}
	url := batch.ResultsURL
	if url == "" {
		url = s.upstream + "/v1/messages/batches/" + batch.ID + "/results"
	}
	st, b, err = call(http.MethodGet, url, nil, nil)
	if err != nil || st != http.StatusOK {
		if err == nil {
			return &result{status: st, err: errorType(b, st), body: b, done: s.o.Now()}
		}
		code, kind, msg := upstreamStatus(err)
		return fail(code, kind, msg)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	for sc.Scan() {
		var line struct {
			CustomID string `json:"custom_id"`
			Result   struct {
				Type    string          `json:"type"`
				Message json.RawMessage `json:"message"`
				Error   json.RawMessage `json:"error"`
			} `json:"result"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.CustomID != x.c.Rec.ID {
			continue
		}
		done := s.o.Now()
		if line.Result.Type != "succeeded" {
			r := fail(http.StatusBadGateway, "api_error", "tarsopt serve: message batch "+batch.ID+" request "+line.Result.Type)
			if len(line.Result.Error) > 0 {
				r.body, r.err = line.Result.Error, errorType(line.Result.Error, 500)
			}
			return r
		}
		res := &result{status: http.StatusOK, body: line.Result.Message, done: done, ttft: done.Sub(x.sendAt),
			header: http.Header{"Content-Type": {"application/json"}}}
		if rp, err := wire.ParseResponse(res.body); err == nil {
			res.usage = rp.Usage
		}
		return res
	}
	return fail(http.StatusBadGateway, "api_error", "tarsopt serve: message batch "+batch.ID+" has no result for "+x.c.Rec.ID)
}
