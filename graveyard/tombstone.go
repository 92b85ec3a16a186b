package graveyard

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
)

// KeySize is the length of the signing key in bytes.
const KeySize = 32

// Errors callers branch on. Errors returned by this package wrap them and
// name the file concerned.
var (
	// ErrExists: a tombstone for the agent is already written. Death is
	// final and so is its record: tombstones are never overwritten.
	ErrExists = errors.New("tombstone exists")
	// ErrBadSignature: the tombstone's signature does not match its
	// content under the key — it was edited, or signed with another key.
	ErrBadSignature = errors.New("bad signature")
	// ErrMalformed: the file is not a well-formed tombstone (truncated,
	// not JSON, unknown or missing fields, trailing data, too large, or
	// named for another agent).
	ErrMalformed = errors.New("malformed")
	// ErrUnreadable: the file could not be read at all.
	ErrUnreadable = errors.New("unreadable")
)

// Moment places an event in the run: its wall time, its sequence number in
// the event log, and the arena tick (the number of ticks processed before
// the event's tick, as in arena.Event.Tick).
type Moment struct {
	Time time.Time `json:"time"`
	Seq  uint64    `json:"sequence"`
	Tick int64     `json:"tick"`
}

// Tombstone is the permanent record of one agent's life and death. Every
// field is covered by Signature; see Sign for the exact bytes signed.
type Tombstone struct {
	// AgentID is the agent's id: letters, digits, '_', '-' and '.', as the
	// arena names agents ("Momentum", "Momentum.0.2"). The file is
	// <AgentID>.tomb.
	AgentID string `json:"agent_id"`
	// Name is the agent's display name; it always equals AgentID.
	Name string `json:"name"`
	// Strategy is the name of the agent's strategy ("momentum").
	Strategy string `json:"strategy"`
	// Generation is 0 for a founder and the parent's plus one for a child.
	Generation int `json:"generation"`
	// Parent is the parent's id, or "" for a founder.
	Parent string `json:"parent"`
	// Born is when the agent was founded or spawned.
	Born Moment `json:"born"`
	// Died is the agent's death event.
	Died Moment `json:"died"`
	// Cause is why the agent died.
	Cause arena.Cause `json:"cause"`
	// Scars is every scar the agent took, in the order taken; it encodes as
	// [] (never null) when there were none.
	Scars []arena.Scar `json:"scars"`
	// Trades is the number of closed trades, liquidations at death included.
	Trades int `json:"trades"`
	// Wins is the number of closed trades with a positive net PnL.
	Wins int `json:"wins"`
	// FinalCapital is the agent's equity after liquidation at death, an
	// exact decimal JSON number of dollars (market.Money).
	FinalCapital market.Money `json:"final_capital"`
	// PeakCapital is the highest equity the agent reached, exact.
	PeakCapital market.Money `json:"peak_capital"`
	// InitialCapital is the capital the agent started with (a founder's
	// allotment or a child's endowment), exact.
	InitialCapital market.Money `json:"initial_capital"`
	// LifespanTicks is the number of ticks from birth to death.
	LifespanTicks int64 `json:"lifespan_ticks"`
	// Params are the agent's strategy parameters; it encodes as {} (never
	// null) when there are none.
	Params arena.Params `json:"params"`
	// LastEventHash is the lowercase hex SHA-256 (64 characters) of the
	// agent's last event record in the event log, which ties the
	// tombstone to the hash chain.
	LastEventHash string `json:"last_event_hash"`
	// Signature is the lowercase hex HMAC-SHA256 (64 characters) of the
	// tombstone's canonical encoding; see Sign.
	Signature string `json:"signature"`
}

// New builds the unsigned tombstone of the agent whose final state is st
// (from arena.Arena.Agent after its death, with its scar log and params),
// given death, the arena.EventDeath event that ended it. Times are stored
// in UTC. It returns an error when death is not st's death event.
func New(st arena.AgentState, death arena.Event, lastEventHash string) (Tombstone, error) {
	d := death.Death
	if death.Type != arena.EventDeath || d == nil {
		return Tombstone{}, fmt.Errorf("tombstone %s: event %d is a %s event, not a death", st.ID, death.Seq, death.Type)
	}
	if d.Agent != st.ID {
		return Tombstone{}, fmt.Errorf("tombstone %s: event %d is the death of %s", st.ID, death.Seq, d.Agent)
	}
	return Tombstone{
		AgentID:        st.ID,
		Name:           st.ID,
		Strategy:       st.Strategy,
		Generation:     st.Generation,
		Parent:         st.Parent,
		Born:           Moment{Time: st.BornTime.UTC(), Seq: st.BornSeq, Tick: st.BornTick},
		Died:           Moment{Time: death.Time.UTC(), Seq: death.Seq, Tick: death.Tick},
		Cause:          d.Cause,
		Scars:          slices.Clone(st.ScarLog),
		Trades:         d.Trades,
		Wins:           st.Wins,
		FinalCapital:   d.Equity,
		PeakCapital:    d.Peak,
		InitialCapital: st.Initial,
		LifespanTicks:  d.Lifespan,
		Params:         maps.Clone(st.Params),
		LastEventHash:  lastEventHash,
	}, nil
}

// Sign validates t and sets t.Signature to the lowercase hex of
// HMAC-SHA256(key, C), where C, the canonical encoding, is the bytes Go's
// encoding/json Marshal produces for t with Signature "", a nil Scars
// replaced by [] and a nil Params by {}. Concretely C is compact JSON (no
// whitespace) holding every field, in this order and always present:
//
//	agent_id, name, strategy, generation, parent,
//	born {time, sequence, tick}, died {time, sequence, tick},
//	cause, scars [{kind, severity, magnitude, equity, tick, sequence}...],
//	trades, wins, final_capital, peak_capital, initial_capital,
//	lifespan_ticks, params {name: value...}, last_event_hash,
//	signature ("")
//
// with strings escaped as encoding/json does (", \ and control characters
// escaped, <, >, & and U+2028/U+2029 as \u003c, \u003e, \u0026, \u2028,
// \u2029), times in RFC 3339 with fractional seconds and trailing zeros
// dropped, money as exact decimals with at least two fraction digits
// (4100.50, 0.000001), other numbers as encoding/json formats them (floats
// as the shortest text that round-trips, 1e-7 for tiny ones), and params
// sorted by name. A verifier decodes the file, re-encodes it that way and
// compares; the file's own layout (indentation, key order) is not signed,
// its values are.
//
// Sign fails when key is not KeySize bytes or t is invalid: a bad agent or
// parent id, a Name other than the id, an empty strategy or cause, text
// that is not UTF-8, a LastEventHash that is not 64 lowercase hex digits,
// or a value JSON cannot hold (a NaN parameter).
func Sign(key []byte, t *Tombstone) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := validate(*t); err != nil {
		return fmt.Errorf("sign tombstone %q: %w", t.AgentID, err)
	}
	sig, err := mac(key, *t)
	if err != nil {
		return fmt.Errorf("sign tombstone %s: %w", t.AgentID, err)
	}
	t.Signature = sig
	return nil
}

// Verify checks t.Signature against t's canonical encoding (see Sign) in
// constant time. It returns an error wrapping ErrBadSignature when they do
// not match, and another error when key is not KeySize bytes; the expected
// signature is never part of an error.
func Verify(key []byte, t Tombstone) error {
	if err := checkKey(key); err != nil {
		return err
	}
	want, err := mac(key, t)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if !hmac.Equal([]byte(want), []byte(t.Signature)) {
		return ErrBadSignature
	}
	return nil
}

// canonical returns the bytes Sign signs.
func canonical(t Tombstone) ([]byte, error) {
	return json.Marshal(normalize(t))
}

// normalize clears the signature and gives nil collections their
// canonical empty form.
func normalize(t Tombstone) Tombstone {
	t.Signature = ""
	if t.Scars == nil {
		t.Scars = []arena.Scar{}
	}
	if t.Params == nil {
		t.Params = arena.Params{}
	}
	return t
}

func mac(key []byte, t Tombstone) (string, error) {
	c, err := canonical(t)
	if err != nil {
		return "", err
	}
	h := hmac.New(sha256.New, key)
	h.Write(c)
	return hex.EncodeToString(h.Sum(nil)), nil
}

func checkKey(key []byte) error {
	if len(key) != KeySize {
		return fmt.Errorf("graveyard key is %d bytes, want %d", len(key), KeySize)
	}
	return nil
}

// validate checks what Sign promises of a tombstone. Text must be valid
// UTF-8 because encoding/json rewrites invalid bytes, which would make the
// decoded tombstone differ from the signed one.
func validate(t Tombstone) error {
	if err := checkID(t.AgentID); err != nil {
		return err
	}
	if t.Name != t.AgentID {
		return fmt.Errorf("name %q differs from agent id %q", t.Name, t.AgentID)
	}
	if t.Parent != "" {
		if err := checkID(t.Parent); err != nil {
			return fmt.Errorf("parent: %w", err)
		}
	}
	if t.Strategy == "" || !utf8.ValidString(t.Strategy) {
		return fmt.Errorf("strategy %q: empty or not UTF-8", t.Strategy)
	}
	if t.Cause == "" || !utf8.ValidString(string(t.Cause)) {
		return fmt.Errorf("cause %q: empty or not UTF-8", t.Cause)
	}
	for i, s := range t.Scars {
		if !utf8.ValidString(string(s.Kind)) {
			return fmt.Errorf("scar %d: kind %q is not UTF-8", i, s.Kind)
		}
	}
	for k := range t.Params {
		if !utf8.ValidString(k) {
			return fmt.Errorf("param %q is not UTF-8", k)
		}
	}
	if !isHexDigest(t.LastEventHash) {
		return fmt.Errorf("last event hash %q is not 64 lowercase hex digits", t.LastEventHash)
	}
	return nil
}

// maxIDLen keeps <id>.tomb within the 255-byte file name limit.
const maxIDLen = 255 - len(Ext)

// checkID accepts an agent id that is safe as a file name in one
// directory: 1 to 250 letters, digits, '_', '-' or '.', not starting with
// '.' and never containing "..".
func checkID(id string) error {
	switch {
	case id == "":
		return errors.New("agent id is empty")
	case len(id) > maxIDLen:
		return fmt.Errorf("agent id %.20q... is %d bytes, more than %d", id, len(id), maxIDLen)
	case id[0] == '.':
		return fmt.Errorf("agent id %q starts with '.'", id)
	case strings.Contains(id, ".."):
		return fmt.Errorf("agent id %q contains \"..\"", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("agent id %q: character %q not allowed (letters, digits, '_', '-', '.')", id, c)
		}
	}
	return nil
}

func isHexDigest(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
