package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/internal/promtest"
)

// replayFile writes n ticks of the simulated feed as replay CSV.
func replayFile(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ticks.csv")
	var b strings.Builder
	b.WriteString("timestamp,symbol,price\n")
	sim := feed.NewSim(feed.SimConfig{Seed: 5})
	for range n {
		tk, _ := sim.Next(context.Background())
		fmt.Fprintf(&b, "%s,%s,%s\n", tk.Time.Format(time.RFC3339), tk.Symbol, tk.Price)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The numbers in /metrics are the engine's own: once the feed has ended,
// every agent's capital and trades in /metrics equal /api/agents.
func TestMetricsMatchTheEngine(t *testing.T) {
	s := startServer(t, "--data-dir", t.TempDir(), "--feed", "replay", "--replay", replayFile(t, 4000),
		"--agents", "9", "--seed", "3", "--tick-interval", "1ms", "--agent-interval", "1h", "--round-ticks", "500")
	s.logs.waitFor(t, "feed ended", s.exited)
	out := s.logs.String()
	metricsURL := field(t, out, "msg=metrics", "url")
	api := strings.Replace(field(t, out, "msg=serving", "api"), "/api/", "/api/agents", 1)
	base := strings.TrimSuffix(metricsURL, "/metrics")

	if code, body := httpGet(t, base+"/health"); code != 200 || body != `{"status":"ok","service":"lineage-metrics"}` {
		t.Errorf("/health: %d %q", code, body)
	}
	if code, _ := httpGet(t, base+"/nope"); code != 404 {
		t.Errorf("/nope: %d", code)
	}
	if code, _ := httpGet(t, base+"/livez"); code != 200 {
		t.Errorf("/livez: %d", code)
	}
	_, text := httpGet(t, metricsURL)
	_, agentsJSON := httpGet(t, api)
	s.stop()

	var agents []struct {
		ID      string          `json:"agent_id"`
		Capital json.RawMessage `json:"capital"`
		Trades  int             `json:"trades_executed"`
		Status  string          `json:"status"`
	}
	if err := json.Unmarshal([]byte(agentsJSON), &agents); err != nil {
		t.Fatal(err)
	}
	metric := func(name, agent string) (float64, bool) {
		re := regexp.MustCompile(`(?m)^` + name + `\{agent="` + regexp.QuoteMeta(agent) + `"\} (\S+)$`)
		m := re.FindStringSubmatch(text)
		if m == nil {
			return 0, false
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v, true
	}
	living := 0
	for _, a := range agents {
		capital, ok := metric("lineage_agent_capital", a.ID)
		if a.Status == "deceased" {
			if ok {
				t.Errorf("dead %s still has a capital series", a.ID)
			}
			continue
		}
		living++
		want, _ := strconv.ParseFloat(string(a.Capital), 64)
		if !ok || capital != want {
			t.Errorf("%s: lineage_agent_capital %v (present %v), /api/agents %v", a.ID, capital, ok, want)
		}
		if trades, ok := metric("lineage_agent_trades_total", a.ID); !ok || int(trades) != a.Trades {
			t.Errorf("%s: lineage_agent_trades_total %v, /api/agents %d", a.ID, trades, a.Trades)
		}
	}
	if living == 0 {
		t.Fatal("no living agent to compare")
	}
	if !regexp.MustCompile(`(?m)^lineage_arena_rounds_total 8$`).MatchString(text) {
		t.Errorf("rounds: want 8 after 4000 ticks of 500:\n%s", grep(text, "lineage_arena_rounds_total"))
	}
}

func grep(text, prefix string) string {
	var out []string
	for l := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A real Prometheus scraping a real lineage serve sees what /api/agents
// says: trades, scars and capital of every living agent.
func TestPrometheusScrapesServe(t *testing.T) {
	bin := promtest.NeedTool(t, "prometheus")
	s := startServer(t, "--data-dir", t.TempDir(), "--feed", "replay", "--replay", replayFile(t, 3000),
		"--agents", "6", "--seed", "4", "--tick-interval", "1ms", "--agent-interval", "1h")
	s.logs.waitFor(t, "feed ended", s.exited)
	out := s.logs.String()
	target := strings.TrimSuffix(strings.TrimPrefix(field(t, out, "msg=metrics", "url"), "http://"), "/metrics")
	_, agentsJSON := httpGet(t, strings.Replace(field(t, out, "msg=serving", "api"), "/api/", "/api/agents", 1))
	var agents []struct {
		ID      string          `json:"agent_id"`
		Capital json.RawMessage `json:"capital"`
		Trades  int             `json:"trades_executed"`
		Scars   int             `json:"scars"`
		Status  string          `json:"status"`
	}
	if err := json.Unmarshal([]byte(agentsJSON), &agents); err != nil {
		t.Fatal(err)
	}
	prom := promtest.Start(t, bin, target, filepath.Join("..", "..", "monitoring", "alerts.yml"))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	byAgent := func(q string) (map[string]float64, error) {
		got, err := prom.Query(ctx, q)
		out := map[string]float64{}
		for _, s := range got {
			out[s.Labels["agent"]] = s.Value
		}
		return out, err
	}
	prom.WaitFor(ctx, t, "Prometheus to see what /api/agents says", func() error {
		capital, err := byAgent("lineage_agent_capital")
		if err != nil {
			return err
		}
		trades, _ := byAgent("lineage_agent_trades_total")
		scars, _ := byAgent("lineage_agent_scars_total")
		living := 0
		for _, a := range agents {
			if a.Status == "deceased" {
				if _, ok := capital[a.ID]; ok {
					return fmt.Errorf("dead %s has a capital series", a.ID)
				}
				continue
			}
			living++
			want, _ := strconv.ParseFloat(string(a.Capital), 64)
			if capital[a.ID] != want || int(trades[a.ID]) != a.Trades || int(scars[a.ID]) != a.Scars {
				return fmt.Errorf("%s: Prometheus capital %v trades %v scars %v; /api/agents %v %d %d",
					a.ID, capital[a.ID], trades[a.ID], scars[a.ID], want, a.Trades, a.Scars)
			}
		}
		if living == 0 || len(capital) != living {
			return fmt.Errorf("%d capital series for %d living agents", len(capital), living)
		}
		return nil
	})
	s.stop()
}
