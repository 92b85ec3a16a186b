package arena

import (
	"math/rand/v2"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// agent is one trader. Its money has one source of truth, kept exact:
//
//	cash   = initial + realized − fees − endowments paid
//	equity = cash + Σ (value at mark − cost) over open positions
//
// cash is the settled balance of a margin account: opening a position pays
// only its fee; closing it settles the price difference into realized.
// An agent is touched by exactly one goroutine during a tick's parallel
// phase, and only by the arena's goroutine otherwise.
type agent struct {
	id         string
	spec       *StrategySpec
	params     Params
	strat      Strategy
	risk       float64
	generation int
	parent     string
	children   int
	bornTick   int64
	bornSeq    uint64
	bornTime   time.Time // founders: the first tick's time

	rng *rand.Rand // slippage draws
	src *rand.PCG  // rng's source, kept for checkpoints

	initial    market.Money
	cash       market.Money
	realized   market.Money
	fees       market.Money
	endowments market.Money // paid to children
	unreal     market.Money // Σ value − cost
	gross      market.Money // Σ |value|
	pos        []position
	pend       []order

	peak    market.Money // highest equity, lowered by endowments paid
	ddLevel market.Money // at or below it a drawdown may exceed maxDD
	scarRef market.Money // reference peak for drawdown scars, reset by each one
	maxDD   market.Rate  // deepest drawdown from peak seen
	// Equity levels precomputed from the peaks, so a tick compares instead
	// of dividing: death at or below deathLevel or floorLevel, a scar
	// below scarLevel.
	deathLevel, floorLevel, scarLevel market.Money

	fills, closed, wins   int
	grossWin, grossLoss   market.Money
	tradeRet, tradeRetSq  float64 // Σ and Σ² of closed trades' net return on entry equity
	tickRet, tickRetSq    float64 // Σ and Σ² of per-tick equity returns
	tickN                 int64
	prevEquity            market.Money
	scars                 []Scar
	costMul, levMul       market.Rate // products of scar factors
	fee, slip, levCap     market.Rate // effective rates after scars
	noShort, halfSize     bool
	sinceSpawn            int // closed trades since the last spawn (or birth)
	dead                  bool
	death                 *DeathEvent
	roundStart, roundPaid market.Money
	roundsWon             int

	out       []Event // events of the current tick, before sequencing
	wantSpawn bool
}

type position struct {
	qty      market.Qty
	cost     market.Money // notional paid at entry (negative for a short)
	value    market.Money // notional at the last mark
	entryPx  market.Price
	entryFee market.Money
	entryEq  market.Money
}

type order struct {
	active  bool
	side    Side
	size    float64
	decTick int64  // the tick the order was decided on
	decSeq  uint64 // the sequence number of that tick's market event
}

// tickCtx is the shared, read-only view of one tick during the parallel
// phase.
type tickCtx struct {
	sym   int
	price market.Price
	fpx   float64
	tick  int64
	seq   uint64 // the sequence number of this tick's market event
	marks []market.Price
	cfg   *Config
}

func (a *agent) equity() market.Money { return a.cash + a.unreal }

// side returns the side of a's position in symbol s.
func (a *agent) side(s int) Side {
	switch q := a.pos[s].qty; {
	case q > 0:
		return Long
	case q < 0:
		return Short
	}
	return Flat
}

func (a *agent) emit(t *tickCtx, e Event) {
	e.Tick = t.tick
	a.out = append(a.out, e)
}

// applyRates recomputes the effective fee, slippage and leverage cap from
// the configuration and the scar multipliers.
func (a *agent) applyRates(cfg *Config) {
	a.fee = cfg.Fee.Mul(a.costMul)
	a.slip = cfg.Slippage.Mul(a.costMul)
	a.levCap = cfg.LeverageCap.Mul(a.levMul)
}

// onTick advances a by one tick of symbol t.sym: fill the order decided on
// the symbol's previous tick, mark to market, take scars or die, and
// decide. It runs in the parallel phase and touches only a.
func (a *agent) onTick(t *tickCtx) {
	s := t.sym
	if o := a.pend[s]; o.active {
		a.pend[s] = order{}
		a.execute(t, s, o)
		if a.dead {
			return
		}
	}
	a.mark(s, t.price)
	eq := a.equity()
	a.track(t.cfg, eq)
	if a.checkDeath(t, eq) {
		return
	}
	a.checkDrawdownScar(t, eq)
	if a.dead {
		return
	}
	cur := a.side(s)
	in := Input{Symbol: s, Price: t.fpx, Position: cur}
	if cur != Flat {
		in.Entry = a.pos[s].entryPx.Float64()
	}
	tg := a.strat.Decide(in)
	if tg.Side == Short && a.noShort {
		tg.Side = Flat
	}
	if tg.Side != cur {
		a.pend[s] = order{active: true, side: tg.Side, size: min(max(tg.Size, 0), 1), decTick: t.tick, decSeq: t.seq}
	}
}

func (a *agent) mark(s int, p market.Price) {
	pos := &a.pos[s]
	if pos.qty == 0 {
		return
	}
	v := market.Notional(pos.qty, p)
	a.unreal += v - pos.value
	a.gross += absMoney(v) - absMoney(pos.value)
	pos.value = v
}

// track updates the peaks, the deepest drawdown and the per-tick return
// statistics.
func (a *agent) track(cfg *Config, eq market.Money) {
	switch {
	case eq > a.peak:
		a.peak = eq
		a.deathLevel = a.peak - a.peak.Mul(cfg.DeathDrawdown)
		a.updateDrawdownLevel()
	case eq <= a.ddLevel:
		if dd := drawdown(a.peak, eq); dd > a.maxDD {
			a.maxDD = dd
			a.updateDrawdownLevel()
		}
	}
	if eq > a.scarRef {
		a.scarRef = eq
		a.updateScarLevel(cfg)
	}
	if eq != a.prevEquity && a.prevEquity > 0 {
		r := float64(eq-a.prevEquity) / float64(a.prevEquity)
		a.tickRet += r
		a.tickRetSq += float64(r * r)
	}
	a.tickN++
	a.prevEquity = eq
}

// updateDrawdownLevel recomputes ddLevel from the peak and the deepest
// drawdown: an equity above it is less than maxDD below the peak (Mul
// truncates, so the level is never too low), and track divides only at or
// below it.
func (a *agent) updateDrawdownLevel() {
	a.ddLevel = a.peak - a.peak.Mul(a.maxDD)
}

// pay takes an endowment for a child out of a's cash. A gift is not a
// loss: every peak drops by the same amount, and later falls are measured
// from the lowered peak.
func (a *agent) pay(endow market.Money, cfg *Config) {
	a.cash -= endow
	a.endowments += endow
	a.roundPaid += endow
	a.peak -= endow
	a.scarRef -= endow
	a.prevEquity -= endow
	a.updateLevels(cfg)
}

// updateLevels recomputes the precomputed equity levels after the peaks
// or the scars changed.
func (a *agent) updateLevels(cfg *Config) {
	a.deathLevel = a.peak - a.peak.Mul(cfg.DeathDrawdown)
	a.updateDrawdownLevel()
	a.floorLevel = (a.initial - a.endowments).Mul(cfg.EquityFloor)
	a.updateScarLevel(cfg)
}

func (a *agent) updateScarLevel(cfg *Config) {
	thr := cfg.ScarDrawdown * market.Rate(max(1, len(a.scars)))
	a.scarLevel = a.scarRef - a.scarRef.Mul(thr)
}

// drawdown is (peak − eq) / peak in parts per million, 0 when eq ≥ peak.
func drawdown(peak, eq market.Money) market.Rate {
	if eq >= peak || peak <= 0 {
		return 0
	}
	return market.Rate(market.MulDiv(int64(peak-eq), market.RateScale, int64(peak)))
}

// execute fills order o at this tick's price: close the open position if
// the side changes, then open the new one.
// A restriction is checked after the closing leg, so a scar the close
// takes (a severity-3 loss forbids shorts) already binds the opening leg.
func (a *agent) execute(t *tickCtx, s int, o order) {
	if cur := a.side(s); cur != Flat && cur != o.side {
		a.closePos(t, s, t.price, "signal", o)
		if a.dead {
			return
		}
	}
	if o.side == Short && a.noShort {
		return
	}
	if o.side != Flat && a.pos[s].qty == 0 {
		a.openPos(t, s, o)
	}
}

// fillPrice applies a seeded adverse slippage to p for a buy or a sell and
// returns the fill price and the slippage drawn: uniform in [0, a.slip]
// ppm from a's own source, one draw per fill (none when a.slip is 0).
func (a *agent) fillPrice(p market.Price, buy bool) (market.Price, market.Rate) {
	if a.slip <= 0 {
		return p, 0
	}
	slip := market.Rate(a.rng.Int64N(int64(a.slip) + 1))
	if buy {
		return p.Mul(market.RateScale + slip), slip
	}
	return p.Mul(market.RateScale - slip), slip
}

func (a *agent) openPos(t *tickCtx, s int, o order) {
	eq := a.equity()
	if eq <= 0 {
		return
	}
	size := a.risk * o.size
	if a.halfSize {
		size /= 2
	}
	budget := market.MoneyFromFloat(float64(eq.Float64() * size))
	if room := eq.Mul(a.levCap) - a.gross; budget > room {
		budget = room
	}
	if budget <= 0 {
		return
	}
	px, slip := a.fillPrice(t.price, o.side == Long)
	qty := market.QtyFor(budget, px)
	if o.side == Short {
		qty = -qty
	}
	if qty == 0 {
		return
	}
	cost := market.Notional(qty, px)
	fee := absMoney(cost).Mul(a.fee)
	value := market.Notional(qty, t.price)
	a.cash -= fee
	a.fees += fee
	a.pos[s] = position{qty: qty, cost: cost, value: value, entryPx: px, entryFee: fee, entryEq: eq}
	a.unreal += value - cost
	a.gross += absMoney(value)
	a.fills++
	a.emit(t, Event{Type: EventTrade, Trade: &TradeEvent{
		Agent: a.id, Symbol: t.cfg.Symbols[s], Action: "open", Side: o.side, Qty: qty,
		Price: px, Fee: fee, Reason: "signal", Cash: a.cash,
		DecisionTick: o.decTick, DecisionSeq: o.decSeq, Slippage: slip,
	}})
}

// closePos closes the whole position in s at mark (slippage applied), books
// the realized PnL and the fee, counts the trade and may scar. o is the
// order that closes it (a liquidation's is decided on the death's tick).
func (a *agent) closePos(t *tickCtx, s int, mark market.Price, reason string, o order) {
	pos := a.pos[s]
	side := a.side(s)
	px, slip := a.fillPrice(mark, side == Short)
	proceeds := market.Notional(pos.qty, px)
	realized := proceeds - pos.cost
	fee := absMoney(proceeds).Mul(a.fee)
	a.cash += realized - fee
	a.realized += realized
	a.fees += fee
	a.unreal -= pos.value - pos.cost
	a.gross -= absMoney(pos.value)
	a.pos[s] = position{}
	a.fills++
	a.closed++
	a.sinceSpawn++
	net := realized - pos.entryFee - fee
	switch {
	case net > 0:
		a.wins++
		a.grossWin += net
	case net < 0:
		a.grossLoss -= net
	}
	if pos.entryEq > 0 {
		r := float64(net) / float64(pos.entryEq)
		a.tradeRet += r
		a.tradeRetSq += float64(r * r)
	}
	a.emit(t, Event{Type: EventTrade, Trade: &TradeEvent{
		Agent: a.id, Symbol: t.cfg.Symbols[s], Action: "close", Side: side, Qty: pos.qty,
		Price: px, Fee: fee, Realized: realized, NetPnL: net, Reason: reason, Cash: a.cash,
		DecisionTick: o.decTick, DecisionSeq: o.decSeq, Slippage: slip,
	}})
	if reason == "liquidation" {
		return
	}
	if net < 0 && pos.entryEq > 0 {
		loss := market.Rate(market.MulDiv(int64(-net), market.RateScale, int64(pos.entryEq)))
		if loss > t.cfg.ScarLoss {
			a.scar(t, ScarLoss, lossSeverity(loss), loss)
		}
	}
	a.checkSpawn(t.cfg)
}

func absMoney(m market.Money) market.Money {
	if m < 0 {
		return -m
	}
	return m
}
