package promptcache_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/tarsopt/tarsopt/internal/hash64"
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/strategies/promptcache"
	"github.com/tarsopt/tarsopt/traces"
	"github.com/tarsopt/tarsopt/traces/importers"
)

const testdata = "../../traces/importers/testdata"

// load imports the bundled sample of kind under dir, in time order, or skips the test when it is
// missing.
func load(t *testing.T, kind, dir string) []traces.Record {
	t.Helper()
	path := filepath.Join(testdata, dir)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("sample missing: %v", err)
	}
	imp, ok := importers.Lookup(kind)
	if !ok {
		t.Fatalf("no importer %q", kind)
	}
	var recs []traces.Record
	c := &importers.Collector{Next: func(r *traces.Record) error {
		recs = append(recs, r.Clone())
		return nil
	}}
	if err := imp.Import([]string{path}, importers.Options{Seed: 1}, c); err != nil {
		t.Fatalf("import: %v", err)
	}
	sort.SliceStable(recs, func(i, j int) bool {
		if !recs[i].Time.Equal(recs[j].Time) {
			return recs[i].Time.Before(recs[j].Time)
		}
		return recs[i].ID < recs[j].ID
	})
	if len(recs) == 0 {
		t.Fatal("no records")
	}
	return recs
}

// totals sums prompt splits and their cost at list prices.
type totals struct {
	calls, hits                   int
	prompt, input, w5m, w1h, read int64
	cost                          money.Amount
}

func (s *totals) add(t *testing.T, r *traces.Record) {
	s.calls++
	s.prompt += r.PromptTokens()
	s.input += r.Input
	s.w5m += r.CacheWrite5m
	s.w1h += r.CacheWrite1h
	s.read += r.CacheRead
	if r.CacheRead > 0 {
		s.hits++
	}
	b, err := pricing.Default().Cost(r)
	if err != nil {
		t.Fatalf("%s: %v", r.Model, err)
	}
	s.cost += b.Total()
}

func (s totals) String(label string) string {
	return fmt.Sprintf("%s: %d calls, %d with reads; prompt %d = input %d + write_5m %d + write_1h %d + read %d; cost %s",
		label, s.calls, s.hits, s.prompt, s.input, s.w5m, s.w1h, s.read, s.cost)
}

// replay runs recs (cloned) through a promptcache stage with the given TTL and returns the totals.
func replay(t *testing.T, recs []traces.Record, block int, ttl string) (totals, *promptcache.Stage) {
	t.Helper()
	s := promptcache.Defaults()
	s.SetEnabled(true)
	s.TTL = ttl
	st := promptcache.New(s, strategies.Env{Book: pricing.Default(), BlockSize: block})
	var c strategies.Call
	var tot totals
	for i := range recs {
		c.Reset(&recs[i], uint64(i))
		p := c.Rec.PromptTokens()
		st.Handle(c.Arrival, &c)
		if c.Rec.PromptTokens() != p {
			t.Fatalf("call %d: prompt %d became %d", i, p, c.Rec.PromptTokens())
		}
		tot.add(t, &c.Rec)
	}
	return tot, st
}

// TestClaudeCodeSample recomputes the bundled Claude Code transcripts' split and compares it with
// the split Anthropic recorded. The transcripts carry no prefix hashes, so the test makes them up
// from what the records do say: every (session, agent) is one conversation whose prompt only grows
// (block j of a conversation is the same at every turn, and no two conversations share a block).
// This cannot see what the real cache shared across sessions (the Claude Code system prompt and
// tools, read at the first call of a session), nor edits that rewrite history.
func TestClaudeCodeSample(t *testing.T) {
	recs := load(t, "claude-code", "claude-code")
	const block = 64
	var rec totals
	for i := range recs {
		r := &recs[i]
		rec.add(t, r)
		thread := hash64.String(r.Session + "\x00" + r.Agent)
		n := r.PromptTokens() / block
		r.Prefix = r.Prefix[:0]
		h := thread
		for j := int64(0); j < n; j++ {
			h = hash64.Combine(h, uint64(j))
			r.Prefix = append(r.Prefix, h)
		}
	}
	t.Log(rec.String("recorded"))
	none, _ := replay(t, recs, block, promptcache.TTLNone)
	t.Log(none.String("ttl none"))
	for _, ttl := range []string{promptcache.TTL5m, promptcache.TTL1h} {
		got, st := replay(t, recs, block, ttl)
		t.Log(got.String("ttl " + ttl))
		c := map[string]float64{}
		for _, x := range st.Counters() {
			c[x.Name] = x.Value
		}
		t.Logf("ttl %s counters: %v", ttl, c)
		if got.prompt != rec.prompt || got.prompt != none.prompt {
			t.Errorf("ttl %s: prompt total %d, recorded %d", ttl, got.prompt, rec.prompt)
		}
		if got.read == 0 || got.cost >= none.cost {
			t.Errorf("ttl %s: reads %d, cost %s against %s without caching: caching should pay on these sessions", ttl, got.read, got.cost, none.cost)
		}
		// Our made-up prefixes share nothing across sessions, so the real cache read more.
		if got.read > rec.read {
			t.Errorf("ttl %s: read %d tokens, more than the %d recorded", ttl, got.read, rec.read)
		}
	}
}

// TestWEKASample replays the bundled WEKA conversations (real prefix hashes, 64-token blocks, no
// recorded split: Input holds the whole prompt) and compares the reads with the most any cache
// could read: for every call, the longest prefix that an earlier call of the same model sent.
func TestWEKASample(t *testing.T) {
	recs := load(t, "weka", "weka")
	const block = 64
	var ideal, prompt int64
	seen := map[string]map[uint64]bool{}
	for i := range recs {
		r := &recs[i]
		m := seen[r.Model]
		if m == nil {
			m = map[uint64]bool{}
			seen[r.Model] = m
		}
		best := 0
		for p := len(r.Prefix); p > 0; p-- {
			if m[r.Prefix[p-1]] {
				best = p
				break
			}
		}
		ideal += min(int64(best)*block, r.PromptTokens())
		prompt += r.PromptTokens()
		for _, h := range r.Prefix {
			m[h] = true
		}
	}
	t.Logf("weka: %d calls, prompt %d tokens, an unbounded cache could read %d (%.1f%%)", len(recs), prompt, ideal, 100*float64(ideal)/float64(prompt))
	for _, ttl := range []string{promptcache.TTL5m, promptcache.TTL1h} {
		got, st := replay(t, recs, block, ttl)
		t.Log(got.String("ttl " + ttl))
		c := map[string]float64{}
		for _, x := range st.Counters() {
			c[x.Name] = x.Value
		}
		t.Logf("ttl %s counters: %v; reads are %.1f%% of the unbounded cache's", ttl, c, 100*float64(got.read)/float64(ideal))
		if got.read > ideal {
			t.Errorf("ttl %s: read %d tokens, more than any earlier call sent (%d)", ttl, got.read, ideal)
		}
		if got.read < ideal/2 {
			t.Errorf("ttl %s: read %d tokens, under half of the %d shareable: the growing conversations should hit", ttl, got.read, ideal)
		}
	}
}
