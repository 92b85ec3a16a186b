package graveyard_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/graveyard"
	"github.com/lineage-arena/lineage/market"
)

// Bury an agent, show its tombstone, read it back (which verifies it) and try to bury it again. A real
// program gets its key from graveyard.LoadOrCreateKey(dataDir); the example
// uses a fixed key so its signature is the same on every run.
func ExampleWrite() {
	dataDir, err := os.MkdirTemp("", "lineage")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dataDir)
	dir := filepath.Join(dataDir, "graveyard")
	key := bytes.Repeat([]byte{0x5a}, graveyard.KeySize)

	t := graveyard.Tombstone{
		AgentID: "Momentum.0", Name: "Momentum.0", Strategy: "momentum", Generation: 1, Parent: "Momentum",
		Born:  graveyard.Moment{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Seq: 17, Tick: 100},
		Died:  graveyard.Moment{Time: time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC), Seq: 9001, Tick: 3500},
		Cause: arena.CauseDrawdown,
		Scars: []arena.Scar{
			{Kind: arena.ScarLoss, Severity: 2, Magnitude: 0.07, Equity: market.USD(9_000), Tick: 900, Seq: 3000},
		},
		Trades: 42, Wins: 19,
		FinalCapital: market.Money(4_100_500_000), PeakCapital: market.USD(12_000), InitialCapital: market.USD(10_000),
		LifespanTicks: 3400,
		Params:        arena.Params{"fast": 30, "slow": 120, "risk": 0.25},
		LastEventHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	}
	path, err := graveyard.Write(dir, key, t)
	if err != nil {
		fmt.Println(err)
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(filepath.Base(path), fi.Mode())
	file, err := os.ReadFile(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(file))

	got, err := graveyard.Read(path, key)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s died of %s with %d scar, final capital %v\n", got.AgentID, got.Cause, len(got.Scars), got.FinalCapital)

	t.Cause = arena.CauseScars
	_, err = graveyard.Write(dir, key, t)
	fmt.Println("rewrite refused:", errors.Is(err, graveyard.ErrExists))
	// Output:
	// Momentum.0.tomb -r--r--r--
	// {
	//   "agent_id": "Momentum.0",
	//   "name": "Momentum.0",
	//   "strategy": "momentum",
	//   "generation": 1,
	//   "parent": "Momentum",
	//   "born": {
	//     "time": "2026-01-02T03:04:05Z",
	//     "sequence": 17,
	//     "tick": 100
	//   },
	//   "died": {
	//     "time": "2026-01-02T04:00:00Z",
	//     "sequence": 9001,
	//     "tick": 3500
	//   },
	//   "cause": "drawdown",
	//   "scars": [
	//     {
	//       "kind": "loss",
	//       "severity": 2,
	//       "magnitude": 0.07,
	//       "equity": 9000.00,
	//       "tick": 900,
	//       "sequence": 3000
	//     }
	//   ],
	//   "trades": 42,
	//   "wins": 19,
	//   "final_capital": 4100.50,
	//   "peak_capital": 12000.00,
	//   "initial_capital": 10000.00,
	//   "lifespan_ticks": 3400,
	//   "params": {
	//     "fast": 30,
	//     "risk": 0.25,
	//     "slow": 120
	//   },
	//   "last_event_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	//   "signature": "ee146c795ce40cf4f70f0c90de7f68dfe28c1ca46745a7bf11b3c9e347f641b1"
	// }
	// Momentum.0 died of drawdown with 1 scar, final capital 4100.50
	// rewrite refused: true
}
