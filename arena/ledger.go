package arena

import (
	"encoding/binary"
	"encoding/hex"
	"math"
)

// The ledger hash is SHA-256 over every event that moves money or changes
// a life — trade, scar, death, spawn — in sequence order. Each record is
// the sequence number, the event type and the event's exact integer fields
// (strings length-prefixed, integers big-endian), so two runs that agree on
// the hash agree on every fill to the micro-dollar. Market ticks, periodic
// states and rounds are derived from these and the feed, and left out.

func (ar *Arena) hashEvent(e *Event) {
	b := ar.ledgerBuf[:0]
	switch {
	case e.Trade != nil:
		t := e.Trade
		b = appendHead(b, e.Seq, e.Type)
		b = appendStrings(b, t.Agent, string(t.Symbol), t.Action, t.Reason)
		b = appendInts(b, int64(t.Side), int64(t.Qty), int64(t.Price), int64(t.Fee), int64(t.Realized), int64(t.NetPnL), int64(t.Cash))
	case e.Scar != nil:
		s := e.Scar
		b = appendHead(b, e.Seq, e.Type)
		b = appendStrings(b, s.Agent, string(s.Scar.Kind))
		b = appendInts(b, int64(s.Scar.Severity), int64(s.Scar.Equity), s.Scar.Tick, int64(s.Total))
	case e.Death != nil:
		d := e.Death
		b = appendHead(b, e.Seq, e.Type)
		b = appendStrings(b, d.Agent, string(d.Cause))
		b = appendInts(b, int64(d.Equity), int64(d.Peak), int64(d.Scars), int64(d.Trades), d.Lifespan)
	case e.Spawn != nil:
		s := e.Spawn
		b = appendHead(b, e.Seq, e.Type)
		b = appendStrings(b, s.Parent, s.Child, s.Strategy, s.Mode)
		b = appendInts(b, int64(s.Generation), int64(s.Endowment))
		for _, k := range sortedKeys(s.Params) {
			b = appendStrings(b, k)
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(s.Params[k]))
		}
	default:
		return
	}
	ar.ledger.Write(b)
	ar.ledgerBuf = b
	ar.ledgerRecs++
}

func appendHead(b []byte, seq uint64, t EventType) []byte {
	b = binary.BigEndian.AppendUint64(b, seq)
	return appendStrings(b, string(t))
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

// LedgerHash is the hex SHA-256 of every ledger record so far: trades,
// scars, deaths and births. Equal hashes mean equal ledgers.
func (ar *Arena) LedgerHash() string { return hex.EncodeToString(ar.ledger.Sum(nil)) }

// LedgerRecords is the number of records folded into LedgerHash.
func (ar *Arena) LedgerRecords() int64 { return ar.ledgerRecs }
