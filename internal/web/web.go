// Package web serves Lineage's read-only HTTP API and its dashboard page
// beside the WebSocket hub. It reads only published snapshots and the
// functions it is given; it never touches the arena itself.
package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/lineage-arena/lineage/arena"
)

// Sources are what the API reads. Snapshot is required.
type Sources struct {
	// Snapshot returns the latest published arena snapshot (nil before one).
	Snapshot func() *arena.Snapshot
	// Graveyard returns the dead's tombstones, JSON-encodable.
	Graveyard func() (any, error)
	// Events returns up to limit stored events after sequence since, as the
	// JSON the event log holds.
	Events func(since uint64, limit int) ([]json.RawMessage, error)
	// Trades returns an agent's recent fills, JSON-encodable; nil leaves
	// them out of /api/agents/{id}.
	Trades func(id string) any
}

// Limits of /api/events.
const (
	DefaultEventsLimit = 100
	MaxEventsLimit     = 1000
)

// Handler serves, on a mux of its own:
//
//	GET /                    the dashboard (see Dashboard)
//	GET /assets/...          its embedded scripts, styles and chart library
//	GET /api/agents          every agent, living and dead
//	GET /api/agents/{id}     one agent, with its scars, positions and recent trades
//	GET /api/market          the latest tick of every symbol
//	GET /api/leaderboard     the ranking
//	GET /api/graveyard       the dead's tombstones
//	GET /api/events?since=N&limit=M   stored events after N
//
// and 404 for anything else. ws, when not nil, takes requests to / and /ws
// that ask for a WebSocket upgrade.
func Handler(src Sources, ws http.Handler) http.Handler {
	mux := http.NewServeMux()
	upgrade := func(next http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if ws != nil && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				ws.ServeHTTP(w, r)
				return
			}
			next(w, r)
		}
	}
	dash := Dashboard()
	mux.HandleFunc("GET /{$}", upgrade(dash.ServeHTTP))
	mux.Handle("GET /assets/", dash)
	mux.HandleFunc("GET /ws", upgrade(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "this is the WebSocket endpoint: connect with a WebSocket client", http.StatusUpgradeRequired)
	}))
	mux.HandleFunc("GET /api/agents", func(w http.ResponseWriter, r *http.Request) {
		s := snapshot(w, src)
		if s != nil {
			writeJSON(w, s.Agents)
		}
	})
	mux.HandleFunc("GET /api/agents/{id}", func(w http.ResponseWriter, r *http.Request) {
		s := snapshot(w, src)
		if s == nil {
			return
		}
		for _, a := range s.Agents {
			if a.ID == r.PathValue("id") {
				var trades any = []any{}
				if src.Trades != nil {
					trades = src.Trades(a.ID)
				}
				writeJSON(w, struct {
					arena.AgentState
					Trades any `json:"trades"`
				}{a, trades})
				return
			}
		}
		writeError(w, http.StatusNotFound, "no agent "+strconv.Quote(r.PathValue("id")))
	})
	mux.HandleFunc("GET /api/market", func(w http.ResponseWriter, r *http.Request) {
		s := snapshot(w, src)
		if s == nil {
			return
		}
		out := []arena.MarketEvent{}
		for _, m := range s.Marks {
			if m.Price > 0 {
				out = append(out, m)
			}
		}
		writeJSON(w, map[string]any{"timestamp": s.Time, "market": out})
	})
	mux.HandleFunc("GET /api/leaderboard", func(w http.ResponseWriter, r *http.Request) {
		s := snapshot(w, src)
		if s != nil {
			writeJSON(w, map[string]any{"timestamp": s.Time, "rounds": s.Rounds, "leaderboard": arena.Rank(s.Agents), "winners": s.Winners})
		}
	})
	mux.HandleFunc("GET /api/graveyard", func(w http.ResponseWriter, r *http.Request) {
		if src.Graveyard == nil {
			writeJSON(w, []any{})
			return
		}
		dead, err := src.Graveyard()
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, dead)
	})
	mux.HandleFunc("GET /api/events", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		since, err := strconv.ParseUint(q.Get("since"), 10, 64)
		if q.Get("since") == "" {
			since, err = 0, nil
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "since must be a sequence number")
			return
		}
		limit := DefaultEventsLimit
		if l := q.Get("limit"); l != "" {
			if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > MaxEventsLimit {
				writeError(w, http.StatusBadRequest, "limit must be 1.."+strconv.Itoa(MaxEventsLimit))
				return
			}
		}
		if src.Events == nil {
			writeError(w, http.StatusNotFound, "this server keeps no event log")
			return
		}
		evs, err := src.Events(since, limit)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if evs == nil {
			evs = []json.RawMessage{}
		}
		writeJSON(w, map[string]any{"since": since, "events": evs})
	})
	return mux
}

func snapshot(w http.ResponseWriter, src Sources) *arena.Snapshot {
	s := src.Snapshot()
	if s == nil {
		writeError(w, http.StatusServiceUnavailable, "the arena has not started yet")
	}
	return s
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
