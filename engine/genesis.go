package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/market"
)

// genesisType is the type of record 0 of a data dir's event log.
const genesisType = "genesis"

// genesisVersion is the layout of the genesis record this build writes
// and reads.
const genesisVersion = 1

// Genesis is record 0 of a run's event log: everything that, with the
// logged ticks, determines the run. A restart rebuilds the arena from it.
// Its JSON is the record's payload (docs/eventlog.md).
type Genesis struct {
	Version int             `json:"version"`
	Created time.Time       `json:"created"`
	Seed    uint64          `json:"seed"`
	Feed    string          `json:"feed"`
	Symbols []market.Symbol `json:"symbols"`
	Rules   Rules           `json:"rules"`
	Roster  []arena.Founder `json:"roster"`
	// Replay feeds: the files and options, so a restart replays the same.
	Replay       []string `json:"replay,omitempty"`
	ReplaySymbol string   `json:"replay_symbol,omitempty"`
	Lenient      bool     `json:"lenient,omitempty"`
}

// Rules are the arena.Config numbers in force, defaults filled in; rates
// in parts per million.
type Rules struct {
	Fee           market.Rate `json:"fee_ppm"`
	Slippage      market.Rate `json:"slippage_ppm"`
	LeverageCap   market.Rate `json:"leverage_cap_ppm"`
	ScarDrawdown  market.Rate `json:"scar_drawdown_ppm"`
	ScarLoss      market.Rate `json:"scar_loss_ppm"`
	DeathDrawdown market.Rate `json:"death_drawdown_ppm"`
	EquityFloor   market.Rate `json:"equity_floor_ppm"`
	SpawnShare    market.Rate `json:"spawn_share_ppm"`
	MaxAgents     int         `json:"max_agents"`
	RoundTicks    int         `json:"round_ticks"`
}

// Founding is what a new run is founded with: the arena's configuration
// and roster, and a description of its feed, kept in the genesis record so
// that whoever resumes the run can open the same feed again.
type Founding struct {
	// Arena is the run's configuration; FirstSeq is ignored (record 0 is
	// the genesis, so the first event is 1).
	Arena  arena.Config
	Roster []arena.Founder
	// Feed names the price feed ("sim", "replay", "live", or a name of
	// the caller's); Replay, ReplaySymbol and Lenient describe a replay.
	Feed         string
	Replay       []string
	ReplaySymbol string
	Lenient      bool
}

func newGenesis(cfg arena.Config, f Founding, now time.Time) Genesis {
	return Genesis{
		Version: genesisVersion, Created: now, Seed: cfg.Seed, Feed: f.Feed, Symbols: cfg.Symbols, Roster: f.Roster,
		Replay: f.Replay, ReplaySymbol: f.ReplaySymbol, Lenient: f.Lenient,
		Rules: Rules{
			Fee: cfg.Fee, Slippage: cfg.Slippage, LeverageCap: cfg.LeverageCap, ScarDrawdown: cfg.ScarDrawdown,
			ScarLoss: cfg.ScarLoss, DeathDrawdown: cfg.DeathDrawdown, EquityFloor: cfg.EquityFloor,
			SpawnShare: cfg.SpawnShare, MaxAgents: cfg.MaxAgents, RoundTicks: cfg.RoundTicks,
		},
	}
}

// Config is the arena configuration the genesis record describes. Zero
// rates are stored as such and mean "none", not "default".
func (g Genesis) Config() arena.Config {
	none := func(r market.Rate) market.Rate {
		if r == 0 {
			return -1
		}
		return r
	}
	return arena.Config{
		Symbols: g.Symbols, Seed: g.Seed, Fee: none(g.Rules.Fee), Slippage: none(g.Rules.Slippage),
		LeverageCap: g.Rules.LeverageCap, ScarDrawdown: g.Rules.ScarDrawdown, ScarLoss: g.Rules.ScarLoss,
		DeathDrawdown: g.Rules.DeathDrawdown, EquityFloor: g.Rules.EquityFloor, SpawnShare: g.Rules.SpawnShare,
		MaxAgents: g.Rules.MaxAgents, RoundTicks: g.Rules.RoundTicks, FirstSeq: 1,
	}
}

// decodeGenesis reads the genesis record.
func decodeGenesis(rec eventlog.Record) (Genesis, error) {
	var g Genesis
	if rec.Type != genesisType {
		return g, fmt.Errorf("%w: record 0 is a %q, not the genesis record", eventlog.ErrCorrupt, rec.Type)
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		return g, fmt.Errorf("%w: genesis record: %v", eventlog.ErrCorrupt, err)
	}
	if g.Version != genesisVersion {
		return g, fmt.Errorf("genesis record version %d; this build reads version %d", g.Version, genesisVersion)
	}
	return g, nil
}
