package arena

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"

	"github.com/lineage-arena/lineage/market"
)

// Config sets the arena's rules. The zero value of every field is its
// documented default, so Config{Symbols: syms} is a complete configuration.
type Config struct {
	// Symbols the arena trades; ticks of other symbols are errors. Required.
	Symbols []market.Symbol
	// Seed seeds every random choice: slippage, mutation, inheritance.
	Seed uint64
	// Fee is charged on the notional of every fill. Default 0.1 %;
	// negative means none.
	Fee market.Rate
	// Slippage is the largest adverse slippage of a fill; each fill draws
	// uniformly from [0, Slippage]. Default 5 bps; negative means none.
	Slippage market.Rate
	// LeverageCap bounds gross exposure over equity before scars cut it.
	// Default 5×.
	LeverageCap market.Rate
	// ScarDrawdown is the drawdown from the reference peak that scars, times
	// max(1, scars so far). Default 5 %.
	ScarDrawdown market.Rate
	// ScarLoss is the loss of one trade, as a fraction of the equity at its
	// entry, that scars. Default 2 %.
	ScarLoss market.Rate
	// DeathDrawdown is the drawdown from the equity peak that kills.
	// Default 50 %.
	DeathDrawdown market.Rate
	// EquityFloor is the fraction of an agent's capital base — its starting
	// capital less the endowments it paid to children — at or below which
	// its equity counts as exhausted. Default 10 %.
	EquityFloor market.Rate
	// SpawnShare is the share of the parent's equity paid to a child.
	// Default 25 %.
	SpawnShare market.Rate
	// MaxAgents caps the living population; a qualifying parent does not
	// spawn while it is reached. Default 4 × the founders, at least 16.
	MaxAgents int
	// RoundTicks is the length of a round in ticks. Default 1000.
	RoundTicks int
	// AgentEvery emits every living agent's state each AgentEvery ticks;
	// 0 never does (a server calls EmitAgentStates on its own clock).
	AgentEvery int
	// FirstSeq is the sequence number of the first event. Default 1.
	FirstSeq uint64
	// Strategies are added to Builtin() and may be named by founders.
	Strategies []StrategySpec
	// Workers is the number of goroutines that advance agents; results do
	// not depend on it. Default runtime.GOMAXPROCS(0).
	Workers int
}

// Defaults of Config's zero fields.
const (
	DefaultRoundTicks = 1000
	minParallelAgents = 128 // below this a tick is cheaper on one goroutine
)

func (c Config) withDefaults(founders int) Config {
	def := func(r *market.Rate, v market.Rate) {
		if *r == 0 {
			*r = v
		}
	}
	def(&c.Fee, market.Bps(10))
	def(&c.Slippage, market.Bps(5))
	c.Fee, c.Slippage = max(c.Fee, 0), max(c.Slippage, 0)
	def(&c.LeverageCap, 5*market.RateScale)
	def(&c.ScarDrawdown, market.Percent(5))
	def(&c.ScarLoss, market.Percent(2))
	def(&c.DeathDrawdown, market.Percent(50))
	def(&c.EquityFloor, market.Percent(10))
	def(&c.SpawnShare, market.Percent(25))
	if c.MaxAgents == 0 {
		c.MaxAgents = max(4*founders, 16)
	}
	if c.RoundTicks == 0 {
		c.RoundTicks = DefaultRoundTicks
	}
	if c.FirstSeq == 0 {
		c.FirstSeq = 1
	}
	return c
}

func (c Config) validate() error {
	if len(c.Symbols) == 0 {
		return errors.New("config: no symbols")
	}
	seen := map[market.Symbol]bool{}
	for _, s := range c.Symbols {
		if seen[s] {
			return fmt.Errorf("config: symbol %s listed twice", s)
		}
		seen[s] = true
	}
	switch {
	case c.Fee >= market.RateScale:
		return fmt.Errorf("config: fee %v must be below 1", c.Fee)
	case c.Slippage >= market.RateScale/10:
		return fmt.Errorf("config: slippage %v must be below 10%%", c.Slippage)
	case c.LeverageCap <= 0:
		return fmt.Errorf("config: leverage cap %v must be positive", c.LeverageCap)
	case c.DeathDrawdown <= 0 || c.DeathDrawdown > market.RateScale:
		return fmt.Errorf("config: death drawdown %v outside (0, 1]", c.DeathDrawdown)
	case c.SpawnShare <= 0 || c.SpawnShare >= market.RateScale:
		return fmt.Errorf("config: spawn share %v outside (0, 1)", c.SpawnShare)
	case c.RoundTicks < 0 || c.AgentEvery < 0 || c.MaxAgents < 0:
		return errors.New("config: negative count")
	}
	return nil
}

// Founder is an agent of the founding roster, as a roster file lists it:
// {"name":"Momentum","strategy":"momentum","capital":100000,"params":{"fast":8}}.
type Founder struct {
	Name     string       `json:"name"`
	Strategy string       `json:"strategy"`
	Capital  market.Money `json:"capital"`
	Params   Params       `json:"params,omitempty"`
}

// DefaultCapital is a founder's capital when none is given.
var DefaultCapital = market.USD(100_000)

// DefaultRoster is the founding roster of SPEC: Momentum, Conservative and
// Balanced with 100,000 USD each and default parameters.
func DefaultRoster() []Founder {
	return []Founder{
		{Name: "Momentum", Strategy: "momentum", Capital: DefaultCapital},
		{Name: "Conservative", Strategy: "conservative", Capital: DefaultCapital},
		{Name: "Balanced", Strategy: "balanced", Capital: DefaultCapital},
	}
}

// GenerateRoster founds n agents spread round-robin over the built-in
// strategies followed by extra (a caller's own, as in Config.Strategies),
// named Momentum-1, Conservative-1, Balanced-1, Momentum-2, ...
// Every parameter varies by up to ±20 % from its default, drawn from a
// source seeded by seed, so the same n, seed and strategies give the same
// roster; without extra it is the roster of the built-ins alone.
func GenerateRoster(n int, seed uint64, extra ...StrategySpec) []Founder {
	specs := append(Builtin(), extra...)
	rng := rand.New(rand.NewPCG(seed, 0x726f73746572)) // "roster"
	out := make([]Founder, 0, n)
	for i := range n {
		spec := specs[i%len(specs)]
		p := varyParams(spec, rng, 0.2)
		name := fmt.Sprintf("%s-%d", titleCase(spec.Name), i/len(specs)+1)
		out = append(out, Founder{Name: name, Strategy: spec.Name, Capital: DefaultCapital, Params: p})
	}
	return out
}

// varyParams multiplies every default parameter by 1 + rate·u, u uniform in
// [-1, 1), keeps it in bounds, and falls back to the defaults if the result
// is not a valid combination.
func varyParams(spec StrategySpec, rng *rand.Rand, rate float64) Params {
	for range 8 {
		p := make(Params, len(spec.Defaults))
		for _, k := range sortedKeys(spec.Defaults) {
			p[k] = float64(spec.Defaults[k] * (1 + float64(rate*(float64(2*rng.Float64())-1))))
		}
		p = spec.clamp(p)
		if _, err := spec.New(p, 1); err == nil {
			return p
		}
	}
	return spec.clamp(copyParams(spec.Defaults))
}

var nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,39}$`)

// validName reports whether name can be an agent's name: a letter, then up
// to 39 letters, digits, '_' or '-'. Offspring add ".N" suffixes, so founder
// names never collide with them.
func validName(name string) bool { return nameRE.MatchString(name) }

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
