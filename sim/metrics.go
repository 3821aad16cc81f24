package sim

import (
	"github.com/tarsopt/tarsopt/pricing"
)

// Metrics are the counts and sums of a run, over the whole trace or one day. Calls are counted on
// the day they arrived; upstream calls, tokens and costs on the day they were sent.
type Metrics struct {
	Calls    int64 // client calls
	Answered int64 // calls that got an answer (not an error)
	Failed   int64 // calls whose final attempt failed upstream
	// Served counts calls answered without an upstream call of their own: cache hits, and calls
	// coalesced or merged into another call.
	Served    int64
	CacheHits int64 // served by the response cache
	Batched   int64 // sent through the Batch API
	Deferred  int64 // held into the off-peak window
	Merged    int64 // merged into another call's request
	Routed    int64 // sent to another model than the client asked for
	Pruned    int64 // with history removed
	Late      int64 // non-interactive calls answered after their max_delay

	Upstream int64            // calls sent upstream, cascade retries included
	Retries  int64            // cascade retries
	Models   map[string]int64 // upstream calls by model, as named in the call

	// Tokens sent upstream.
	Input, CacheWrite5m, CacheWrite1h, CacheRead, Output int64
	PrunedTokens                                         int64 // history tokens removed by pruning

	Cost pricing.Breakdown // exact, by token kind

	QualitySum float64 // sum over answered calls of the probability the answer was acceptable
	Acceptable int64   // answered calls whose answer was acceptable (the draw)

	Interactive int64   // calls with no max_delay
	TTFTSum     int64   // interactive calls: sum of the times from arrival to the first token (µs)
	latency     hist    // interactive calls: from arrival to the last token (Total: finer buckets)
	byModel     []int64 // upstream calls by the run's model number, until the run ends
}

// countModel counts an upstream call to the model the run numbered id; the counts become Models
// when the run ends (see runner.result).
func (m *Metrics) countModel(id int32) {
	if int(id) >= len(m.byModel) {
		m.byModel = append(m.byModel, make([]int64, int(id)+1-len(m.byModel))...)
	}
	m.byModel[id]++
}

// nameModels moves the counts by model number into Models, naming them.
func (m *Metrics) nameModels(names []string) {
	for id, n := range m.byModel {
		if n == 0 {
			continue
		}
		if m.Models == nil {
			m.Models = map[string]int64{}
		}
		m.Models[names[id]] += n
	}
	m.byModel = nil
}

// Tokens returns every token sent upstream: prompt and output.
func (m *Metrics) Tokens() int64 {
	return m.Input + m.CacheWrite5m + m.CacheWrite1h + m.CacheRead + m.Output
}

// Add adds o into m: counts, tokens, costs and model counts (not latencies, which a day keeps to
// itself).
func (m *Metrics) Add(o *Metrics) { m.merge(o) }

// merge adds o into m.
func (m *Metrics) merge(o *Metrics) {
	m.Calls += o.Calls
	m.Answered += o.Answered
	m.Failed += o.Failed
	m.Served += o.Served
	m.CacheHits += o.CacheHits
	m.Batched += o.Batched
	m.Deferred += o.Deferred
	m.Merged += o.Merged
	m.Routed += o.Routed
	m.Pruned += o.Pruned
	m.Late += o.Late
	m.Upstream += o.Upstream
	m.Retries += o.Retries
	for k, v := range o.Models {
		if m.Models == nil {
			m.Models = map[string]int64{}
		}
		m.Models[k] += v
	}
	m.Input += o.Input
	m.CacheWrite5m += o.CacheWrite5m
	m.CacheWrite1h += o.CacheWrite1h
	m.CacheRead += o.CacheRead
	m.Output += o.Output
	m.PrunedTokens += o.PrunedTokens
	m.Cost.Add(o.Cost)
	m.QualitySum += o.QualitySum
	m.Acceptable += o.Acceptable
	m.Interactive += o.Interactive
	m.TTFTSum += o.TTFTSum
}
