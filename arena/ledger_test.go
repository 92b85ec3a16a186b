package arena

import (
	"fmt"
	"testing"

	"github.com/lineage-arena/lineage/market"
)

// checkBooks verifies, for every agent ever born, the ledger identities:
//
//	cash   = initial + realized − fees − endowments
//	equity = cash + Σ (value at mark − cost), value at the arena's marks
//	gross  = Σ |value|
//
// and that the population's money is conserved: the founders' capital
// equals Σ (initial − endowments) over everyone.
func checkBooks(ar *Arena) error {
	var founders, net market.Money
	for _, a := range ar.all {
		if a.generation == 0 {
			founders += a.initial
		}
		net += a.initial - a.endowments
		if want := a.initial + a.realized - a.fees - a.endowments; a.cash != want {
			return fmt.Errorf("%s: cash %v, want initial %v + realized %v - fees %v - endowments %v = %v",
				a.id, a.cash, a.initial, a.realized, a.fees, a.endowments, want)
		}
		var unreal, gross market.Money
		for s, p := range a.pos {
			if p.qty == 0 {
				continue
			}
			if a.dead {
				return fmt.Errorf("%s: dead with a position in %s", a.id, ar.cfg.Symbols[s])
			}
			if v := market.Notional(p.qty, ar.marks[s]); v != p.value {
				return fmt.Errorf("%s: %s value %v, want %v at mark %v", a.id, ar.cfg.Symbols[s], p.value, v, ar.marks[s])
			}
			unreal += p.value - p.cost
			gross += absMoney(p.value)
		}
		if a.unreal != unreal || a.gross != gross {
			return fmt.Errorf("%s: unrealized %v gross %v, want %v and %v", a.id, a.unreal, a.gross, unreal, gross)
		}
		if a.fees < 0 || a.endowments < 0 {
			return fmt.Errorf("%s: negative fees %v or endowments %v", a.id, a.fees, a.endowments)
		}
	}
	if founders != net {
		return fmt.Errorf("money not conserved: founders %v, Σ(initial − endowments) %v", founders, net)
	}
	return nil
}

// TestBooksBalanceAfterEveryEvent is a property test over many seeds: the
// identities hold after every event, and the cash each trade event reports
// reconciles with the fees and PnL the events themselves carry.
func TestBooksBalanceAfterEveryEvent(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 3
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			var ar *Arena
			cash := map[string]market.Money{}
			events := 0
			sink := SinkFunc(func(e Event) error {
				events++
				switch {
				case e.Spawn != nil:
					cash[e.Spawn.Child] = e.Spawn.Endowment
					cash[e.Spawn.Parent] -= e.Spawn.Endowment
				case e.Trade != nil:
					tr := e.Trade
					if _, ok := cash[tr.Agent]; !ok {
						cash[tr.Agent] = ar.byID[tr.Agent].initial
					}
					cash[tr.Agent] += tr.Realized - tr.Fee
					if cash[tr.Agent] != tr.Cash {
						return fmt.Errorf("seq %d: %s reports cash %v, events add up to %v", e.Seq, tr.Agent, tr.Cash, cash[tr.Agent])
					}
				}
				if events%97 == 0 || e.Type != EventMarket {
					return checkBooks(ar)
				}
				return nil
			})
			ar = mustArena(t, Config{Seed: seed, RoundTicks: 500, AgentEvery: 250}, GenerateRoster(24, seed), sink)
			mustRun(t, ar, newWalk(seed, 20000), 0)
			if err := checkBooks(ar); err != nil {
				t.Fatal(err)
			}
			if ar.LedgerRecords() == 0 {
				t.Fatal("no ledger records: the agents never traded")
			}
		})
	}
}

func runHash(t *testing.T, cfg Config, agents int, ticks int) (string, int64) {
	t.Helper()
	ar := mustArena(t, cfg, GenerateRoster(agents, cfg.Seed), nil)
	mustRun(t, ar, newWalk(cfg.Seed, ticks), 0)
	return ar.LedgerHash(), ar.LedgerRecords()
}

// TestDeterministicAcrossWorkers: the ledger depends on the seed and the
// feed only, not on how many goroutines advance the agents.
func TestDeterministicAcrossWorkers(t *testing.T) {
	const agents, ticks = 300, 6000
	want, recs := runHash(t, Config{Seed: 9, Workers: 1}, agents, ticks)
	if recs == 0 {
		t.Fatal("no ledger records")
	}
	for _, w := range []int{2, 3, 8} {
		if got, _ := runHash(t, Config{Seed: 9, Workers: w}, agents, ticks); got != want {
			t.Errorf("workers=%d: ledger hash %s, want %s (workers=1)", w, got, want)
		}
	}
	if got, _ := runHash(t, Config{Seed: 9, Workers: 2}, agents, ticks); got != want {
		t.Errorf("second run: ledger hash %s, want %s", got, want)
	}
	if got, _ := runHash(t, Config{Seed: 10, Workers: 2}, agents, ticks); got == want {
		t.Errorf("seed 10 gave seed 9's ledger hash %s", got)
	}
}

// TestLedgerHashIgnoresAgentStates: a server emits agent states on its own
// clock, which shifts every later sequence number; the ledger hash is a
// function of the run, so it must not change.
func TestLedgerHashIgnoresAgentStates(t *testing.T) {
	const seed, agents, ticks = 4, 60, 9000
	run := func(every int, extra func(n int) bool) (hash string, recs int64, next uint64) {
		ar := mustArena(t, Config{Seed: seed, RoundTicks: 500, AgentEvery: every}, GenerateRoster(agents, seed), nil)
		src := newWalk(seed, ticks)
		for n := 0; ; n++ {
			tk, err := src.Next(t.Context())
			if err != nil {
				break
			}
			if err := ar.Step(tk); err != nil {
				t.Fatal(err)
			}
			if extra != nil && extra(n) {
				if err := ar.EmitAgentStates(tk.Time); err != nil {
					t.Fatal(err)
				}
			}
		}
		return ar.LedgerHash(), ar.LedgerRecords(), ar.NextSeq()
	}
	want, recs, seqNone := run(0, nil)
	if recs == 0 {
		t.Fatal("no ledger records")
	}
	for _, tt := range []struct {
		name  string
		every int
		extra func(int) bool
	}{
		{"every 7 ticks", 7, nil},
		{"on an irregular clock", 0, func(n int) bool { return n%13 == 0 || n%29 == 5 }},
		{"both", 250, func(n int) bool { return n%101 == 0 }},
	} {
		got, gotRecs, seq := run(tt.every, tt.extra)
		if seq == seqNone {
			t.Fatalf("%s: emitted no agent states (next sequence %d either way)", tt.name, seq)
		}
		if got != want || gotRecs != recs {
			t.Errorf("%s: ledger hash %s (%d records), want %s (%d records) as with no agent states", tt.name, got, gotRecs, want, recs)
		}
	}
}

// Every fill reports the tick and market sequence of its decision and the
// slippage it drew, and the prices follow from them exactly.
func TestTradesCarryDecisionAndSlippage(t *testing.T) {
	flip := func(in Input, n int) Target {
		if n%3 == 0 {
			return Target{Side: Long, Size: 0.5}
		}
		return Target{Side: Flat}
	}
	ar, c := scripted(t, Config{Seed: 5, Slippage: market.Bps(20)}, 1, flip)
	ps := make([]float64, 60)
	for i := range ps {
		ps[i] = 100 + float64(0.1*float64(i%7)) // small moves: no loss scar raises the slippage bound
	}
	prices(t, ar, ps...)
	marketSeq := map[int64]uint64{}
	marketPx := map[int64]market.Price{}
	for _, e := range c.of(EventMarket) {
		marketSeq[e.Tick], marketPx[e.Tick] = e.Seq, e.Market.Price
	}
	trades := c.of(EventTrade)
	if len(trades) < 10 {
		t.Fatalf("only %d trades", len(trades))
	}
	drew := false
	for _, e := range trades {
		tr := e.Trade
		if tr.DecisionTick >= e.Tick || tr.DecisionSeq != marketSeq[tr.DecisionTick] {
			t.Errorf("seq %d: filled at tick %d, decided at tick %d seq %d (that tick's market event is seq %d)",
				e.Seq, e.Tick, tr.DecisionTick, tr.DecisionSeq, marketSeq[tr.DecisionTick])
		}
		if tr.Slippage < 0 || tr.Slippage > market.Bps(20) {
			t.Errorf("seq %d: slippage %d ppm outside [0, 2000]", e.Seq, tr.Slippage)
		}
		drew = drew || tr.Slippage > 0
		buy := (tr.Action == "open") == (tr.Side == Long)
		want := marketPx[e.Tick].Mul(market.RateScale - tr.Slippage)
		if buy {
			want = marketPx[e.Tick].Mul(market.RateScale + tr.Slippage)
		}
		if tr.Price != want {
			t.Errorf("seq %d: fill price %v, want %v from the tick's price and slippage %d ppm", e.Seq, tr.Price, want, tr.Slippage)
		}
	}
	if !drew {
		t.Error("no fill drew any slippage")
	}
}
