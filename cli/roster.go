package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
)

// maxRosterBytes bounds a roster file: a thousand agents fit in far less.
const maxRosterBytes = 4 << 20

// readRoster reads a JSON list of founders. Unknown fields are errors, so
// a misspelt "strategy" does not silently become the default; so is a
// strategy neither built in nor among registered (the program's own). A
// capital left out is the default; one that is not positive, or finer than
// the money resolution (a millionth of a dollar), is an error.
func readRoster(path string, registered []arena.StrategySpec) ([]arena.Founder, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("roster: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(io.LimitReader(f, maxRosterBytes))
	dec.DisallowUnknownFields()
	var roster []arena.Founder
	if err := dec.Decode(&roster); err != nil {
		return nil, fmt.Errorf("roster %s: %w", path, err)
	}
	if len(roster) == 0 {
		return nil, fmt.Errorf("roster %s: no agents", path)
	}
	known := append(arena.Builtin(), registered...)
	for _, f := range roster {
		// As the arena finds a strategy: by its name in lower case.
		name := strings.ToLower(strings.TrimSpace(f.Strategy))
		if !slices.ContainsFunc(known, func(s arena.StrategySpec) bool { return s.Name == name }) {
			return nil, fmt.Errorf("roster %s: agent %q: unknown strategy %q (known: %s)", path, f.Name, f.Strategy, strategyNames(registered))
		}
	}
	// Capital: a missing field means the default; a zero, negative or
	// over-precise one is a mistake, not a default or a rounding.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("roster %s: %w", path, err)
	}
	var capitals []struct {
		Name    string          `json:"name"`
		Capital json.RawMessage `json:"capital"`
	}
	if err := json.NewDecoder(io.LimitReader(f, maxRosterBytes)).Decode(&capitals); err != nil {
		return nil, fmt.Errorf("roster %s: %w", path, err)
	}
	for i, c := range capitals {
		if c.Capital == nil {
			continue
		}
		m, err := market.ParseMoneyExact(strings.Trim(string(c.Capital), `"`))
		switch {
		case err != nil:
			return nil, fmt.Errorf("roster %s: agent %q: capital: %v", path, c.Name, err)
		case m <= 0:
			return nil, fmt.Errorf("roster %s: agent %q: capital %s must be positive (leave \"capital\" out for the default %s)",
				path, c.Name, c.Capital, arena.DefaultCapital)
		}
		roster[i].Capital = m
	}
	return roster, nil
}

// strategyNames lists the strategies a roster may name: the built-ins,
// then the program's own.
func strategyNames(registered []arena.StrategySpec) string {
	var names []string
	for _, s := range append(arena.Builtin(), registered...) {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}
