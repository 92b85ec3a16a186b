package cli

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/metrics"
	"github.com/lineage-arena/lineage/server"
)

// serverFlags are serve's network flags.
type serverFlags struct {
	wsAddr         string
	token          string
	allowedOrigins string
	maxConns       int
	tlsCert        string
	tlsKey         string
	metricsAddr    string
	metricsAgents  int
	pprof          bool
	// nats, if set, reports the JetStream publisher's counters to the
	// metrics (serve --nats-url).
	nats func() metrics.NATSStats
}

func (f *serverFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.wsAddr, "ws-addr", "127.0.0.1:9001", "address of the WebSocket hub, the API and the dashboard")
	fs.StringVar(&f.token, "token", "", tokenUsage)
	fs.StringVar(&f.allowedOrigins, "allowed-origins", "", "comma-separated Origins allowed to connect, \"*\" for any, \"http://host:*\" for any port (default: localhost origins)")
	fs.IntVar(&f.maxConns, "max-conns", 0, fmt.Sprintf("open connections on --ws-addr, WebSocket or HTTP; one more is closed at once (default %d, or what the open-files limit holds)", defaultMaxConns))
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate file: serve https and wss")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS key file, with --tls-cert")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "127.0.0.1:9184", "address of /metrics, /health, /livez and /readyz")
	fs.BoolVar(&f.pprof, "pprof", false, "also serve Go's runtime profiles at /debug/pprof/ on --metrics-addr (CPU profiles split by the hub's work: docs/performance.md)")
	fs.IntVar(&f.metricsAgents, "metrics-max-agents", 25, "living agents with their own agent label, the poorest half and the richest half (the rest only in strategy totals)")
}

// Descriptors: a TCP connection takes one, and so do the log's segment,
// its lock and high-water mark, the graveyard, its key, a --record file
// and every history reader. fdReserve are kept for all but the
// connections; the connections of both HTTP servers get the rest.
const (
	// fdReserve descriptors are never given to connections: the log (its
	// segment, the next one at a rollover, its directory, lock and mark),
	// the graveyard and its key, the record and replay files, standard
	// streams, the poller, and the engine's 32 readers of the log (its
	// History, for resumes and /api/events).
	fdReserve = 128
	// metricsMaxConns bounds the connections of the metrics server:
	// scrapers and probes.
	metricsMaxConns = server.MetricsMaxConns
	// defaultMaxConns is --max-conns when the open-files limit holds it.
	defaultMaxConns = server.DefaultMaxConns
)

// connsBound returns the most connections --max-conns may ask for under a
// descriptor limit, 0 when the limit leaves none, -1 when it is unknown.
func connsBound(limit uint64) int {
	if limit == 0 {
		return -1
	}
	if limit <= fdReserve+metricsMaxConns {
		return 0
	}
	return int(min(limit-fdReserve-metricsMaxConns, 1<<31))
}

// listen checks the network flags and binds both addresses, before the
// data dir is touched. Without --max-conns the bound is defaultMaxConns,
// or what the open-files limit holds if that is less; a --max-conns the
// limit cannot hold is refused.
//
// live is the run's live feed, known once the data dir is read: nil until
// then, and nil for a run on another feed.
func (f *serverFlags) listen(tick time.Duration, live func() *feed.Live, log *slog.Logger) (*server.Server, error) {
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return nil, usagef("--tls-cert and --tls-key go together")
	}
	if err := checkCount("metrics-max-agents", int64(f.metricsAgents), 0, maxMetricsAgents, "every labelled agent is a dozen series in every scrape"); err != nil {
		return nil, err
	}
	limit := openFilesLimit()
	bound := connsBound(limit)
	switch {
	case f.maxConns < 0:
		return nil, usagef("--max-conns %d: must be at least 1 (0: the default)", f.maxConns)
	case bound == 0:
		return nil, usagef("the open-files limit %d leaves no descriptor for a connection (%d are kept for the log, the graveyard and the metrics server); raise ulimit -n",
			limit, fdReserve+metricsMaxConns)
	case f.maxConns == 0:
		f.maxConns = defaultMaxConns
		if bound > 0 && bound < f.maxConns {
			f.maxConns = bound
		}
	case bound > 0 && f.maxConns > bound:
		return nil, usagef("--max-conns %d: at most %d under the open-files limit %d (%d descriptors are kept for the log, the graveyard and the metrics server); raise ulimit -n or lower --max-conns",
			f.maxConns, bound, limit, fdReserve+metricsMaxConns)
	}
	origins, err := parseOrigins(f.allowedOrigins)
	if err != nil {
		return nil, err
	}
	if err := checkAddr("ws-addr", f.wsAddr); err != nil {
		return nil, err
	}
	if err := checkAddr("metrics-addr", f.metricsAddr); err != nil {
		return nil, err
	}
	cfg := server.Config{
		WSAddr: f.wsAddr, MetricsAddr: f.metricsAddr, Token: f.token, AllowedOrigins: origins, MaxConns: f.maxConns,
		MetricsMaxAgents: f.metricsAgents, TickInterval: tick, Logger: log, NATS: f.nats, Pprof: f.pprof,
	}
	if f.metricsAgents == 0 {
		cfg.MetricsMaxAgents = -1 // none: zero would mean the default
	}
	cfg.Version, cfg.Revision = buildInfo()
	cfg.Feed = func() (feed.LiveStats, bool) {
		if l := live(); l != nil {
			return l.Stats(), true
		}
		return feed.LiveStats{}, false
	}
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", f.tlsCert, f.tlsKey, err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	srv, err := server.Listen(cfg)
	if le := (*server.ListenError)(nil); errors.As(err, &le) {
		flag := "ws-addr"
		if le.Metrics {
			flag = "metrics-addr"
		}
		return nil, fmt.Errorf("--%s: %w", flag, le.Err)
	}
	return srv, err
}
