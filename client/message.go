package client

import (
	"encoding/json"
	"errors"
	"time"
)

// Message types. Events carry a sequence number of the stream; control
// messages do not belong to it. A server may send types this package does
// not know: they come as they are, with Raw, and old clients ignore them.
const (
	TypeMarket = "market"
	TypeAgent  = "agent"
	TypeTrade  = "trade"
	TypeScar   = "scar"
	TypeDeath  = "death"
	TypeSpawn  = "spawn"
	TypeRound  = "round"

	TypeWelcome    = "welcome"
	TypeSubscribed = "subscribed"
	TypePong       = "pong"
	TypeError      = "error"
	TypeResume     = "resume"
)

// Codes of resume messages (docs/protocol.md): what the server could not
// do exactly as asked when the Conn resumed.
const (
	// CodeTruncated: the events From-1 and before, after the resume
	// point, are no longer kept; the stream goes on at From. It is the
	// only gap a Conn lets through, and it is always announced this way.
	CodeTruncated = "truncated"
	// CodeAhead: the resume point is past the server's last sequence.
	CodeAhead = "ahead"
	// CodeUnavailable: the server keeps no history; a snapshot follows.
	CodeUnavailable = "unavailable"
)

// Message is one message from the server, in either schema. Next fills
// the envelope (Type, Event, Sequence, Snapshot), the typed payload of
// market and agent events, the fields of control messages, and always
// Raw, the message exactly as it came (for other event types, Payload
// gives their payload).
type Message struct {
	// Type is the event type (market, agent, trade, scar, death, spawn,
	// round, or one this package does not know) or the control type
	// (welcome, subscribed, pong, error, resume).
	Type string
	// Event reports whether the message is an event of the stream: v1's
	// envelope (any event_type), or one of the event types above in v2.
	Event bool
	// Sequence is the event's place in the stream; for a welcome or a
	// resume message, the server's last sequence.
	Sequence uint64
	// Snapshot marks the events of the snapshot that follows a fresh
	// connection's welcome: the state after Sequence, not new events.
	Snapshot bool

	// Market is the payload of a market event, Agent of an agent event,
	// in either schema; nil for other types.
	Market *Market
	Agent  *Agent

	// Control messages: the welcome's client id, the text ("message") of
	// a welcome, error, resume or subscribed message, the code of an error
	// or resume message, and the range a truncated resume goes on from.
	ClientID uint64
	Text     string
	Code     string
	From, To uint64

	// Raw is the message as it came from the server. It is the caller's.
	Raw []byte

	v1 bool // the v1 envelope: payloads sit under a key named after the type
}

// Market is a market event's payload.
type Market struct {
	Symbol string
	// Price is exact, as the server wrote it.
	Price     json.Number
	Timestamp time.Time
	// ChangePercent, Source and Stale are in v1 only.
	ChangePercent float64
	Source        string
	Stale         bool
}

// Agent is an agent event's payload.
type Agent struct {
	ID string
	// Capital is exact, as the server wrote it.
	Capital json.Number
	Trades  int
	WinRate float64 // a fraction, 0..1
	Scars   int
	// Status is active, resting or deceased (v2's trading, holding and
	// dead are given the v1 names).
	Status    string
	Timestamp time.Time
	// In v1 only.
	Strategy   string
	Generation int
	Parent     string
}

// envelope is what both schemas may carry around a payload.
type envelope struct {
	Type      string          `json:"type"`
	EventType string          `json:"event_type"`
	Message   string          `json:"message"`
	Code      string          `json:"code"`
	ClientID  uint64          `json:"client_id"`
	From      uint64          `json:"from"`
	To        uint64          `json:"to"`
	Sequence  uint64          `json:"sequence"`
	Snapshot  bool            `json:"snapshot"`
	Market    json.RawMessage `json:"market"`
	Agent     json.RawMessage `json:"agent"`
}

type v1Market struct {
	Symbol        string      `json:"symbol"`
	Price         json.Number `json:"price"`
	Timestamp     time.Time   `json:"timestamp"`
	ChangePercent float64     `json:"change_percent"`
	Source        string      `json:"source"`
	Stale         bool        `json:"stale"`
}

type v1Agent struct {
	ID         string      `json:"agent_id"`
	Capital    json.Number `json:"capital"`
	Trades     int         `json:"trades_executed"`
	WinRate    float64     `json:"win_rate"`
	Scars      int         `json:"scars"`
	Status     string      `json:"status"`
	Timestamp  time.Time   `json:"timestamp"`
	Strategy   string      `json:"strategy"`
	Generation int         `json:"generation"`
	Parent     string      `json:"parent"`
}

type v2Market struct {
	Symbol    string      `json:"symbol"`
	Price     json.Number `json:"price"`
	Timestamp time.Time   `json:"timestamp"`
}

type v2Agent struct {
	Name      string      `json:"agent_name"`
	Capital   json.Number `json:"capital"`
	Trades    int         `json:"trades"`
	WinRate   float64     `json:"win_rate"`
	Scars     int         `json:"scars"`
	Action    string      `json:"action"`
	Timestamp time.Time   `json:"timestamp"`
}

var v2Status = map[string]string{"trading": "active", "holding": "resting", "dead": "deceased"}

func isEventType(t string) bool {
	switch t {
	case TypeMarket, TypeAgent, TypeTrade, TypeScar, TypeDeath, TypeSpawn, TypeRound:
		return true
	}
	return false
}

// errNotLineage is a message that is not a JSON object with a type.
var errNotLineage = errors.New("not a Lineage message")

// decode reads one message in either schema. A field of an unexpected
// JSON type is left empty rather than losing the message; a payload that
// cannot be read leaves Market or Agent nil.
func decode(b []byte) (Message, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return Message{}, errNotLineage
		}
	}
	m := Message{Type: env.Type, Sequence: env.Sequence, Snapshot: env.Snapshot, ClientID: env.ClientID,
		Text: env.Message, Code: env.Code, From: env.From, To: env.To, Raw: b}
	switch {
	case env.EventType != "":
		m.Type, m.Event, m.v1 = env.EventType, true, true
	case env.Type == "":
		return Message{}, errNotLineage
	default:
		m.Event = isEventType(env.Type)
	}
	if !m.Event {
		return m, nil
	}
	switch {
	case m.Type == TypeMarket && m.v1:
		var p v1Market
		if json.Unmarshal(env.Market, &p) == nil && len(env.Market) > 0 && string(env.Market) != "null" {
			m.Market = &Market{Symbol: p.Symbol, Price: p.Price, Timestamp: p.Timestamp,
				ChangePercent: p.ChangePercent, Source: p.Source, Stale: p.Stale}
		}
	case m.Type == TypeMarket:
		var p v2Market
		if json.Unmarshal(b, &p) == nil {
			m.Market = &Market{Symbol: p.Symbol, Price: p.Price, Timestamp: p.Timestamp}
		}
	case m.Type == TypeAgent && m.v1:
		var p v1Agent
		if json.Unmarshal(env.Agent, &p) == nil && len(env.Agent) > 0 && string(env.Agent) != "null" {
			m.Agent = &Agent{ID: p.ID, Capital: p.Capital, Trades: p.Trades, WinRate: p.WinRate, Scars: p.Scars,
				Status: p.Status, Timestamp: p.Timestamp, Strategy: p.Strategy, Generation: p.Generation, Parent: p.Parent}
		}
	case m.Type == TypeAgent:
		var p v2Agent
		if json.Unmarshal(b, &p) == nil {
			m.Agent = &Agent{ID: p.Name, Capital: p.Capital, Trades: p.Trades, WinRate: p.WinRate, Scars: p.Scars,
				Status: v2Status[p.Action], Timestamp: p.Timestamp}
		}
	}
	return m, nil
}

// Payload is the payload of an event as JSON: in v1 the object under the
// envelope's key named after the type ("trade":{…}); in v2 the message
// itself, whose fields are the payload's. It is nil for a v1 event that
// has no such key. docs/arena.md lists every payload's fields.
func (m *Message) Payload() json.RawMessage {
	if !m.v1 {
		return m.Raw
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(m.Raw, &keys) != nil {
		return nil
	}
	p := keys[m.Type]
	if string(p) == "null" {
		return nil
	}
	return p
}
