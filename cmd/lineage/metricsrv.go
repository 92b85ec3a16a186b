package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/metrics"
)

// metricsServer serves /metrics, /health, /livez and /readyz on
// --metrics-addr.
type metricsServer struct {
	srv  *http.Server
	done sync.WaitGroup
	err  error
	addr string
}

func startMetrics(addr string, maxAgents int, snap func() *arena.Snapshot, live *feed.Live, l *eventlog.Log,
	web *webServer, tick time.Duration, log *slog.Logger) (*metricsServer, error) {
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
	// Ready while the log can be written and a tick came within three
	// intervals (a live feed may skip a round).
	ready := func() error { return src.Ready(3 * tick) }
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	m := &metricsServer{addr: ln.Addr().String()}
	m.srv = &http.Server{Handler: metrics.Handler(metrics.NewRegistry(src), ready), ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	m.done.Add(1)
	go func() {
		defer m.done.Done()
		m.err = m.srv.Serve(ln)
	}()
	log.Info("metrics", "url", "http://"+m.addr+"/metrics")
	return m, nil
}

func (m *metricsServer) stop(budget time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	err := m.srv.Shutdown(ctx)
	m.done.Wait()
	if errors.Is(m.err, http.ErrServerClosed) {
		m.err = nil
	}
	return errors.Join(err, m.err)
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
