package arena

import (
	"github.com/lineage-arena/lineage/market"
)

// Spawn qualification (SPEC): a parent needs this much equity, this win
// rate, this many closed trades since its last spawn, and at most this many
// scars.
var (
	SpawnMinEquity = market.USD(10_000)
)

const (
	SpawnMinWinPct = 55
	SpawnMinTrades = 10
	SpawnMaxScars  = 2
)

// scar wounds a permanently and applies the scar's costs. The fifth scar
// kills.
func (a *agent) scar(t *tickCtx, kind ScarKind, severity int, magnitude market.Rate) {
	eq := a.equity()
	sc := Scar{Kind: kind, Severity: severity, Magnitude: magnitude.Float64(), Equity: eq, Tick: t.tick}
	a.scars = append(a.scars, sc)
	a.costMul = a.costMul.Mul(scarCostFactor(severity))
	a.levMul = a.levMul.Mul(scarLeverageFactor(severity))
	a.noShort = a.noShort || severity >= 3
	a.halfSize = a.halfSize || severity >= 4
	a.applyRates(t.cfg)
	a.updateScarLevel(t.cfg)
	a.emit(t, Event{Type: EventScar, Scar: &ScarEvent{Agent: a.id, Scar: sc, Total: len(a.scars)}})
	if len(a.scars) >= MaxScars {
		a.die(t, CauseScars)
	}
}

// checkDrawdownScar scars a when its equity has fallen from the reference
// peak by more than ScarDrawdown × max(1, scars); the reference then resets
// to the current equity, so one fall scars once.
func (a *agent) checkDrawdownScar(t *tickCtx, eq market.Money) {
	if eq >= a.scarLevel {
		return
	}
	dd := drawdown(a.scarRef, eq)
	a.scarRef = eq
	a.scar(t, ScarDrawdown, drawdownSeverity(dd), dd)
}

// checkDeath kills a when its equity is exhausted or its drawdown is past
// the death threshold, and reports whether a is dead.
func (a *agent) checkDeath(t *tickCtx, eq market.Money) bool {
	switch {
	case a.dead:
	case eq <= a.floorLevel:
		a.die(t, CauseBankrupt)
	case eq <= a.deathLevel:
		a.die(t, CauseDrawdown)
	}
	return a.dead
}

// die liquidates every position at its last mark, cancels every order and
// marks a dead. Death is final: nothing ever clears a.dead.
func (a *agent) die(t *tickCtx, cause Cause) {
	if a.dead {
		return
	}
	a.dead = true
	for s := range a.pos {
		a.pend[s] = order{}
		if a.pos[s].qty != 0 {
			a.mark(s, t.marks[s])
			a.closePos(t, s, t.marks[s], "liquidation", order{decTick: t.tick, decSeq: t.seq})
		}
	}
	eq := a.equity()
	a.wantSpawn = false
	a.death = &DeathEvent{
		Agent: a.id, Cause: cause, Equity: eq, Peak: a.peak, Scars: len(a.scars),
		Trades: a.closed, Lifespan: t.tick - a.bornTick,
	}
	a.emit(t, Event{Type: EventDeath, Death: a.death})
}

// checkSpawn marks a as wanting a child when it qualifies; the arena
// decides after the parallel phase, in agent order.
func (a *agent) checkSpawn(cfg *Config) {
	if a.dead || a.equity() < SpawnMinEquity || len(a.scars) > SpawnMaxScars ||
		a.sinceSpawn < SpawnMinTrades || a.wins*100 < SpawnMinWinPct*a.closed {
		return
	}
	a.wantSpawn = true
}

// winRate is wins over closed trades, 0 before the first close.
func (a *agent) winRate() float64 {
	if a.closed == 0 {
		return 0
	}
	return float64(a.wins) / float64(a.closed)
}
