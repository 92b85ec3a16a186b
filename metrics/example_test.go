package metrics_test

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
	"github.com/lineage-arena/lineage/metrics"
)

// A server publishes the arena's snapshot after every tick; the registry
// reads it at scrape time and Handler serves it with the health endpoints.
func ExampleNewRegistry() {
	var latest atomic.Pointer[arena.Snapshot]
	latest.Store(&arena.Snapshot{
		Time: time.Date(2026, 2, 3, 14, 30, 45, 0, time.UTC),
		Agents: []arena.AgentState{
			{ID: "Momentum", Strategy: "Momentum", Status: arena.StatusActive, Capital: market.USD(115_000), Trades: 28, Wins: 17},
			{ID: "Balanced", Strategy: "Balanced", Status: arena.StatusDeceased, Capital: market.USD(40_000),
				Death: &arena.DeathEvent{Agent: "Balanced", Cause: arena.CauseDrawdown}},
		},
		Living: 1,
	})
	reg := metrics.NewRegistry(metrics.Sources{Arena: latest.Load, Version: "v0.1.0"})
	srv := httptest.NewServer(metrics.Handler(reg, nil))
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "lineage_agent_capital") || strings.HasPrefix(line, "lineage_agent_deaths_total{cause=\"drawdown\"") {
			fmt.Println(line)
		}
	}
	// Output:
	// lineage_agent_capital{agent="Momentum"} 115000
	// lineage_agent_deaths_total{cause="drawdown",strategy="Balanced"} 1
	// lineage_agent_deaths_total{cause="drawdown",strategy="Momentum"} 0
}
