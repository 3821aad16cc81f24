package wire

import (
	"fmt"
)

// Prune removes the oldest conversation history so that at most keepTurns turns of history remain
// and the history's estimated tokens (as Tokens counts them) are at most keepTokens; a negative
// limit is no limit. It returns the estimated tokens removed.
//
// History is every message but the last; Prune never touches the system prompt, the tools or the
// last message. A turn is a user message that is not purely tool_result blocks (a human turn)
// with the messages after it up to the next such user message, so an agent loop of tool_use and
// tool_result messages is one turn with the message that started it; messages before the first
// turn count as one more turn. Turns are removed whole, oldest first, which keeps the first
// remaining message a user message, as the API requires. A cut that would separate a tool_use
// from its tool_result (a turn that opens with tool results of the turn before, or a last message
// holding the results of tool_use blocks in history) is not made: Prune cuts at the first turn
// boundary after it that satisfies the limits instead, or, when no boundary satisfies them, at
// the latest one it may cut at, removing as much as the rules allow. When the limits already hold,
// or no cut is possible, it changes nothing and returns 0.
//
// An agent's history is mostly one long loop of tool_use and tool_result messages after one human
// message, which no turn boundary can cut. When the limits still do not hold after the cut by
// turns, Prune also removes the oldest whole tool exchanges after the first remaining message
// (see pruneLoop): the message that set the task stays, and so do the latest exchanges.
//
// The error reports content that Prune cannot read (set through the struct to invalid JSON); the
// request is then unchanged.
func (r *Request) Prune(keepTurns int, keepTokens int64) (removed int64, err error) {
	n := len(r.Messages)
	if n < 2 {
		return 0, nil
	}
	hist := n - 1 // messages[:hist] is the history
	tok := make([]int64, n)
	start := make([]bool, n) // start[k]: history may begin at message k (a turn boundary)
	useAt := map[string]int{}
	type result struct {
		id string
		at int
	}
	var results []result
	for i := range r.Messages {
		m := &r.Messages[i]
		if len(m.Content) > 0 && m.contentCache() == nil && !validJSON(m.Content) {
			return 0, fmt.Errorf("messages[%d].content: %w", i, errNotJSON)
		}
		tok[i] = messageTokens(m)
		start[i] = m.Role == "user" && (i == hist || !pureToolResults(m.Content))
		uses, res := toolIDs(m.Content)
		for _, id := range uses {
			useAt[id] = i
		}
		for _, id := range res {
			results = append(results, result{id, i})
		}
	}
	// A cut at k keeps messages[k:]; it splits a pair (use at i, result at j) when
	// min(i,j) < k <= max(i,j).
	split := make([]int, n+1)
	for _, res := range results {
		i, ok := useAt[res.id]
		if !ok || i == res.at {
			continue
		}
		lo, hi := min(i, res.at), max(i, res.at)
		split[lo+1]++
		split[hi+1]--
	}
	valid := make([]bool, n)
	for k, open := 0, 0; k < n; k++ {
		open += split[k]
		valid[k] = k > 0 && start[k] && open == 0
	}
	// kept[k]: turns and tokens of history kept by a cut at k.
	turns := make([]int, n+1)
	toks := make([]int64, n+1)
	for k := hist - 1; k >= 0; k-- {
		turns[k], toks[k] = turns[k+1], toks[k+1]+tok[k]
		if start[k] {
			turns[k]++
		}
	}
	if !start[0] {
		turns[0]++ // the messages before the first turn
	}
	ok := func(k int) bool {
		return (keepTurns < 0 || turns[k] <= keepTurns) && (keepTokens < 0 || toks[k] <= keepTokens)
	}
	if ok(0) {
		return 0, nil
	}
	defer func() {
		if err == nil {
			removed += r.pruneLoop(keepTokens)
		}
	}()
	cut := -1
	for k := 1; k <= hist; k++ {
		if valid[k] && ok(k) {
			cut = k
			break
		}
	}
	if cut < 0 {
		for k := hist; k >= 1; k-- {
			if valid[k] {
				cut = k
				break
			}
		}
	}
	if cut < 0 {
		return 0, nil
	}
	for _, t := range tok[:cut] {
		removed += t
	}
	r.Messages = r.Messages[cut:]
	return removed, nil
}

func validJSON(raw []byte) bool {
	s := scanner{b: raw}
	return s.skip() == nil && s.end() == nil
}

// toolIDs returns the ids of the tool-use blocks of a content value and the tool_use_ids of its
// tool-result blocks.
func toolIDs(content []byte) (uses, results []string) {
	s := trusted(content)
	if s.peek() != '[' {
		return nil, nil
	}
	s.i++
	var scratch []byte
	for first := true; ; first = false {
		more, err := s.arrayNext(first)
		if err != nil || !more {
			return uses, results
		}
		f, ok := readBlockAt(&s, &scratch)
		if !ok {
			return uses, results
		}
		t := f.typeName()
		switch {
		case isToolUse(t) && f.id.ok:
			uses = append(uses, string(appendUnescaped(nil, f.id.raw)))
		case f.toolID.ok:
			results = append(results, string(appendUnescaped(nil, f.toolID.raw)))
		}
	}
}

// pruneLoop removes messages[1:k] for the smallest k that brings the history within the limits
// (or, when none does, the largest k allowed): messages[0] (the task) stays, messages[k] must be
// an assistant message (so that the conversation still alternates), and every tool_use/tool_result
// pair lies wholly inside or wholly outside the removed range. Only the token limit applies here
// (turns are human turns, and a loop is one). It returns the estimated tokens removed.
func (r *Request) pruneLoop(keepTokens int64) int64 {
	n := len(r.Messages)
	hist := n - 1
	if hist < 3 || keepTokens < 0 {
		return 0
	}
	tok := make([]int64, n)
	useAt := map[string]int{}
	type pair struct{ use, result int }
	var results []pair
	resultIDs := map[int][]string{}
	for i := range r.Messages {
		m := &r.Messages[i]
		tok[i] = messageTokens(m)
		uses, res := toolIDs(m.Content)
		for _, id := range uses {
			useAt[id] = i
		}
		resultIDs[i] = res
	}
	for j, ids := range resultIDs {
		for _, id := range ids {
			if i, ok := useAt[id]; ok && i != j {
				results = append(results, pair{i, j})
			}
		}
	}
	// Kept history for a cut at k: messages[0] and messages[k:hist].
	keptToks := make([]int64, n+1)
	for k := hist - 1; k >= 1; k-- {
		keptToks[k] = keptToks[k+1] + tok[k]
	}
	within := func(k int) bool { return keptToks[k]+tok[0] <= keepTokens }
	if within(1) {
		return 0
	}
	valid := func(k int) bool {
		if r.Messages[k].Role != "assistant" {
			return false
		}
		for _, p := range results {
			if (p.use >= 1 && p.use < k) != (p.result >= 1 && p.result < k) {
				return false
			}
		}
		return true
	}
	cut := -1
	for k := 2; k < hist; k++ {
		if valid(k) && within(k) {
			cut = k
			break
		}
	}
	if cut < 0 {
		for k := hist - 1; k >= 2; k-- {
			if valid(k) {
				cut = k
				break
			}
		}
	}
	if cut < 0 {
		return 0
	}
	var removed int64
	for _, t := range tok[1:cut] {
		removed += t
	}
	r.Messages = append(r.Messages[:1], r.Messages[cut:]...)
	return removed
}
