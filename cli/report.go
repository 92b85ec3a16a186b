package cli

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
)

// reportFormat and reportVersion name the JSON report's layout, documented
// in docs/arena.md. The version changes whenever a field changes meaning or
// goes away; fields may be added within a version.
const (
	reportFormat  = "lineage-arena-report"
	reportVersion = 2
)

// report is the outcome of an offline run. It holds only what the seed and
// the feed determine, so two runs of the same inputs print the same bytes.
type report struct {
	Format        string           `json:"format"`
	Version       int              `json:"version"`
	LedgerFormat  int              `json:"ledger_format"`
	Config        reportConfig     `json:"config"`
	Seed          uint64           `json:"seed"`
	Ticks         int64            `json:"ticks"`
	AgentTicks    int64            `json:"agent_ticks"`
	Events        int              `json:"events"`
	LedgerHash    string           `json:"ledger_hash"`
	LedgerRecords int64            `json:"ledger_records"`
	Births        int              `json:"births"`
	Deaths        int              `json:"deaths"`
	SkippedRows   int              `json:"skipped_rows,omitempty"`
	Agents        []arena.Standing `json:"agents"`
	Spawns        []spawnRow       `json:"spawns"`
	Rounds        []roundRow       `json:"rounds"`
	Trades        []tradeRow       `json:"trades,omitempty"`
}

type reportConfig struct {
	Feed        string          `json:"feed"`
	Symbols     []market.Symbol `json:"symbols"`
	Founders    int             `json:"founders"`
	RoundTicks  int             `json:"round_ticks"`
	FeeRate     float64         `json:"fee_rate"`
	Slippage    float64         `json:"max_slippage"`
	LeverageCap float64         `json:"leverage_cap"`
	MaxAgents   int             `json:"max_agents"`
}

// tradeRow is one fill of the trade ledger: the trade event with its
// sequence number, tick and time.
type tradeRow struct {
	Seq  uint64    `json:"sequence"`
	Tick int64     `json:"tick"`
	Time time.Time `json:"time"`
	arena.TradeEvent
}

// spawnRow is one birth: the spawn event with its sequence number and tick.
type spawnRow struct {
	Seq  uint64 `json:"sequence"`
	Tick int64  `json:"tick"`
	arena.SpawnEvent
}

// roundRow is one round's end: the round event, every standing included,
// with its sequence number and tick.
type roundRow struct {
	Seq  uint64 `json:"sequence"`
	Tick int64  `json:"tick"`
	arena.RoundResult
}

func newReport(ar *arena.Arena, st *setup, rec *recorder) *report {
	cfg := ar.Config()
	r := &report{
		Format: reportFormat, Version: reportVersion, LedgerFormat: arena.LedgerFormat,
		Config: reportConfig{
			Feed: st.feed, Symbols: cfg.Symbols, Founders: len(st.roster), RoundTicks: cfg.RoundTicks,
			FeeRate: cfg.Fee.Float64(), Slippage: cfg.Slippage.Float64(), LeverageCap: cfg.LeverageCap.Float64(),
			MaxAgents: cfg.MaxAgents,
		},
		Seed: cfg.Seed, Ticks: ar.Ticks(), AgentTicks: ar.AgentTicks(), LedgerHash: ar.LedgerHash(),
		LedgerRecords: ar.LedgerRecords(), Births: rec.counts[arena.EventSpawn], Deaths: rec.counts[arena.EventDeath],
		Spawns: rec.spawns, Rounds: rec.rounds, Trades: rec.trades,
	}
	if st.replay != nil {
		r.SkippedRows = st.replay.Skipped()
	}
	for _, c := range rec.counts {
		r.Events += c
	}
	r.Agents = ar.Leaderboard()
	if r.Rounds == nil {
		r.Rounds = []roundRow{}
	}
	if r.Spawns == nil {
		r.Spawns = []spawnRow{}
	}
	return r
}

func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

var leaderboardHeader = []string{
	"rank", "agent", "strategy", "generation", "parent", "status", "cause", "equity", "roi", "win_rate",
	"trades", "fees", "scars", "max_drawdown", "sharpe", "profit_factor", "trust", "tier", "children", "rounds_won",
}

// tradeHeader is the CSV trade ledger's header: the JSON trade fields, money
// in the same decimal form.
var tradeHeader = []string{
	"sequence", "tick", "time", "decision_tick", "decision_sequence", "agent", "symbol", "action", "side",
	"quantity", "price", "slippage_ppm", "fee", "realized_pnl", "net_pnl", "cash", "reason",
}

func (r *report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if r.Trades != nil {
		cw.Write(tradeHeader)
		for _, t := range r.Trades {
			cw.Write([]string{
				strconv.FormatUint(t.Seq, 10), strconv.FormatInt(t.Tick, 10), t.Time.UTC().Format(time.RFC3339Nano),
				strconv.FormatInt(t.DecisionTick, 10), strconv.FormatUint(t.DecisionSeq, 10), t.Agent, string(t.Symbol), t.Action,
				t.Side.String(), t.Qty.String(), t.Price.String(), strconv.FormatInt(int64(t.Slippage), 10), t.Fee.String(),
				t.Realized.String(), t.NetPnL.String(), t.Cash.String(), t.Reason,
			})
		}
	} else {
		cw.Write(leaderboardHeader)
		for _, a := range r.Agents {
			cw.Write([]string{
				strconv.Itoa(a.Rank), a.ID, a.Strategy, strconv.Itoa(a.Generation), a.Parent, string(a.Status),
				string(cause(a.AgentState)), a.Capital.String(), ftoa(a.ROI), ftoa(a.WinRate), strconv.Itoa(a.Trades), a.Fees.String(),
				strconv.Itoa(a.Scars), ftoa(a.MaxDrawdown), ftoa(a.Sharpe), ftoa(a.ProfitFactor), ftoa(a.Trust), a.Tier,
				strconv.Itoa(a.Children), strconv.Itoa(a.RoundsWon),
			})
		}
	}
	cw.Flush()
	return cw.Error()
}

func cause(a arena.AgentState) arena.Cause {
	if a.Death == nil {
		return ""
	}
	return a.Death.Cause
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// tableRows bounds the leaderboard printed as a table; json and csv list
// every agent.
const tableRows = 25

func (r *report) writeTable(w io.Writer) error {
	fmt.Fprintf(w, "Lineage arena: %s feed, %s, seed %d\n", r.Config.Feed, joinSymbols(r.Config.Symbols), r.Seed)
	fmt.Fprintf(w, "%d ticks, %d rounds, %d founders, %d births, %d deaths\n\n", r.Ticks, len(r.Rounds), r.Config.Founders, r.Births, r.Deaths)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "RANK\tAGENT\tSTRATEGY\tGEN\tEQUITY\tROI\tWIN\tTRADES\tSCARS\tMAX DD\tSHARPE\tPF\tTRUST\tSTATUS\t")
	for i, a := range r.Agents {
		if i == tableRows {
			fmt.Fprintf(tw, "\t… %d more\t\t\t\t\t\t\t\t\t\t\t\t\t\n", len(r.Agents)-tableRows)
			break
		}
		status := string(a.Status)
		if c := cause(a.AgentState); c != "" {
			status += " (" + string(c) + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%+.2f%%\t%.1f%%\t%d\t%d\t%.1f%%\t%.3f\t%.2f\t%.0f %s\t%s\t\n",
			a.Rank, a.ID, a.Strategy, a.Generation, a.Capital.Cents(), a.ROI*100, a.WinRate*100, a.Trades,
			a.Scars, a.MaxDrawdown*100, a.Sharpe, a.ProfitFactor, a.Trust, a.Tier, status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Rounds) > 0 {
		wins := map[string]int{}
		for _, rd := range r.Rounds {
			if rd.Winner != "" {
				wins[rd.Winner]++
			}
		}
		names := make([]string, 0, len(wins))
		for n := range wins {
			names = append(names, n)
		}
		sort.Slice(names, func(i, j int) bool {
			if wins[names[i]] != wins[names[j]] {
				return wins[names[i]] > wins[names[j]]
			}
			return names[i] < names[j]
		})
		parts := make([]string, 0, 5)
		for i, n := range names {
			if i == 5 {
				parts = append(parts, fmt.Sprintf("%d more", len(names)-5))
				break
			}
			parts = append(parts, fmt.Sprintf("%s ×%d", n, wins[n]))
		}
		fmt.Fprintf(w, "\nRound winners: %s\n", strings.Join(parts, ", "))
	}
	if r.SkippedRows > 0 {
		fmt.Fprintf(w, "Skipped CSV rows: %d\n", r.SkippedRows)
	}
	fmt.Fprintf(w, "Ledger hash: %s (%d records)\n", r.LedgerHash, r.LedgerRecords)
	if r.Trades != nil {
		fmt.Fprintln(w, "\nTrades:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tTIME\tAGENT\tSYMBOL\tACTION\tSIDE\tQTY\tPRICE\tFEE\tREALIZED\tNET\tREASON")
		for _, t := range r.Trades {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Seq, t.Time.UTC().Format(time.RFC3339),
				t.Agent, t.Symbol, t.Action, t.Side, t.Qty, t.Price, t.Fee, t.Realized, t.NetPnL, t.Reason)
		}
		return tw.Flush()
	}
	return nil
}
