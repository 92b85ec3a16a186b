package main

import (
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/metrics"
)

// startMetrics serves /metrics, /health, /livez and /readyz on the bound
// --metrics-addr; writes reports a failing write (nil when none).
func startMetrics(m *httpServer, maxAgents int, snap func() *arena.Snapshot, live *feed.Live, l *eventlog.Log,
	web *webServer, tick time.Duration, writes func() error, log *slog.Logger) *httpServer {
	version, revision := buildInfo()
	src := metrics.Sources{
		Arena: snap, Log: l.Stats, Hub: web.hub.Stats, Start: time.Now(), MaxAgents: maxAgents,
		Version: version, Revision: revision,
	}
	if maxAgents == 0 {
		src.MaxAgents = -1 // none: zero would mean the default
	}
	if live != nil {
		src.Feed = func() (feed.LiveStats, bool) { return live.Stats(), true }
	}
	// Ready while every write succeeds and a tick came within three
	// intervals (a live feed may skip a round).
	src.Writes = writes
	ready := func() error { return src.Ready(3 * tick) }
	m.serve(metrics.Handler(metrics.NewRegistry(src), ready), nil, log)
	log.Info("metrics", "url", "http://"+m.addr+"/metrics")
	return m
}

// buildInfo returns the module version and VCS revision, "unknown" when the
// binary does not carry them.
func buildInfo() (version, revision string) {
	version, revision = "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	return version, revision
}
