package main

import (
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/lineage-arena/lineage/engine"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/metrics"
)

// startMetrics serves /metrics, /health, /livez and /readyz on the bound
// --metrics-addr, reading the engine, the live feed (nil unless live) and
// the hub.
func startMetrics(m *httpServer, maxAgents int, e *engine.Engine, live *feed.Live,
	web *webServer, tick time.Duration, log *slog.Logger) *httpServer {
	version, revision := buildInfo()
	src := metrics.Sources{
		Arena: e.Snapshot, Log: e.LogStats, Hub: web.hub.Stats, Start: time.Now(), MaxAgents: maxAgents,
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
	src.Writes = e.WriteFailure
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
