package live_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tarsopt/tarsopt/internal/fakeapi"
	"github.com/tarsopt/tarsopt/live"
)

// TestProxyProcess is not a test: run by TestKillNineLosesNothing as a child process, it is a
// proxy that serves until it is killed.
func TestProxyProcess(t *testing.T) {
	if os.Getenv("TARSOPT_PROXY_CHILD") != "1" {
		t.Skip("a child process of TestKillNineLosesNothing")
	}
	sets := strings.Fields(os.Getenv("TARSOPT_PROXY_SETS"))
	srv, err := live.New(live.Options{Upstream: os.Getenv("TARSOPT_PROXY_UPSTREAM"), DataDir: os.Getenv("TARSOPT_PROXY_DATA"),
		Config: cfgWith(t, sets...)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	http.Serve(ln, srv)
}

// child is a proxy in another process.
type child struct {
	cmd  *exec.Cmd
	addr string
}

func startChild(t *testing.T, upstream, dir string, sets ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestProxyProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "TARSOPT_PROXY_CHILD=1", "TARSOPT_PROXY_UPSTREAM="+upstream,
		"TARSOPT_PROXY_DATA="+dir, "TARSOPT_PROXY_SETS="+strings.Join(sets, " "))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
			go io.Copy(io.Discard, out)
			return &child{cmd: cmd, addr: "http://" + a}
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatalf("the child proxy did not start")
	return nil
}

func (c *child) kill9() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
}

func do(t *testing.T, method, url, key, body string, hdr ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("X-Api-Key", key)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// kill -9 loses no call that was answered (each is in the trace before its answer ends) and no
// deferred job (each is in the store before its 202): a restarted proxy runs the jobs when their
// tenant's key is seen again.
func TestKillNineLosesNothing(t *testing.T) {
	if os.Getenv("TARSOPT_PROXY_CHILD") == "1" {
		t.Skip()
	}
	fake := fakeapi.New()
	defer fake.Close()
	dir := t.TempDir()
	// Deferral into a window that starts 12 hours from now: the jobs wait.
	start := time.Now().UTC().Add(12 * time.Hour)
	window := fmt.Sprintf("strategies.deferral.window.start=%02d:%02d", start.Hour(), start.Minute())
	end := start.Add(time.Hour)
	sets := []string{window, fmt.Sprintf("strategies.deferral.window.end=%02d:%02d", end.Hour(), end.Minute()),
		"strategies.deferral.max_deferral_s=86400", "strategies.batcher.enabled=false"}
	c := startChild(t, fake.URL(), dir, sets...)
	const calls, jobs = 40, 5
	for i := range calls {
		st, b := do(t, "POST", c.addr+"/v1/messages", keyA, fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"call %d"}]}`, i))
		if st != 200 {
			t.Fatalf("call %d: %d %s", i, st, b)
		}
	}
	var ids []string
	for i := range jobs {
		st, b := do(t, "POST", c.addr+"/v1/tarsopt/jobs", keyA, fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"job %d"}]}`, i),
			"X-Tarsopt-Max-Delay", "24h", "X-Tarsopt-Priority", "low")
		if st != http.StatusAccepted {
			t.Fatalf("job %d: %d %s", i, st, b)
		}
		var j struct{ ID string }
		json.Unmarshal(b, &j)
		ids = append(ids, j.ID)
	}
	st, b := do(t, "GET", c.addr+"/v1/tarsopt/jobs/"+ids[0], keyA, "")
	if st != 200 || !strings.Contains(string(b), `"queued"`) {
		t.Fatalf("job before the kill: %d %s", st, b)
	}
	c.kill9()

	recs := readTrace(t, dir)
	if len(recs) != calls {
		t.Fatalf("after kill -9 the trace holds %d calls, want the %d answered", len(recs), calls)
	}

	// Restarted without deferral, the jobs run once the key is seen.
	c = startChild(t, fake.URL(), dir, "strategies.deferral.enabled=false", "strategies.batcher.enabled=false")
	defer c.kill9()
	if st, b := do(t, "GET", c.addr+"/v1/tarsopt/jobs/"+ids[0], keyB, ""); st != 404 {
		t.Errorf("another tenant read the job: %d %s", st, b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range ids {
		for {
			st, b := do(t, "GET", c.addr+"/v1/tarsopt/jobs/"+id, keyA, "")
			var j struct {
				Status string
				Result *struct{ Status int }
			}
			json.Unmarshal(b, &j)
			if st == 200 && j.Status == "done" && j.Result != nil && j.Result.Status == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s not done after restart: %d %s", id, st, b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if n := len(fake.Requests()); n != calls+jobs {
		t.Errorf("upstream saw %d calls, want %d (each job once)", n, calls+jobs)
	}
}
