package metrics

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
	"github.com/prometheus/client_golang/prometheus"
)

// statuses and causes are the fixed label values of lineage_agents and
// lineage_agent_deaths_total: every strategy reports each of them, zeros
// included, so a series exists before its first event and rate() sees the
// first one.
var (
	statuses = []arena.Status{arena.StatusActive, arena.StatusResting, arena.StatusDeceased}
	causes   = []arena.Cause{arena.CauseBankrupt, arena.CauseDrawdown, arena.CauseScars}
)

// capitalThresholds are the fixed amounts, in USD, of the below label of
// lineage_agents_below_capital: for each strategy and each amount, the
// living agents whose equity is strictly below it. 50,000 is the
// LineageAgentCapitalLow alert's; 100,000 is the default founding capital.
var capitalThresholds = []int64{1_000, 10_000, 25_000, 50_000, 100_000}

// strategyTotals aggregate every agent ever of one strategy.
type strategyTotals struct {
	name                        string
	byStatus                    [3]int // statuses' order
	deaths                      map[arena.Cause]int
	spawns, trades, wins, scars int
	capital                     market.Money // living agents only
	below                       []int        // living agents under each of capitalThresholds
}

func (c *collector) collectArena(ch chan<- prometheus.Metric, snap *arena.Snapshot) {
	if snap == nil {
		ch <- counter(c.d.rounds, 0)
		ch <- counter(c.d.ticks, 0)
		ch <- counter(c.d.agentTicks, 0)
		return
	}
	ch <- counter(c.d.rounds, float64(snap.Rounds))
	ch <- counter(c.d.ticks, float64(snap.Ticks))
	ch <- counter(c.d.agentTicks, float64(snap.AgentTicks))
	ch <- gauge(c.d.eventSequence, float64(snap.NextSeq))

	final := finalCapital(snap.LastRound)
	for _, a := range labelled(snap.Agents, c.src.MaxAgents) {
		ch <- gauge(c.d.agentCapital, a.Capital.Float64(), a.ID)
		ch <- counter(c.d.agentTrades, float64(a.Trades), a.ID)
		ch <- gauge(c.d.agentWinRate, a.WinRate, a.ID)
		ch <- counter(c.d.agentScars, float64(a.Scars), a.ID)
		ch <- counter(c.d.agentWins, float64(a.RoundsWon), a.ID)
		if m, ok := final[a.ID]; ok {
			ch <- gauge(c.d.agentFinalCapital, m.Float64(), a.ID)
		}
	}

	for _, s := range byStrategy(snap.Agents) {
		for i, st := range statuses {
			ch <- gauge(c.d.agents, float64(s.byStatus[i]), s.name, string(st))
		}
		for _, cause := range causes {
			ch <- counter(c.d.deaths, float64(s.deaths[cause]), s.name, string(cause))
		}
		for cause, n := range s.deaths {
			if !slices.Contains(causes, cause) { // a cause added to arena after this list
				ch <- counter(c.d.deaths, float64(n), s.name, string(cause))
			}
		}
		ch <- counter(c.d.spawns, float64(s.spawns), s.name)
		ch <- counter(c.d.trades, float64(s.trades), s.name)
		ch <- counter(c.d.winningTrades, float64(s.wins), s.name)
		ch <- counter(c.d.scars, float64(s.scars), s.name)
		ch <- gauge(c.d.strategyCapital, s.capital.Float64(), s.name)
		for i, usd := range capitalThresholds {
			ch <- gauge(c.d.agentsBelow, float64(s.below[i]), s.name, strconv.FormatInt(usd, 10))
		}
	}
}

// labelled picks the agents that get per-agent series: living ones only,
// at most max of them, from both ends of the ranking by equity — the
// ⌈max/2⌉ poorest, who are nearest to death and whom the low-capital alert
// and the graveyard watch are for, and the ⌊max/2⌋ richest, whom the
// leaderboard shows (ties by ID, so the choice is stable). With max or
// fewer living agents every one is labelled. Returned richest first.
func labelled(agents []arena.AgentState, max int) []*arena.AgentState {
	if max <= 0 {
		return nil
	}
	living := make([]*arena.AgentState, 0, len(agents))
	for i := range agents {
		if alive(&agents[i]) {
			living = append(living, &agents[i])
		}
	}
	slices.SortFunc(living, func(a, b *arena.AgentState) int {
		if c := cmp.Compare(b.Capital, a.Capital); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if len(living) <= max {
		return living
	}
	rich := max / 2
	poor := max - rich
	return append(living[:rich:rich], living[len(living)-poor:]...)
}

// living adds a living agent's equity to the strategy's sum and to the
// counts below each threshold.
func (s *strategyTotals) living(capital market.Money) {
	s.capital += capital
	for i, usd := range capitalThresholds {
		if capital < market.USD(usd) {
			s.below[i]++
		}
	}
}

func alive(a *arena.AgentState) bool {
	return a.Death == nil && a.Status != arena.StatusDeceased
}

// finalCapital maps each agent of the last completed round to its equity
// at the round's end; nil before the first round.
func finalCapital(r *arena.RoundResult) map[string]market.Money {
	if r == nil {
		return nil
	}
	m := make(map[string]market.Money, len(r.Standings))
	for _, s := range r.Standings {
		m[s.Agent] = s.Capital
	}
	return m
}

// byStrategy aggregates every agent ever born, living and dead, by
// strategy, in the order strategies first appear. Because the dead stay in
// the snapshot, the counters derived here only grow.
func byStrategy(agents []arena.AgentState) []*strategyTotals {
	var out []*strategyTotals
	idx := map[string]*strategyTotals{}
	for i := range agents {
		a := &agents[i]
		s := idx[a.Strategy]
		if s == nil {
			s = &strategyTotals{name: a.Strategy, deaths: map[arena.Cause]int{}, below: make([]int, len(capitalThresholds))}
			idx[a.Strategy] = s
			out = append(out, s)
		}
		switch {
		case !alive(a):
			s.byStatus[2]++
			if a.Death != nil {
				s.deaths[a.Death.Cause]++
			}
		case a.Status == arena.StatusActive:
			s.byStatus[0]++
			s.living(a.Capital)
		default:
			s.byStatus[1]++
			s.living(a.Capital)
		}
		if a.Parent != "" {
			s.spawns++
		}
		s.trades += a.Trades
		s.wins += a.Wins
		s.scars += a.Scars
	}
	return out
}
