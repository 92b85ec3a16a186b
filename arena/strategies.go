package arena

import (
	"fmt"
	"math"
)

// The built-in strategies use float64 indicators. Every product that feeds
// a sum is wrapped in an explicit float64 conversion, which the Go spec says
// forbids fusing it into one multiply-add instruction; with only + - * / and
// math.Sqrt (all exactly rounded in IEEE 754) the indicators come out the
// same on every machine, and so does the ledger.

// ema is an exponential moving average with smoothing 2/(n+1).
type ema struct {
	alpha float64
	value float64
	seen  int
}

func newEMA(n float64) ema { return ema{alpha: 2 / (n + 1)} }

func (e *ema) add(x float64) float64 {
	if e.seen == 0 {
		e.value = x
	} else {
		e.value += float64(e.alpha * (x - e.value))
	}
	e.seen++
	return e.value
}

var momentumSpec = StrategySpec{
	Name: "momentum",
	Doc: "EMA crossover: long while the fast EMA is above the slow one by more than band, " +
		"short while it is below by more than band, otherwise hold. Acts after slow ticks of warm-up.",
	Defaults: Params{"fast": 30, "slow": 120, "band": 0.003, "risk": 0.25},
	Bounds:   map[string][2]float64{"fast": {2, 500}, "slow": {3, 2000}, "band": {0, 0.05}, "risk": {0.01, 3}},
	Integers: []string{"fast", "slow"},
	New: func(p Params, nsym int) (Strategy, error) {
		if p["fast"] >= p["slow"] {
			return nil, fmt.Errorf("%w momentum: fast (%g) must be below slow (%g)", ErrStrategy, p["fast"], p["slow"])
		}
		m := &momentum{band: p["band"], warm: int(p["slow"]), fast: make([]ema, nsym), slow: make([]ema, nsym)}
		for i := range nsym {
			m.fast[i], m.slow[i] = newEMA(p["fast"]), newEMA(p["slow"])
		}
		return m, nil
	},
}

type momentum struct {
	band       float64
	warm       int
	fast, slow []ema
}

func (m *momentum) Decide(in Input) Target {
	f := m.fast[in.Symbol].add(in.Price)
	sl := &m.slow[in.Symbol]
	s := sl.add(in.Price)
	if sl.seen < m.warm {
		return Target{Side: in.Position, Size: 1}
	}
	switch {
	case f > float64(s*(1+m.band)):
		return Target{Side: Long, Size: 1}
	case f < float64(s*(1-m.band)):
		return Target{Side: Short, Size: 1}
	}
	return Target{Side: in.Position, Size: 1}
}

var conservativeSpec = StrategySpec{
	Name: "conservative",
	Doc: "Slow trend following, long only, small size: buys when the price is above a rising slow EMA " +
		"by more than band; sells at a tight stop below the entry or at a profit target above it. " +
		"After an exit it waits for the price to dip under the EMA before buying again.",
	Defaults: Params{"trend": 200, "band": 0.003, "stop": 0.015, "target": 0.02, "risk": 0.1},
	Bounds: map[string][2]float64{
		"trend": {5, 5000}, "band": {0, 0.05}, "stop": {0.001, 0.2}, "target": {0.001, 0.5}, "risk": {0.01, 3},
	},
	Integers: []string{"trend"},
	New: func(p Params, nsym int) (Strategy, error) {
		c := &conservative{band: p["band"], stop: p["stop"], target: p["target"], warm: int(p["trend"]), st: make([]conservativeState, nsym)}
		for i := range nsym {
			c.st[i].trend = newEMA(p["trend"])
		}
		return c, nil
	},
}

type conservative struct {
	band, stop, target float64
	warm               int
	st                 []conservativeState
}

type conservativeState struct {
	trend   ema
	stopped bool
}

func (c *conservative) Decide(in Input) Target {
	st := &c.st[in.Symbol]
	prev := st.trend.value
	e := st.trend.add(in.Price)
	if st.trend.seen < c.warm {
		return Target{Side: Flat}
	}
	if in.Price < e {
		st.stopped = false
	}
	switch {
	case in.Position == Long && in.Entry > 0 &&
		(in.Price < float64(in.Entry*(1-c.stop)) || in.Price > float64(in.Entry*(1+c.target))):
		st.stopped = true
		return Target{Side: Flat}
	case in.Position != Long && !st.stopped && e > prev && in.Price > float64(e*(1+c.band)):
		return Target{Side: Long, Size: 1}
	}
	return Target{Side: in.Position, Size: 1}
}

var balancedSpec = StrategySpec{
	Name: "balanced",
	Doc: "Trend plus mean reversion: measures the price's z-score against an exponentially weighted " +
		"mean and deviation over window ticks. Beyond ±z it fades the move (mean reversion, half size); " +
		"otherwise it follows a fast/slow EMA crossover that clears band, and holds inside it. A faded " +
		"position is held until the z-score is back inside ±exit.",
	Defaults: Params{"fast": 40, "slow": 160, "band": 0.003, "window": 100, "z": 2.5, "exit": 0.3, "risk": 0.2},
	Bounds: map[string][2]float64{
		"fast": {2, 500}, "slow": {3, 2000}, "band": {0, 0.05}, "window": {5, 2000}, "z": {0.5, 6},
		"exit": {0, 3}, "risk": {0.01, 3},
	},
	Integers: []string{"fast", "slow", "window"},
	New: func(p Params, nsym int) (Strategy, error) {
		if p["fast"] >= p["slow"] {
			return nil, fmt.Errorf("%w balanced: fast (%g) must be below slow (%g)", ErrStrategy, p["fast"], p["slow"])
		}
		if p["exit"] >= p["z"] {
			return nil, fmt.Errorf("%w balanced: exit (%g) must be below z (%g)", ErrStrategy, p["exit"], p["z"])
		}
		b := &balanced{
			z: p["z"], exit: p["exit"], band: p["band"], alpha: 2 / (p["window"] + 1),
			warm: int(max(p["slow"], p["window"])), st: make([]balancedState, nsym),
		}
		for i := range nsym {
			b.st[i].fast, b.st[i].slow = newEMA(p["fast"]), newEMA(p["slow"])
		}
		return b, nil
	},
}

type balanced struct {
	z, exit, band, alpha float64
	warm                 int
	st                   []balancedState
}

type balancedState struct {
	fast, slow ema
	mean, vari float64
	fading     bool
}

func (b *balanced) Decide(in Input) Target {
	st := &b.st[in.Symbol]
	f := st.fast.add(in.Price)
	s := st.slow.add(in.Price)
	if st.slow.seen == 1 {
		st.mean = in.Price
	}
	d := in.Price - st.mean
	st.mean += float64(b.alpha * d)
	st.vari = float64((1-b.alpha)*st.vari) + float64(float64(b.alpha*d)*d)
	if st.slow.seen < b.warm || st.vari <= 0 {
		return Target{Side: in.Position, Size: 1}
	}
	z := d / math.Sqrt(st.vari)
	switch {
	case z > b.z:
		st.fading = true
		return Target{Side: Short, Size: 0.5}
	case z < -b.z:
		st.fading = true
		return Target{Side: Long, Size: 0.5}
	case st.fading && math.Abs(z) > b.exit:
		return Target{Side: in.Position, Size: 0.5}
	}
	st.fading = false
	switch {
	case f > float64(s*(1+b.band)):
		return Target{Side: Long, Size: 1}
	case f < float64(s*(1-b.band)):
		return Target{Side: Short, Size: 1}
	}
	return Target{Side: in.Position, Size: 1}
}
