package arena

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// Status is an agent's life state as clients see it.
type Status string

// Statuses.
const (
	StatusActive   Status = "active"   // alive with a position or an order
	StatusResting  Status = "resting"  // alive and flat
	StatusDeceased Status = "deceased" // dead, for good
)

func (a *agent) status() Status {
	if a.dead {
		return StatusDeceased
	}
	for s := range a.pos {
		if a.pos[s].qty != 0 || a.pend[s].active {
			return StatusActive
		}
	}
	return StatusResting
}

// AgentState is a snapshot of one agent. Money fields are exact; ratios are
// fractions (0.62 = 62 %). ScarLog, Params and Death are shared with the
// arena, which never changes them once set: treat them as read-only
// (snapshots are taken for every commit, so they are not copied).
type AgentState struct {
	ID         string `json:"agent_id"`
	Strategy   string `json:"strategy"`
	Generation int    `json:"generation"`
	Parent     string `json:"parent,omitempty"`
	Status     Status `json:"status"`

	Capital    market.Money `json:"capital"` // equity at mark
	Cash       market.Money `json:"cash"`
	Initial    market.Money `json:"initial_capital"`
	Peak       market.Money `json:"peak_capital"`
	Realized   market.Money `json:"realized_pnl"`
	Unrealized market.Money `json:"unrealized_pnl"`
	Fees       market.Money `json:"fees_paid"`
	Endowments market.Money `json:"endowments_paid"`
	Exposure   market.Money `json:"exposure"` // Σ |position value|

	Trades  int     `json:"trades_executed"` // closed trades
	Fills   int     `json:"fills"`
	Wins    int     `json:"wins"`
	WinRate float64 `json:"win_rate"`
	Scars   int     `json:"scars"`
	ScarLog []Scar  `json:"scar_log,omitempty"`

	ROI          float64 `json:"roi"`
	MaxDrawdown  float64 `json:"max_drawdown"`
	Sharpe       float64 `json:"sharpe"`
	ProfitFactor float64 `json:"profit_factor"`
	Trust        float64 `json:"trust"`
	Tier         string  `json:"trust_tier"`
	Children     int     `json:"children"`
	RoundsWon    int     `json:"rounds_won"`

	Positions []PositionState `json:"positions,omitempty"`
	BornTick  int64           `json:"born_tick"`
	BornSeq   uint64          `json:"born_sequence"`
	BornTime  time.Time       `json:"born_time"`
	Death     *DeathEvent     `json:"death,omitempty"`
	Params    Params          `json:"params"`
}

// PositionState is one open position.
type PositionState struct {
	Symbol     market.Symbol `json:"symbol"`
	Side       Side          `json:"side"`
	Qty        market.Qty    `json:"quantity"`
	EntryPrice market.Price  `json:"entry_price"`
	Value      market.Money  `json:"value"`
	Unrealized market.Money  `json:"unrealized_pnl"`
}

func (ar *Arena) snapshot(a *agent) AgentState {
	st := AgentState{
		ID: a.id, Strategy: a.spec.Name, Generation: a.generation, Parent: a.parent, Status: a.status(),
		Capital: a.equity(), Cash: a.cash, Initial: a.initial, Peak: a.peak, Realized: a.realized,
		Unrealized: a.unreal, Fees: a.fees, Endowments: a.endowments, Exposure: a.gross,
		Trades: a.closed, Fills: a.fills, Wins: a.wins, WinRate: a.winRate(), Scars: len(a.scars),
		ScarLog: a.scars[:len(a.scars):len(a.scars)], ROI: a.roi(), MaxDrawdown: a.maxDD.Float64(), Sharpe: a.sharpe(),
		ProfitFactor: a.profitFactor(), Children: a.children, RoundsWon: a.roundsWon,
		BornTick: a.bornTick, BornSeq: a.bornSeq, BornTime: a.bornTime, Death: a.death, Params: a.params,
	}
	st.Trust = a.trust(&ar.cfg)
	st.Tier = TrustTier(st.Trust)
	for s, p := range a.pos {
		if p.qty != 0 {
			st.Positions = append(st.Positions, PositionState{
				Symbol: ar.cfg.Symbols[s], Side: a.side(s), Qty: p.qty, EntryPrice: p.entryPx,
				Value: p.value, Unrealized: p.value - p.cost,
			})
		}
	}
	return st
}

// roi is the return on the agent's own starting capital, counting
// endowments paid to children as kept.
func (a *agent) roi() float64 {
	return float64(a.equity()+a.endowments-a.initial) / float64(a.initial)
}

// sharpe is the mean over the standard deviation of per-tick equity
// returns: not annualised, 0 until returns vary.
func (a *agent) sharpe() float64 {
	if a.tickN < 2 {
		return 0
	}
	n := float64(a.tickN)
	mean := a.tickRet / n
	v := a.tickRetSq/n - float64(mean*mean)
	if v <= 0 {
		return 0
	}
	return mean / math.Sqrt(v)
}

// MaxProfitFactor caps the profit factor of an agent that has won but never
// lost, so it stays a finite number.
const MaxProfitFactor = 1000

func (a *agent) profitFactor() float64 {
	switch {
	case a.grossLoss > 0:
		return min(float64(a.grossWin)/float64(a.grossLoss), MaxProfitFactor)
	case a.grossWin > 0:
		return MaxProfitFactor
	}
	return 0
}

// trust scores an agent 0..100: 35 points of win rate, 25 of drawdown
// control (1 − max drawdown / death drawdown), 20 of consistency
// (1 / (1 + the coefficient of variation of closed trades' returns), half
// credit before two trades) and 20 of health (1 − scars / MaxScars).
func (a *agent) trust(cfg *Config) float64 {
	dd := 1 - min(1, a.maxDD.Float64()/cfg.DeathDrawdown.Float64())
	cons := 0.5
	if a.closed >= 2 {
		n := float64(a.closed)
		mean := a.tradeRet / n
		sd := math.Sqrt(max(0, a.tradeRetSq/n-float64(mean*mean)))
		cons = 0
		if m := math.Abs(mean); m+sd > 0 {
			cons = 1 / (1 + sd/(m+1e-12))
		}
	}
	health := 1 - float64(len(a.scars))/MaxScars
	// Each product is rounded on its own (no fused multiply-add), so the
	// score is the same on every machine.
	score := float64(35*a.winRate()) + float64(25*dd) + float64(20*cons) + float64(20*health)
	return math.Round(float64(score*100)) / 100
}

// Trust tiers, contiguous: Gold ≥ 80, Silver ≥ 60, Bronze ≥ 40, else none.
func TrustTier(score float64) string {
	switch {
	case score >= 80:
		return "Gold"
	case score >= 60:
		return "Silver"
	case score >= 40:
		return "Bronze"
	}
	return "None"
}

// Agents returns a snapshot of every agent ever founded or born, living
// and dead, in birth order.
func (ar *Arena) Agents() []AgentState {
	out := make([]AgentState, len(ar.all))
	for i, a := range ar.all {
		out[i] = ar.snapshot(a)
	}
	return out
}

// Agent returns one agent's snapshot.
func (ar *Arena) Agent(id string) (AgentState, bool) {
	a, ok := ar.byID[id]
	if !ok {
		return AgentState{}, false
	}
	return ar.snapshot(a), true
}

// Living is the number of living agents.
func (ar *Arena) Living() int { return len(ar.active) }

// Standing is one row of the leaderboard.
type Standing struct {
	Rank int `json:"rank"`
	AgentState
}

// Leaderboard ranks every agent: see Rank.
func (ar *Arena) Leaderboard() []Standing { return Rank(ar.Agents()) }

// Rank orders agent states into a leaderboard: the living before the dead,
// then by ROI, then by birth order (the order of states).
func Rank(states []AgentState) []Standing {
	order := make([]int, len(states))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		di, dj := states[i].Status == StatusDeceased, states[j].Status == StatusDeceased
		if di != dj {
			if di {
				return 1
			}
			return -1
		}
		return cmp.Compare(states[j].ROI, states[i].ROI)
	})
	out := make([]Standing, len(states))
	for r, i := range order {
		out[r] = Standing{Rank: r + 1, AgentState: states[i]}
	}
	return out
}

// EmitAgentStates emits an agent event for every living agent, stamped now.
// A server calls it on its own clock; Config.AgentEvery calls it by ticks.
func (ar *Arena) EmitAgentStates(now time.Time) error {
	if ar.err != nil {
		return ar.err
	}
	for _, a := range ar.active {
		st := ar.snapshot(a)
		st.ScarLog, st.Params = nil, nil
		if err := ar.publish(Event{Type: EventAgent, Tick: ar.ticks, Agent: &st}, now); err != nil {
			return ar.fail(err)
		}
	}
	return nil
}
