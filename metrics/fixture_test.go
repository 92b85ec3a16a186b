package metrics_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/hub"
	"github.com/lineage-arena/lineage/market"
	"github.com/lineage-arena/lineage/metrics"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// t0 is the fixture's clock: the last tick's time.
var t0 = time.Date(2026, 2, 3, 14, 30, 45, 0, time.UTC)

func usd(s string) market.Money {
	m, err := market.ParseMoney(s)
	if err != nil {
		panic(err)
	}
	return m
}

func px(s string) market.Price {
	p, err := market.ParsePrice(s)
	if err != nil {
		panic(err)
	}
	return p
}

// living and dead build agent states the way the arena reports them.
func living(id, strategy, parent string, status arena.Status, capital string, trades, wins, scars, roundsWon int) arena.AgentState {
	a := arena.AgentState{
		ID: id, Strategy: strategy, Parent: parent, Status: status, Capital: usd(capital),
		Trades: trades, Wins: wins, Scars: scars, RoundsWon: roundsWon,
	}
	if parent != "" {
		a.Generation = 1
	}
	if trades > 0 {
		a.WinRate = float64(wins) / float64(trades)
	}
	return a
}

func dead(id, strategy, parent string, cause arena.Cause, capital string, trades, wins, scars int) arena.AgentState {
	a := living(id, strategy, parent, arena.StatusDeceased, capital, trades, wins, scars, 0)
	a.Death = &arena.DeathEvent{Agent: id, Cause: cause, Equity: a.Capital, Scars: scars, Trades: trades}
	return a
}

// fixtureSnapshot is an arena four rounds in: three founders, four
// children of whom three died, one symbol not yet priced.
func fixtureSnapshot() *arena.Snapshot {
	return &arena.Snapshot{
		Time: t0, Ticks: 1200, AgentTicks: 6100, NextSeq: 5021,
		Symbols: []string{"BTC-USD", "ETH-USD", "SOL-USD"},
		Agents: []arena.AgentState{
			living("Momentum", "Momentum", "", arena.StatusActive, "115000.50", 28, 17, 1, 3),
			living("Conservative", "Conservative", "", arena.StatusResting, "98000.25", 12, 6, 0, 1),
			living("Balanced", "Balanced", "", arena.StatusActive, "47000", 40, 18, 3, 0),
			dead("Momentum.1", "Momentum", "Momentum", arena.CauseDrawdown, "12000", 9, 3, 2),
			dead("Balanced.1", "Balanced", "Balanced", arena.CauseScars, "8000.10", 15, 5, 5),
			living("Conservative.1", "Conservative", "Conservative", arena.StatusResting, "25000", 2, 2, 0, 0),
			dead("Momentum.2", "Momentum", "Momentum", arena.CauseBankrupt, "450", 6, 1, 1),
		},
		Living: 4,
		Rounds: 4,
		LastRound: &arena.RoundResult{
			Number: 4, StartTick: 900, EndTick: 1200, Winner: "Momentum", WinnerReturn: 0.021,
			Standings: []arena.RoundStanding{
				{Agent: "Momentum", Strategy: "Momentum", Capital: usd("114000"), Status: arena.StatusActive},
				{Agent: "Conservative", Strategy: "Conservative", Capital: usd("98100"), Status: arena.StatusResting},
				{Agent: "Balanced", Strategy: "Balanced", Capital: usd("48000.75"), Status: arena.StatusActive},
				{Agent: "Momentum.2", Strategy: "Momentum", Capital: usd("450"), Status: arena.StatusDeceased},
			},
		},
		Marks: []arena.MarketEvent{
			{Symbol: "BTC-USD", Price: px("45150.32"), ChangePercent: 0.45, Source: "coingecko"},
			{Symbol: "ETH-USD", Price: px("2504.07"), ChangePercent: -0.1, Source: "coinbase", Stale: true},
			{Symbol: "SOL-USD"},
		},
	}
}

func fixtureLatency(counts []uint64, count uint64, sum time.Duration) feed.LatencyHistogram {
	return feed.LatencyHistogram{
		Count: count, Sum: sum,
		Bounds: []time.Duration{
			25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
			500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
		},
		Counts: counts,
	}
}

func errorsOf(kv map[feed.Reason]uint64) map[feed.Reason]uint64 {
	m := map[feed.Reason]uint64{}
	for _, r := range feed.Reasons() {
		m[r] = kv[r]
	}
	return m
}

func fixtureFeed() feed.LiveStats {
	return feed.LiveStats{
		Providers: []feed.ProviderStats{{
			Name: "coingecko", Requests: 120, Failures: 6,
			Errors:    errorsOf(map[feed.Reason]uint64{feed.ReasonHTTP5xx: 4, feed.ReasonTimeout: 2, feed.ReasonRateLimited: 1}),
			CacheHits: 900, CacheMisses: 100, StaleServed: 2,
			Latency: fixtureLatency([]uint64{10, 40, 90, 110, 112, 114, 118, 118, 120}, 120, 9*time.Second),
		}, {
			Name: "coinbase", Requests: 30, Failures: 5,
			Errors:    errorsOf(map[feed.Reason]uint64{feed.ReasonNetwork: 5, feed.ReasonBreakerOpen: 3}),
			CacheHits: 60, CacheMisses: 40,
			Latency: fixtureLatency([]uint64{5, 20, 25, 25, 25, 25, 25, 30, 30}, 30, 30*time.Second),
			Breaker: feed.BreakerOpen,
		}},
		Symbols: []feed.SymbolStats{
			{Symbol: "BTC-USD", LastTick: t0, Provider: "coingecko"},
			{Symbol: "ETH-USD", LastTick: t0.Add(-30 * time.Second), Provider: "coinbase", Stale: true},
			{Symbol: "SOL-USD", Missing: "no fresh or recent price: coingecko: http_5xx; coinbase: breaker_open"},
		},
		Rounds: 240,
	}
}

func fixtureLog() eventlog.Stats {
	return eventlog.Stats{
		Records: 5021, Durable: 5020, Appends: 480, Syncs: 200, Bytes: 123456, Segments: 2,
		SyncSeconds: eventlog.Histogram{
			Bounds: []float64{0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1},
			Counts: []uint64{0, 0, 3, 40, 120, 180, 196, 199, 200, 200, 200, 200, 200, 200, 200},
			Count:  200, Sum: 0.15,
		},
	}
}

func fixtureHub() hub.Stats {
	return hub.Stats{
		Connections: 3, Accepted: 10, Refused: map[string]uint64{"max_conns": 1, "origin": 2},
		MessagesSent: 4000, BytesSent: 900000, SlowDisconnects: 1, MessagesDropped: 17, ProtocolErrors: 2,
	}
}

// fixture is a server with every source: a live feed, a log and a hub,
// three labelled agents (the richest, the two poorest) out of four living
// ones.
func fixture() metrics.Sources {
	snap := fixtureSnapshot()
	return metrics.Sources{
		Arena:     func() *arena.Snapshot { return snap },
		Feed:      func() (feed.LiveStats, bool) { return fixtureFeed(), true },
		Log:       fixtureLog,
		Hub:       fixtureHub,
		Start:     t0.Add(-time.Hour),
		Now:       func() time.Time { return t0.Add(2 * time.Second) },
		MaxAgents: 3,
		Version:   "v1.2.3",
		Revision:  "0123abc",
	}
}

// simFixture is the same arena on a simulated feed, with no hub and no log.
func simFixture() metrics.Sources {
	src := fixture()
	src.Feed = func() (feed.LiveStats, bool) { return feed.LiveStats{}, false }
	src.Log, src.Hub = nil, nil
	return src
}

func mustGather(t testing.TB, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// labelValues lists the values of one label over a family's series.
func labelValues(mf *dto.MetricFamily, label string) []string {
	var vs []string
	for _, m := range mf.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label {
				vs = append(vs, lp.GetValue())
			}
		}
	}
	return vs
}

// value returns the value of the series of mf whose labels are exactly
// the given name/value pairs.
func value(t testing.TB, mf *dto.MetricFamily, labels ...string) float64 {
	t.Helper()
	if mf == nil {
		t.Fatalf("family missing")
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, lp := range m.GetLabel() {
			if want[lp.GetName()] != lp.GetValue() {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("%s: no series %v", mf.GetName(), labels)
	return 0
}

// get fetches path from h and returns the status, the Content-Type and
// the body.
func get(t testing.TB, h http.Handler, path string, header ...string) (int, string, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// lineageLines keeps the lines of a text exposition that belong to a
// lineage_ family: its HELP, its TYPE and its samples.
func lineageLines(body string) []string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		name := line
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			f := strings.Fields(rest)
			if len(f) < 2 {
				continue
			}
			name = f[1]
		}
		if strings.HasPrefix(name, "lineage_") {
			out = append(out, line)
		}
	}
	return out
}

func agentIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("Agent%03d", i)
	}
	return ids
}

// do sends an empty request and returns the status.
func do(t testing.TB, h http.Handler, method, path string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), method, path, nil))
	return rec.Code
}

// natsFixture is the fixture's server publishing to NATS JetStream (serve
// --nats-url), the stream 7 events behind the log after 2 failed publishes;
// batches were acknowledged 4 ms, 4 ms, 40 ms and 12 s after their commit.
func natsFixture() metrics.Sources {
	src := fixture()
	var d metrics.Delays
	for _, ms := range []int{4, 4, 40, 12000} {
		d.Observe(t0, t0.Add(time.Duration(ms)*time.Millisecond))
	}
	src.NATS = func() metrics.NATSStats {
		return metrics.NATSStats{Published: 1200, Lag: 7, Batches: 310, PublishErrors: 2, Snapshots: 12, PublishDelay: d.Histogram()}
	}
	return src
}

// edgeFixture is an edge (lineage edge): the arena from the stream, a hub,
// no log and no feed, 3 events behind the stream after one chain failure;
// batches reached its hub 7 ms and 150 ms after their commit, and one 2 ms
// before it (the edge's clock behind the engine's).
func edgeFixture() metrics.Sources {
	src := simFixture()
	src.Hub = fixtureHub
	var d metrics.Delays
	for _, ms := range []int{7, 150, -2} {
		d.Observe(t0, t0.Add(time.Duration(ms)*time.Millisecond))
	}
	src.Edge = func() metrics.EdgeStats {
		return metrics.EdgeStats{Delivered: 1204, Lag: 3, ConsumerResets: 2, ChainFailures: 1, DeliveryDelay: d.Histogram()}
	}
	return src
}

// allFixture has every source, the scale-out ones included: one process
// exporting every family (a real one is serve --nats-url or an edge).
func allFixture() metrics.Sources {
	src := natsFixture()
	src.Edge = edgeFixture().Edge
	return src
}
