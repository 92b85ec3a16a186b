//go:build integration

package scaletest

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is a process of the test — lineage or nats-server — its output in
// a file.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error // Wait's, once exited is closed

	ws, metrics string // its WebSocket URL and metrics base URL, once up
}

// start runs `lineage args…` and waits for its WebSocket and metrics
// listeners; the process is killed, if it still runs, when the test ends.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := spawn(t, name, bin, args...)
	p.waitLog(t, "msg=metrics", time.Minute)
	l := p.logs()
	p.ws = field(t, l, `msg=serving .*websocket=(\S+)`)
	p.metrics = strings.TrimSuffix(field(t, l, `msg=metrics url=(\S+)`), "/metrics")
	return p
}

// spawn runs path args…, its stdout and stderr in a log file, and returns
// at once; the process is killed, if it still runs, when the test ends,
// and its log shown if the test failed.
func spawn(t *testing.T, name, path string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, log: filepath.Join(t.TempDir(), name+".log"), exited: make(chan struct{})}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("%s log:\n%s", name, p.logs())
		}
	})
	return p
}

func (p *proc) logs() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// waitLog waits for s in the process's log.
func (p *proc) waitLog(t *testing.T, s string, within time.Duration) {
	t.Helper()
	poll(t, within, p.name+" logs "+s, func() bool {
		select {
		case <-p.exited:
			t.Fatalf("%s exited (%v) before logging %q:\n%s", p.name, p.err, s, p.logs())
		default:
		}
		return strings.Contains(p.logs(), s)
	})
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit in 30s after SIGTERM", p.name)
	}
	if p.err != nil {
		t.Fatalf("%s exited with %v:\n%s", p.name, p.err, p.logs())
	}
}

func field(t *testing.T, logs, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no %s in the log:\n%s", re, logs)
	}
	return strings.Trim(m[1], `"`)
}

// poll calls ok every 20 ms until it holds, failing the test after within.
func poll(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-tick.C:
		}
	}
}

// get returns the status and body of a GET.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, string(b)
}

// metric returns the value of a sample line "name value" on /metrics.
func metric(t *testing.T, p *proc, name string) string {
	t.Helper()
	_, body := get(t, p.metrics+"/metrics")
	for l := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return ""
}

// ready waits for an edge's /readyz to say 200.
func (p *proc) ready(t *testing.T) {
	t.Helper()
	poll(t, time.Minute, p.name+" /readyz 200", func() bool {
		code, _ := get(t, p.metrics+"/readyz")
		return code == 200
	})
}
