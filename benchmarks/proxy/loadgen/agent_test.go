package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestAgentBody checks that -agent-kb gives a valid request of about the size asked, with one
// place for the unique token, in a tool result.
func TestAgentBody(t *testing.T) {
	for _, kb := range []int{1, 8, 88, 400} {
		b, err := requestBody("", kb, "claude-sonnet-4-5", false)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(b); (n < kb<<10 || n > kb<<10*11/10+4096) && kb > 1 {
			t.Errorf("-agent-kb %d: %d bytes", kb, n)
		}
		if c := bytes.Count(b, []byte(placeholder)); c != 1 {
			t.Errorf("-agent-kb %d: %d placeholders", kb, c)
		}
		var req struct {
			Messages []struct {
				Role    string `json:"role"`
				Content []struct {
					Type    string `json:"type"`
					Content string `json:"content"`
				} `json:"content"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(b, &req); err != nil {
			t.Fatalf("-agent-kb %d: %v", kb, err)
		}
		last := req.Messages[len(req.Messages)-1]
		if last.Role != "user" || last.Content[0].Type != "tool_result" || !bytes.Contains([]byte(last.Content[0].Content), []byte(placeholder)) {
			t.Errorf("-agent-kb %d: the last message is %+v", kb, last.Role)
		}
	}
}
