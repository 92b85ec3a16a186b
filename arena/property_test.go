package arena

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/lineage-arena/lineage/market"
)

// TestTheDeadStayDeadAndScarsStay is a property test over many seeds: after
// an agent's death event it never trades, scars, spawns or dies again; its
// scar count only ever grows by one; and every agent-state event agrees.
func TestTheDeadStayDeadAndScarsStay(t *testing.T) {
	seeds := 10
	if testing.Short() {
		seeds = 3
	}
	deaths, births := 0, 0
	for seed := range uint64(seeds) {
		dead := map[string]bool{}
		scars := map[string]int{}
		sink := SinkFunc(func(e Event) error {
			var who string
			switch {
			case e.Trade != nil:
				who = e.Trade.Agent
			case e.Scar != nil:
				who = e.Scar.Agent
				if e.Scar.Total != scars[who]+1 {
					return fmt.Errorf("seq %d: %s has %d scars after %d", e.Seq, who, e.Scar.Total, scars[who])
				}
				scars[who] = e.Scar.Total
			case e.Spawn != nil:
				who = e.Spawn.Parent
				births++
			case e.Agent != nil:
				who = e.Agent.ID
				if e.Agent.Scars != scars[who] || e.Agent.Status == StatusDeceased {
					return fmt.Errorf("seq %d: state of %s shows %d scars, status %s; events say %d, alive", e.Seq, who, e.Agent.Scars, e.Agent.Status, scars[who])
				}
			case e.Death != nil:
				who = e.Death.Agent
				if dead[who] {
					return fmt.Errorf("seq %d: %s died twice", e.Seq, who)
				}
				dead[who] = true
				deaths++
				return nil
			}
			if who != "" && dead[who] {
				return fmt.Errorf("seq %d: %s acted (%s) after its death", e.Seq, who, e.Type)
			}
			return nil
		})
		ar := mustArena(t, Config{Seed: seed, AgentEvery: 100}, GenerateRoster(30, seed), sink)
		mustRun(t, ar, newWalk(seed, 30000), 0)
		for _, st := range ar.Agents() {
			if dead[st.ID] != (st.Status == StatusDeceased) {
				t.Errorf("seed %d: %s status %s, death event seen %v", seed, st.ID, st.Status, dead[st.ID])
			}
		}
	}
	if deaths == 0 || births == 0 {
		t.Errorf("over %d seeds: %d deaths and %d births; the property needs both to mean anything", seeds, deaths, births)
	}
}

func TestStrategiesFollowPrices(t *testing.T) {
	trend := func(n int, step float64) []float64 {
		ps := make([]float64, n)
		p := 100.0
		for i := range ps {
			p *= 1 + step
			ps[i] = p
		}
		return ps
	}
	run := func(name string, ps []float64) Side {
		spec, err := findSpec(Builtin(), name)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := spec.resolve(nil)
		s, err := spec.New(p, 1)
		if err != nil {
			t.Fatal(err)
		}
		side := Flat
		for _, px := range ps {
			side = s.Decide(Input{Price: px, Position: side}).Side
		}
		return side
	}
	tests := []struct {
		strategy string
		step     float64
		want     Side
	}{
		{"momentum", 0.001, Long},
		{"momentum", -0.001, Short},
		{"balanced", 0.0005, Long},
		{"balanced", -0.0005, Short},
		{"conservative", 0.0005, Long},
		{"conservative", -0.0005, Flat},
	}
	for _, tt := range tests {
		if got := run(tt.strategy, trend(400, tt.step)); got != tt.want {
			t.Errorf("%s on a %+.2f%%/tick trend: %s, want %s", tt.strategy, tt.step*100, got, tt.want)
		}
	}
	// Balanced fades a spike far outside its band.
	ps := trend(300, 0)
	ps = append(ps, 100*1.2)
	if got := run("balanced", ps); got != Short {
		t.Errorf("balanced after a +20%% spike: %s, want short (fade)", got)
	}
}

func TestRosterValidation(t *testing.T) {
	good := Founder{Name: "A", Strategy: "momentum"}
	tests := []struct {
		name   string
		roster []Founder
	}{
		{"empty", nil},
		{"duplicate", []Founder{good, good}},
		{"unknown strategy", []Founder{{Name: "A", Strategy: "coinflip"}}},
		{"unknown param", []Founder{{Name: "A", Strategy: "momentum", Params: Params{"fats": 3}}}},
		{"param out of bounds", []Founder{{Name: "A", Strategy: "momentum", Params: Params{"risk": 50}}}},
		{"NaN param", []Founder{{Name: "A", Strategy: "momentum", Params: Params{"band": math.NaN()}}}},
		{"fast not below slow", []Founder{{Name: "A", Strategy: "momentum", Params: Params{"fast": 50, "slow": 40}}}},
		{"negative capital", []Founder{{Name: "A", Strategy: "momentum", Capital: -1}}},
		{"bad name", []Founder{{Name: "a b", Strategy: "momentum"}}},
		{"dotted name", []Founder{{Name: "A.1", Strategy: "momentum"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Symbols: []market.Symbol{"BTC-USD"}}, tt.roster, nil)
			if err == nil {
				t.Fatal("New accepted the roster")
			}
			if !errors.Is(err, ErrRoster) {
				t.Errorf("error %v does not wrap ErrRoster", err)
			}
		})
	}
}

func TestRounds(t *testing.T) {
	c := &collect{}
	ar := mustArena(t, Config{Seed: 5, RoundTicks: 1000}, GenerateRoster(12, 5), c)
	mustRun(t, ar, newWalk(5, 3500), 0)
	rounds := c.of(EventRound)
	if len(rounds) != 3 {
		t.Fatalf("got %d rounds over 3500 ticks of 1000, want 3", len(rounds))
	}
	for i, e := range rounds {
		r := e.Round
		if r.Number != i+1 || r.StartTick != int64(i*1000) || r.EndTick != int64((i+1)*1000) {
			t.Errorf("round %d: %+v", i+1, r)
		}
		best := math.Inf(-1)
		for _, s := range r.Standings {
			if s.Status != StatusDeceased && s.Return > best {
				best = s.Return
			}
		}
		if r.Winner == "" || r.WinnerReturn != best {
			t.Errorf("round %d: winner %q with %g, best living return %g", r.Number, r.Winner, r.WinnerReturn, best)
		}
	}
	if w := ar.Winners(); len(w) != 3 || w[2].Winner != rounds[2].Round.Winner {
		t.Errorf("Winners() = %+v", w)
	}
	won := 0
	for _, st := range ar.Agents() {
		won += st.RoundsWon
	}
	if won != 3 {
		t.Errorf("rounds won add up to %d, want 3", won)
	}
}

// Events survive a JSON round trip byte for byte: the event log stores
// them as JSON and a restart compares what it recomputes with what it
// stored.
func TestEventsRoundTripThroughJSON(t *testing.T) {
	c := &collect{}
	ar := mustArena(t, Config{Seed: 4, AgentEvery: 300, RoundTicks: 400}, GenerateRoster(30, 4), c)
	mustRun(t, ar, newWalk(4, 20000), 0)
	seen := map[EventType]bool{}
	for _, e := range c.events {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("seq %d: %v", e.Seq, err)
		}
		var back Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("seq %d: decode %s: %v", e.Seq, b, err)
		}
		again, _ := json.Marshal(back)
		if !bytes.Equal(b, again) {
			t.Fatalf("seq %d: round trip changed\n%s\n%s", e.Seq, b, again)
		}
		seen[e.Type] = true
	}
	for _, typ := range []EventType{EventMarket, EventAgent, EventTrade, EventScar, EventDeath, EventSpawn, EventRound} {
		if !seen[typ] {
			t.Errorf("no %s event in the run: the round trip was not tested for it", typ)
		}
	}
}
