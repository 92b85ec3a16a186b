package feed

import (
	"context"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// SimConfig configures NewSim. Its zero value is usable: every field has a
// documented default.
type SimConfig struct {
	// Symbols are the simulated pairs, emitted in this order at every step.
	// Empty means market.DefaultSymbols; a repeated symbol is dropped.
	Symbols []market.Symbol
	// Seed selects the price paths. The same seed gives bit-identical
	// prices on every machine and Go release that keeps PCG as specified.
	Seed uint64
	// Start is the time of the first step; zero means 2026-01-01T00:00:00Z.
	Start time.Time
	// Interval is the time between steps; zero or negative means 5s. It only
	// stamps ticks: the process is defined per step and calibrated for 5s.
	Interval time.Duration
}

// Defaults of SimConfig.
var (
	defaultSimStart    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	defaultSimInterval = 5 * time.Second
)

// Sim is an infinite, seeded simulated market. It implements Source: Next
// never returns io.EOF, only ctx.Err() once ctx is done. Each step emits one
// tick per symbol in the configured order, all stamped Start + step×Interval
// with Source "sim"; step 0 carries the starting prices.
//
// Every symbol follows its own process driven by
// rand.New(rand.NewPCG(Seed, fnv1a(symbol))), so adding, removing or
// reordering symbols never changes another symbol's path. Per step:
//
//  1. Regime: a Markov chain over calm, normal and turbulent, with per-step
//     volatilities of 0.05 %, 0.12 % and 0.30 % times a per-symbol factor
//     (1 for BTC, up to 1.4 for SOL) and mean stays of about 1,900, 1,700
//     and 370 steps (2.7 h, 2.4 h and 30 min at 5 s). Entering a regime draws
//     a trend, uniform within ±2 % of its volatility per step.
//  2. Diffusion: r = σz + trend + σ²/2 − θm. z is approximately standard
//     normal (Irwin–Hall: twelve uniforms minus six, so |z| ≤ 6); σ²/2
//     cancels the drag of compounding; m = 2(x−1)/(x+1), with x the price
//     over its start, is a bounded stand-in for ln x, so θ = 3e-5 pulls the
//     log-price back toward the start with a half-life of about 23,000
//     steps (32 h at 5 s). Over millions of steps the log-price keeps a
//     standard deviation of about 0.2 (BTC) to 0.3 (SOL) around the start.
//  3. Shock: with probability 1/20,000 per step (about one a day at 5 s)
//     the price also jumps by 3–10 %, down a little more often (55 %) than up, and
//     the regime turns turbulent.
//
// The price is multiplied by (1+r) and by (1+jump), so each step moves it
// by less than 15 % and it never reaches zero; a floor at a thousandth of
// the start guards the float state anyway. Starting prices are BTC 45000,
// ETH 2500, SOL 100, ADA 0.50 and DOT 7 (against USD, USDT or USDC); any
// other symbol starts between 1 and 1000, drawn from its own generator.
//
// The arithmetic is exact IEEE: only + − × ÷ on float64, every product
// that feeds a sum rounded explicitly (no fused multiply-add), uniforms
// built from PCG's raw 64-bit output, and no math.Exp, math.Log or
// rand.NormFloat64, whose results differ across CPUs.
//
// A Sim is not safe for concurrent use.
type Sim struct {
	syms     []market.Symbol
	procs    []process
	now      time.Time
	interval time.Duration
	next     int  // index of the symbol Next emits
	moved    bool // past step 0: advance a process before emitting it
}

var _ Source = (*Sim)(nil)

// NewSim returns a simulated Source for cfg. It allocates one process per
// symbol and does no I/O.
func NewSim(cfg SimConfig) *Sim {
	syms := cfg.Symbols
	if len(syms) == 0 {
		syms = market.DefaultSymbols
	}
	s := &Sim{now: cfg.Start, interval: cfg.Interval}
	if s.now.IsZero() {
		s.now = defaultSimStart
	}
	if s.interval <= 0 {
		s.interval = defaultSimInterval
	}
	seen := make(map[market.Symbol]bool, len(syms))
	for _, sym := range syms {
		if seen[sym] {
			continue
		}
		seen[sym] = true
		s.syms = append(s.syms, sym)
		s.procs = append(s.procs, newProcess(cfg.Seed, sym))
	}
	return s
}

// Symbols returns the simulated pairs in emission order. The slice is a
// copy the caller may keep.
func (s *Sim) Symbols() []market.Symbol {
	return append([]market.Symbol(nil), s.syms...)
}

// Next returns the next tick. It never blocks and never returns io.EOF; its
// only error is ctx.Err().
func (s *Sim) Next(ctx context.Context) (market.Tick, error) {
	if err := ctx.Err(); err != nil {
		return market.Tick{}, err
	}
	p := &s.procs[s.next]
	if s.moved {
		p.step()
	}
	t := market.Tick{Symbol: s.syms[s.next], Price: p.tickPrice(), Time: s.now, Source: "sim"}
	s.next++
	if s.next == len(s.procs) {
		s.next = 0
		s.now = s.now.Add(s.interval)
		s.moved = true
	}
	return t, nil
}

type regime int

const (
	calm regime = iota
	normal
	turbulent
)

// one is 1.0 in the 53-bit fixed point of uint53: probabilities below are
// integer thresholds, so regime and shock decisions involve no float at all.
const one = 1 << 53

// Per-step model parameters; see the Sim doc comment.
var regimeVol = [3]float64{calm: 0.0005, normal: 0.0012, turbulent: 0.0030}

// switchTo[from][to] is the per-step probability of moving from one regime
// to another, in units of 1/one.
var switchTo = [3][3]uint64{
	calm:      {normal: one / 2000, turbulent: one / 50000},
	normal:    {calm: one / 3000, turbulent: one / 4000},
	turbulent: {calm: one / 5000, normal: one / 400},
}

const (
	trendFrac  = 0.02        // trend bound as a fraction of σ
	reversion  = 3e-5        // θ, the pull of log-price toward the start
	shockProb  = one / 20000 // per step and symbol
	shockDown  = one * 55 / 100
	shockMin   = 0.03
	shockRange = 0.07 // shocks are shockMin + shockRange·u², u uniform
	floorFrac  = 1e-3 // the price never falls below floorFrac × start
)

// usdQuotes are the quotes under which the realistic starting prices apply.
var usdQuotes = map[string]bool{"USD": true, "USDT": true, "USDC": true}

// knownBases are realistic starting prices and volatility factors.
var knownBases = map[string]struct{ start, scale float64 }{
	"BTC": {45000, 1.0},
	"ETH": {2500, 1.15},
	"SOL": {100, 1.4},
	"ADA": {0.50, 1.3},
	"DOT": {7, 1.3},
}

const unknownScale = 1.25

// process is one symbol's price path.
type process struct {
	rng    *rand.Rand
	price  float64 // dollars, > 0
	start  float64 // anchor of the mean reversion
	scale  float64 // volatility factor of the symbol
	regime regime
	trend  float64 // per-step drift of the current regime
}

func newProcess(seed uint64, sym market.Symbol) process {
	p := process{rng: rand.New(rand.NewPCG(seed, fnv1a(string(sym))))}
	if k, ok := knownBases[sym.Base()]; ok && usdQuotes[sym.Quote()] {
		p.start, p.scale = k.start, k.scale
	} else {
		// Cube a uniform so small prices are as common as large ones are
		// in real listings: the median start is about 126.
		u := p.uniform()
		x := 1 + float64(999*u*u*u)
		p.start, p.scale = math.Round(x*100)/100, unknownScale
	}
	p.price = p.start
	p.enter(normal)
	return p
}

// step advances the process by one step.
func (p *process) step() {
	u := p.uint53()
	row := &switchTo[p.regime]
	for to := range row {
		if u < row[to] {
			p.enter(regime(to))
			break
		}
		u -= row[to]
	}
	sigma := float64(regimeVol[p.regime] * p.scale)
	x := p.price / p.start
	m := 2 * (x - 1) / (x + 1)
	r := float64(sigma*p.normal()) + p.trend + float64(0.5*sigma*sigma) - float64(reversion*m)
	f := 1 + r
	if p.uint53() < shockProb {
		down := p.uint53() < shockDown
		u := p.uniform()
		jump := shockMin + float64(shockRange*u*u)
		if down {
			jump = -jump
		}
		f = float64(f * (1 + jump))
		p.enter(turbulent)
	}
	p.price = float64(p.price * f)
	if floor := float64(p.start * floorFrac); p.price < floor {
		p.price = floor
	}
}

// enter switches to regime r and draws its trend.
func (p *process) enter(r regime) {
	p.regime = r
	sigma := float64(regimeVol[r] * p.scale)
	p.trend = float64(float64(sigma*trendFrac) * (float64(2*p.uniform()) - 1))
}

func (p *process) tickPrice() market.Price {
	return max(market.PriceFromFloat(p.price), 1)
}

// uint53 returns a uniform integer in [0, one).
func (p *process) uint53() uint64 { return p.rng.Uint64() >> 11 }

// uniform returns a uniform float64 in [0, 1), exactly as on every machine.
func (p *process) uniform() float64 { return float64(float64(p.uint53()) * 0x1p-53) }

// normal returns an approximately standard normal variate in [-6, 6]: the
// Irwin–Hall sum of twelve 32-bit uniforms, summed exactly as integers.
func (p *process) normal() float64 {
	var sum uint64
	for range 6 {
		v := p.rng.Uint64()
		sum += v>>32 + v&0xffffffff
	}
	return float64(float64(sum)*0x1p-32) - 6
}

// fnv1a is the 64-bit FNV-1a hash of s, the per-symbol PCG stream.
func fnv1a(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}
