package promptcache

import (
	"fmt"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/internal/hash64"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// benchCalls builds conversations of turns calls each whose prompts grow evenly to maxBlocks
// blocks of 64 tokens (a 2,000-token system prompt first), interleaved round robin, one call a
// second (so with 4 conversations a conversation comes back every 4 seconds). The calls share
// their conversation's prefix array; Handle only reads it.
//
// With infer, the calls carry no prefix hashes (for a trace of BlockSize 0): the stage infers them.
func benchCalls(convs, turns, maxBlocks int, session, infer bool) []strategies.Call {
	const block = 64
	chains := make([][]uint64, convs)
	for i := range chains {
		ch := make([]uint64, maxBlocks)
		h := uint64(0xbe7c)
		for j := range ch {
			v := uint64(j)
			if j >= 2000/block {
				v = uint64(i)<<32 | uint64(j) // past the shared system prompt, each conversation its own
			}
			h = hash64.Combine(h, v)
			ch[j] = h
		}
		chains[i] = ch
	}
	calls := make([]strategies.Call, 0, convs*turns)
	start := time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
	for t := 0; t < turns; t++ {
		for i := 0; i < convs; i++ {
			n := 40 + (maxBlocks-40)*(t+1)/turns
			var c strategies.Call
			c.Rec.Time = start.Add(time.Duration(len(calls)) * time.Second)
			c.Rec.Model, c.Rec.Tenant = "claude-sonnet-4-5", "t"+fmt.Sprint(i%3)
			if session {
				c.Rec.Session = "conv" + fmt.Sprint(i)
			}
			if !infer {
				c.Rec.Prefix = chains[i][:n]
			}
			c.Rec.Input = int64(n*block + 17)
			c.Rec.SystemTokens = 2000
			c.Rec.Set(fieldInput)
			c.Rec.Set(fieldSystem)
			c.Arrival = c.Rec.Time.UnixNano()
			calls = append(calls, c)
		}
	}
	return calls
}

func BenchmarkHandle(b *testing.B) {
	cases := []struct {
		ttl              string
		convs, maxBlocks int
		session, infer   bool
	}{
		{TTL5m, 64, 200, true, false},
		{TTL5m, 8, 2800, true, false}, // few conversations: their prefixes stay in the CPU cache, as a just-read record's do
		{TTL5m, 64, 2800, true, false},
		{TTL1h, 64, 2800, true, false},
		{TTL5m, 64, 2800, false, false}, // no session hint: prompts outgrow the lookback, every probe misses
		{TTLNone, 64, 2800, true, false},
		{TTL5m, 64, 2800, true, true}, // prefixes inferred from the sessions
		{TTL1h, 64, 2800, true, true},
		{TTL5m, 4096, 200, true, true}, // many sessions live at once
	}
	for _, tc := range cases {
		name := fmt.Sprintf("ttl=%s/convs=%d/blocks=%d/session=%t/infer=%t", tc.ttl, tc.convs, tc.maxBlocks, tc.session, tc.infer)
		b.Run(name, func(b *testing.B) {
			calls := benchCalls(tc.convs, 50, tc.maxBlocks, tc.session, tc.infer)
			s := Defaults()
			s.TTL = tc.ttl
			env := strategies.Env{Book: pricing.Default(), BlockSize: 64}
			if tc.infer {
				env.BlockSize = 0
			}
			st := New(s, env)
			step := int64(time.Second)
			cycle := int64(len(calls)) * step
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c := &calls[i%len(calls)]
				now := c.Arrival + int64(i/len(calls))*cycle // the trace again, later
				st.Handle(now, c)
			}
		})
	}
}

const (
	fieldInput  = traces.FieldInput
	fieldSystem = traces.FieldSystemTokens
)
