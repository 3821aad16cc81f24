package promptcache_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

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

// replay runs recs (cloned) through a promptcache stage with the given TTL and returns the totals
// and each record as the stage left it.
func replay(t *testing.T, recs []traces.Record, block int, ttl string) (totals, *promptcache.Stage, []traces.Record) {
	t.Helper()
	s := promptcache.Defaults()
	s.SetEnabled(true)
	s.TTL = ttl
	st := promptcache.New(s, strategies.Env{Book: pricing.Default(), BlockSize: block})
	var c strategies.Call
	var tot totals
	out := make([]traces.Record, len(recs))
	for i := range recs {
		c.Reset(&recs[i], uint64(i))
		p := c.Rec.PromptTokens()
		st.Handle(c.Arrival, &c)
		if c.Rec.PromptTokens() != p {
			t.Fatalf("call %d: prompt %d became %d", i, p, c.Rec.PromptTokens())
		}
		tot.add(t, &c.Rec)
		out[i] = c.Rec.Clone()
	}
	return tot, st, out
}

// TestClaudeCodeSample recomputes the bundled Claude Code transcripts' split, with the prefixes
// the stage infers from their sessions (the transcripts carry no prefix hashes: BlockSize 0), and
// compares it with the split Anthropic recorded, which Claude Code wrote with the 1-hour TTL.
//
// The sample starts cold: the first call of each session (and of the sub-agent) read a shared
// head that an earlier session, outside the sample, had cached, and the head estimate grows from
// one session to the next (11,515 then 17,915 tokens), so the stage's first calls miss where the
// provider's hit. Past a session's first call the recomputed split follows the recorded one call
// by call (within 3 blocks of reads), except at the two calls where the provider read less than
// the session's previous prompt, which the append-only assumption cannot see: the third call of
// session 491e126e (the previous call's last 1,562 tokens had not been cached) and the third of
// d6e0bada (a history rewrite that did not shrink the prompt: only the head was read).
//
// Measured (list prices): recorded $0.9288 (written with the 1-hour TTL); ttl none $3.0852; ttl 5m
// $0.9420 (+1.4%); ttl 1h $1.1578 (+24.7%). Past the first calls: recorded reads 559,446 tokens,
// recomputed 568,512 (+1.6%) with either TTL.
func TestClaudeCodeSample(t *testing.T) {
	recs := load(t, "claude-code", "claude-code")
	first := make([]bool, len(recs)) // the first call of its (session, agent)
	seen := map[[2]string]bool{}
	var rec, recLater totals
	for i := range recs {
		r := &recs[i]
		k := [2]string{r.Session, r.Agent}
		first[i] = !seen[k]
		seen[k] = true
		rec.add(t, r)
		if !first[i] {
			recLater.add(t, r)
		}
	}
	t.Log(rec.String("recorded"))
	t.Log(recLater.String("recorded past first calls"))
	none, _, _ := replay(t, recs, 0, promptcache.TTLNone)
	t.Log(none.String("ttl none"))
	got := map[string]totals{}
	for _, ttl := range []string{promptcache.TTL5m, promptcache.TTL1h} {
		tot, st, out := replay(t, recs, 0, ttl)
		got[ttl] = tot
		t.Log(tot.String("ttl " + ttl))
		var later totals
		for i := range out {
			if !first[i] {
				later.add(t, &out[i])
			}
		}
		t.Log(later.String("ttl " + ttl + " past first calls"))
		c := map[string]float64{}
		for _, x := range st.Counters() {
			c[x.Name] = x.Value
		}
		t.Logf("ttl %s counters: %v", ttl, c)
		if tot.prompt != rec.prompt || tot.prompt != none.prompt {
			t.Errorf("ttl %s: prompt total %d, recorded %d", ttl, tot.prompt, rec.prompt)
		}
		if c["inferred"] != float64(len(recs)) || c["no_prefix"] != 0 {
			t.Errorf("ttl %s: %v calls inferred, %v without prefix; want all %d inferred", ttl, c["inferred"], c["no_prefix"], len(recs))
		}
		// Call by call, past a session's first call and where the recorded read reached the
		// session's previous prompt (less 3 blocks), the read is the recorded one within 3 blocks.
		prev := map[[2]string]int64{}
		odd := 0
		for i := range out {
			r, o := &recs[i], &out[i]
			k := [2]string{r.Session, r.Agent}
			if p, ok := prev[k]; ok && r.CacheRead >= p-3*promptcache.VirtualBlockSize {
				if d := o.CacheRead - r.CacheRead; d < -3*promptcache.VirtualBlockSize || d > 3*promptcache.VirtualBlockSize {
					t.Errorf("ttl %s: call %d (%s): read %d, recorded %d", ttl, i, r.ID, o.CacheRead, r.CacheRead)
				}
			} else if ok {
				odd++
			}
			prev[k] = r.PromptTokens()
		}
		if odd != 2 {
			t.Errorf("%d calls read less than their session's previous prompt, want the 2 measured", odd)
		}
		if d := relDiff(float64(later.read), float64(recLater.read)); d > 0.02 {
			t.Errorf("ttl %s past first calls: read %d tokens, recorded %d (%+.1f%%): want within 2%%", ttl, later.read, recLater.read, 100*d)
		}
		if ttl == promptcache.TTL1h {
			// Like for like (the recording's TTL), whole sample: the cold start costs up to a
			// quarter more (measured +24.7%).
			if ratio := float64(tot.cost) / float64(rec.cost); ratio < 1 || ratio > 1.3 {
				t.Errorf("ttl 1h: cost %s, recorded %s (×%.3f): want ×1 to ×1.3", tot.cost, rec.cost, ratio)
			}
		}
	}
	// The 5-minute cache writes more (the head expires between sessions, 43 and 54 minutes apart)
	// but at 1.25× instead of 2×: its bill comes within a few percent of the recorded 1-hour one
	// (measured +1.4%), and under the recomputed 1-hour bill.
	g5, g1 := got[promptcache.TTL5m], got[promptcache.TTL1h]
	if d := relDiff(float64(g5.cost), float64(rec.cost)); d > 0.03 {
		t.Errorf("ttl 5m: cost %s, recorded %s (%+.1f%%): want within 3%%", g5.cost, rec.cost, 100*d)
	}
	if g1.read < g5.read || g1.cost <= g5.cost || g5.cost >= none.cost/3 {
		t.Errorf("ttl 1h reads %d, cost %s; ttl 5m reads %d, cost %s; none %s: want 1h reading at least as much, yet costing more, and 5m under a third of none",
			g1.read, g1.cost, g5.read, g5.cost, none.cost)
	}
}

// relDiff returns |a−b|/b.
func relDiff(a, b float64) float64 {
	if a > b {
		return (a - b) / b
	}
	return (b - a) / b
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
		got, st, _ := replay(t, recs, block, ttl)
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
