package live_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// apiMessage is a Messages API message with its content as blocks.
type apiMessage struct {
	Role    string            `json:"role"`
	Content []json.RawMessage `json:"content"`
}

// conversation rebuilds the messages a Claude Code session sent, from its transcript: user and
// assistant entries in order, consecutive entries of one role merged into one message (as the
// client sends them), string content as one text block.
func conversation(t *testing.T, path string) []apiMessage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var out []apiMessage
	for sc.Scan() {
		var e struct {
			Type        string
			IsSidechain bool
			IsMeta      bool
			Message     struct {
				Role    string
				Content json.RawMessage
			}
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.IsSidechain || e.IsMeta || (e.Type != "user" && e.Type != "assistant") {
			continue
		}
		var blocks []json.RawMessage
		if json.Unmarshal(e.Message.Content, &blocks) != nil {
			var s string
			if json.Unmarshal(e.Message.Content, &s) != nil || s == "" {
				continue
			}
			b, _ := json.Marshal(map[string]string{"type": "text", "text": s})
			blocks = []json.RawMessage{b}
		}
		if len(blocks) == 0 {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Role == e.Message.Role {
			out[n-1].Content = append(out[n-1].Content, blocks...)
			continue
		}
		if len(out) == 0 && e.Message.Role != "user" {
			continue
		}
		out = append(out, apiMessage{Role: e.Message.Role, Content: blocks})
	}
	return out
}

type block struct {
	Type      string
	ID        string
	ToolUseID string `json:"tool_use_id"`
}

// checkPairs fails unless msgs are a valid Messages API history: the first message is the user's,
// and every tool_result answers a tool_use of the assistant message just before it, and every
// tool_use there is answered.
func checkPairs(t *testing.T, where string, msgs []apiMessage) {
	t.Helper()
	if len(msgs) == 0 || msgs[0].Role != "user" {
		t.Errorf("%s: history does not start with a user message", where)
		return
	}
	for i, m := range msgs {
		if m.Role != "user" || i == 0 {
			continue
		}
		uses := map[string]bool{}
		for _, raw := range msgs[i-1].Content {
			var b block
			json.Unmarshal(raw, &b)
			if b.Type == "tool_use" {
				uses[b.ID] = true
			}
		}
		answered := map[string]bool{}
		for _, raw := range m.Content {
			var b block
			json.Unmarshal(raw, &b)
			if b.Type == "tool_result" {
				if !uses[b.ToolUseID] {
					t.Errorf("%s: message %d answers tool_use %s, not in the message before", where, i, b.ToolUseID)
				}
				answered[b.ToolUseID] = true
			}
		}
		for id := range uses {
			if !answered[id] {
				t.Errorf("%s: tool_use %s in message %d is not answered", where, id, i-1)
			}
		}
	}
}

// Real Claude Code sessions (the bundled spotter transcripts, with tool_use/tool_result chains and
// thinking blocks), sent turn by turn through the proxy with an aggressive pruner: every request
// the upstream receives is a valid history, and the pruner does remove history.
func TestPrunerOnRealClaudeCodeSessions(t *testing.T) {
	files, _ := filepath.Glob("../traces/importers/testdata/claude-code/projects/*/*.jsonl")
	if len(files) == 0 {
		t.Fatal("no bundled Claude Code transcripts")
	}
	p := start(t, cfgWith(t, "strategies.pruner.keep_turns=1", "strategies.pruner.min_removed=1", "strategies.pruner.history_budget=1500",
		"strategies.router.enabled=false", "strategies.responsecache.enabled=false"))
	var sent, pruned, removed int
	for _, f := range files {
		msgs := conversation(t, f)
		checkPairs(t, filepath.Base(f)+" as recorded", msgs)
		for i := 1; i < len(msgs); i++ {
			if msgs[i].Role != "user" {
				continue
			}
			body, _ := json.Marshal(map[string]any{"model": "claude-sonnet-4-5", "max_tokens": 256, "system": "You are Claude Code.", "messages": msgs[:i+1]})
			resp, b := p.post(keyA, string(body))
			if resp.StatusCode != 200 {
				t.Fatalf("%s message %d: %d %s", filepath.Base(f), i, resp.StatusCode, b)
			}
			sent++
			n, _ := strconv.Atoi(resp.Header.Get("X-Tarsopt-Pruned-Tokens"))
			if n > 0 {
				pruned++
				removed += n
			}
			reqs := p.fake.Requests()
			var got struct{ Messages []apiMessage }
			if err := json.Unmarshal(reqs[len(reqs)-1].Body, &got); err != nil {
				t.Fatal(err)
			}
			checkPairs(t, filepath.Base(f)+" message "+strconv.Itoa(i)+" as pruned", got.Messages)
			last, _ := json.Marshal(got.Messages[len(got.Messages)-1])
			want, _ := json.Marshal(msgs[i])
			if string(last) != string(want) {
				t.Errorf("%s message %d: the new message changed", filepath.Base(f), i)
			}
		}
	}
	if pruned == 0 {
		t.Fatalf("%d requests from real sessions, none pruned", sent)
	}
	t.Logf("%d requests from %d real sessions: %d pruned, %d estimated tokens removed", sent, len(files), pruned, removed)
}
