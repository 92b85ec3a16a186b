package arena

import (
	"github.com/lineage-arena/lineage/market"
)

// MaxScars is the number of scars that kills an agent.
const MaxScars = 5

// ScarKind says what wounded an agent.
type ScarKind string

// Scar kinds.
const (
	// ScarDrawdown: equity fell from its reference peak by more than
	// Config.ScarDrawdown × max(1, scars so far).
	ScarDrawdown ScarKind = "drawdown"
	// ScarLoss: one closed trade lost more than Config.ScarLoss of the
	// equity the agent had when it opened the trade.
	ScarLoss ScarKind = "loss"
)

// Scar is a permanent wound. Each scar of severity s multiplies the agent's
// trading costs (fees and slippage) by 1 + 0.05·s and cuts its leverage cap
// by 10·s %. Severity 3 or more forbids new short positions; severity 4 or
// more halves every new position. Scars never heal and are never removed.
type Scar struct {
	Kind     ScarKind `json:"kind"`
	Severity int      `json:"severity"` // 1..5
	// Magnitude is the drawdown or the trade's loss as a fraction (0.12 = 12 %).
	Magnitude float64      `json:"magnitude"`
	Equity    market.Money `json:"equity"` // equity when the scar was taken
	Tick      int64        `json:"tick"`
	Seq       uint64       `json:"sequence"`
}

// Cause is why an agent died.
type Cause string

// Causes of death.
const (
	CauseBankrupt Cause = "capital_exhausted" // equity at or below Config.EquityFloor of its capital base
	CauseDrawdown Cause = "drawdown"          // equity fell from its peak by Config.DeathDrawdown or more
	CauseScars    Cause = "scars"             // MaxScars scars
)

// drawdownSeverity grades a drawdown given in parts per million.
func drawdownSeverity(dd market.Rate) int {
	return grade(dd, market.Percent(10), market.Percent(15), market.Percent(20), market.Percent(30))
}

// lossSeverity grades a trade's loss as a fraction of entry equity.
func lossSeverity(loss market.Rate) int {
	return grade(loss, market.Percent(4), market.Percent(6), market.Percent(10), market.Percent(15))
}

// grade returns 1 below the first bound, 2 below the second, ... and 5 at or
// past the last.
func grade(v market.Rate, bounds ...market.Rate) int {
	for i, b := range bounds {
		if v < b {
			return i + 1
		}
	}
	return len(bounds) + 1
}

// scarCostFactor is the cost multiplier of one scar: 1 + 0.05·s.
func scarCostFactor(severity int) market.Rate {
	return market.RateScale + market.Rate(severity)*50_000
}

// scarLeverageFactor is what one scar leaves of the leverage cap: 1 − 0.1·s.
func scarLeverageFactor(severity int) market.Rate {
	return market.RateScale - market.Rate(severity)*100_000
}
