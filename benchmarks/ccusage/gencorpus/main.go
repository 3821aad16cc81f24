// Command gencorpus writes a seeded synthetic corpus of Claude Code session transcripts, laid out
// like ~/.claude: DIR/projects/<project>/<session>.jsonl plus sub-agent transcripts in
// DIR/projects/<project>/<session>/subagents/agent-<id>.jsonl. It feeds the parity check against
// ccusage (benchmarks/ccusage/compare.sh, docs/ccusage-parity.md).
//
// Usage:
//
//	go run ./benchmarks/ccusage/gencorpus -o DIR -seed 1 -lines 200000 -sessions 50
//
// The lines copy the format of real Claude Code 2.1.x logs: the envelope (parentUuid, isSidechain,
// userType, cwd, sessionId, version, gitBranch, type, uuid, timestamp), assistant lines with
// message.{model,id,type,role,content,usage} and requestId, user, progress (hook_progress and
// agent_progress), system, queue-operation, file-history-snapshot and, for older builds, summary
// lines. It contains the traps a cost analyzer must get right:
//
//   - streaming duplicates: one line per content block, all sharing message.id and requestId,
//     the earlier ones with the placeholder output_tokens of message_start and only the last (when
//     it was written at all) with the final count;
//   - sub-agents: isSidechain lines in subagents/agent-<id>.jsonl, mirrored line by line into the
//     parent transcript as agent_progress lines; some sub-agents exist only as agent_progress lines
//     (as in the real subagent.jsonl fixture);
//   - /btw side files that replay parent messages (isSidechain, same message.id, new requestId);
//   - resumed sessions that copy earlier calls verbatim into a new session file;
//   - 5m/1h cache_creation splits, and older-build lines without the cache_creation object, some
//     of them without requestId (one line per call);
//   - <synthetic> lines, isApiErrorMessage lines, lines missing message.id (zero usage), lines
//     missing sessionId or with a null sessionId or message.id;
//   - four models (claude-opus-4-6, claude-opus-4-5-20251101, claude-sonnet-4-5-20250929,
//     claude-haiku-4-5-20251001), timestamps over -days days with sessions running across UTC
//     midnight.
//
// By default nothing in it triggers a known difference between ccusage's pricing and Anthropic's
// billing: every prompt stays under 200,000 tokens, no call is batch or fast. The flags
// -long-context, -fast, -batch and -progress-placeholders switch those differences on.
//
// The same flags and seed give a byte-identical corpus: the generator uses its own PRNG and
// integer arithmetic only.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.out, "o", "", "output folder (it gets a projects/ subfolder); required")
	flag.Uint64Var(&cfg.seed, "seed", 1, "random seed")
	flag.IntVar(&cfg.lines, "lines", 200000, "total number of lines over all files")
	flag.IntVar(&cfg.sessions, "sessions", 50, "number of sessions (main transcripts)")
	flag.IntVar(&cfg.days, "days", 14, "days the sessions start in")
	start := flag.String("start", "2026-02-16", "first day (UTC), YYYY-MM-DD")
	flag.BoolVar(&cfg.longContext, "long-context", false, "let Sonnet 4.5 sessions grow past 200,000 prompt tokens")
	flag.BoolVar(&cfg.fast, "fast", false, "mark some claude-opus-4-6 calls speed: fast")
	flag.BoolVar(&cfg.batch, "batch", false, "mark some calls service_tier: batch")
	flag.BoolVar(&cfg.progressPlaceholders, "progress-placeholders", false,
		"mirror only the placeholder lines of sub-agent calls as agent_progress lines (the final line stays in the sub-agent file)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: gencorpus -o DIR [-seed N] [-lines N] [-sessions N] [flags]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if cfg.out == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	t, err := time.Parse("2006-01-02", *start)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gencorpus: -start: %v\n", err)
		os.Exit(2)
	}
	cfg.start = t.UTC()
	st, err := generate(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gencorpus: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "gencorpus: %d lines in %d files (%d sessions, %d sub-agent files), %d bytes; "+
		"%d API calls (%d in sub-agents, %d only as agent_progress), %d assistant lines\n",
		st.lines, st.files, cfg.sessions, st.subFiles, st.bytes, st.calls, st.subCalls, st.progressOnlyCalls, st.assistantLines)
}

type config struct {
	out                  string
	seed                 uint64
	lines, sessions      int
	days                 int
	start                time.Time
	longContext          bool
	fast, batch          bool
	progressPlaceholders bool
}

type stats struct {
	lines, files, subFiles, bytes int
	calls, subCalls               int
	progressOnlyCalls             int
	assistantLines                int
}

// ---- deterministic random numbers (xoshiro256**, seeded by splitmix64) ----

type rng struct{ s [4]uint64 }

func newRNG(seed uint64) *rng {
	r := &rng{}
	x := seed
	for i := range r.s {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		r.s[i] = z ^ (z >> 31)
	}
	return r
}

func rotl(x uint64, k uint) uint64 { return x<<k | x>>(64-k) }

func (r *rng) u64() uint64 {
	s := &r.s
	result := rotl(s[1]*5, 7) * 9
	t := s[1] << 17
	s[2] ^= s[0]
	s[3] ^= s[1]
	s[1] ^= s[2]
	s[0] ^= s[3]
	s[2] ^= t
	s[3] = rotl(s[3], 45)
	return result
}

// intn returns a number in [0, n).
func (r *rng) intn(n int) int {
	if n <= 0 {
		return 0
	}
	return int(r.u64() % uint64(n))
}

// between returns a number in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// chance is true with probability permille/1000.
func (r *rng) chance(permille int) bool { return r.intn(1000) < permille }

// pick returns an index drawn with the given weights.
func (r *rng) pick(weights ...int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	x := r.intn(total)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// span draws from buckets [bounds[i], bounds[i+1]) with the given weights.
func (r *rng) span(bounds []int, weights ...int) int {
	i := r.pick(weights...)
	return r.between(bounds[i], bounds[i+1]-1)
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func (r *rng) token(prefix string, n int) string {
	b := make([]byte, 0, len(prefix)+n)
	b = append(b, prefix...)
	for range n {
		b = append(b, base62[r.intn(62)])
	}
	return string(b)
}

func (r *rng) hex(n int) string {
	const h = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = h[r.intn(16)]
	}
	return string(b)
}

func (r *rng) uuid() string {
	h := r.hex(32)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-" + string("89ab"[r.intn(4)]) + h[17:20] + "-" + h[20:32]
}

var words = []string{
	"fix", "the", "test", "parser", "config", "update", "module", "handler", "check", "build",
	"refactor", "this", "function", "error", "logs", "add", "a", "flag", "for", "cache", "read",
	"file", "run", "again", "looks", "good", "now", "migrate", "schema", "route", "deploy", "staging",
	"rename", "variable", "docs", "why", "does", "it", "fail", "on", "ci", "please", "review", "diff",
}

func (r *rng) phrase(lo, hi int) string {
	n := r.between(lo, hi)
	b := make([]byte, 0, n*7)
	for i := range n {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, words[r.intn(len(words))]...)
	}
	return string(b)
}

// ---- models, builds, projects ----

const (
	opus46   = "claude-opus-4-6"
	opus45   = "claude-opus-4-5-20251101"
	sonnet45 = "claude-sonnet-4-5-20250929"
	haiku45  = "claude-haiku-4-5-20251001"
)

// build is a Claude Code version with the log features it writes.
type build struct {
	version    string
	splitCache bool // writes usage.cache_creation with the 5m/1h split
	speed      bool // writes usage.speed
	oldStyle   bool // older build: no inference_geo, summary lines, some calls without requestId
}

var builds = []build{
	{version: "2.1.38", splitCache: true},
	{version: "2.1.39", splitCache: true},
	{version: "2.1.59", splitCache: true, speed: true},
	{version: "1.0.98", oldStyle: true},
}

var projects = []struct{ name, cwd, branch string }{
	{"-home-dev-src-payments-api", "/home/dev/src/payments-api", "main"},
	{"-home-dev-src-webapp", "/home/dev/src/webapp", "feature/checkout"},
	{"-home-dev-src-infra", "/home/dev/src/infra", "master"},
	{"-home-dev-src-ml-pipeline", "/home/dev/src/ml-pipeline", "dev"},
	{"-home-dev-src-docs-site", "/home/dev/src/docs-site", "main"},
	{"-home-dev-work-mobile", "/home/dev/work/mobile", "release/2.3"},
}

var tools = []string{"Bash", "Read", "Edit", "Grep", "Glob", "Write", "WebFetch", "TodoWrite"}

// ---- generation ----

// usage is one line's usage object.
type usage struct {
	input, output, cacheRead int
	c5m, c1h                 int
	split                    bool // has the cache_creation object
	tier                     string
	speed                    string // "", "standard" or "fast"
	geo                      string
}

func (u usage) cacheCreation() int { return u.c5m + u.c1h }

func (u usage) total() int { return u.input + u.output + u.cacheRead + u.cacheCreation() }

// call is one API call as its final line shows it, kept for resumed sessions and /btw replays.
type call struct {
	model, msgID, reqID string
	u                   usage
	ts                  time.Time
	uuid, parent        string
	block               []byte
}

// file collects one transcript's lines.
type file struct {
	path  string
	lines [][]byte
}

type generator struct {
	cfg    config
	r      *rng
	st     stats
	recent [][]call                    // per project: the last calls, for resumed sessions
	truth  map[string]map[string]int64 // date → model → nano-dollars, by Anthropic's rules
}

func generate(cfg config) (stats, error) {
	if cfg.lines < cfg.sessions || cfg.sessions < 1 {
		return stats{}, errors.New("need -sessions >= 1 and -lines >= -sessions")
	}
	if cfg.days < 1 {
		return stats{}, errors.New("need -days >= 1")
	}
	g := &generator{cfg: cfg, r: newRNG(cfg.seed), recent: make([][]call, len(projects)),
		truth: map[string]map[string]int64{}}

	// Line budgets: random weights, then scaled to sum exactly to cfg.lines.
	weights := make([]int, cfg.sessions)
	total := 0
	for i := range weights {
		weights[i] = g.r.span([]int{40, 100, 200, 400}, 3, 5, 2)
		total += weights[i]
	}
	budgets := make([]int, cfg.sessions)
	assigned := 0
	for i, w := range weights {
		budgets[i] = cfg.lines * w / total
		if budgets[i] < 1 {
			budgets[i] = 1
		}
		assigned += budgets[i]
	}
	for i := 0; assigned != cfg.lines; i = (i + 1) % cfg.sessions {
		if assigned < cfg.lines {
			budgets[i]++
			assigned++
		} else if budgets[i] > 1 {
			budgets[i]--
			assigned--
		}
	}

	// Session start times: spread over the days, a quarter of them shortly before UTC midnight.
	starts := make([]time.Time, cfg.sessions)
	for i := range starts {
		day := cfg.start.AddDate(0, 0, i*cfg.days/cfg.sessions)
		var sec int
		if g.r.chance(250) {
			sec = 23*3600 + g.r.between(0, 58*60)
		} else {
			sec = g.r.between(6*3600, 22*3600)
		}
		starts[i] = day.Add(time.Duration(sec)*time.Second + time.Duration(g.r.intn(1000))*time.Millisecond)
	}

	for i := range cfg.sessions {
		s := g.newSession(i, starts[i], budgets[i])
		s.run()
		if err := g.write(s); err != nil {
			return g.st, err
		}
	}
	return g.st, g.writeTruth()
}

func (g *generator) write(s *session) error {
	for _, f := range s.files {
		if len(f.lines) == 0 {
			continue
		}
		p := filepath.Join(g.cfg.out, "projects", filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		var buf bytes.Buffer
		for _, l := range f.lines {
			buf.Write(l)
			buf.WriteByte('\n')
		}
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			return err
		}
		g.st.files++
		if f != s.files[0] {
			g.st.subFiles++
		}
		g.st.lines += len(f.lines)
		g.st.bytes += buf.Len()
	}
	return nil
}

// session generates one main transcript and its sub-agent files.
type session struct {
	g       *generator
	r       *rng
	id      string
	project int
	b       build
	model   string
	ttl1h   int // permille of cache writes that are 1h
	now     time.Time
	budget  int // lines left
	files   []*file
	main    *file
	parent  string // uuid of the last main-thread line
	slug    string
	prefix  int // cached prompt prefix of the main thread
	base    int // system prompt + tools, cached across sessions
	limit   int // prompt size that triggers a compaction
	mine    []call
}

func (g *generator) newSession(i int, start time.Time, budget int) *session {
	r := g.r
	s := &session{g: g, r: r, id: r.uuid(), project: i % len(projects), now: start, budget: budget}
	s.b = builds[r.pick(30, 35, 25, 10)]
	s.model = []string{opus46, opus45, sonnet45, haiku45}[r.pick(40, 20, 30, 10)]
	if s.b.oldStyle && s.model == opus46 {
		s.model = opus45
	}
	s.ttl1h = []int{1000, 0, 500}[r.pick(70, 20, 10)]
	s.base = r.between(11000, 18000)
	s.limit = 190000
	if g.cfg.longContext && s.model == sonnet45 {
		s.limit = r.between(300000, 450000)
	}
	s.slug = words[r.intn(len(words))] + "-" + words[r.intn(len(words))] + "-" + words[r.intn(len(words))]
	s.main = &file{path: projects[s.project].name + "/" + s.id + ".jsonl"}
	s.files = []*file{s.main}
	return s
}

func (s *session) full() bool { return s.budget <= 0 }

func (s *session) emit(f *file, line []byte) bool {
	if s.budget <= 0 {
		return false
	}
	f.lines = append(f.lines, line)
	s.budget--
	return true
}

// tick advances the clock by lo..hi milliseconds.
func (s *session) tick(lo, hi int) time.Time {
	s.now = s.now.Add(time.Duration(s.r.between(lo, hi)) * time.Millisecond)
	return s.now
}

func (s *session) run() {
	r := s.r
	if s.b.oldStyle {
		s.emit(s.main, s.summaryLine())
	}
	s.emit(s.main, s.hookProgress("SessionStart", "SessionStart:startup"))
	// A resumed session starts with verbatim copies of the previous session's last calls.
	if prev := s.g.recent[s.project]; len(prev) > 0 && r.chance(150) {
		n := min(len(prev), r.between(3, 12))
		for _, c := range prev[len(prev)-n:] {
			if c.reqID == "" {
				continue // without requestId, ccusage keys copies by session: see docs/ccusage-parity.md
			}
			s.emit(s.main, s.assistantLine(lineOpts{c: c, env: s.env(false, ""), final: true}))
		}
	}
	for !s.full() {
		s.turn()
		// Idle time between turns; long pauses let the prompt cache expire.
		switch r.pick(70, 25, 4, 1) {
		case 0:
			s.tick(3000, 40000)
		case 1:
			s.tick(40000, 300000)
		case 2:
			s.tick(360000, 1800000)
			if s.ttl1h < 1000 {
				s.prefix = 0
			}
		default:
			s.tick(3600000, 2*3600000)
			s.prefix = 0
		}
	}
	s.g.recent[s.project] = s.mine
}

func (s *session) turn() {
	r := s.r
	if r.chance(500) {
		s.emit(s.main, s.snapshotLine())
	}
	s.now = s.tick(500, 20000)
	uid := r.uuid()
	s.emit(s.main, s.userPrompt(uid))
	s.parent = uid
	if r.chance(300) {
		s.emit(s.main, s.hookProgress("UserPromptSubmit", "UserPromptSubmit:prompt"))
	}
	if r.chance(15) {
		s.emit(s.main, s.queueOp())
	}
	calls := r.span([]int{1, 3, 6, 12, 25}, 30, 40, 22, 8)
	for i := 0; i < calls && !s.full(); i++ {
		last := i == calls-1
		if r.chance(8) {
			// An API error, written as a synthetic assistant line, then the retry.
			s.emit(s.main, s.apiErrorLine())
		}
		c := s.mainCall(last)
		if last {
			break
		}
		// The tool runs: hooks around it, maybe a sub-agent, then its result.
		if r.chance(400) {
			s.emit(s.main, s.hookProgress("PreToolUse", "PreToolUse:Bash"))
		}
		if r.chance(35) {
			s.subagent()
		}
		s.tick(200, 30000)
		if r.chance(300) {
			s.emit(s.main, s.hookProgress("PostToolUse", "PostToolUse:Bash"))
		}
		tr := r.uuid()
		s.emit(s.main, s.toolResult(s.env(false, ""), tr, c.uuid))
		s.parent = tr
		if r.chance(3) {
			s.emit(s.main, s.missingIDLine())
		}
	}
	switch r.pick(300, 12, 8, 680) {
	case 0:
		s.emit(s.main, s.systemLine())
	case 1:
		s.emit(s.main, s.syntheticLine())
	case 2:
		// A /btw aside: a side file replaying the last main-thread calls, then its own answer.
		s.btw()
	}
}

// promptSizes returns input, cache read and cache write sizes for the next call of a thread whose
// cached prefix is *prefix, and updates it.
func (s *session) promptSizes(prefix *int, base, limit int, first bool) (input, read, write int) {
	r := s.r
	input = r.span([]int{1, 4, 12, 60, 400}, 55, 25, 15, 5)
	write = r.span([]int{20, 500, 3000, 12000, 30000}, 40, 40, 18, 2)
	if *prefix == 0 {
		// Cold cache: only the shared system prompt is cached; everything else is written.
		read = base
		if first {
			write = r.between(3000, 15000)
		} else {
			write = r.between(8000, 30000)
		}
	} else {
		read = *prefix
	}
	if input+read+write > limit {
		// Auto-compaction: the context restarts from a summary.
		read = base
		write = r.between(8000, 25000)
	}
	*prefix = read + write
	return
}

// splitWrites divides write tokens between the 5-minute and 1-hour caches.
func (s *session) splitWrites(u *usage, write int) {
	if !s.b.splitCache {
		u.c5m = write
		return
	}
	u.split = true
	switch {
	case s.ttl1h == 1000:
		u.c1h = write
	case s.ttl1h == 0:
		u.c5m = write
	default:
		u.c1h = write * s.r.between(1, 9) / 10
		u.c5m = write - u.c1h
	}
}

func (s *session) newUsage(model string, input, read, write int) usage {
	u := usage{input: input, cacheRead: read, tier: "standard"}
	s.splitWrites(&u, write)
	if !s.b.oldStyle {
		u.geo = "not_available"
	}
	if s.b.speed {
		u.speed = "standard"
		if s.g.cfg.fast && model == opus46 && s.r.chance(150) {
			u.speed = "fast"
		}
	}
	if s.g.cfg.batch && s.r.chance(50) {
		u.tier = "batch"
	}
	return u
}

func (s *session) finalOutput() int {
	return s.r.span([]int{20, 100, 400, 1000, 3000, 8000}, 20, 40, 25, 12, 3)
}

// mainCall writes one main-thread API call: its streamed lines, with the traps.
func (s *session) mainCall(last bool) call {
	r := s.r
	input, read, write := s.promptSizes(&s.prefix, s.base, s.limit, len(s.mine) == 0)
	u := s.newUsage(s.model, input, read, write)
	c := call{model: s.model, msgID: r.token("msg_01", 22), reqID: r.token("req_011C", 18), u: u}
	noRequestID := s.b.oldStyle && r.chance(200)
	c, whole := s.streamCall(c, streamOpts{f: s.main, env: s.env(false, ""), last: last, noRequestID: noRequestID,
		traps: true})
	s.parent = c.uuid
	if whole {
		// Only calls written in full are copied into resumed sessions and /btw replays: a copy of
		// a line the budget cut off would bring usage the original never logged.
		s.mine = append(s.mine, c)
	}
	if len(s.mine) > 40 {
		s.mine = s.mine[len(s.mine)-40:]
	}
	s.g.st.calls++
	return c
}

type streamOpts struct {
	f           *file
	env         env
	last        bool
	noRequestID bool  // older build: no requestId, one line per call
	traps       bool  // may add lines missing or nulling sessionId / message.id
	mirror      *file // also write each line as an agent_progress line here
	mirrorEnv   env
	agentID     string
}

// streamCall writes the lines of one streamed call and returns it as its last line shows it, and
// whether all its lines were written (false when the line budget ran out).
func (s *session) streamCall(c call, o streamOpts) (call, bool) {
	r := s.r
	n := []int{1, 2, 3, 4, 5}[r.pick(25, 30, 25, 12, 8)]
	if o.noRequestID {
		n = 1
		c.reqID = ""
	}
	finalWritten := r.chance(920)
	placeholder := r.span([]int{1, 4, 12, 31}, 50, 35, 15)
	final := s.finalOutput()
	if final < placeholder {
		final = placeholder
	}
	parent := o.env.parent
	// kept is the line a correct analyzer keeps for this call: the first line with the largest
	// token total among those written. Anthropic's bill for it goes into the expected totals.
	var kept *call
	defer func() {
		if kept != nil {
			s.g.addTruth(*kept)
		}
	}()
	keep := func(c call) {
		if kept == nil || c.u.total() > kept.u.total() {
			k := c
			kept = &k
		}
	}
	for i := range n {
		isLast := i == n-1
		kind := "text"
		switch {
		case i == 0 && r.chance(400):
			kind = "thinking"
		case isLast && !o.last:
			kind = "tool_use"
		case r.chance(300):
			kind = "tool_use"
		}
		c.block = s.contentBlock(kind)
		c.u.output = placeholder
		if isLast && finalWritten {
			c.u.output = final
		}
		c.ts = s.tick(150, 2500)
		c.uuid = r.uuid()
		c.parent = parent
		e := o.env
		e.parent = parent
		if o.f != nil && o.mirror != nil && s.budget < 2 {
			// Write a sub-agent line and its agent_progress copy both or neither: a lone sidechain
			// final line next to placeholder progress copies is a ccusage difference (see
			// -progress-placeholders), not something to trip over at the end of the budget.
			for s.budget > 0 {
				s.emit(s.main, s.hookProgress("Stop", "Stop:notify"))
			}
			return c, false
		}
		if o.f != nil {
			if !s.emit(o.f, s.assistantLine(lineOpts{c: c, env: e, final: isLast && finalWritten})) {
				return c, false
			}
			s.g.st.assistantLines++
			keep(c)
		}
		if o.mirror != nil && (!s.g.cfg.progressPlaceholders || !(isLast && finalWritten)) {
			me := o.mirrorEnv
			me.parent = s.parent
			if !s.emit(o.mirror, s.agentProgress(me, o.agentID, c)) {
				return c, false
			}
			keep(c)
		}
		// Traps, written only after a complete line of the same call, as placeholder copies: every
		// rule in play (ccusage's and Anthropic's) leaves the call's cost unchanged.
		if o.traps && !o.noRequestID && i == 0 && !(isLast && finalWritten) {
			switch r.pick(6, 2, 1, 991) {
			case 0: // no sessionId (ccusage: dedups into the call; SOURCE.md rule: skipped)
				e2 := e
				e2.omitSession = true
				c2 := c
				c2.uuid = r.uuid()
				s.emit(o.f, s.assistantLine(lineOpts{c: c2, env: e2}))
			case 1: // "sessionId":null (skipped by everyone)
				e2 := e
				e2.nullSession = true
				c2 := c
				c2.uuid = r.uuid()
				s.emit(o.f, s.assistantLine(lineOpts{c: c2, env: e2}))
			case 2: // "id":null in message (skipped by everyone), even with usage
				c2 := c
				c2.uuid = r.uuid()
				s.emit(o.f, s.assistantLine(lineOpts{c: c2, env: e, nullID: true}))
			}
		}
		parent = c.uuid
	}
	return c, true
}

// subagent runs a Task sub-agent: its calls go to subagents/agent-<id>.jsonl (isSidechain) and are
// mirrored into the parent as agent_progress lines, or, for some, exist only as agent_progress.
func (s *session) subagent() {
	r := s.r
	agentID := r.hex(7)
	progressOnly := r.chance(250)
	var f *file
	if !progressOnly {
		f = &file{path: projects[s.project].name + "/" + s.id + "/subagents/agent-" + agentID + ".jsonl"}
		s.files = append(s.files, f)
	}
	model := []string{haiku45, sonnet45, s.model}[r.pick(55, 30, 15)]
	prefix := 0
	base := r.between(9000, 16000)
	limit := 190000
	if s.g.cfg.longContext && model == sonnet45 {
		limit = 400000
	}
	mirrorEnv := s.env(false, "")
	senv := s.env(true, agentID)
	senv.parent = ""
	uid := r.uuid()
	prompt := s.userLine(senv, uid, r.phrase(3, 12))
	if f != nil {
		s.emit(f, prompt)
	}
	senv.parent = uid
	calls := r.span([]int{2, 5, 10, 20}, 40, 45, 15)
	for i := 0; i < calls && !s.full(); i++ {
		input, read, write := s.promptSizes(&prefix, base, limit, i == 0)
		u := s.newUsage(model, input, read, write)
		c := call{model: model, msgID: r.token("msg_01", 22), reqID: r.token("req_011C", 18), u: u}
		o := streamOpts{env: senv, last: i == calls-1, mirror: s.main, mirrorEnv: mirrorEnv, agentID: agentID}
		if f != nil {
			o.f = f
		} else {
			// Progress only: the lines exist only inside agent_progress lines of the parent.
			s.g.st.progressOnlyCalls++
		}
		c, _ = s.streamCall(c, o)
		s.g.st.calls++
		s.g.st.subCalls++
		senv.parent = c.uuid
		if i < calls-1 {
			s.tick(100, 8000)
			tr := r.uuid()
			line := s.toolResult(senv, tr, c.uuid)
			if f != nil {
				s.emit(f, line)
			}
			senv.parent = tr
		}
	}
}

// btw writes an aside file: replays of the last main-thread calls (isSidechain, same message.id,
// new requestId, a larger cache read), then the aside's own answer.
func (s *session) btw() {
	r := s.r
	if len(s.mine) == 0 {
		return
	}
	agentID := r.hex(7)
	f := &file{path: projects[s.project].name + "/" + s.id + "/subagents/agent-" + agentID + ".jsonl"}
	s.files = append(s.files, f)
	senv := s.env(true, agentID)
	n := min(len(s.mine), r.between(1, 3))
	for _, c := range s.mine[len(s.mine)-n:] {
		c.reqID = r.token("req_011C", 18)
		// The replay re-reads the parent's context and a little more, within the prompt limit.
		c.u.cacheRead += min(r.between(1000, 40000), max(0, s.limit-c.u.input-c.u.cacheRead-c.u.cacheCreation()))
		c.ts = s.tick(50, 400)
		c.uuid = r.uuid()
		s.emit(f, s.assistantLine(lineOpts{c: c, env: senv, final: true}))
	}
	s.tick(500, 3000)
	prefix := 0
	input, read, write := s.promptSizes(&prefix, s.base, s.limit, true)
	c := call{model: s.model, msgID: r.token("msg_01", 22), reqID: r.token("req_011C", 18),
		u: s.newUsage(s.model, input, read, write)}
	_, _ = s.streamCall(c, streamOpts{f: f, env: senv, last: true})
	s.g.st.calls++
	s.g.st.subCalls++
}

// ---- line writers ----

type env struct {
	parent      string
	sidechain   bool
	session     string
	omitSession bool
	nullSession bool
	cwd, branch string
	version     string
	agentID     string
	slug        string
}

func (s *session) env(sidechain bool, agentID string) env {
	p := projects[s.project]
	e := env{parent: s.parent, sidechain: sidechain, session: s.id, cwd: p.cwd, branch: p.branch,
		version: s.b.version, agentID: agentID}
	if !s.b.oldStyle {
		e.slug = s.slug
	}
	return e
}

func appendStr(b []byte, v string) []byte {
	b = append(b, '"')
	for i := 0; i < len(v); i++ {
		switch ch := v[i]; ch {
		case '"', '\\':
			b = append(b, '\\', ch)
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, ch)
		}
	}
	return append(b, '"')
}

func appendKV(b []byte, k, v string) []byte {
	b = append(b, '"')
	b = append(b, k...)
	b = append(b, '"', ':')
	return appendStr(b, v)
}

func appendKI(b []byte, k string, v int) []byte {
	b = append(b, '"')
	b = append(b, k...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, int64(v), 10)
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// appendEnv writes the common envelope up to gitBranch (and agentId, slug), ending with a comma.
func appendEnv(b []byte, e env) []byte {
	b = append(b, `{"parentUuid":`...)
	if e.parent == "" {
		b = append(b, "null"...)
	} else {
		b = appendStr(b, e.parent)
	}
	b = append(b, `,"isSidechain":`...)
	b = strconv.AppendBool(b, e.sidechain)
	b = append(b, `,"userType":"external",`...)
	b = appendKV(b, "cwd", e.cwd)
	b = append(b, ',')
	switch {
	case e.nullSession:
		b = append(b, `"sessionId":null,`...)
	case !e.omitSession:
		b = appendKV(b, "sessionId", e.session)
		b = append(b, ',')
	}
	b = appendKV(b, "version", e.version)
	b = append(b, ',')
	b = appendKV(b, "gitBranch", e.branch)
	b = append(b, ',')
	if e.agentID != "" {
		b = appendKV(b, "agentId", e.agentID)
		b = append(b, ',')
	}
	if e.slug != "" {
		b = appendKV(b, "slug", e.slug)
		b = append(b, ',')
	}
	return b
}

func (s *session) contentBlock(kind string) []byte {
	r := s.r
	var b []byte
	switch kind {
	case "thinking":
		b = append(b, `{"type":"thinking","thinking":`...)
		b = appendStr(b, r.phrase(2, 14))
		b = append(b, `,"signature":`...)
		b = appendStr(b, r.token("Eq", r.between(16, 48)))
		b = append(b, '}')
	case "tool_use":
		b = append(b, `{"type":"tool_use",`...)
		b = appendKV(b, "id", r.token("toolu_01", 22))
		b = append(b, ',')
		b = appendKV(b, "name", tools[r.intn(len(tools))])
		b = append(b, `,"input":{`...)
		b = appendKV(b, "command", r.phrase(1, 6))
		b = append(b, ',')
		b = appendKV(b, "description", r.phrase(2, 8))
		b = append(b, `},"caller":{"type":"direct"}}`...)
	default:
		b = append(b, `{"type":"text",`...)
		b = appendKV(b, "text", r.phrase(1, 16))
		b = append(b, '}')
	}
	return b
}

type lineOpts struct {
	c        call
	env      env
	final    bool // the final line of a call: usage in the message_delta layout
	nullID   bool // "id":null
	omitID   bool // no message.id
	apiError bool
}

func appendUsage(b []byte, u usage, final bool) []byte {
	b = append(b, `"usage":{`...)
	b = appendKI(b, "input_tokens", u.input)
	b = append(b, ',')
	b = appendKI(b, "cache_creation_input_tokens", u.cacheCreation())
	b = append(b, ',')
	b = appendKI(b, "cache_read_input_tokens", u.cacheRead)
	b = append(b, ',')
	if !final {
		if u.split {
			b = append(b, `"cache_creation":{`...)
			b = appendKI(b, "ephemeral_5m_input_tokens", u.c5m)
			b = append(b, ',')
			b = appendKI(b, "ephemeral_1h_input_tokens", u.c1h)
			b = append(b, `},`...)
		}
		b = appendKI(b, "output_tokens", u.output)
		b = append(b, ',')
		b = appendKV(b, "service_tier", u.tier)
		if u.geo != "" {
			b = append(b, ',')
			b = appendKV(b, "inference_geo", u.geo)
		}
	} else {
		// The last line of a call carries the message_delta usage, in its own key order.
		b = appendKI(b, "output_tokens", u.output)
		b = append(b, `,"server_tool_use":{"web_search_requests":0,"web_fetch_requests":0},`...)
		b = appendKV(b, "service_tier", u.tier)
		if u.split {
			b = append(b, `,"cache_creation":{`...)
			b = appendKI(b, "ephemeral_1h_input_tokens", u.c1h)
			b = append(b, ',')
			b = appendKI(b, "ephemeral_5m_input_tokens", u.c5m)
			b = append(b, '}')
		}
		if u.geo != "" {
			b = append(b, `,"inference_geo":"","iterations":[]`...)
		}
	}
	if u.speed != "" {
		b = append(b, ',')
		b = appendKV(b, "speed", u.speed)
	}
	return append(b, '}')
}

func appendMessage(b []byte, o lineOpts) []byte {
	c := o.c
	b = append(b, `"message":{`...)
	b = appendKV(b, "model", c.model)
	b = append(b, ',')
	switch {
	case o.nullID:
		b = append(b, `"id":null,`...)
	case !o.omitID:
		b = appendKV(b, "id", c.msgID)
		b = append(b, ',')
	}
	b = append(b, `"type":"message","role":"assistant","content":[`...)
	b = append(b, c.block...)
	b = append(b, `],"stop_reason":null,"stop_sequence":null,`...)
	b = appendUsage(b, c.u, o.final)
	return append(b, '}')
}

func (s *session) assistantLine(o lineOpts) []byte {
	b := appendEnv(make([]byte, 0, 900), o.env)
	b = appendMessage(b, o)
	if o.c.reqID != "" {
		b = append(b, ',')
		b = appendKV(b, "requestId", o.c.reqID)
	}
	b = append(b, `,"type":"assistant",`...)
	b = appendKV(b, "uuid", o.c.uuid)
	b = append(b, ',')
	b = appendKV(b, "timestamp", ts(o.c.ts))
	if o.apiError {
		b = append(b, `,"isApiErrorMessage":true`...)
	}
	return append(b, '}')
}

// agentProgress wraps a sub-agent's assistant line into the parent's agent_progress line.
func (s *session) agentProgress(e env, agentID string, c call) []byte {
	r := s.r
	b := appendEnv(make([]byte, 0, 1100), e)
	b = append(b, `"type":"progress","data":{"message":{"type":"assistant",`...)
	b = appendKV(b, "timestamp", ts(c.ts))
	b = append(b, ',')
	b = appendMessage(b, lineOpts{c: c})
	b = append(b, ',')
	b = appendKV(b, "requestId", c.reqID)
	b = append(b, ',')
	b = appendKV(b, "uuid", c.uuid)
	b = append(b, `},"normalizedMessages":[],"type":"agent_progress",`...)
	b = appendKV(b, "prompt", "explore the codebase")
	b = append(b, ',')
	b = appendKV(b, "agentId", agentID)
	b = append(b, `},`...)
	b = appendKV(b, "toolUseID", "agent_"+c.msgID)
	b = append(b, ',')
	b = appendKV(b, "parentToolUseID", r.token("toolu_01", 22))
	b = append(b, ',')
	b = appendKV(b, "uuid", r.uuid())
	b = append(b, ',')
	outer := c.ts.Add(time.Millisecond)
	if ts(outer)[:10] != ts(c.ts)[:10] {
		outer = c.ts // never put the two timestamps on different days
	}
	b = appendKV(b, "timestamp", ts(outer))
	return append(b, '}')
}

func (s *session) userLine(e env, uid, text string) []byte {
	b := appendEnv(make([]byte, 0, 600), e)
	b = append(b, `"type":"user","message":{"role":"user",`...)
	b = appendKV(b, "content", text)
	b = append(b, `},`...)
	b = appendKV(b, "uuid", uid)
	b = append(b, ',')
	b = appendKV(b, "timestamp", ts(s.now))
	return append(b, '}')
}

func (s *session) userPrompt(uid string) []byte {
	b := appendEnv(make([]byte, 0, 600), s.env(false, ""))
	b = append(b, `"type":"user","message":{"role":"user",`...)
	b = appendKV(b, "content", s.r.phrase(2, 20))
	b = append(b, `},`...)
	b = appendKV(b, "uuid", uid)
	b = append(b, ',')
	b = appendKV(b, "timestamp", ts(s.now))
	b = append(b, `,"thinkingMetadata":{"maxThinkingTokens":31999},"todos":[],"permissionMode":"default"}`...)
	return b
}

func (s *session) toolResult(e env, uid, source string) []byte {
	r := s.r
	b := appendEnv(make([]byte, 0, 700), e)
	b = append(b, `"type":"user","message":{"role":"user","content":[{`...)
	b = appendKV(b, "tool_use_id", r.token("toolu_01", 22))
	b = append(b, `,"type":"tool_result",`...)
	b = appendKV(b, "content", r.phrase(1, 30))
	b = append(b, `,"is_error":false}]},`...)
	b = appendKV(b, "uuid", uid)
	b = append(b, ',')
	b = appendKV(b, "timestamp", ts(s.tick(5, 400)))
	b = append(b, `,"toolUseResult":{"stdout":`...)
	b = appendStr(b, r.phrase(0, 12))
	b = append(b, `,"stderr":"","interrupted":false,"isImage":false},`...)
	b = appendKV(b, "sourceToolAssistantUUID", source)
	return append(b, '}')
}

func (s *session) hookProgress(event, name string) []byte {
	r := s.r
	b := appendEnv(make([]byte, 0, 600), s.env(false, ""))
	b = append(b, `"type":"progress","data":{"type":"hook_progress",`...)
	b = appendKV(b, "hookEvent", event)
	b = append(b, ',')
	b = appendKV(b, "hookName", name)
	b = append(b, ',')
	b = appendKV(b, "command", "$HOME/.claude/hooks/notify.sh")
	b = append(b, `},`...)
	id := r.token("toolu_01", 22)
	b = appendKV(b, "parentToolUseID", id)
	b = append(b, ',')
	b = appendKV(b, "toolUseID", id)
	b = append(b, ',')
	b = appendKV(b, "timestamp", ts(s.tick(1, 50)))
	b = append(b, ',')
	b = appendKV(b, "uuid", r.uuid())
	return append(b, '}')
}

func (s *session) snapshotLine() []byte {
	id := s.r.uuid()
	b := []byte(`{"type":"file-history-snapshot",`)
	b = appendKV(b, "messageId", id)
	b = append(b, `,"snapshot":{`...)
	b = appendKV(b, "messageId", id)
	b = append(b, `,"trackedFileBackups":{},`...)
	b = appendKV(b, "timestamp", ts(s.now))
	b = append(b, `},"isSnapshotUpdate":false}`...)
	return b
}

func (s *session) summaryLine() []byte {
	b := []byte(`{"type":"summary",`)
	b = appendKV(b, "summary", s.r.phrase(3, 8))
	b = append(b, ',')
	b = appendKV(b, "leafUuid", s.r.uuid())
	return append(b, '}')
}

func (s *session) queueOp() []byte {
	b := []byte(`{"type":"queue-operation","operation":"enqueue",`)
	b = appendKV(b, "timestamp", ts(s.tick(1, 100)))
	b = append(b, ',')
	b = appendKV(b, "sessionId", s.id)
	b = append(b, ',')
	b = appendKV(b, "content", s.r.phrase(1, 5))
	return append(b, '}')
}

func (s *session) systemLine() []byte {
	b := appendEnv(make([]byte, 0, 600), s.env(false, ""))
	b = append(b, `"type":"system","subtype":"stop_hook_summary",`...)
	b = appendKV(b, "content", s.r.phrase(1, 6))
	b = append(b, `,"level":"info",`...)
	b = appendKV(b, "timestamp", ts(s.tick(10, 500)))
	b = append(b, ',')
	b = appendKV(b, "uuid", s.r.uuid())
	return append(b, `,"isMeta":false}`...)
}

// syntheticLine is a locally generated assistant message (model <synthetic>). Real ones carry zero
// usage; a few here carry tokens, which no price table knows.
func (s *session) syntheticLine() []byte {
	r := s.r
	u := usage{tier: "standard"}
	if r.chance(300) {
		u.input = r.between(1, 500)
		u.output = r.between(1, 50)
	}
	c := call{model: "<synthetic>", msgID: r.uuid(), u: u, ts: s.tick(10, 300), uuid: r.uuid(),
		block: []byte(`{"type":"text","text":"No response requested."}`)}
	return s.assistantLine(lineOpts{c: c, env: s.env(false, "")})
}

// apiErrorLine is the synthetic assistant line Claude Code writes when an API call fails.
func (s *session) apiErrorLine() []byte {
	r := s.r
	c := call{model: "<synthetic>", msgID: r.uuid(), u: usage{tier: "standard"}, ts: s.tick(100, 5000),
		uuid: r.uuid()}
	c.block = appendKV([]byte(`{"type":"text",`), "text", "API Error: 529 overloaded_error")
	c.block = append(c.block, '}')
	return s.assistantLine(lineOpts{c: c, env: s.env(false, ""), apiError: true})
}

// missingIDLine is an assistant line without message.id and with zero usage.
func (s *session) missingIDLine() []byte {
	r := s.r
	c := call{model: s.model, u: usage{tier: "standard", geo: "not_available"}, ts: s.tick(10, 300),
		uuid: r.uuid(), reqID: r.token("req_011C", 18), block: s.contentBlock("text")}
	return s.assistantLine(lineOpts{c: c, env: s.env(false, ""), omitID: true})
}

// ---- expected totals (Anthropic's billing, exact) ----

// rates are list prices in nano-dollars per token (= dollars per million tokens × 1000).
type rates struct{ input, output, write5m, write1h, read int64 }

var prices = map[string]struct {
	base, long rates // long: the whole request once its prompt exceeds 200,000 tokens (zero: none)
	fast       int64 // fast-mode multiplier
}{
	opus46:   {base: rates{5000, 25000, 6250, 10000, 500}, fast: 6},
	opus45:   {base: rates{5000, 25000, 6250, 10000, 500}, fast: 1},
	sonnet45: {base: rates{3000, 15000, 3750, 6000, 300}, long: rates{6000, 22500, 7500, 12000, 600}, fast: 1},
	haiku45:  {base: rates{1000, 5000, 1250, 2000, 100}, fast: 1},
}

// anthropicCost is what Anthropic bills for one call, in nano-dollars: 1h cache writes at the 1h
// rate, the whole request at the long-context rates once input + cache reads + cache writes exceed
// 200,000 tokens (models with such a tier), batch at half price, fast mode at the fast multiple.
// Every rate here is a whole, even number of nano-dollars per token, so nothing is rounded.
func anthropicCost(model string, u usage) int64 {
	p, ok := prices[model]
	if !ok {
		return 0
	}
	r := p.base
	if p.long != (rates{}) && u.input+u.cacheRead+u.cacheCreation() > 200000 {
		r = p.long
	}
	c := int64(u.input)*r.input + int64(u.output)*r.output + int64(u.c5m)*r.write5m +
		int64(u.c1h)*r.write1h + int64(u.cacheRead)*r.read
	if u.speed == "fast" {
		c *= p.fast
	}
	if u.tier == "batch" {
		c /= 2
	}
	return c
}

func (g *generator) addTruth(c call) {
	date := ts(c.ts)[:10]
	m := g.truth[date]
	if m == nil {
		m = map[string]int64{}
		g.truth[date] = m
	}
	m[c.model] += anthropicCost(c.model, c.u)
}

func appendNano(b []byte, n int64) []byte {
	b = strconv.AppendInt(b, n/1e9, 10)
	b = append(b, '.')
	frac := strconv.FormatInt(n%1e9+1e9, 10)[1:]
	return append(b, frac...)
}

// writeTruth writes DIR/expected-anthropic.json in the shape of "tarsopt cost --json": every call
// counted once, from the line a correct analyzer keeps, priced by Anthropic's rules, per UTC day.
func (g *generator) writeTruth() error {
	dates := make([]string, 0, len(g.truth))
	for d := range g.truth {
		dates = append(dates, d)
	}
	sort.Strings(dates)
	var total int64
	var days []byte
	for i, d := range dates {
		models := make([]string, 0, len(g.truth[d]))
		var dayTotal int64
		for m, v := range g.truth[d] {
			models = append(models, m)
			dayTotal += v
		}
		sort.Strings(models)
		total += dayTotal
		if i > 0 {
			days = append(days, ',')
		}
		days = append(days, "\n    {"...)
		days = append(days, `"date": `...)
		days = appendStr(days, d)
		days = append(days, `, "total_usd": `...)
		days = appendNano(days, dayTotal)
		days = append(days, `, "models": {`...)
		for j, m := range models {
			if j > 0 {
				days = append(days, ", "...)
			}
			days = appendStr(days, m)
			days = append(days, ": "...)
			days = appendNano(days, g.truth[d][m])
		}
		days = append(days, "}}"...)
	}
	out := []byte(`{"note": "gencorpus ground truth: Anthropic list prices, exact", "total_usd": `)
	out = appendNano(out, total)
	out = append(out, `, "days": [`...)
	out = append(out, days...)
	out = append(out, "\n]}\n"...)
	return os.WriteFile(filepath.Join(g.cfg.out, "expected-anthropic.json"), out, 0o644)
}
