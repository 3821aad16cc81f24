package store

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, spec := range []string{"", "bolt"} {
		s, err := Open(spec, dir)
		if err != nil {
			t.Fatalf("Open(%q): %v", spec, err)
		}
		if bs, ok := s.(*boltStore); !ok || bs.path != filepath.Join(dir, "state.db") {
			t.Fatalf("Open(%q) = %T %+v, want bolt at %s/state.db", spec, s, s, dir)
		}
		s.Close()
	}
	if _, err := Open("bolt", ""); err == nil {
		t.Fatal("Open(bolt) without a data directory: no error")
	}
	s, err := Open("memory", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*memStore); !ok {
		t.Fatalf("Open(memory) = %T", s)
	}
	s.Close()

	m := miniredisT(t)
	s, err = Open("redis://"+m.Addr()+"/2", "")
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "k", "v", 0)
	m.Select(2)
	if got, _ := m.Get("tarsopt:k"); got != "v" {
		t.Fatalf("key not in redis db 2 under the namespace: %q", got)
	}
	s.Close()

	for _, spec := range []string{"bolt:", "Memory", "redis:/user:hunter2@host", "postgres://u:hunter2@h/db"} {
		_, err := Open(spec, dir)
		if err == nil {
			t.Fatalf("Open(%q): no error", spec)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("Open(%q): error shows the password: %v", spec, err)
		}
	}
}

func TestRedisErrorsHidePassword(t *testing.T) {
	t.Parallel()
	m := miniredisT(t)
	m.RequireAuth("correct-horse")
	for _, url := range []string{
		"redis://:hunter2@" + m.Addr() + "/0",               // wrong password
		"redis://user:hunter2@127.0.0.1:1/0?max_retries=-1", // nothing listening
		"redis://user:hunter2@[::1/0",                       // unparseable
		"redis://user:hunter2@" + m.Addr() + "/nodb",        // bad db
		"redis://user:hunter2@" + m.Addr() + "/0?bogus=1",
	} {
		start := time.Now()
		s, err := OpenRedis(url)
		if err == nil {
			s.Close()
			t.Fatalf("OpenRedis(%q): no error", url)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("OpenRedis error shows the password: %v", err)
		}
		if !strings.Contains(url, "[") && !strings.Contains(err.Error(), ":xxxxx@") {
			t.Errorf("OpenRedis error does not name the URL: %v", err)
		}
		if d := time.Since(start); d > 7*time.Second {
			t.Errorf("OpenRedis(%q) took %v", url, d)
		}
	}
	s, err := OpenRedis("redis://:correct-horse@" + m.Addr() + "/0")
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	s.Close()
}
