package main

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/graveyard"
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
	// streams, the poller, and maxHistoryReaders readers of the log.
	fdReserve = 128
	// maxHistoryReaders bounds the readers of the log open at once, for
	// resumes and /api/events; more wait for one to finish.
	maxHistoryReaders = 32
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
	snap atomic.Pointer[arena.Snapshot]
}

// startWeb serves the hub, the API and the dashboard on the bound --ws-addr
// until stop. Events reach the hub only once durable: it is a commit
// observer of h.
func startWeb(f *serverFlags, ls *listeners, dataDir string, ar *arena.Arena, l *eventlog.Log, h *history, trades *tradeBook, log *slog.Logger) (*webServer, error) {
	w := &webServer{http: ls.web}
	w.snap.Store(ar.Snapshot())
	hist := newLogHistory(l)
	w.hub = hub.New(hub.Config{
		MaxConns: f.maxConns, AllowedOrigins: ls.origins, Token: f.token, Logger: log,
		History: hist,
	})
	w.hub.SetLastSeq(ar.NextSeq()-1, w.snap.Load())
	h.batchObservers = append(h.batchObservers, func(cs []committed) {
		snap := ar.Snapshot()
		w.snap.Store(snap)
		evs := make([]arena.Event, len(cs))
		for i, c := range cs {
			evs[i] = c.event
		}
		// The hub takes the snapshot with the events it follows, so a new
		// client gets one or the other, never both.
		w.hub.Publish(evs, snap)
	})
	key, err := graveyard.LoadKey(dataDir) // made or checked by newUndertaker
	if err != nil {
		w.hub.Close(0)
		return nil, err
	}
	api := web.Sources{
		Snapshot:  w.snap.Load,
		Graveyard: func() (any, error) { return graveyard.List(filepath.Join(dataDir, "graveyard"), key) },
		Events:    hist.raw,
		Trades:    func(id string) any { return trades.recent(id) },
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
	return w, nil
}

// stop closes every WebSocket with 1001, then the HTTP server, within the
// shutdown budget, and waits for the serving goroutine.
func (w *webServer) stop(budget time.Duration) error {
	herr := w.hub.Close(budget / 2)
	return errors.Join(herr, w.http.stop(budget/2))
}

// logHistory serves resumes and /api/events from the event log, with at
// most maxHistoryReaders readers (and their descriptors) at once.
type logHistory struct {
	l       *eventlog.Log
	readers chan struct{}
}

func newLogHistory(l *eventlog.Log) *logHistory {
	return &logHistory{l: l, readers: make(chan struct{}, maxHistoryReaders)}
}

func (h *logHistory) Oldest() uint64 { return 1 }

// iter waits for a reader's slot and opens an iterator at seq; done
// closes it and frees the slot.
func (h *logHistory) iter(seq uint64) (it *eventlog.Iter, done func()) {
	h.readers <- struct{}{}
	it = h.l.Iter(seq)
	return it, func() {
		it.Close()
		<-h.readers
	}
}

func (h *logHistory) Replay(from, until uint64, fn func(arena.Event) error) error {
	it, done := h.iter(max(from, 1))
	defer done()
	defer it.Close()
	for {
		rec, err := it.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if rec.Seq >= until {
			return nil
		}
		var e arena.Event
		if err := json.Unmarshal(rec.Payload, &e); err != nil {
			return fmt.Errorf("record %d: %w", rec.Seq, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// raw returns up to limit stored events after since, as stored. Nothing
// follows the largest sequence number (since+1 would wrap to the start).
func (h *logHistory) raw(since uint64, limit int) ([]json.RawMessage, error) {
	if since == math.MaxUint64 {
		return nil, nil
	}
	it, done := h.iter(since + 1)
	defer done()
	var out []json.RawMessage
	for len(out) < limit {
		rec, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if rec.Seq == 0 {
			continue
		}
		out = append(out, json.RawMessage(append([]byte(nil), rec.Payload...)))
	}
	return out, nil
}
