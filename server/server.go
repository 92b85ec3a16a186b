// Package server serves a live engine.Engine the way `lineage serve` does:
// the WebSocket hub, the read-only JSON API and the dashboard on one
// address, the Prometheus metrics and health probes on another.
//
// A program that embeds a run binds first, then opens the data dir, then
// serves, so that a busy port leaves the data dir untouched:
//
//	srv, err := server.Listen(server.Config{WSAddr: "127.0.0.1:9001", MetricsAddr: "127.0.0.1:9184"})
//	e, err := engine.Open(ctx, engine.Config{Dir: dir, Found: found})
//	srv.Start(e)
//	err = e.Run(ctx, engine.Feed{Source: src})
//	srv.Close(shutdownCtx) // 1001 to every WebSocket client
//	e.Close()
//
// Everything the server shows is durable: the hub subscribes to the engine
// and the API and the metrics read it (Snapshot, History, Trades,
// Graveyard, LogStats, WriteFailure), never the arena.
//
// StartHub serves, on the same listeners with the same bounds and
// timeouts, a hub fed by someone else — `lineage edge` serves its edge's
// hub this way — with the API's and the metrics' sources given.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/engine"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/hub"
	"github.com/lineage-arena/lineage/internal/web"
	"github.com/lineage-arena/lineage/metrics"
)

// Defaults of Config.
const (
	// DefaultWSAddr is the address of the hub, the API and the dashboard.
	DefaultWSAddr = "127.0.0.1:9001"
	// DefaultMetricsAddr is the address of /metrics and the probes.
	DefaultMetricsAddr = "127.0.0.1:9184"
	// DefaultMaxConns bounds the connections open at once on WSAddr.
	DefaultMaxConns = 20_000
	// MetricsMaxConns bounds the connections of the metrics server:
	// scrapers and probes.
	MetricsMaxConns = 64
)

// Config configures a Server. The zero value of every field is its
// documented default: a plain-HTTP server on the loopback addresses of
// `lineage serve`, localhost origins only, no token.
type Config struct {
	// WSAddr is the host:port of the WebSocket hub (at /ws and /), the
	// dashboard (/) and the JSON API (/api/). Port 0 picks a free port
	// (see (*Server).WSAddr). Default DefaultWSAddr.
	WSAddr string
	// MetricsAddr is the host:port of /metrics, /health, /livez and
	// /readyz. Default DefaultMetricsAddr.
	MetricsAddr string
	// Token, if set, is required of every WebSocket and API client, as
	// "Authorization: Bearer <token>" or ?token=. Empty: none required.
	Token string
	// AllowedOrigins are the Origins a browser may connect from: "*" for
	// any, "http://host:*" for any port of a host. Nil: localhost origins.
	AllowedOrigins []string
	// MaxConns bounds the TCP connections open at once on WSAddr,
	// WebSocket and HTTP alike; one more is closed as soon as it is
	// accepted. Default DefaultMaxConns.
	MaxConns int
	// TLS, if set, makes WSAddr serve https and wss with it (its
	// certificates are required). Nil: plain HTTP.
	TLS *tls.Config
	// MetricsMaxAgents bounds the living agents with an agent label of
	// their own (metrics.Sources.MaxAgents): zero is
	// metrics.DefaultMaxAgents, negative none.
	MetricsMaxAgents int
	// TickInterval is the engine's time between market steps: /readyz
	// fails when no tick came within three of them. Default 5 s.
	TickInterval time.Duration
	// Feed, if set, reports a live feed's statistics to the metrics, and
	// false when the run's feed is not live (metrics.Sources.Feed). Nil:
	// the run has no live feed.
	Feed func() (feed.LiveStats, bool)
	// NATS, if set, reports the JetStream publisher's counters to the
	// metrics (metrics.Sources.NATS). Nil: no lineage_nats_ families.
	NATS func() metrics.NATSStats
	// Pprof serves Go's runtime profiles (net/http/pprof) at
	// /debug/pprof/ on MetricsAddr, for explaining a figure: the hub
	// labels its work (see package hub), so a CPU profile splits by it.
	// False: 404 there, as for any other path.
	Pprof bool
	// Version and Revision label lineage_build_info. Empty: "unknown".
	Version, Revision string
	// Logger receives the addresses served and the HTTP servers' errors.
	// Nil discards them.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.WSAddr == "" {
		c.WSAddr = DefaultWSAddr
	}
	if c.MetricsAddr == "" {
		c.MetricsAddr = DefaultMetricsAddr
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.TickInterval <= 0 {
		c.TickInterval = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ListenError is Listen's error for an address it cannot bind.
type ListenError struct {
	// Metrics says the address is Config.MetricsAddr, else WSAddr.
	Metrics bool
	Addr    string
	Err     error
}

func (e *ListenError) Error() string {
	which := "WSAddr"
	if e.Metrics {
		which = "MetricsAddr"
	}
	return fmt.Sprintf("server: %s %s: %v", which, e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// Server is a bound server: Listen binds its addresses, Start serves an
// engine on them, Close stops it. Its goroutines — one HTTP server per
// address, and the hub's — are started by Start and waited for by Close.
type Server struct {
	cfg          Config
	web, metrics *httpServer

	mu      sync.Mutex
	started bool
	closed  bool
	hub     *hub.Hub // nil until Start

	once sync.Once
	err  error // Close's
}

// Listen checks cfg and binds both addresses, and nothing else: no
// goroutine runs and no request is answered before Start. An address it
// cannot bind is a *ListenError. A Server that is never started must still
// be closed, to release its addresses.
func Listen(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if cfg.MaxConns < 0 {
		return nil, fmt.Errorf("server: MaxConns %d: must not be negative", cfg.MaxConns)
	}
	if cfg.TLS != nil && len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetCertificate == nil {
		return nil, errors.New("server: TLS has no certificate")
	}
	s := &Server{cfg: cfg}
	var err error
	if s.web, err = listen(cfg.WSAddr, httpLimits{MaxConns: cfg.MaxConns}); err != nil {
		return nil, &ListenError{Addr: cfg.WSAddr, Err: err}
	}
	if s.metrics, err = listen(cfg.MetricsAddr, httpLimits{MaxConns: MetricsMaxConns}); err != nil {
		s.web.stop(0)
		return nil, &ListenError{Metrics: true, Addr: cfg.MetricsAddr, Err: err}
	}
	return s, nil
}

// WSAddr is the address the hub, the API and the dashboard listen on, its
// port resolved.
func (s *Server) WSAddr() string { return s.web.addr }

// MetricsAddr is the address the metrics listen on, its port resolved.
func (s *Server) MetricsAddr() string { return s.metrics.addr }

// Start serves e on the bound addresses, on goroutines of the Server's own,
// until Close. The hub subscribes to e: start before e.Run so that every
// step reaches it. Start may be called once, before Close (and instead of
// StartHub).
func (s *Server) Start(e *engine.Engine) error {
	return s.start(func() Hub { return s.engineHub(e) })
}

// Hub is what StartHub serves: a hub the caller feeds (an edge's, say),
// the sources of the JSON API and of the metrics, and the readiness
// probe.
type Hub struct {
	// Hub serves the WebSocket clients at / and /ws. Required. Close
	// closes it (1001 to every client).
	Hub *hub.Hub
	// API are the read-only API's sources; its Token and Logger default
	// to the Config's. API.Snapshot is required.
	API web.Sources
	// Metrics are the metrics' sources; Hub defaults to Hub.Stats, and
	// MaxAgents, Version and Revision to the Config's. Metrics.Arena is
	// required.
	Metrics metrics.Sources
	// Ready answers /readyz: nil is ready. Nil: always ready.
	Ready func() error
}

// StartHub serves h on the bound addresses, with the same listeners,
// bounds and timeouts as Start, until Close. StartHub may be called once,
// before Close (and instead of Start).
func (s *Server) StartHub(h Hub) error {
	if h.Hub == nil || h.API.Snapshot == nil || h.Metrics.Arena == nil {
		return errors.New("server: StartHub needs a hub, API.Snapshot and Metrics.Arena")
	}
	return s.start(func() Hub { return h })
}

// start serves what mk returns, once.
func (s *Server) start(mk func() Hub) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return errors.New("server: Start after Close")
	case s.started:
		return errors.New("server: started twice")
	}
	s.started = true
	h := mk()
	s.hub = h.Hub
	s.startWeb(h)
	s.startMetrics(h)
	return nil
}

// engineHub is what Start serves of an engine. Events reach the hub only
// once durable: it subscribes to the engine, and reads the rest —
// snapshots, history, trades, the graveyard — from it.
func (s *Server) engineHub(e *engine.Engine) Hub {
	cfg, log := s.cfg, s.cfg.Logger
	hist := e.History()
	h := hub.New(hub.Config{
		MaxConns: cfg.MaxConns, AllowedOrigins: cfg.AllowedOrigins, Token: cfg.Token, Logger: log,
		History: hist,
	})
	snap := e.Snapshot()
	h.SetLastSeq(snap.NextSeq-1, snap)
	// The hub takes the snapshot with the events it follows, so a new
	// client gets one or the other, never both.
	e.Subscribe(func(st engine.Step) { h.Publish(st.Events, st.Snapshot) })
	src := metrics.Sources{
		Arena: e.Snapshot, Log: e.LogStats, Hub: h.Stats, Writes: e.WriteFailure, Feed: cfg.Feed, NATS: cfg.NATS,
	}
	return Hub{
		Hub: h,
		API: web.Sources{
			Snapshot:  e.Snapshot,
			Graveyard: func() (any, error) { return e.Graveyard() },
			Events:    hist.Events,
			Trades:    func(id string) any { return tradeRows(e.Trades(id)) },
		},
		Metrics: src,
		// Ready while every write succeeds and a tick came within three
		// intervals (a live feed may skip a round).
		Ready: func() error { return src.Ready(3 * cfg.TickInterval) },
	}
}

// startWeb serves the hub, the API and the dashboard.
func (s *Server) startWeb(h Hub) {
	cfg, log := s.cfg, s.cfg.Logger
	api := h.API
	if api.Token == "" {
		api.Token = cfg.Token
	}
	if api.Logger == nil {
		api.Logger = log
	}
	// WebSockets leave the HTTP server's count when upgraded: the hub's
	// count keeps them within MaxConns.
	s.web.ln.others = func() int64 { return h.Hub.Stats().Connections }
	s.web.serve(web.Handler(api, h.Hub), cfg.TLS, log)
	scheme := "http"
	if cfg.TLS != nil {
		scheme = "https"
	}
	base := scheme + "://" + s.web.addr + "/"
	log.Info("serving", "dashboard", base, "websocket", strings.Replace(base, "http", "ws", 1), "api", base+"api/",
		"max_conns", cfg.MaxConns)
}

// startMetrics serves /metrics, /health, /livez and /readyz.
func (s *Server) startMetrics(h Hub) {
	cfg := s.cfg
	src := h.Metrics
	if src.Hub == nil {
		src.Hub = h.Hub.Stats
	}
	if src.MaxAgents == 0 {
		src.MaxAgents = cfg.MetricsMaxAgents
	}
	if src.Version == "" && src.Revision == "" {
		src.Version, src.Revision = cfg.Version, cfg.Revision
	}
	if src.Start.IsZero() {
		src.Start = time.Now()
	}
	mh := metrics.Handler(metrics.NewRegistry(src), h.Ready)
	if cfg.Pprof {
		mh = withPprof(mh)
	}
	s.metrics.serve(mh, nil, cfg.Logger)
	cfg.Logger.Info("metrics", "url", "http://"+s.metrics.addr+"/metrics")
}

// tradeRow is one fill as /api/agents/{id} shows it.
type tradeRow struct {
	Seq  uint64    `json:"sequence"`
	Tick int64     `json:"tick"`
	Time time.Time `json:"time"`
	arena.TradeEvent
}

// tradeRows are an agent's recent fills as /api/agents/{id} shows them.
func tradeRows(trades []engine.Trade) []tradeRow {
	rows := make([]tradeRow, len(trades))
	for i, t := range trades {
		rows[i] = tradeRow{Seq: t.Seq, Time: t.Time, TradeEvent: t.TradeEvent}
	}
	return rows
}

// Close stops the server: every WebSocket client is sent 1001 (going
// away) and closed within half the time ctx leaves (a second if it sets no
// deadline), then both HTTP servers shut down, waiting for their requests
// until ctx is done; every goroutine of the Server has returned when Close
// does. It releases the addresses of a Server never started. It is
// idempotent: every call returns the first one's result.
func (s *Server) Close(ctx context.Context) error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		h := s.hub
		s.mu.Unlock()
		var herr error
		if h != nil {
			budget := time.Second
			if d, ok := ctx.Deadline(); ok {
				budget = time.Until(d) / 2
			}
			herr = h.Close(budget)
		}
		s.err = errors.Join(herr, s.web.shutdown(ctx), s.metrics.shutdown(ctx))
	})
	return s.err
}

// withPprof serves net/http/pprof's handlers at /debug/pprof/ and next at
// every other path.
func withPprof(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", next)
	return mux
}
