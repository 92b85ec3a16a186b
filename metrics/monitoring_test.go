package metrics_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lineage-arena/lineage/internal/promtest"
	"github.com/lineage-arena/lineage/metrics"
	dto "github.com/prometheus/client_model/go"
)

// monitoring is the kit this package's metrics feed.
const monitoring = "../monitoring"

// exported lists every series name the collector can produce: the names
// its Describe announces, with _bucket, _sum and _count for histograms,
// and lineage_build_info from NewRegistry.
func exported(t testing.TB) map[string]bool {
	t.Helper()
	names := map[string]bool{"lineage_build_info": true}
	fams := mustGather(t, metrics.NewRegistry(fixture()))
	for _, n := range describedNames(t, metrics.NewCollector(fixture())) {
		names[n] = true
		if mf := fams[n]; mf != nil && mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[n+s] = true
			}
		}
	}
	return names
}

var metricNameRE = regexp.MustCompile(`\blineage_[a-z0-9_]*[a-z0-9]`)

// checkNames reports every lineage_ name in text that the collector does
// not export.
func checkNames(t *testing.T, where, text string, known map[string]bool) {
	t.Helper()
	for _, n := range metricNameRE.FindAllString(text, -1) {
		if !known[n] {
			t.Errorf("%s uses %s, which the collector does not export", where, n)
		}
	}
}

// TestAlertRulesUseExportedNames: every metric an alert reads (or names in
// its text) exists.
func TestAlertRulesUseExportedNames(t *testing.T) {
	known := exported(t)
	for _, f := range []string{"alerts.yml", "alerts_test.yml"} {
		b, err := os.ReadFile(filepath.Join(monitoring, f))
		if err != nil {
			t.Fatal(err)
		}
		checkNames(t, f, string(b), known)
	}
}

type dashboard struct {
	Inputs     json.RawMessage `json:"__inputs"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasourceRef  `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Datasource  *datasourceRef `json:"datasource"`
	Description string         `json:"description"`
	FieldConfig struct {
		Defaults struct {
			Unit    string `json:"unit"`
			NoValue string `json:"noValue"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []struct {
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

// rangeRE finds the range of every rate-like function call.
var rangeRE = regexp.MustCompile(`\b(rate|irate|increase|delta|deriv)\s*\(([^\[\]]*)\[([^\]]*)\]`)

// TestDashboard checks the Grafana dashboard the way a reviewer would: a
// data source variable and no __inputs, so it imports anywhere; a unit on
// every panel; $__rate_interval in every rate(); only metrics the
// collector exports; and a panel for each thing operators watch.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(monitoring, "grafana", "dashboards", "lineage.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("lineage.json: %v", err)
	}
	if d.Inputs != nil {
		t.Error("lineage.json has __inputs: provisioning cannot fill them; use the datasource variable")
	}
	hasDS := false
	known := exported(t)
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Name == "datasource" && string(v.Query) == `"prometheus"` {
			hasDS = true
		}
		checkNames(t, "variable "+v.Name, v.Definition+string(v.Query), known)
	}
	if !hasDS {
		t.Error("lineage.json has no datasource variable of type prometheus named datasource")
	}

	var all []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			all = append(all, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	ids := map[int]bool{}
	var exprs []string
	for _, p := range all {
		if ids[p.ID] {
			t.Errorf("panel %q: duplicate id %d", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("panel %q has no unit", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the ${datasource} variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		// A panel on market-data traffic is empty on a sim or replay feed,
		// which fetches nothing: its no-data text must say so, so that
		// nobody reads it as broken.
		if slices.ContainsFunc(p.Targets, func(tg struct {
			Expr       string         `json:"expr"`
			Datasource *datasourceRef `json:"datasource"`
		}) bool {
			return slices.ContainsFunc(metricNameRE.FindAllString(tg.Expr, -1), func(n string) bool {
				return strings.HasPrefix(n, "lineage_market_request") || strings.HasPrefix(n, "lineage_market_cache") ||
					n == "lineage_cache_hit_rate" || n == "lineage_request_success_rate" || strings.HasPrefix(n, "lineage_api_") ||
					n == "lineage_market_breaker_open"
			})
		}) {
			if !strings.Contains(p.FieldConfig.Defaults.NoValue, "sim or replay") {
				t.Errorf("panel %q reads market-data traffic but its no-data text %q does not say a sim or replay feed has none", p.Title, p.FieldConfig.Defaults.NoValue)
			}
		}
		for _, tg := range p.Targets {
			where := "panel " + strings.TrimSpace(p.Title)
			if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
				t.Errorf("%s: a target does not use ${datasource}", where)
			}
			checkNames(t, where, tg.Expr, known)
			for _, m := range rangeRE.FindAllStringSubmatch(tg.Expr, -1) {
				if m[3] != "$__rate_interval" {
					t.Errorf("%s: %s(…[%s]) should use [$__rate_interval]", where, m[1], m[3])
				}
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	joined := strings.Join(exprs, "\n")
	for _, want := range []string{
		"lineage_agent_capital", "lineage_strategy_capital_usd", "lineage_agents_below_capital", "lineage_agent_deaths_total",
		"lineage_agent_spawns_total", "lineage_market_price_usd", "lineage_market_last_tick_timestamp_seconds",
		"lineage_market_price_stale", "lineage_market_request_errors_total", "lineage_cache_hit_rate",
		"lineage_active_connections", "lineage_messages_broadcast_total", "lineage_websocket_slow_disconnects_total",
		"lineage_eventlog_append_duration_seconds_bucket",
		"lineage_nats_publisher_lag_events", "lineage_nats_stream_diverged", "lineage_edge_lag_events", "lineage_edge_chain_failures_total",
	} {
		if !slices.Contains(metricNameRE.FindAllString(joined, -1), want) {
			t.Errorf("the dashboard has no panel on %s", want)
		}
	}
}

// TestPromtool runs promtool over the monitoring kit and the live
// exposition: the config and rules load, the alert unit tests pass, and
// the metrics pass promtool's lint.
func TestPromtool(t *testing.T) {
	promtool := promtest.NeedTool(t, "promtool")
	run := func(t *testing.T, stdin []byte, args ...string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), promtool, args...)
		cmd.Dir = monitoring
		if stdin != nil {
			cmd.Stdin = bytes.NewReader(stdin)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	t.Run("check config", func(t *testing.T) { run(t, nil, "check", "config", "prometheus.yml") })
	// Its comment says to lower the interval to match a shorter tick: the
	// config must stay valid when one does exactly that.
	t.Run("check config with a lowered interval", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(monitoring, "prometheus.yml"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "scrape_interval: 1s for --tick-interval 1s") {
			t.Fatal("prometheus.yml no longer gives the advice this test follows")
		}
		for _, interval := range []string{"1s", "2s", "500ms"} {
			lowered := strings.Replace(string(b), "  scrape_interval: 5s\n", "  scrape_interval: "+interval+"\n", 1)
			if lowered == string(b) {
				t.Fatal("prometheus.yml has no global scrape_interval: 5s line to lower")
			}
			dir := t.TempDir()
			rules, err := os.ReadFile(filepath.Join(monitoring, "alerts.yml"))
			if err != nil {
				t.Fatal(err)
			}
			for name, data := range map[string][]byte{"prometheus.yml": []byte(lowered), "alerts.yml": rules} {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, err := exec.CommandContext(t.Context(), promtool, "check", "config", filepath.Join(dir, "prometheus.yml")).CombinedOutput()
			if err != nil {
				t.Errorf("scrape_interval %s: promtool check config: %v\n%s", interval, err, out)
			}
		}
	})
	t.Run("check rules", func(t *testing.T) { run(t, nil, "check", "rules", "alerts.yml") })
	t.Run("test rules", func(t *testing.T) { run(t, nil, "test", "rules", "alerts_test.yml") })
	t.Run("check metrics", func(t *testing.T) {
		for _, src := range []metrics.Sources{fixture(), simFixture(), natsFixture(), edgeFixture()} {
			code, _, body := get(t, metrics.Handler(metrics.NewRegistry(src), nil), "/metrics")
			if code != 200 {
				t.Fatalf("GET /metrics: %d", code)
			}
			run(t, []byte(body), "check", "metrics")
		}
	})
}

// TestDocsListEveryFamily: docs/metrics.md has a row for every family the
// collector exports, and no row for one it does not.
func TestDocsListEveryFamily(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(lineage_[a-z0-9_]+)` \\|").FindAllStringSubmatch(string(b), -1) {
		rows[m[1]] = true
	}
	described := append(describedNames(t, metrics.NewCollector(fixture())), "lineage_build_info")
	for _, n := range described {
		if !rows[n] {
			t.Errorf("docs/metrics.md has no row for %s", n)
		}
		delete(rows, n)
	}
	for n := range rows {
		t.Errorf("docs/metrics.md documents %s, which the collector does not export", n)
	}
}
