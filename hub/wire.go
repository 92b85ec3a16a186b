package hub

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
)

// Schema is a wire format clients choose with ?schema=.
type Schema int

// Schemas.
const (
	// V1 is the envelope of SPEC: {"event_type","market","agent",<type>,
	// "sequence"}, each payload carrying its own "timestamp".
	V1 Schema = iota
	// V2 is the flat schema of the original dashboard:
	// {"type":"market","symbol","price","timestamp"}.
	V2
)

// v1Market and v1Agent are SPEC's v1 payloads. Fields beyond SPEC's are
// added at the end; old clients ignore them.
type v1Market struct {
	Symbol        market.Symbol `json:"symbol"`
	Price         market.Price  `json:"price"`
	Timestamp     time.Time     `json:"timestamp"`
	ChangePercent float64       `json:"change_percent"`
	Source        string        `json:"source,omitempty"`
	Stale         bool          `json:"stale,omitempty"`
}

type v1Agent struct {
	ID         string       `json:"agent_id"`
	Capital    market.Money `json:"capital"`
	Trades     int          `json:"trades_executed"`
	WinRate    float64      `json:"win_rate"`
	Status     arena.Status `json:"status"`
	Timestamp  time.Time    `json:"timestamp"`
	Strategy   string       `json:"strategy"`
	Generation int          `json:"generation"`
	Parent     string       `json:"parent,omitempty"`
	Scars      int          `json:"scars"`
	ROI        float64      `json:"roi"`
	Trust      float64      `json:"trust"`
	Tier       string       `json:"trust_tier"`
	Cash       market.Money `json:"cash"`
	Exposure   market.Money `json:"exposure"`
}

func newV1Agent(a *arena.AgentState, t time.Time) *v1Agent {
	return &v1Agent{
		ID: a.ID, Capital: a.Capital, Trades: a.Trades, WinRate: a.WinRate, Status: a.Status, Timestamp: t,
		Strategy: a.Strategy, Generation: a.Generation, Parent: a.Parent, Scars: a.Scars, ROI: a.ROI,
		Trust: a.Trust, Tier: a.Tier, Cash: a.Cash, Exposure: a.Exposure,
	}
}

// stamped encodes an event's payload with a "timestamp" field added.
func stamped(v any, t time.Time) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil || len(b) < 2 || b[len(b)-1] != '}' {
		return b, err
	}
	ts, _ := t.UTC().MarshalJSON()
	out := append(b[:len(b)-1:len(b)-1], `,"timestamp":`...)
	out = append(out, ts...)
	return append(out, '}'), nil
}

type v1Envelope struct {
	EventType arena.EventType `json:"event_type"`
	Market    *v1Market       `json:"market"`
	Agent     *v1Agent        `json:"agent"`
	Trade     json.RawMessage `json:"trade,omitempty"`
	Scar      json.RawMessage `json:"scar,omitempty"`
	Death     json.RawMessage `json:"death,omitempty"`
	Spawn     json.RawMessage `json:"spawn,omitempty"`
	Round     json.RawMessage `json:"round,omitempty"`
	Sequence  uint64          `json:"sequence"`
	Snapshot  bool            `json:"snapshot,omitempty"`
}

// encodeV1 writes e in SPEC's v1 envelope.
func encodeV1(e *arena.Event, snapshot bool) ([]byte, error) {
	env := v1Envelope{EventType: e.Type, Sequence: e.Seq, Snapshot: snapshot}
	switch {
	case e.Market != nil:
		m := e.Market
		env.Market = &v1Market{Symbol: m.Symbol, Price: m.Price, Timestamp: e.Time, ChangePercent: m.ChangePercent, Source: m.Source, Stale: m.Stale}
	case e.Agent != nil:
		env.Agent = newV1Agent(e.Agent, e.Time)
	default:
		payload, key := otherPayload(e)
		raw, err := stamped(payload, e.Time)
		if err != nil {
			return nil, err
		}
		switch key {
		case "trade":
			env.Trade = raw
		case "scar":
			env.Scar = raw
		case "death":
			env.Death = raw
		case "spawn":
			env.Spawn = raw
		case "round":
			env.Round = raw
		}
	}
	return json.Marshal(env)
}

// v2 messages are flat: "type", then the payload's fields.
type v2Market struct {
	Type      string        `json:"type"`
	Symbol    market.Symbol `json:"symbol"`
	Price     market.Price  `json:"price"`
	Timestamp time.Time     `json:"timestamp"`
	Sequence  uint64        `json:"sequence"`
	Snapshot  bool          `json:"snapshot,omitempty"`
}

type v2Agent struct {
	Type      string       `json:"type"`
	Name      string       `json:"agent_name"`
	Capital   market.Money `json:"capital"`
	Trades    int          `json:"trades"`
	WinRate   float64      `json:"win_rate"`
	Scars     int          `json:"scars"`
	Action    string       `json:"action"`
	Timestamp time.Time    `json:"timestamp"`
	Sequence  uint64       `json:"sequence"`
	Snapshot  bool         `json:"snapshot,omitempty"`
}

// otherPayload is the payload of an event that is neither market nor
// agent, and its key.
func otherPayload(e *arena.Event) (any, string) {
	switch {
	case e.Trade != nil:
		return e.Trade, "trade"
	case e.Scar != nil:
		return e.Scar, "scar"
	case e.Death != nil:
		return e.Death, "death"
	case e.Spawn != nil:
		return e.Spawn, "spawn"
	case e.Round != nil:
		return e.Round, "round"
	}
	return struct{}{}, string(e.Type)
}

// v2Action is what the original dashboard showed in its action column.
func v2Action(s arena.Status) string {
	switch s {
	case arena.StatusActive:
		return "trading"
	case arena.StatusResting:
		return "holding"
	}
	return "dead"
}

// encodeV2 writes e in the flat v2 schema; snapshot marks it as part of
// a snapshot ("snapshot":true, as in v1).
func encodeV2(e *arena.Event, snapshot bool) ([]byte, error) {
	t := string(e.Type)
	switch {
	case e.Market != nil:
		return json.Marshal(v2Market{Type: t, Symbol: e.Market.Symbol, Price: e.Market.Price, Timestamp: e.Time, Sequence: e.Seq, Snapshot: snapshot})
	case e.Agent != nil:
		a := e.Agent
		return json.Marshal(v2Agent{Type: t, Name: a.ID, Capital: a.Capital, Trades: a.Trades, WinRate: a.WinRate,
			Scars: a.Scars, Action: v2Action(a.Status), Timestamp: e.Time, Sequence: e.Seq, Snapshot: snapshot})
	}
	// Other types: {"type", the payload's fields, "timestamp", "sequence"
	// [, "snapshot"]}.
	payload, _ := otherPayload(e)
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	head := mustJSON(struct {
		Type string `json:"type"`
	}{t})
	ts, _ := e.Time.UTC().MarshalJSON()
	out := append(head[:len(head)-1:len(head)-1], ',')
	if len(b) > 2 {
		out = append(out, b[1:len(b)-1]...)
		out = append(out, ',')
	}
	out = append(out, `"timestamp":`...)
	out = append(out, ts...)
	out = append(out, `,"sequence":`...)
	out = strconv.AppendUint(out, e.Seq, 10)
	if snapshot {
		out = append(out, `,"snapshot":true`...)
	}
	return append(out, '}'), nil
}

// Control messages.

type welcomeMsg struct {
	Type      string    `json:"type"`
	ClientID  uint64    `json:"client_id"`
	Timestamp time.Time `json:"timestamp"`
	Message   string    `json:"message"`
	Sequence  uint64    `json:"sequence"`
}

// WelcomeText is the welcome message's text (SPEC).
const WelcomeText = "Connected to Lineage WebSocket broadcast server"

type infoMsg struct {
	Type    string `json:"type"` // "error", "pong", "resume", "subscribed"
	Message string `json:"message,omitempty"`
	Code    string `json:"code,omitempty"`
	// Resume: the range replayed, and whether the start was kept.
	From     uint64 `json:"from,omitempty"`
	To       uint64 `json:"to,omitempty"`
	Sequence uint64 `json:"sequence,omitempty"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only fixed control structs are passed
	}
	return b
}
