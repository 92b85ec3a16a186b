// Package web serves Lineage's read-only HTTP API and its dashboard page
// beside the WebSocket hub. It reads only published snapshots and the
// functions it is given; it never touches the arena itself.
package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/internal/bearer"
)

// Sources are what the API reads, and how it guards them. Snapshot is
// required; the zero value of every other field is its default.
type Sources struct {
	// Token, when set, is required on every /api/... request, as the hub
	// requires it on the upgrade: "Authorization: Bearer <token>", or
	// ?token=<token> (for browsers). Without it the answer is 401 with a
	// JSON error. The dashboard page and its assets load without it; the
	// page passes on the token it was opened with (docs/dashboard.md).
	Token string
	// Logger receives the detail of a failure behind an API error (the
	// client is told only what failed, never why: the detail may name
	// files). nil discards it.
	Logger *slog.Logger
	// Snapshot returns the latest published arena snapshot (nil before one).
	Snapshot func() *arena.Snapshot
	// Graveyard returns the dead's tombstones, JSON-encodable.
	Graveyard func() (any, error)
	// Events returns up to limit stored events after sequence since, as the
	// JSON the event log holds; nothing follows the largest sequence
	// number (math.MaxUint64), so since+1 must not wrap to the start.
	// Events no longer kept are a GoneError (410), not skipped.
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
// and 404 for anything else. Every answer under /api/ — a 404 included —
// needs src.Token when it is set. ws, when not nil, takes requests to /
// and /ws that ask for a WebSocket upgrade (it checks the token itself).
// Errors are JSON, {"error": "..."}, and say what failed, not why: the
// detail goes to src.Logger.
func Handler(src Sources, ws http.Handler) http.Handler {
	if src.Logger == nil {
		src.Logger = slog.New(slog.DiscardHandler)
	}
	mux, api := http.NewServeMux(), http.NewServeMux()
	mux.Handle("/api/", requireToken(src.Token, api))
	mux.Handle("/api", requireToken(src.Token, api))
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
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
	api.HandleFunc("GET /api/agents", func(w http.ResponseWriter, r *http.Request) {
		s := snapshot(w, src)
		if s != nil {
			writeJSON(w, s.Agents)
		}
	})
	api.HandleFunc("GET /api/agents/{id}", func(w http.ResponseWriter, r *http.Request) {
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
	api.HandleFunc("GET /api/market", func(w http.ResponseWriter, r *http.Request) {
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
	api.HandleFunc("GET /api/leaderboard", func(w http.ResponseWriter, r *http.Request) {
		s := snapshot(w, src)
		if s != nil {
			writeJSON(w, map[string]any{"timestamp": s.Time, "rounds": s.Rounds, "leaderboard": arena.Rank(s.Agents), "winners": s.Winners})
		}
	})
	api.HandleFunc("GET /api/graveyard", func(w http.ResponseWriter, r *http.Request) {
		if src.Graveyard == nil {
			writeJSON(w, []any{})
			return
		}
		dead, err := src.Graveyard()
		if err != nil {
			src.Logger.Error("api graveyard", "err", err)
			writeError(w, http.StatusInternalServerError, "cannot read the graveyard")
			return
		}
		writeJSON(w, dead)
	})
	api.HandleFunc("GET /api/events", func(w http.ResponseWriter, r *http.Request) {
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
		var gone GoneError
		if errors.As(err, &gone) {
			writeJSONStatus(w, http.StatusGone, map[string]any{
				"error":  fmt.Sprintf("events %d to %d are no longer kept; the oldest kept is %d", since+1, gone.Oldest-1, gone.Oldest),
				"oldest": gone.Oldest,
			})
			return
		}
		if err != nil {
			src.Logger.Error("api events", "since", since, "err", err)
			writeError(w, http.StatusInternalServerError, "cannot read the event log")
			return
		}
		if evs == nil {
			evs = []json.RawMessage{}
		}
		writeJSON(w, map[string]any{"since": since, "events": evs})
	})
	return mux
}

// requireToken answers 401 to a request without the token (when one is
// set), taken as the hub takes it on the upgrade (internal/bearer).
func requireToken(token string, next http.Handler) http.Handler {
	tok := bearer.New(token)
	if !tok.Required() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tok.Allows(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lineage"`)
			writeError(w, http.StatusUnauthorized, "a bearer token is required (Authorization: Bearer, or ?token=)")
			return
		}
		next.ServeHTTP(w, r)
	})
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

// GoneError is what Sources.Events returns when the events asked for are
// no longer kept (an edge's stream pruned them): the answer is 410 Gone,
// with the oldest event still kept.
type GoneError struct{ Oldest uint64 }

func (e GoneError) Error() string {
	return fmt.Sprintf("events before %d are no longer kept", e.Oldest)
}

// writeJSONStatus answers v as JSON with code.
func writeJSONStatus(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
