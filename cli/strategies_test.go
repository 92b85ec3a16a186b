package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lineage-arena/lineage/arena"
)

// dipSpec buys a fall from the last price and sells a rise: a strategy of
// the program's own, unknown to the arena.
var dipSpec = arena.StrategySpec{
	Name:     "dip",
	Defaults: arena.Params{"risk": 1},
	Bounds:   map[string][2]float64{"risk": {0.1, 3}},
	New: func(p arena.Params, nsym int) (arena.Strategy, error) {
		return &dip{last: make([]float64, nsym)}, nil
	},
}

type dip struct{ last []float64 }

func (d *dip) Decide(in arena.Input) arena.Target {
	prev := d.last[in.Symbol]
	d.last[in.Symbol] = in.Price
	if prev > 0 && in.Price < prev {
		return arena.Target{Side: arena.Long, Size: 1}
	}
	return arena.Target{Side: arena.Flat}
}

// runWith runs lineage in-process as a program that registers strategies.
func runWith(t *testing.T, strategies []arena.StrategySpec, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(t.Context(), args, Options{Strategies: strategies, Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	return result{code, out.String(), errb.String()}
}

// A program's own strategy may be named in a roster and joins the --agents
// round-robin; a program without it refuses the roster, naming what it
// knows; help lists it.
func TestArenaWithRegisteredStrategies(t *testing.T) {
	mine := []arena.StrategySpec{dipSpec}
	roster := filepath.Join(t.TempDir(), "roster.json")
	if err := os.WriteFile(roster, []byte(`[{"name":"Dipper","strategy":"dip"},{"name":"Mo","strategy":"Momentum"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	strategyOf := func(r result) map[string]string {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		var rep struct {
			Agents []struct {
				Agent    string `json:"agent_id"`
				Strategy string `json:"strategy"`
			} `json:"agents"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, a := range rep.Agents {
			out[a.Agent] = a.Strategy
		}
		return out
	}
	base := []string{"arena", "--seed", "4", "--ticks", "500", "--format", "json"}

	got := strategyOf(runWith(t, mine, append(base, "--roster", roster)...))
	if got["Dipper"] != "dip" || got["Mo"] != "momentum" {
		t.Errorf("--roster with dip registered: agents %v, want Dipper trading dip and Mo momentum", got)
	}
	got = strategyOf(runWith(t, mine, append(base, "--agents", "8")...))
	if got["Dip-1"] != "dip" || got["Dip-2"] != "dip" || got["Momentum-2"] != "momentum" {
		t.Errorf("--agents 8 with dip registered: agents %v, want Dip-1 and Dip-2 among them", got)
	}

	r := runWith(t, nil, append(base, "--roster", roster)...)
	if r.code != 1 || !strings.Contains(r.stderr, `unknown strategy "dip" (known: momentum, conservative, balanced)`) {
		t.Errorf("--roster naming dip, unregistered: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, cmd := range []string{"arena", "serve"} {
		r = runWith(t, mine, "help", cmd)
		if !strings.Contains(r.stdout, "momentum, conservative, balanced, dip") {
			t.Errorf("help %s does not list the registered strategy:\n%s", cmd, r.stdout)
		}
	}
}
