package arena

import (
	"encoding/binary"
	"encoding/hex"
	"math"
)

// LedgerFormat is the version of the ledger hash's record layout. Version
// 2 leaves sequence numbers out, so the hash depends on the run alone.
const LedgerFormat = 2

// The ledger hash is SHA-256 over one record per ledger event — trade,
// scar, death, spawn and round — in sequence order. It leaves out market
// ticks (the feed), periodic agent states (a server emits them on its own
// clock) and every sequence number (agent states shift them), so the same
// configuration, roster and ticks give the same hash in `lineage arena` and
// `lineage serve`, however often states are broadcast.
//
// A record is a list of fields, strings as a 4-byte big-endian length then
// the UTF-8 bytes, integers as 8-byte big-endian two's complement, in the
// units and with the values of the event's JSON (money in 1e-6 USD, prices
// in 1e-8 USD, quantities in 1e-8 coin, rates in ppm). Every record starts
// with the event type (string) and the event's tick (integer):
//
//	trade: agent_id, symbol, action, side, reason (strings);
//	       quantity, price, fee, realized_pnl, net_pnl, cash, decision_tick, slippage_ppm
//	scar:  agent_id, kind (strings); severity, equity, total_scars
//	death: agent_id, cause (strings); final_capital, peak_capital, scars, trades, lifespan_ticks
//	spawn: parent_id, child_id, strategy, inheritance (strings); generation, endowment,
//	       the number of params, then per param in byte order of its name:
//	       the name (string) and the IEEE 754 bits of its value (integer)
//	round: winner (string); round, start_tick, end_tick, the number of standings,
//	       then per standing in order: agent_id, status (strings); capital
//
// docs/arena.md states the same layout; a test in cli recomputes
// the hash from the JSON report with nothing but encoding/json and
// crypto/sha256.

func (ar *Arena) hashEvent(e *Event) {
	b := ar.ledgerBuf[:0]
	switch {
	case e.Trade != nil:
		t := e.Trade
		b = appendHead(b, e.Tick, e.Type)
		b = appendStrings(b, t.Agent, string(t.Symbol), t.Action, t.Side.String(), t.Reason)
		b = appendInts(b, int64(t.Qty), int64(t.Price), int64(t.Fee), int64(t.Realized), int64(t.NetPnL), int64(t.Cash),
			t.DecisionTick, int64(t.Slippage))
	case e.Scar != nil:
		s := e.Scar
		b = appendHead(b, e.Tick, e.Type)
		b = appendStrings(b, s.Agent, string(s.Scar.Kind))
		b = appendInts(b, int64(s.Scar.Severity), int64(s.Scar.Equity), int64(s.Total))
	case e.Death != nil:
		d := e.Death
		b = appendHead(b, e.Tick, e.Type)
		b = appendStrings(b, d.Agent, string(d.Cause))
		b = appendInts(b, int64(d.Equity), int64(d.Peak), int64(d.Scars), int64(d.Trades), d.Lifespan)
	case e.Spawn != nil:
		s := e.Spawn
		b = appendHead(b, e.Tick, e.Type)
		b = appendStrings(b, s.Parent, s.Child, s.Strategy, s.Mode)
		b = appendInts(b, int64(s.Generation), int64(s.Endowment), int64(len(s.Params)))
		for _, k := range sortedKeys(s.Params) {
			b = appendStrings(b, k)
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(s.Params[k]))
		}
	case e.Round != nil:
		r := e.Round
		b = appendHead(b, e.Tick, e.Type)
		b = appendStrings(b, r.Winner)
		b = appendInts(b, int64(r.Number), r.StartTick, r.EndTick, int64(len(r.Standings)))
		for _, st := range r.Standings {
			b = appendStrings(b, st.Agent, string(st.Status))
			b = appendInts(b, int64(st.Capital))
		}
	default:
		return
	}
	ar.ledger.Write(b)
	ar.ledgerBuf = b
	ar.ledgerRecs++
}

func appendHead(b []byte, tick int64, t EventType) []byte {
	b = appendStrings(b, string(t))
	return binary.BigEndian.AppendUint64(b, uint64(tick))
}

func appendStrings(b []byte, ss ...string) []byte {
	for _, s := range ss {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

func appendInts(b []byte, vs ...int64) []byte {
	for _, v := range vs {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	return b
}

// LedgerHash is the hex SHA-256 of every ledger record so far (see
// LedgerFormat): trades, scars, deaths, births and rounds. Equal hashes
// mean equal ledgers, whatever the sequence numbers.
func (ar *Arena) LedgerHash() string { return hex.EncodeToString(ar.ledger.Sum(nil)) }

// LedgerRecords is the number of records folded into LedgerHash.
func (ar *Arena) LedgerRecords() int64 { return ar.ledgerRecs }
