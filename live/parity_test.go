package live_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/live"
	"github.com/tarsopt/tarsopt/money"
	"github.com/tarsopt/tarsopt/pricing"
	"github.com/tarsopt/tarsopt/sim"
	"github.com/tarsopt/tarsopt/strategies"
	"github.com/tarsopt/tarsopt/traces"
)

// decision is what was done to one call.
type decision struct {
	hit    bool
	model  string
	pruned bool
}

// Sim/live parity: traffic through the proxy, then its recorded trace replayed by the simulator
// with the same configuration: the same calls are cache hits, routed to the same models and
// pruned, and the replay's cost equals what the proxy paid, to the nano-dollar.
//
// The quality model is set to "always acceptable" (the proxy cannot know whether an answer was
// acceptable, so it stores every answered call; the simulator stores acceptable ones), deferral
// and batching are off (their timing is the wall clock's in live mode), and conversations have
// turns of equal length (the simulator prunes by the average turn, the proxy by whole turns).
func TestSimLiveParity(t *testing.T) {
	cfg := cfgWith(t, "strategies.deferral.enabled=false", "strategies.batcher.enabled=false",
		"strategies.pruner.keep_turns=2", "strategies.pruner.min_removed=10", "strategies.pruner.history_budget=100000")
	for k := range cfg.Upstream.Quality {
		cfg.Upstream.Quality[k] = strategies.Curve{Easy: 1, Hard: 1, Shape: 1}
	}
	cfg.Upstream.DefaultQuality = strategies.Curve{Easy: 1, Hard: 1, Shape: 1}
	cfg.Upstream.ErrorRate = 0
	p := start(t, cfg)

	live := map[string]decision{}
	send := func(key, body string, complexity int) {
		resp, b := p.post(key, body, "X-Tarsopt-Complexity", strconv.Itoa(complexity))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		pr, _ := strconv.Atoi(resp.Header.Get("X-Tarsopt-Pruned-Tokens"))
		live[resp.Header.Get("X-Tarsopt-Call-Id")] = decision{hit: resp.Header.Get("X-Tarsopt-Cache") == "hit",
			model: resp.Header.Get("X-Tarsopt-Model-To"), pruned: pr > 0}
	}
	turn := func(i int) string {
		return fmt.Sprintf(`{"role":"user","content":"q%02d %s"},{"role":"assistant","content":"a%02d %s"}`, i, strings.Repeat("u", 396), i, strings.Repeat("v", 396))
	}
	for round := range 3 {
		for i := range 12 {
			key := keyA
			if i%3 == 0 {
				key = keyB
			}
			// Short deterministic questions, repeated across rounds (hits from the second round).
			send(key, fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":24,"temperature":0,"messages":[{"role":"user","content":"fact %d"}]}`, i), 10+7*i)
			// Conversations growing a turn per round: pruned once past keep_turns.
			var turns []string
			for k := range 2 + round + i%3 {
				turns = append(turns, turn(k))
			}
			send(key, fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":24,"system":"Be brief.","messages":[%s,{"role":"user","content":"next %d %d"}]}`,
				strings.Join(turns, ","), round, i), 30+5*i)
		}
	}
	p.stop()

	recs := readTrace(t, p.dir)
	var paid money.Amount
	for _, r := range recs {
		paid += r.Cost
	}
	src, err := traces.Open(p.dir, traces.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	book := pricing.Default()
	stages, err := cfg.Stack(strategies.Env{Book: book, Upstream: cfg.Upstream, BlockSize: src.Meta().BlockSize, Seed: cfg.Seed})
	if err != nil {
		t.Fatal(err)
	}
	replayed := map[string]decision{}
	res, err := sim.Run(context.Background(), src, stages, sim.Options{Book: book, Upstream: cfg.Upstream, Seed: cfg.Seed,
		OnDone: func(now int64, c *strategies.Call, o *strategies.Outcome) {
			m := c.Rec.Model
			if c.Served {
				m = c.OrigModel
			}
			replayed[c.Rec.ID] = decision{hit: c.ServedBy == "responsecache", model: m, pruned: c.Pruned > 0}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(replayed) != len(live) || len(live) != 72 {
		t.Fatalf("replayed %d calls, sent %d, want 72", len(replayed), len(live))
	}
	var hits, routed, pruned int
	for id, l := range live {
		if r := replayed[id]; r != l {
			t.Errorf("call %s: live %+v, replay %+v", id, l, r)
		}
		if l.hit {
			hits++
		}
		if l.model != "claude-sonnet-4-5" && !l.hit {
			routed++
		}
		if l.pruned {
			pruned++
		}
	}
	if hits == 0 || routed == 0 || pruned == 0 {
		t.Errorf("the traffic exercised too little: %d hits, %d routed, %d pruned", hits, routed, pruned)
	}
	if got := res.Total.Cost.Total(); got != paid {
		t.Errorf("replayed cost %s, the proxy paid %s", got, paid)
	}
	t.Logf("72 calls: %d hits, %d routed, %d pruned; cost $%s in both", hits, routed, pruned, paid)
}

// A load of 20,000 calls at concurrency 64 on loopback: every call answered once, none lost or
// duplicated, upstream or in the trace.
func TestLoad20000(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	p := start(t, cfgWith(t), func(o *live.Options) { o.Logf = func(string, ...any) {} })
	p.fake.KeepRequests(false)
	const n, conc = 20000, 64
	tr := &http.Transport{MaxIdleConnsPerHost: conc}
	cl := &http.Client{Transport: tr}
	var next, ok, failed atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				req, _ := http.NewRequest("POST", p.ts.URL+"/v1/messages", strings.NewReader(fmt.Sprintf(
					`{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"load %d"}]}`, i)))
				req.Header.Set("X-Api-Key", keyA)
				req.Header.Set("Anthropic-Version", "2023-06-01")
				resp, err := cl.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				var buf [512]byte
				for {
					if _, err := resp.Body.Read(buf[:]); err != nil {
						break
					}
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	t0 := time.Now()
	wg.Wait()
	el := time.Since(t0)
	tr.CloseIdleConnections()
	if ok.Load() != n || failed.Load() != 0 {
		t.Fatalf("%d answered, %d failed, want %d and 0", ok.Load(), failed.Load(), n)
	}
	p.stop()
	recs := readTrace(t, p.dir)
	ids := map[string]bool{}
	for _, r := range recs {
		if ids[r.ID] {
			t.Fatalf("call %s recorded twice", r.ID)
		}
		ids[r.ID] = true
	}
	if len(recs) != n {
		t.Fatalf("trace holds %d calls, want %d", len(recs), n)
	}
	t.Logf("%d calls at concurrency %d in %v (%.0f calls/s)", n, conc, el.Round(time.Millisecond), n/el.Seconds())
}
