package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
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
	fs.IntVar(&f.maxConns, "max-conns", 20_000, "open WebSocket connections beyond which upgrades get HTTP 503")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate file: serve https and wss")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS key file, with --tls-cert")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "127.0.0.1:9184", "address of /metrics, /health, /livez and /readyz")
	fs.IntVar(&f.metricsAgents, "metrics-max-agents", 25, "living agents with their own agent label, the poorest half and the richest half (the rest only in strategy totals)")
}

// webServer is the HTTP side of serve: the hub, the API, the dashboard.
type webServer struct {
	hub  *hub.Hub
	http *httpServer
	snap atomic.Pointer[arena.Snapshot]
}

// startWeb listens on --ws-addr and serves until stop. Events reach the
// hub only once durable: it is a commit observer of h.
func startWeb(f *serverFlags, dataDir string, ar *arena.Arena, l *eventlog.Log, h *history, trades *tradeBook, log *slog.Logger) (*webServer, error) {
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return nil, usagef("--tls-cert and --tls-key go together")
	}
	if f.maxConns <= 0 {
		return nil, usagef("--max-conns %d: must be at least 1", f.maxConns)
	}
	var origins []string
	for o := range strings.SplitSeq(f.allowedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	w := &webServer{}
	w.snap.Store(ar.Snapshot())
	w.hub = hub.New(hub.Config{
		MaxConns: f.maxConns, AllowedOrigins: origins, Token: f.token, Logger: log,
		History: logHistory{l},
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
	key, err := graveyard.LoadOrCreateKey(dataDir)
	if err != nil {
		w.hub.Close(0)
		return nil, err
	}
	api := web.Sources{
		Snapshot:  w.snap.Load,
		Graveyard: func() (any, error) { return graveyard.List(filepath.Join(dataDir, "graveyard"), key) },
		Events:    logHistory{l}.raw,
		Trades:    func(id string) any { return trades.recent(id) },
	}
	w.http, err = listenAndServe("ws-addr", f.wsAddr, web.Handler(api, w.hub), f.tlsCert, f.tlsKey, log)
	if err != nil {
		w.hub.Close(0)
		return nil, err
	}
	scheme := "ws"
	if f.tlsCert != "" {
		scheme = "wss"
	}
	log.Info("serving", "websocket", scheme+"://"+w.http.addr+"/", "api", strings.Replace(scheme, "ws", "http", 1)+"://"+w.http.addr+"/api/")
	return w, nil
}

// stop closes every WebSocket with 1001, then the HTTP server, within the
// shutdown budget, and waits for the serving goroutine.
func (w *webServer) stop(budget time.Duration) error {
	herr := w.hub.Close(budget / 2)
	return errors.Join(herr, w.http.stop(budget/2))
}

// logHistory serves resumes and /api/events from the event log.
type logHistory struct{ l *eventlog.Log }

func (h logHistory) Oldest() uint64 { return 1 }

func (h logHistory) Replay(from, until uint64, fn func(arena.Event) error) error {
	it := h.l.Iter(max(from, 1))
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

// raw returns up to limit stored events after since, as stored.
func (h logHistory) raw(since uint64, limit int) ([]json.RawMessage, error) {
	it := h.l.Iter(since + 1)
	defer it.Close()
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
