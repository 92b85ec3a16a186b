package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/internal/promtest"
	"github.com/lineage-arena/lineage/metrics"
)

// TestRealPrometheus starts Debian's prometheus on loopback, has it scrape
// Handler (it negotiates OpenMetrics) and evaluate monitoring/alerts.yml,
// and checks through its HTTP API what it stored: every agent's capital,
// up == 1, every metric name the dashboard and the alerts use, and every
// rule evaluated without error. It skips when prometheus is missing,
// except in CI.
func TestRealPrometheus(t *testing.T) {
	bin := promtest.NeedTool(t, "prometheus")
	target := httptest.NewServer(metrics.Handler(metrics.NewRegistry(allFixture()), nil))
	t.Cleanup(target.Close)

	prom := promtest.Start(t, bin, strings.TrimPrefix(target.URL, "http://"), filepath.Join(monitoring, "alerts.yml"))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	// MaxAgents 3: the richest and the two poorest of the four living.
	want := map[string]float64{"Momentum": 115000.5, "Conservative.1": 25000, "Balanced": 47000}
	prom.WaitFor(ctx, t, "lineage_agent_capital to hold the richest and the two poorest living agents", func() error {
		got, err := prom.Query(ctx, "lineage_agent_capital")
		if err != nil {
			return err
		}
		byAgent := map[string]float64{}
		for _, s := range got {
			byAgent[s.Labels["agent"]] = s.Value
		}
		if fmt.Sprint(byAgent) != fmt.Sprint(want) {
			return fmt.Errorf("got %v, want %v", byAgent, want)
		}
		return nil
	})

	up, err := prom.Query(ctx, `up{job="lineage"}`)
	if err != nil || len(up) != 1 || up[0].Value != 1 {
		t.Errorf("up{job=\"lineage\"} = %+v (%v), want one series of value 1", up, err)
	}

	// Every name the kit uses is one Prometheus actually stored.
	var names []string
	if err := prom.Get(ctx, "/api/v1/label/__name__/values", nil, &names); err != nil {
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
		if _, err := prom.Query(ctx, q); err != nil {
			t.Errorf("docs/metrics.md: %v", err)
		}
	}

	// Every dashboard query runs, with its variables at "All".
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	b, err := os.ReadFile(filepath.Join(monitoring, "grafana", "dashboards", "lineage.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$job", ".+", "$instance", ".+", "$__rate_interval", "1m")
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			if _, err := prom.Query(ctx, vars.Replace(tg.Expr)); err != nil {
				t.Errorf("panel %q: %v", p.Title, err)
			}
		}
	}

	// Every alert rule evaluates cleanly against the real series.
	prom.WaitFor(ctx, t, "every alert rule to evaluate without error", func() error {
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
		if err := prom.Get(ctx, "/api/v1/rules", nil, &rules); err != nil {
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
