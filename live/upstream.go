package live

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tarsopt/tarsopt/live/wire"
)

// hopHeaders are not passed on in either direction (RFC 9110 §7.6.1), with the headers the proxy
// sets itself.
var hopHeaders = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Content-Length": true, "Host": true, "Accept-Encoding": true, "Content-Encoding": true,
}

// copyRequestHeaders copies the client's headers an upstream call needs (credentials, API version
// and betas, the SDK's own), leaving out hop-by-hop headers and the proxy's x-tarsopt-* hints.
func copyRequestHeaders(dst, src http.Header) {
	for k, vs := range src {
		if hopHeaders[k] || (len(k) >= 10 && strings.EqualFold(k[:10], "x-tarsopt-")) {
			continue
		}
		dst[k] = append([]string(nil), vs...)
	}
}

// copyResponseHeaders copies the upstream's answer headers (request-id, rate limits,
// content-type, retry-after) to the client's.
func copyResponseHeaders(dst, src http.Header) {
	for k, vs := range src {
		if hopHeaders[k] {
			continue
		}
		dst[k] = append([]string(nil), vs...)
	}
}

// passThrough forwards a request the proxy does not optimise (count_tokens, models, batches) to
// the upstream unchanged and streams the answer back.
func (s *Server) passThrough(w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1)
	defer s.inflight.Done()
	if apiKey(r) == "" {
		wire.WriteError(w, http.StatusUnauthorized, "authentication_error", "tarsopt serve: an x-api-key or Authorization: Bearer header is required")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.o.UpstreamTimeout)
	defer cancel()
	var body io.Reader
	if r.Body != nil && r.Method != http.MethodGet && r.Method != http.MethodHead {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.o.MaxBodyBytes))
		if err != nil {
			bodyError(w, err)
			return
		}
		body = bytes.NewReader(b)
	}
	u := s.upstream + r.URL.Path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u, body)
	if err != nil {
		wire.WriteError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	copyRequestHeaders(req.Header, r.Header)
	resp, err := s.client.Do(req)
	if err != nil {
		upstreamError(w, err)
		return
	}
	defer resp.Body.Close()
	copyResponseHeaders(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	fl, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

// maxAnswerBytes bounds an upstream answer the proxy reads whole.
const maxAnswerBytes = 256 << 20

// readBody reads r whole, into one allocation when the length is known; more than limit bytes is
// an *http.MaxBytesError.
func readBody(r io.Reader, length, limit int64) ([]byte, error) {
	if length > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	if length < 0 {
		b, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err == nil && int64(len(b)) > limit {
			err = &http.MaxBytesError{Limit: limit}
		}
		return b, err
	}
	b := make([]byte, length)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// bodyError answers a request whose body could not be read.
func bodyError(w http.ResponseWriter, err error) {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		wire.WriteError(w, http.StatusRequestEntityTooLarge, "request_too_large",
			"tarsopt serve: request body over the limit of "+strconv.FormatInt(mb.Limit, 10)+" bytes")
		return
	}
	wire.WriteError(w, http.StatusBadRequest, "invalid_request_error", "tarsopt serve: reading the request body: "+err.Error())
}

// upstreamStatus maps an error calling the upstream to the status and error type the client gets:
// 504 timeout_error for a timeout, 502 api_error for anything else (connection refused, reset).
func upstreamStatus(err error) (int, string, string) {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return http.StatusGatewayTimeout, "timeout_error", "tarsopt serve: the upstream did not answer in time"
	}
	return http.StatusBadGateway, "api_error", "tarsopt serve: upstream call failed: " + redact(err.Error())
}

func upstreamError(w http.ResponseWriter, err error) {
	st, kind, msg := upstreamStatus(err)
	wire.WriteError(w, st, kind, msg)
}

// redact removes anything after "key" in an error message: URLs the proxy builds carry no key,
// but an error is never allowed to carry one into a log.
func redact(s string) string {
	if i := strings.Index(strings.ToLower(s), "key="); i >= 0 {
		return s[:i] + "key=[redacted]"
	}
	return s
}

// sleepUntil waits until t (Unix nanoseconds) or ctx is done.
func sleepUntil(ctx context.Context, now func() time.Time, t int64) error {
	d := time.Duration(t - now().UnixNano())
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
