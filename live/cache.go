package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// The response cache in live mode: the responsecache stage decides hits and evictions exactly as
// in a replay, and the answers' bodies live in the store under storeKey, with a header that lets a
// restarted proxy put them back into the stage. When the stage drops an answer (expired, evicted),
// the driver collects its key and the body is deleted; a body that has gone missing from the store
// (a shared Redis flushed, a file lost) turns a hit into a miss.

// cachePrefix begins every response-cache key in the store.
const cachePrefix = "rc/"

// storeKey is the store key of the answer to (tenant, model asked for, fingerprint).
func storeKey(tenant, model string, fp uint64) string {
	return fmt.Sprintf("%s%s/%s/%016x", cachePrefix, tenant, model, fp)
}

// entryHeader is the first line of a stored answer.
type entryHeader struct {
	Tenant    string `json:"tenant"`
	Model     string `json:"model"`
	FP        string `json:"fp"` // hex
	QueryType string `json:"query_type"`
	At        int64  `json:"at"` // when the answer was complete, Unix nanoseconds
	Output    int64  `json:"output"`
}

func encodeEntry(h entryHeader, body []byte) []byte {
	b, _ := json.Marshal(h)
	b = append(b, '\n')
	return append(b, body...)
}

func decodeEntry(v []byte) (entryHeader, []byte, error) {
	var h entryHeader
	i := bytes.IndexByte(v, '\n')
	if i < 0 {
		return h, nil, errors.New("no header line")
	}
	if err := json.Unmarshal(v[:i], &h); err != nil {
		return h, nil, fmt.Errorf("header: %w", err)
	}
	return h, v[i+1:], nil
}

// putBody stores the body of an answer the response cache has just stored.
func (s *Server) putBody(x *exchange, res *result) {
	if len(res.body) == 0 {
		return
	}
	c := x.c
	ttl := time.Duration(s.drv.cache.TTL(c.Rec.QueryType))
	h := entryHeader{Tenant: c.Rec.Tenant, Model: c.OrigModel, FP: fmt.Sprintf("%016x", c.Rec.Fingerprint),
		QueryType: c.Rec.QueryType.String(), At: res.done.UnixNano(), Output: res.usage.OutputTokens}
	if err := s.cacheStore.Put(context.Background(), storeKey(h.Tenant, h.Model, c.Rec.Fingerprint), encodeEntry(h, res.body), ttl); err != nil {
		s.storeFails.Add(1)
		s.o.Logf("live: storing a cached answer: %v", err)
	}
}

// dropBodies deletes the bodies of the answers the response cache let go.
func (s *Server) dropBodies() {
	if s.drv.cache == nil {
		return
	}
	for _, k := range s.drv.takeRemoved() {
		if err := s.cacheStore.Delete(context.Background(), storeKey(k.tenant, k.model, k.fp)); err != nil {
			s.storeFails.Add(1)
			s.o.Logf("live: deleting a cached answer: %v", err)
		}
	}
}

// adopt tells the response cache stage about an answer found in the store (restored after a
// restart, or stored by another proxy sharing the store), as if it had just been observed; it
// reports whether the stage keeps it (false when it is past its TTL).
func (s *Server) adopt(h entryHeader, fp uint64, now int64) bool {
	qt, _ := traces.ParseQueryType(h.QueryType)
	c := &strategies.Call{}
	c.Rec = traces.Record{Time: time.Unix(0, h.At).UTC(), Tenant: h.Tenant, Model: h.Model, QueryType: qt, Fingerprint: fp}
	c.Rec.Set(traces.FieldFingerprint)
	c.Rec.Set(traces.FieldTemperature) // stored answers were deterministic when the settings ask for that
	c.Begin(0)
	o := strategies.Outcome{OK: true, P: 1, Done: h.At, Output: h.Output}
	s.drv.mu.Lock()
	defer s.drv.mu.Unlock()
	s.drv.cache.Observe(now, c, &o)
	return s.drv.cache.LastStored()
}

// syncShared, with a store shared by several proxies, looks a cacheable call up in the store
// before the stack runs: an answer another proxy stored becomes known to this proxy's stage, which
// then serves it. (The stage's own bookkeeping, and so its eviction, stays per proxy.)
func (s *Server) syncShared(ctx context.Context, c *strategies.Call) {
	if !s.shared || s.drv.cache == nil || !s.drv.cache.Cacheable(&c.Rec) {
		return
	}
	b, ok, err := s.cacheStore.Get(ctx, storeKey(c.Rec.Tenant, c.OrigModel, c.Rec.Fingerprint))
	if err != nil || !ok {
		return
	}
	h, _, err := decodeEntry(b)
	if err != nil || h.Tenant != c.Rec.Tenant || h.Model != c.OrigModel {
		return
	}
	s.adopt(h, c.Rec.Fingerprint, s.o.Now().UnixNano())
}

// restoreCache puts the answers the store holds back into the response cache stage, oldest
// first, as if they had just been observed; those past their TTL are left out (and deleted).
func (s *Server) restoreCache(ctx context.Context) error {
	if s.drv.cache == nil {
		return nil
	}
	type ent struct {
		h   entryHeader
		fp  uint64
		key string
	}
	var ents []ent
	var bad []string
	err := s.cacheStore.Scan(ctx, cachePrefix, func(key string, val []byte) bool {
		h, _, err := decodeEntry(val)
		var fp uint64
		if err == nil {
			_, err = fmt.Sscanf(h.FP, "%x", &fp)
		}
		if err != nil {
			bad = append(bad, key)
			return true
		}
		ents = append(ents, ent{h: h, fp: fp, key: key})
		return true
	})
	if err != nil {
		return err
	}
	slices.SortStableFunc(ents, func(a, b ent) int { return int(min(max(a.h.At-b.h.At, -1), 1)) })
	now := s.o.Now().UnixNano()
	for _, e := range ents {
		if !s.adopt(e.h, e.fp, now) {
			bad = append(bad, e.key)
		}
	}
	s.dropBodies()
	for _, k := range bad {
		s.cacheStore.Delete(ctx, k)
	}
	if len(ents) > 0 {
		s.o.Logf("live: response cache: %d answers restored, %d dropped", len(ents)-len(bad), len(bad))
	}
	return nil
}
