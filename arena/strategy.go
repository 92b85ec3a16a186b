package arena

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// Side is the direction of a position: Long, Flat or Short.
type Side int8

// Sides of a position.
const (
	Short Side = -1
	Flat  Side = 0
	Long  Side = 1
)

func (s Side) String() string {
	switch s {
	case Long:
		return "long"
	case Short:
		return "short"
	}
	return "flat"
}

// Input is what a Strategy sees on one tick: one symbol's new price and the
// agent's position in it.
type Input struct {
	Symbol   int     // index of the symbol in the arena's symbol list
	Price    float64 // the tick's price in dollars
	Position Side    // the agent's side in Symbol, after this tick's fill
	Entry    float64 // fill price of the open position; 0 when flat
}

// Target is the position a Strategy wants in the tick's symbol. The arena
// trades only when Side changes; Size (0..1] scales the position the agent's
// risk setting allows and is read when a position opens.
type Target struct {
	Side Side
	Size float64
}

// Strategy decides an agent's position from the price series. Each agent
// owns its own Strategy value; the arena calls Decide from one goroutine at
// a time, once per tick, in tick order. Decide must be deterministic: the
// same inputs in the same order give the same targets.
type Strategy interface {
	Decide(in Input) Target
}

// Params are a strategy's numeric parameters by name, such as
// {"fast": 12, "slow": 26}. The key "risk" is read by the arena itself: the
// notional of one position as a fraction of equity.
type Params map[string]float64

// StrategySpec describes a strategy the arena can found and breed: its name,
// its parameters with defaults and bounds, and a constructor. Mutation keeps
// every parameter inside its bounds.
type StrategySpec struct {
	Name     string
	Doc      string
	Defaults Params
	// Bounds holds [min, max] for every parameter; parameters named in
	// Integers are rounded to whole numbers.
	Bounds   map[string][2]float64
	Integers []string
	// New builds a strategy for nsym symbols from complete, in-bounds params.
	New func(p Params, nsym int) (Strategy, error)
}

// ErrStrategy reports an unknown strategy or invalid parameters.
var ErrStrategy = errors.New("strategy")

// resolve fills defaults into p, rounds integer parameters and checks
// bounds. Unknown names are errors: a typo must not silently do nothing.
func (s StrategySpec) resolve(p Params) (Params, error) {
	out := maps.Clone(s.Defaults)
	for k, v := range p {
		b, ok := s.Bounds[k]
		if !ok {
			return nil, fmt.Errorf("%w %s: unknown parameter %q (known: %s)", ErrStrategy, s.Name, k, strings.Join(slices.Sorted(maps.Keys(s.Bounds)), ", "))
		}
		if math.IsNaN(v) || v < b[0] || v > b[1] {
			return nil, fmt.Errorf("%w %s: parameter %s=%g outside [%g, %g]", ErrStrategy, s.Name, k, v, b[0], b[1])
		}
		out[k] = v
	}
	for _, k := range s.Integers {
		out[k] = math.Round(out[k])
	}
	return out, nil
}

// clamp forces p into bounds; mutation uses it so offspring stay valid.
func (s StrategySpec) clamp(p Params) Params {
	for k, b := range s.Bounds {
		p[k] = min(max(p[k], b[0]), b[1])
	}
	for _, k := range s.Integers {
		p[k] = math.Round(p[k])
	}
	return p
}

// Builtin returns the strategies every arena knows: momentum, conservative
// and balanced.
func Builtin() []StrategySpec {
	return []StrategySpec{momentumSpec, conservativeSpec, balancedSpec}
}

func findSpec(specs []StrategySpec, name string) (StrategySpec, error) {
	want := strings.ToLower(strings.TrimSpace(name))
	for _, s := range specs {
		if s.Name == want {
			return s, nil
		}
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return StrategySpec{}, fmt.Errorf("%w: unknown strategy %q (known: %s)", ErrStrategy, name, strings.Join(names, ", "))
}

// MarshalText writes "long", "short" or "flat".
func (s Side) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "long", "short" or "flat".
func (s *Side) UnmarshalText(b []byte) error {
	switch string(b) {
	case "long":
		*s = Long
	case "short":
		*s = Short
	case "flat":
		*s = Flat
	default:
		return fmt.Errorf("side %q: want long, short or flat", b)
	}
	return nil
}
