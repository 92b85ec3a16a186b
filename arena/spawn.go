package arena

import (
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// Inheritance is how faithfully a child copies its parent: every strategy
// parameter is multiplied by 1 + Rate·u, u uniform in [-1, 1), then kept in
// the strategy's bounds.
type Inheritance struct {
	Mode   string
	Rate   float64
	Weight int // relative chance of the mode at a birth
}

// Inheritances are the modes a birth draws from.
var Inheritances = []Inheritance{
	{"clone", 0, 10},
	{"faithful", 0.05, 35},
	{"drift", 0.15, 30},
	{"mutant", 0.30, 18},
	{"wild", 0.50, 7},
}

// spawn gives parent a child if the living population allows it. The
// parent pays Config.SpawnShare of its equity; its peaks drop by the same
// amount so the gift is not a drawdown (see agent.pay). The child is named
// "<parent>.<n>" for the parent's n-th child and trades from the next tick.
func (ar *Arena) spawn(parent *agent, now time.Time) error {
	parent.wantSpawn = false
	if len(ar.active) >= ar.cfg.MaxAgents || parent.dead {
		return nil
	}
	endow := parent.equity().Mul(ar.cfg.SpawnShare)
	if endow <= 0 {
		return nil
	}
	mode := pickInheritance(ar.spawnRng)
	params := mutate(*parent.spec, parent.params, mode.Rate, ar.spawnRng)
	parent.children++
	id := parent.id + "." + strconv.Itoa(parent.children)
	child, err := ar.newAgent(id, parent.spec, params, endow)
	if err != nil {
		// The parent's own params always build, so fall back to a clone.
		params, mode = copyParams(parent.params), Inheritances[0]
		if child, err = ar.newAgent(id, parent.spec, params, endow); err != nil {
			return err
		}
	}
	parent.pay(endow, &ar.cfg)
	parent.sinceSpawn = 0
	child.generation = parent.generation + 1
	child.parent = parent.id
	ar.add(child)
	return ar.publish(Event{Type: EventSpawn, Tick: ar.ticks, Spawn: &SpawnEvent{
		Parent: parent.id, Child: id, Strategy: parent.spec.Name, Generation: child.generation,
		Endowment: endow, Mode: mode.Mode, Mutation: mode.Rate, Params: copyParams(params),
	}}, now)
}

func pickInheritance(rng *rand.Rand) Inheritance {
	total := 0
	for _, m := range Inheritances {
		total += m.Weight
	}
	n := rng.IntN(total)
	for _, m := range Inheritances {
		if n < m.Weight {
			return m
		}
		n -= m.Weight
	}
	return Inheritances[0]
}

// mutate returns a copy of p with every parameter varied by up to ±rate,
// in sorted key order so the draws are deterministic.
func mutate(spec StrategySpec, p Params, rate float64, rng *rand.Rand) Params {
	out := copyParams(p)
	if rate == 0 {
		return out
	}
	for _, k := range sortedKeys(p) {
		out[k] = float64(p[k] * (1 + float64(rate*(float64(2*rng.Float64())-1))))
	}
	return spec.clamp(out)
}

func copyParams(p Params) Params { return maps.Clone(p) }

func sortedKeys(p Params) []string { return slices.Sorted(maps.Keys(p)) }
