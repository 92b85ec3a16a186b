package main

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
