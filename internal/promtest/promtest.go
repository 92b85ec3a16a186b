// Package promtest runs a real Prometheus server for tests: Debian's
// prometheus binary on loopback, scraping the targets a test names, queried
// through its HTTP API. Only tests import it.
package promtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NeedTool returns the path of an outside program. When it is missing the
// test is skipped on a developer's machine and fails in CI (CI=true), where
// .ci/run installs it.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found, and CI=true: .ci/run must install Debian's prometheus package", name)
		}
		t.Skipf("%s not found: apt-get install prometheus to run this test", name)
	}
	return path
}

// Server is a running Prometheus.
type Server struct {
	Base   string // http://127.0.0.1:port
	client *http.Client
}

// Start runs the prometheus binary bin scraping target (host:port) every
// second as job "lineage", evaluating rules (a file path; "" for none),
// until the test ends.
func Start(t *testing.T, bin, target, rules string) *Server {
	t.Helper()
	dir := t.TempDir()
	ruleFiles := ""
	if rules != "" {
		abs, err := filepath.Abs(rules)
		if err != nil {
			t.Fatal(err)
		}
		ruleFiles = fmt.Sprintf("rule_files:\n  - %q\n", abs)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
%sscrape_configs:
  - job_name: lineage
    static_configs:
      - targets: [%q]
`, ruleFiles, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := FreeAddr(t)
	ctx, stop := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		stop()
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() {
		stop()
		_ = cmd.Wait() // killed by SIGTERM: an error is expected
		if t.Failed() {
			t.Logf("prometheus output:\n%s", logs.String())
		}
	})
	return &Server{Base: "http://" + addr, client: &http.Client{Timeout: 2 * time.Second}}
}

// FreeAddr returns a loopback address with a port free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// Get calls the HTTP API at path and decodes its data into out.
func (p *Server) Get(ctx context.Context, path string, q url.Values, out any) error {
	u := p.Base + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("GET %s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, out)
}

// Sample is one element of an instant vector.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Query runs an instant query and returns its vector.
func (p *Server) Query(ctx context.Context, promql string) ([]Sample, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := p.Get(ctx, "/api/v1/query", url.Values{"query": {promql}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("%s: result type %s", promql, data.ResultType)
	}
	var out []Sample
	for _, r := range data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: value %v: %w", promql, r.Value[1], err)
		}
		out = append(out, Sample{Labels: r.Metric, Value: v})
	}
	return out, nil
}

// WaitFor polls check every 200 ms until it returns nil, and fails the
// test with check's last error when ctx ends first. Prometheus scrapes on
// its own clock, so polling its API is the only way to see a scrape land.
func (p *Server) WaitFor(ctx context.Context, t *testing.T, what string, check func() error) {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s at %s: %v (last: %v)", what, p.Base, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the child's two output streams.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
