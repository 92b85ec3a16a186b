package metrics_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
	"github.com/lineage-arena/lineage/metrics"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// seed is the published contract of SPEC.md: these names, types and labels
// never change.
var seed = []struct {
	name   string
	typ    dto.MetricType
	labels []string
}{
	{"lineage_cache_hit_rate", dto.MetricType_GAUGE, nil},
	{"lineage_request_success_rate", dto.MetricType_GAUGE, nil},
	{"lineage_api_errors_total", dto.MetricType_COUNTER, nil},
	{"lineage_api_request_duration_seconds", dto.MetricType_HISTOGRAM, nil},
	{"lineage_agent_capital", dto.MetricType_GAUGE, []string{"agent"}},
	{"lineage_agent_trades_total", dto.MetricType_COUNTER, []string{"agent"}},
	{"lineage_agent_win_rate", dto.MetricType_GAUGE, []string{"agent"}},
	{"lineage_agent_scars_total", dto.MetricType_COUNTER, []string{"agent"}},
	{"lineage_arena_rounds_total", dto.MetricType_COUNTER, nil},
	{"lineage_arena_agent_wins_total", dto.MetricType_COUNTER, []string{"agent"}},
	{"lineage_arena_agent_final_capital", dto.MetricType_GAUGE, []string{"agent"}},
	{"lineage_active_connections", dto.MetricType_GAUGE, nil},
	{"lineage_messages_broadcast_total", dto.MetricType_COUNTER, nil},
	{"lineage_uptime_seconds", dto.MetricType_GAUGE, nil},
}

func isSeed(name string) bool {
	return slices.ContainsFunc(seed, func(s struct {
		name   string
		typ    dto.MetricType
		labels []string
	}) bool {
		return s.name == name
	})
}

func labelNames(m *dto.Metric) []string {
	var ns []string
	for _, lp := range m.GetLabel() {
		ns = append(ns, lp.GetName())
	}
	return ns
}

// TestSeedFamilies checks the 14 seed families exist with the SPEC's
// types and labels, on a live server and on a simulated one alike.
func TestSeedFamilies(t *testing.T) {
	for name, src := range map[string]metrics.Sources{"live": fixture(), "sim": simFixture()} {
		t.Run(name, func(t *testing.T) {
			fams := mustGather(t, metrics.NewRegistry(src))
			for _, s := range seed {
				mf := fams[s.name]
				if mf == nil {
					t.Errorf("%s: missing", s.name)
					continue
				}
				if mf.GetType() != s.typ {
					t.Errorf("%s: type %s, want %s", s.name, mf.GetType(), s.typ)
				}
				for _, m := range mf.GetMetric() {
					if got := labelNames(m); !slices.Equal(got, s.labels) {
						t.Errorf("%s: labels %v, want %v", s.name, got, s.labels)
					}
				}
			}
		})
	}
}

// TestSeedMeanings checks a few seed values against what they mean.
func TestSeedMeanings(t *testing.T) {
	fams := mustGather(t, metrics.NewRegistry(fixture()))
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"lineage_cache_hit_rate", nil, 100 * 960.0 / 1100},
		{"lineage_request_success_rate", nil, 100 * 139.0 / 150},
		{"lineage_api_errors_total", nil, 15},
		{"lineage_api_request_duration_seconds", nil, 150}, // the count
		{"lineage_agent_capital", []string{"agent", "Momentum"}, 115000.50},
		{"lineage_agent_trades_total", []string{"agent", "Balanced"}, 40},
		{"lineage_agent_win_rate", []string{"agent", "Conservative.1"}, 1},
		{"lineage_agent_scars_total", []string{"agent", "Balanced"}, 3},
		{"lineage_arena_rounds_total", nil, 4},
		{"lineage_arena_agent_wins_total", []string{"agent", "Momentum"}, 3},
		{"lineage_arena_agent_final_capital", []string{"agent", "Balanced"}, 48000.75},
		{"lineage_active_connections", nil, 3},
		{"lineage_messages_broadcast_total", nil, 4000},
		{"lineage_uptime_seconds", nil, 3602},
	} {
		if got := value(t, fams[tc.name], tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

// TestRatesWithoutTraffic: on a sim or replay feed nothing is fetched, so
// the since-start rates have no lookup and no request behind them. They
// must not read as a broken cache or a failing provider (0 %): the seed's
// own alerts, lineage_cache_hit_rate < 90 and a low
// lineage_request_success_rate, must stay quiet there.
func TestRatesWithoutTraffic(t *testing.T) {
	for name, st := range map[string]feed.LiveStats{
		"sim":                 {},
		"live before lookups": {Providers: []feed.ProviderStats{{Name: "coingecko"}}},
	} {
		t.Run(name, func(t *testing.T) {
			src := simFixture()
			live := name != "sim"
			src.Feed = func() (feed.LiveStats, bool) { return st, live }
			fams := mustGather(t, metrics.NewRegistry(src))
			for _, n := range []string{"lineage_cache_hit_rate", "lineage_request_success_rate"} {
				if got := value(t, fams[n]); got != 100 {
					t.Errorf("%s = %v with no traffic, want 100 (nothing missed or failed)", n, got)
				}
			}
		})
	}
}

var (
	nameRE = regexp.MustCompile(`^lineage_[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	// units are the base-unit suffixes a name may carry; a name mentioning
	// a unit word must end in it (before _total).
	units = []string{"seconds", "bytes", "usd"}
)

// TestHouseRules checks every lineage_ family the way a Prometheus
// maintainer would review it.
func TestHouseRules(t *testing.T) {
	reg := metrics.NewRegistry(fixture())
	fams := mustGather(t, reg)
	stems := map[string]string{}
	for name, mf := range fams {
		if !strings.HasPrefix(name, "lineage_") {
			continue
		}
		typ := mf.GetType()
		help := mf.GetHelp()
		switch {
		case !nameRE.MatchString(name):
			t.Errorf("%s: not a snake_case lineage_ name", name)
		case strings.TrimSpace(help) == "":
			t.Errorf("%s: no HELP", name)
		case typ == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total"):
			t.Errorf("%s: a counter must end in _total", name)
		case typ != dto.MetricType_COUNTER && strings.HasSuffix(name, "_total"):
			t.Errorf("%s: a %s must not end in _total", name, typ)
		case typ == dto.MetricType_HISTOGRAM && !strings.HasSuffix(name, "_seconds"):
			t.Errorf("%s: a histogram of durations must be in _seconds", name)
		case strings.HasSuffix(name, "_timestamp") || (strings.Contains(name, "timestamp") && !strings.HasSuffix(name, "_timestamp_seconds")):
			t.Errorf("%s: a timestamp is in _timestamp_seconds", name)
		}
		base := strings.TrimSuffix(name, "_total")
		for _, u := range units {
			if strings.Contains(base, "_"+u+"_") {
				t.Errorf("%s: the unit %s goes at the end of the name", name, u)
			}
		}
		// The only unit-less names with money in them are the seed's
		// (lineage_agents… count agents, whatever their capital).
		if (strings.Contains(help, "USD") || strings.Contains(help, "capital")) && typ == dto.MetricType_GAUGE &&
			!strings.HasSuffix(name, "_usd") && !isSeed(name) && !strings.HasPrefix(name, "lineage_agents") {
			t.Errorf("%s: a money gauge must end in _usd", name)
		}
		if strings.Contains(strings.ToLower(help), "bytes") && !strings.HasSuffix(base, "_bytes") {
			t.Errorf("%s: a count of bytes must end in _bytes_total", name)
		}
		// No two families may share a stem: a counter x_total and a gauge
		// x, or a histogram x and a counter x_count, collide in
		// OpenMetrics and confuse every reader.
		for _, s := range stemsOf(name, typ) {
			if other, dup := stems[s]; dup {
				t.Errorf("%s and %s share the stem %s", name, other, s)
			}
			stems[s] = name
		}
	}
}

// stemsOf lists the names a family's samples use, without _total.
func stemsOf(name string, typ dto.MetricType) []string {
	base := strings.TrimSuffix(name, "_total")
	switch typ {
	case dto.MetricType_HISTOGRAM, dto.MetricType_SUMMARY:
		return []string{base, base + "_bucket", base + "_sum", base + "_count", base + "_created"}
	case dto.MetricType_COUNTER:
		return []string{base, base + "_created"}
	}
	return []string{base}
}

// TestDescribeCoversCollect checks that Describe announces every family
// Collect sends, and Collect sends every family Describe announces when
// every source is present.
func TestDescribeCoversCollect(t *testing.T) {
	all := allFixture()
	described := describedNames(t, metrics.NewCollector(all))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewCollector(all))
	var collected []string
	for name := range mustGather(t, reg) {
		collected = append(collected, name)
	}
	slices.Sort(collected)
	if !slices.Equal(described, collected) {
		t.Errorf("described %v\ncollected %v", described, collected)
	}
}

var fqNameRE = regexp.MustCompile(`fqName: "([^"]+)"`)

// describedNames lists the family names c's Describe sends, sorted.
func describedNames(t testing.TB, c prometheus.Collector) []string {
	t.Helper()
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	var names []string
	for d := range ch {
		m := fqNameRE.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		names = append(names, m[1])
	}
	slices.Sort(names)
	return names
}

// crowd is an arena of n living agents with distinct capitals (Agent000
// richest) and some dead ones, over three strategies.
func crowd(n, deadN int) *arena.Snapshot {
	snap := &arena.Snapshot{Time: t0, Living: n}
	strategies := []string{"Momentum", "Conservative", "Balanced"}
	for i, id := range agentIDs(n) {
		a := living(id, strategies[i%3], "", arena.StatusActive, fmt.Sprint(1_000_000-i*100), i%50, i%20, i%5, 0)
		snap.Agents = append(snap.Agents, a)
	}
	for i := range deadN {
		snap.Agents = append(snap.Agents, dead(fmt.Sprintf("Dead%03d", i), strategies[i%3], "", arena.CauseDrawdown, "2000000", 5, 1, 2))
	}
	return snap
}

// TestAgentLabelBounded: 500 living agents give at most MaxAgents agent
// label values — the poorest half and the richest half, so the agents
// nearest to death always have a series — and the dead, however rich they
// died, never appear.
func TestAgentLabelBounded(t *testing.T) {
	for _, tc := range []struct {
		max        int
		rich, poor int
	}{
		{0, 12, 13},
		{10, 5, 5},
		{1, 0, 1},
		{-1, 0, 0},
		{1000, 500, 0},
	} {
		t.Run(fmt.Sprint(tc.max), func(t *testing.T) {
			snap := crowd(500, 40)
			src := metrics.Sources{Arena: func() *arena.Snapshot { return snap }, MaxAgents: tc.max}
			fams := mustGather(t, metrics.NewRegistry(src))
			all := agentIDs(500) // richest first
			want := append(slices.Clone(all[:tc.rich]), all[500-tc.poor:]...)
			slices.Sort(want)
			for name, mf := range fams {
				got := labelValues(mf, "agent")
				if len(got) == 0 {
					continue
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("%s: %d agent values %v…, want the %d richest and %d poorest living", name, len(got), got[:min(3, len(got))], tc.rich, tc.poor)
				}
			}
			if got := value(t, fams["lineage_agents"], "strategy", "Momentum", "status", "active"); got != 167 {
				t.Errorf("lineage_agents{Momentum,active} = %v, want 167: every living agent is counted by strategy", got)
			}
			if got := value(t, fams["lineage_agents"], "strategy", "Momentum", "status", "deceased"); got != 14 {
				t.Errorf("lineage_agents{Momentum,deceased} = %v, want 14", got)
			}
		})
	}
}

// TestCapitalOverAllAgents: whatever the label bound, the per-strategy
// families give the true average capital of the living and the count
// below each threshold over every living agent, computed here from the
// snapshot itself.
func TestCapitalOverAllAgents(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	snap := &arena.Snapshot{Time: t0}
	strategies := []string{"Momentum", "Conservative", "Balanced"}
	for i := range 300 {
		capital := fmt.Sprintf("%d.%02d", rng.IntN(200_000), rng.IntN(100))
		snap.Agents = append(snap.Agents, living(fmt.Sprintf("A%03d", i), strategies[i%3], "", arena.StatusActive, capital, 1, 0, 0, 0))
	}
	snap.Agents = append(snap.Agents, dead("Dead", "Momentum", "", arena.CauseBankrupt, "10", 3, 0, 1))
	src := metrics.Sources{Arena: func() *arena.Snapshot { return snap }, MaxAgents: 4}
	fams := mustGather(t, metrics.NewRegistry(src))

	var sum market.Money
	var livingN float64
	below := map[string]float64{}
	for _, a := range snap.Agents {
		if a.Death != nil {
			continue
		}
		sum += a.Capital
		livingN++
		for _, usd := range []int64{1_000, 10_000, 25_000, 50_000, 100_000} {
			if a.Capital < market.USD(usd) {
				below[fmt.Sprint(usd)]++
			}
		}
	}
	var gotSum, gotN float64
	for _, s := range strategies {
		gotSum += value(t, fams["lineage_strategy_capital_usd"], "strategy", s)
		gotN += value(t, fams["lineage_agents"], "strategy", s, "status", "active") + value(t, fams["lineage_agents"], "strategy", s, "status", "resting")
	}
	if want := sum.Float64() / livingN; math.Abs(gotSum/gotN-want) > 1e-6 {
		t.Errorf("average capital from the strategy families = %v, want %v", gotSum/gotN, want)
	}
	if below["50000"] < 50 {
		t.Fatalf("fixture: %v agents below each threshold; want many below 50,000", below)
	}
	for _, usd := range []string{"1000", "10000", "25000", "50000", "100000"} {
		want := below[usd]
		var got float64
		for _, s := range strategies {
			got += value(t, fams["lineage_agents_below_capital"], "strategy", s, "below", usd)
		}
		if got != want {
			t.Errorf("living agents below %s USD = %v, want %v", usd, got, want)
		}
	}
	// Far more agents are below 50,000 than have a series: the alert must
	// read the aggregate.
	if n := len(labelValues(fams["lineage_agent_capital"], "agent")); float64(n) >= below["50000"] {
		t.Errorf("%d labelled agents for %v below 50,000: the fixture does not test the bound", n, below["50000"])
	}
}

// TestDeadSeriesDisappear: an agent that dies loses its per-agent series
// at the next scrape, and is counted in the strategy's deaths instead.
func TestDeadSeriesDisappear(t *testing.T) {
	snap := fixtureSnapshot()
	src := fixture()
	src.Arena = func() *arena.Snapshot { return snap }
	reg := metrics.NewRegistry(src)
	before := mustGather(t, reg)
	if !slices.Contains(labelValues(before["lineage_agent_capital"], "agent"), "Balanced") {
		t.Fatal("Balanced has no series while alive")
	}
	deathsBefore := value(t, before["lineage_agent_deaths_total"], "strategy", "Balanced", "cause", "drawdown")

	next := fixtureSnapshot()
	next.Agents[2] = dead("Balanced", "Balanced", "", arena.CauseDrawdown, "30000", 41, 18, 4)
	snap = next
	after := mustGather(t, metrics.NewRegistry(src))
	for name, mf := range after {
		if slices.Contains(labelValues(mf, "agent"), "Balanced") {
			t.Errorf("%s still has a series for the dead Balanced", name)
		}
	}
	// Conservative was the one living agent left out (neither among the 2
	// poorest nor the richest); with Balanced gone it is among the poorest.
	if slices.Contains(labelValues(before["lineage_agent_capital"], "agent"), "Conservative") {
		t.Fatal("fixture: Conservative is labelled before Balanced dies")
	}
	if !slices.Contains(labelValues(after["lineage_agent_capital"], "agent"), "Conservative") {
		t.Error("the next living agent did not take the freed label")
	}
	if got := value(t, after["lineage_agent_deaths_total"], "strategy", "Balanced", "cause", "drawdown"); got != deathsBefore+1 {
		t.Errorf("deaths{Balanced,drawdown} = %v, want %v", got, deathsBefore+1)
	}
}

// TestCountersMonotonic runs a real arena on the simulated feed and
// scrapes it as it goes: the counters derived from snapshots never go
// down while agents trade, breed and die, and per-agent series only ever
// name living agents.
func TestCountersMonotonic(t *testing.T) {
	syms := []market.Symbol{"BTC-USD", "ETH-USD"}
	// Harsh rules, so agents scar and die within the run.
	cfg := arena.Config{Symbols: syms, Seed: 7, ScarDrawdown: market.Percent(1), DeathDrawdown: market.Percent(4), RoundTicks: 500}
	ar, err := arena.New(cfg, arena.GenerateRoster(40, 7), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	var snap *arena.Snapshot
	src := metrics.Sources{Arena: func() *arena.Snapshot { return snap }, MaxAgents: 10}
	reg := metrics.NewRegistry(src)
	sim := feed.NewSim(feed.SimConfig{Symbols: syms, Seed: 7})
	last := map[string]float64{}
	var deaths, spawns float64
	for range 40 {
		if err := ar.Run(t.Context(), sim, 250*int64(len(syms))); err != nil {
			t.Fatal(err)
		}
		snap = ar.Snapshot()
		fams := mustGather(t, reg)
		for name, mf := range fams {
			if !strings.HasPrefix(name, "lineage_") || mf.GetType() != dto.MetricType_COUNTER || slices.Contains(labelNames(firstOf(mf)), "agent") {
				continue
			}
			for _, m := range mf.GetMetric() {
				key := name + fmt.Sprint(m.GetLabel())
				v := m.GetCounter().GetValue()
				if v < last[key] {
					t.Errorf("%s went down: %v after %v", key, v, last[key])
				}
				last[key] = v
			}
		}
		alive := map[string]bool{}
		for _, a := range snap.Agents {
			alive[a.ID] = a.Death == nil
		}
		agents := labelValues(fams["lineage_agent_capital"], "agent")
		if len(agents) > 10 {
			t.Errorf("%d agent label values, want at most 10", len(agents))
		}
		for _, id := range agents {
			if !alive[id] {
				t.Errorf("dead agent %s has a series", id)
			}
		}
		deaths, spawns = 0, 0
		for _, m := range fams["lineage_agent_deaths_total"].GetMetric() {
			deaths += m.GetCounter().GetValue()
		}
		for _, m := range fams["lineage_agent_spawns_total"].GetMetric() {
			spawns += m.GetCounter().GetValue()
		}
	}
	t.Logf("%v deaths, %v spawns, %d agents", deaths, spawns, len(snap.Agents))
	if deaths == 0 {
		t.Error("no agent died in this run: pick rules where some do, so the death counters are exercised")
	}
}

func firstOf(mf *dto.MetricFamily) *dto.Metric {
	if len(mf.GetMetric()) == 0 {
		return &dto.Metric{}
	}
	return mf.GetMetric()[0]
}

// TestReady covers the readiness rules.
func TestReady(t *testing.T) {
	now := t0.Add(2 * time.Second)
	for _, tc := range []struct {
		name string
		edit func(*metrics.Sources)
		want string // a substring of the error, "" for ready
	}{
		{"ready", func(*metrics.Sources) {}, ""},
		{"no tick yet", func(s *metrics.Sources) { s.Arena = func() *arena.Snapshot { return nil } }, "no price yet"},
		{"feed stalled", func(s *metrics.Sources) { s.Now = func() time.Time { return t0.Add(time.Minute) } }, "last tick 1m0s ago"},
		{"feed offline", func(s *metrics.Sources) {
			s.Feed = func() (feed.LiveStats, bool) { st := fixtureFeed(); st.Offline = true; return st, true }
		}, "no fresh price"},
		{"log failed", func(s *metrics.Sources) {
			s.Log = func() eventlog.Stats {
				st := fixtureLog()
				st.Failed, st.Failure = true, "event log: fsync: no space left on device"
				return st
			}
		}, "write failing, new events held until a retry succeeds: event log: fsync: no space left on device"},
		{"tombstone failing", func(s *metrics.Sources) {
			s.Writes = func() error { return errors.New("bury Reckless: write tombstone: no space left on device") }
		}, "write failing, new events held until a retry succeeds: bury Reckless"},
		{"writes succeed", func(s *metrics.Sources) { s.Writes = func() error { return nil } }, ""},
		{"sim ignores offline flag", func(s *metrics.Sources) {
			s.Feed = func() (feed.LiveStats, bool) { return feed.LiveStats{Offline: true}, false }
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := fixture()
			src.Now = func() time.Time { return now }
			tc.edit(&src)
			err := src.Ready(15 * time.Second)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Ready: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Ready: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
