package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/lineage-arena/lineage/engine"
	"github.com/lineage-arena/lineage/hub"
	"github.com/lineage-arena/lineage/internal/web"
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
}

func (f *serverFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.wsAddr, "ws-addr", "127.0.0.1:9001", "address of the WebSocket hub, the API and the dashboard")
	fs.StringVar(&f.token, "token", "", tokenUsage)
	fs.StringVar(&f.allowedOrigins, "allowed-origins", "", "comma-separated Origins allowed to connect, \"*\" for any, \"http://host:*\" for any port (default: localhost origins)")
	fs.IntVar(&f.maxConns, "max-conns", 0, fmt.Sprintf("open connections on --ws-addr, WebSocket or HTTP; one more is closed at once (default %d, or what the open-files limit holds)", defaultMaxConns))
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate file: serve https and wss")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS key file, with --tls-cert")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "127.0.0.1:9184", "address of /metrics, /health, /livez and /readyz")
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
	metricsMaxConns = 64
	// defaultMaxConns is --max-conns when the open-files limit holds it.
	defaultMaxConns = 20_000
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

// listeners are serve's network side made ready before the data dir is
// touched: flags checked, the TLS key pair loaded, both addresses bound.
type listeners struct {
	web, metrics *httpServer
	cert         *tls.Certificate // nil without TLS
	origins      []string
}

// close releases both addresses, for a serve that stops before serving.
func (ls *listeners) close() {
	ls.web.stop(0)
	ls.metrics.stop(0)
}

// open checks the network flags and binds both addresses. Without
// --max-conns the bound is defaultMaxConns, or what the open-files limit
// holds if that is less; a --max-conns the limit cannot hold is refused.
func (f *serverFlags) open() (*listeners, error) {
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
	ls := &listeners{origins: origins}
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", f.tlsCert, f.tlsKey, err)
		}
		ls.cert = &cert
	}
	if ls.web, err = listen("ws-addr", f.wsAddr, httpLimits{MaxConns: f.maxConns}); err != nil {
		return nil, err
	}
	if ls.metrics, err = listen("metrics-addr", f.metricsAddr, httpLimits{MaxConns: metricsMaxConns}); err != nil {
		ls.web.stop(0)
		return nil, err
	}
	return ls, nil
}

// webServer is the HTTP side of serve: the hub, the API, the dashboard.
type webServer struct {
	hub  *hub.Hub
	http *httpServer
}

// startWeb serves the hub, the API and the dashboard on the bound --ws-addr
// until stop. Events reach the hub only once durable: it subscribes to the
// engine, and reads the rest — snapshots, history, trades, the graveyard —
// from it.
func startWeb(f *serverFlags, ls *listeners, e *engine.Engine, log *slog.Logger) *webServer {
	w := &webServer{http: ls.web}
	hist := e.History()
	w.hub = hub.New(hub.Config{
		MaxConns: f.maxConns, AllowedOrigins: ls.origins, Token: f.token, Logger: log,
		History: hist,
	})
	snap := e.Snapshot()
	w.hub.SetLastSeq(snap.NextSeq-1, snap)
	// The hub takes the snapshot with the events it follows, so a new
	// client gets one or the other, never both.
	e.Subscribe(func(s engine.Step) { w.hub.Publish(s.Events, s.Snapshot) })
	api := web.Sources{
		Snapshot:  e.Snapshot,
		Graveyard: func() (any, error) { return e.Graveyard() },
		Events:    hist.Events,
		Trades:    func(id string) any { return tradeRows(e.Trades(id)) },
		Token:     f.token,
		Logger:    log,
	}
	// WebSockets leave the HTTP server's count when upgraded: the hub's
	// count keeps them within --max-conns.
	w.http.ln.others = func() int64 { return w.hub.Stats().Connections }
	w.http.serve(web.Handler(api, w.hub), ls.cert, log)
	scheme := "http"
	if ls.cert != nil {
		scheme = "https"
	}
	base := scheme + "://" + w.http.addr + "/"
	log.Info("serving", "dashboard", base, "websocket", strings.Replace(base, "http", "ws", 1), "api", base+"api/",
		"max_conns", f.maxConns)
	return w
}

// tradeRows are an agent's recent fills as /api/agents/{id} shows them.
func tradeRows(trades []engine.Trade) []tradeRow {
	rows := make([]tradeRow, len(trades))
	for i, t := range trades {
		rows[i] = tradeRow{Seq: t.Seq, Time: t.Time, TradeEvent: t.TradeEvent}
	}
	return rows
}

// stop closes every WebSocket with 1001, then the HTTP server, within the
// shutdown budget, and waits for the serving goroutine.
func (w *webServer) stop(budget time.Duration) error {
	herr := w.hub.Close(budget / 2)
	return errors.Join(herr, w.http.stop(budget/2))
}
