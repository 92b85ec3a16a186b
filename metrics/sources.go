// Package metrics exports Lineage's live state as Prometheus metrics.
//
// Everything is read at scrape time from snapshots the server already
// keeps — the arena's published Snapshot, the live feed's LiveStats, the
// event log's and the hub's Stats — by one custom Collector. Nothing is
// counted twice, nothing is registered globally, and a dead agent's
// per-agent series disappear on their own at the next scrape.
//
// The 14 families of the original seed keep their names, types, labels
// and meanings (docs/metrics.md lists them); conventional families
// (per-provider and per-reason errors, per-strategy aggregates, WebSocket
// and event log counters) stand beside them. The agent label is bounded:
// only living agents, at most Sources.MaxAgents of them, the poorest half
// and the richest half; every agent, living or dead, is counted in the
// per-strategy families, lineage_agents_below_capital included.
//
// Wire it in a program's own registry:
//
//	reg := metrics.NewRegistry(metrics.Sources{Arena: snap.Load, Start: start})
//	srv := &http.Server{Addr: addr, Handler: metrics.Handler(reg, ready)}
package metrics

import (
	"errors"
	"fmt"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/hub"
)

// DefaultMaxAgents is the default bound on the agent label's values.
const DefaultMaxAgents = 25

// Sources are the snapshots the collector reads at every scrape. Only
// Arena is required. Every func is called once per scrape, from the
// scraping goroutine, possibly concurrently with the next scrape: each must
// be safe for concurrent use and return a value the collector may read
// without locks (a copy, or an immutable snapshot).
type Sources struct {
	// Arena returns the latest published snapshot; nil before the first
	// tick (then the arena families report zero ticks and no agents).
	Arena func() *arena.Snapshot
	// Feed returns the live feed's counters, and false when the feed is
	// not live (sim or replay). Nil means not live. Without a live feed
	// nothing is fetched, so the market-data families report no traffic:
	// lineage_api_errors_total 0, lineage_cache_hit_rate 100 (no lookup
	// missed), lineage_request_success_rate 100 (no request failed), an
	// empty latency histogram, and no per-provider series. These are the
	// conventions of feed.LiveStats' own methods before the first request:
	// a rate with nothing behind it is not 0 %, and an alert such as
	// lineage_cache_hit_rate < 90 must not fire on a feed that fetches
	// nothing.
	Feed func() (feed.LiveStats, bool)
	// Log returns the event log's counters; nil leaves the event log
	// families out.
	Log func() eventlog.Stats
	// Hub returns the WebSocket hub's counters; nil reports no connection
	// and no message in the seed families and leaves the lineage_websocket
	// families out.
	Hub func() hub.Stats
	// Start is when the server started, for lineage_uptime_seconds; zero
	// means when NewCollector was called.
	Start time.Time
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxAgents bounds the agent label: at most this many living agents
	// get per-agent series, the ⌈MaxAgents/2⌉ poorest and the
	// ⌊MaxAgents/2⌋ richest by equity. Zero means DefaultMaxAgents; a
	// negative value means none.
	MaxAgents int
	// Version and Revision label lineage_build_info; empty means "unknown".
	Version, Revision string
	// NATS returns the JetStream publisher's counters (serve --nats-url);
	// nil leaves the lineage_nats families out.
	NATS func() NATSStats
	// Edge returns the counters of an edge (lineage edge); nil leaves the
	// lineage_edge families out.
	Edge func() EdgeStats
	// Writes, if set, returns the write failure (of the event log, the
	// graveyard, ...) that holds the server, nil while writes succeed; only
	// Ready reads it.
	Writes func() error
}

// withDefaults fills in the documented defaults.
func (s Sources) withDefaults() Sources {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Start.IsZero() {
		s.Start = s.Now()
	}
	switch {
	case s.MaxAgents == 0:
		s.MaxAgents = DefaultMaxAgents
	case s.MaxAgents < 0:
		s.MaxAgents = 0
	}
	if s.Version == "" {
		s.Version = "unknown"
	}
	if s.Revision == "" {
		s.Revision = "unknown"
	}
	return s
}

// Ready reports whether the server can do its job, for /readyz: nil when
// every write succeeds (the event log is not in its failed state, Writes
// reports nothing) and the feed has a fresh price; otherwise an error
// whose text says what is wrong, a failing write first, with its cause. A price is fresh when the
// arena's last tick is at most maxAge old (maxAge ≤ 0 skips that check)
// and, with a live feed, when the last fetch round got at least one fresh
// price. Ready calls the same funcs as a scrape and is as safe to call
// concurrently.
func (s Sources) Ready(maxAge time.Duration) error {
	s = s.withDefaults()
	if s.Log != nil {
		if st := s.Log(); st.Failed {
			return fmt.Errorf("write failing, new events held until a retry succeeds: %s", st.Failure)
		}
	}
	if s.Writes != nil {
		if err := s.Writes(); err != nil {
			return fmt.Errorf("write failing, new events held until a retry succeeds: %v", err)
		}
	}
	if s.Feed != nil {
		if st, live := s.Feed(); live && st.Offline {
			return errors.New("feed: the last fetch round got no fresh price from any provider")
		}
	}
	var snap *arena.Snapshot
	if s.Arena != nil {
		snap = s.Arena()
	}
	if snap == nil || snap.Time.IsZero() {
		return errors.New("feed: no price yet")
	}
	if age := s.Now().Sub(snap.Time); maxAge > 0 && age > maxAge {
		return fmt.Errorf("feed: last tick %s ago (at most %s allowed)", age.Round(time.Second), maxAge)
	}
	return nil
}
