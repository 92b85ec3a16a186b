package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/metrics"
)

// TestRealPrometheus starts Debian's prometheus on loopback, has it scrape
// Handler (it negotiates OpenMetrics) and evaluate monitoring/alerts.yml,
// and checks through its HTTP API what it stored: every agent's capital,
// up == 1, every metric name the dashboard and the alerts use, and every
// rule evaluated without error. It skips when prometheus is missing,
// except in CI.
func TestRealPrometheus(t *testing.T) {
	bin := needTool(t, "prometheus")
	target := httptest.NewServer(metrics.Handler(metrics.NewRegistry(fixture()), nil))
	t.Cleanup(target.Close)

	prom := startPrometheus(t, bin, strings.TrimPrefix(target.URL, "http://"))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	want := map[string]float64{"Momentum": 115000.5, "Conservative": 98000.25, "Balanced": 47000}
	waitFor(ctx, t, prom, "lineage_agent_capital to hold the three richest living agents", func() error {
		got, err := prom.query(ctx, "lineage_agent_capital")
		if err != nil {
			return err
		}
		byAgent := map[string]float64{}
		for _, s := range got {
			byAgent[s.labels["agent"]] = s.value
		}
		if fmt.Sprint(byAgent) != fmt.Sprint(want) {
			return fmt.Errorf("got %v, want %v", byAgent, want)
		}
		return nil
	})

	up, err := prom.query(ctx, `up{job="lineage"}`)
	if err != nil || len(up) != 1 || up[0].value != 1 {
		t.Errorf("up{job=\"lineage\"} = %+v (%v), want one series of value 1", up, err)
	}

	// Every name the kit uses is one Prometheus actually stored.
	var names []string
	if err := prom.get(ctx, "/api/v1/label/__name__/values", nil, &names); err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, n := range names {
		stored[n] = true
		if base, ok := strings.CutSuffix(n, "_count"); ok {
			stored[base] = true // a histogram, named in the kit's text
		}
	}
	for _, f := range []string{"alerts.yml", filepath.Join("grafana", "dashboards", "lineage.json")} {
		b, err := os.ReadFile(filepath.Join(monitoring, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range metricNameRE.FindAllString(string(b), -1) {
			if !stored[n] {
				t.Errorf("%s uses %s, which Prometheus did not get from a scrape", f, n)
			}
		}
	}

	// Every example query of docs/metrics.md runs.
	for _, q := range docQueries(t) {
		if _, err := prom.query(ctx, q); err != nil {
			t.Errorf("docs/metrics.md: %v", err)
		}
	}

	// Every alert rule evaluates cleanly against the real series.
	waitFor(ctx, t, prom, "every alert rule to evaluate without error", func() error {
		var rules struct {
			Groups []struct {
				Rules []struct {
					Name           string    `json:"name"`
					Health         string    `json:"health"`
					LastError      string    `json:"lastError"`
					LastEvaluation time.Time `json:"lastEvaluation"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := prom.get(ctx, "/api/v1/rules", nil, &rules); err != nil {
			return err
		}
		n := 0
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				n++
				if r.LastEvaluation.Year() < 2000 {
					return fmt.Errorf("%s not evaluated yet", r.Name)
				}
				if r.Health != "ok" {
					t.Fatalf("rule %s: health %s: %s", r.Name, r.Health, r.LastError)
				}
			}
		}
		if n == 0 {
			return fmt.Errorf("no rule loaded")
		}
		return nil
	})
}

// promServer is a running Prometheus server.
type promServer struct {
	base   string
	client *http.Client
}

type sample struct {
	labels map[string]string
	value  float64
}

// startPrometheus runs bin with a fresh config and data directory, scraping
// target every second and loading monitoring/alerts.yml. The server is
// stopped (SIGTERM, then SIGKILL after 5 s) and waited for at cleanup.
func startPrometheus(t *testing.T, bin, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs(filepath.Join(monitoring, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: lineage
    static_configs:
      - targets: [%q]
`, rules, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)

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
	return &promServer{base: "http://" + addr, client: &http.Client{Timeout: 2 * time.Second}}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// get calls the HTTP API and decodes its data into out.
func (p *promServer) get(ctx context.Context, path string, q url.Values, out any) error {
	u := p.base + path
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

// query runs an instant query and returns its vector.
func (p *promServer) query(ctx context.Context, promql string) ([]sample, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query", url.Values{"query": {promql}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("%s: result type %s", promql, data.ResultType)
	}
	var out []sample
	for _, r := range data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: value %v: %w", promql, r.Value[1], err)
		}
		out = append(out, sample{labels: r.Metric, value: v})
	}
	return out, nil
}

// waitFor polls check every 200 ms until it returns nil, and fails the
// test with check's last error when ctx ends first.
func waitFor(ctx context.Context, t *testing.T, p *promServer, what string, check func() error) {
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
			t.Fatalf("waiting for %s at %s: %v (last: %v)", what, p.base, ctx.Err(), err)
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

// docQueries returns the example queries of docs/metrics.md: the last
// cell of every table row that documents a lineage_ family.
func docQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	var qs []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `lineage_") {
			continue
		}
		cells := strings.Split(strings.TrimSuffix(strings.TrimSpace(line), "|"), " | ")
		last := strings.TrimSpace(cells[len(cells)-1])
		if q, ok := strings.CutPrefix(last, "`"); ok && strings.HasSuffix(q, "`") && len(cells) == 5 {
			qs = append(qs, strings.TrimSuffix(q, "`"))
		}
	}
	if len(qs) < 40 {
		t.Fatalf("found only %d example queries in docs/metrics.md", len(qs))
	}
	return qs
}
