package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/lineage-arena/lineage/arena"
)

// A checkpoint's trade file, checkpoints/<seq>.trades beside
// <seq>.ckpt, holds the trade book when the state was taken — every
// agent's most recent durable fills before sequence seq — so that a
// restart from the checkpoint serves Engine.Trades without reading the
// log before it. It is written (fsynced, renamed into place) before the
// checkpoint file, and removed with it. It is the engine's cache of what
// the log holds, not part of the arena's state: the checkpoint's bytes and
// its event in the chain do not cover it; a restart that cannot use it
// reads the log for the trades instead.
const tradesExt = ".trades"

type tradeFile struct {
	StateSeq uint64  `json:"state_sequence"`
	Trades   []Trade `json:"trades"` // by agent, then sequence
}

func tradesPath(ckptPath string) string {
	return strings.TrimSuffix(ckptPath, checkpointExt) + tradesExt
}

// encodeTrades encodes book, the trade book before sequence seq, in a
// deterministic order.
func encodeTrades(seq uint64, book map[string][]Trade) ([]byte, error) {
	ids := make([]string, 0, len(book))
	for id := range book {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	f := tradeFile{StateSeq: seq, Trades: []Trade{}}
	for _, id := range ids {
		for _, t := range book[id] {
			if t.Seq < seq {
				f.Trades = append(f.Trades, t)
			}
		}
	}
	return json.Marshal(f)
}

// readTrades reads the trade file of the checkpoint file ckptPath, taken at
// state sequence seq.
func readTrades(ckptPath string, seq uint64) ([]committed, error) {
	b, err := os.ReadFile(tradesPath(ckptPath))
	if err != nil {
		return nil, err
	}
	var f tradeFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	if f.StateSeq != seq {
		return nil, fmt.Errorf("it holds the trades before sequence %d, not %d", f.StateSeq, seq)
	}
	out := make([]committed, 0, len(f.Trades))
	for _, t := range f.Trades {
		if t.Seq >= seq || t.Agent == "" {
			return nil, fmt.Errorf("trade %d is not one before sequence %d", t.Seq, seq)
		}
		te := t.TradeEvent
		out = append(out, committed{event: arena.Event{Type: arena.EventTrade, Seq: t.Seq, Time: t.Time, Trade: &te}})
	}
	return out, nil
}
