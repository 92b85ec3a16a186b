package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/lineage-arena/lineage/engine"
	"github.com/lineage-arena/lineage/graveyard"
)

const verifyAbout = `lineage verify: check a data dir without changing it — every event record's
checksum, hash and link in the chain, each record against what the run's replay
computes (as serve checks it at start), and every tombstone's signature, against the
deaths the log records, and that the log reaches its high-water mark (no committed
record lost), and every checkpoint file against the SHA-256 its event in the chain
commits. The run is rebuilt as serve rebuilds it, from the newest checkpoint; with
--replay it is recomputed from its genesis and every checkpoint is proved equal to
the state the replay reaches. It takes no lock and runs beside a serving process.
Exit 0 when all hold; exit 1 naming the first bad record (by sequence) or file
otherwise.`

func runVerify(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("verify", env, verifyAbout)
	dataDir := fs.String("data-dir", ".lineage", dataDirUsage)
	replay := fs.Bool("replay", false, "recompute the run from its genesis and prove every checkpoint equal to the state the replay reaches")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	// Read-only: no lock, no repair, so verify runs beside a serving
	// process; a frame it is writing is the end of the log. Every record is
	// checked as serve checks it when it starts (engine.Verify).
	check := engine.Verify
	if *replay {
		check = engine.VerifyReplay
	}
	audit, err := check(ctx, *dataDir, env.strategies...)
	if err != nil {
		return err
	}
	records, pending, dead := audit.Records, audit.Pending, audit.Dead
	if records == 0 {
		return fmt.Errorf("%s holds no event log", *dataDir)
	}
	key, err := graveyard.LoadKey(*dataDir)
	if err != nil {
		return err
	}
	if problems := graveyard.Check(filepath.Join(*dataDir, "graveyard"), key, dead); len(problems) > 0 {
		for _, p := range problems[1:] {
			fmt.Fprintln(env.Stdout, p)
		}
		return errors.New(problems[0].String())
	}
	fmt.Fprintf(env.Stdout, "ok: %d records, hash chain intact; %d tombstones, all signed\n", records, len(dead))
	switch {
	case *replay && audit.Proved > 0:
		fmt.Fprintf(env.Stdout, "ok: replayed from the genesis; %d checkpoints proved equal to the replay's state\n", audit.Proved)
	case audit.Checkpoints > 0:
		fmt.Fprintf(env.Stdout, "ok: %d checkpoint files match the chain; the tail replayed from sequence %d\n", audit.Checkpoints, audit.From)
	}
	if audit.Unrecorded > 0 {
		fmt.Fprintf(env.Stdout, "note: %d checkpoint files are committed by no event (a write a crash cut short): serve ignores them\n", audit.Unrecorded)
	}
	if pending > 0 {
		fmt.Fprintf(env.Stdout, "note: %d bytes after the last record are not a whole record: a write in progress, or a torn tail that the next serve truncates\n", pending)
	}
	return nil
}

const graveyardAbout = `lineage graveyard: list the dead of a data dir — cause of death, scars,
lifespan, final capital — from their signed tombstones, oldest death first.`

func runGraveyard(_ context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("graveyard", env, graveyardAbout)
	dataDir := fs.String("data-dir", ".lineage", dataDirUsage)
	format := fs.String("format", "table", "table or json")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return usagef("--format %q: want table or json", *format)
	}
	key, err := graveyard.LoadKey(*dataDir)
	if err != nil {
		return err
	}
	dead, err := graveyard.List(filepath.Join(*dataDir, "graveyard"), key)
	if err != nil {
		return err
	}
	if *format == "json" {
		if dead == nil {
			dead = []graveyard.Tombstone{}
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(dead)
	}
	if len(dead) == 0 {
		fmt.Fprintln(env.Stdout, "The graveyard is empty.")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tSTRATEGY\tGEN\tCAUSE\tSCARS\tTRADES\tLIFESPAN\tFINAL\tPEAK\tDIED")
	for _, t := range dead {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d ticks\t%s\t%s\t%s (seq %d)\n", t.AgentID, t.Strategy, t.Generation,
			t.Cause, len(t.Scars), t.Trades, t.LifespanTicks, t.FinalCapital.Cents(), t.PeakCapital.Cents(),
			t.Died.Time.Format(time.RFC3339), t.Died.Seq)
	}
	return tw.Flush()
}
