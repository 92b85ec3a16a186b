package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
)

// Audit is what Verify found in a data dir's event log.
type Audit struct {
	// Records is the number of records, the genesis included.
	Records uint64
	// Pending is the bytes after the last whole record: a write in
	// progress, or a torn tail the next Open truncates.
	Pending int64
	// Dead holds every agent whose death the log records.
	Dead map[string]bool
	// Checkpoints is the number of checkpoint files whose SHA-256 matches
	// their event in the chain; Unrecorded the files no event commits (a
	// write a crash cut short: a restart ignores them); Pruned the
	// checkpoint events whose file is gone (older files are removed as
	// new ones are written).
	Checkpoints, Unrecorded, Pruned int
	// From is the state sequence of the checkpoint the replay started
	// from; 1 for a replay from the genesis.
	From uint64
	// Proved is, for VerifyReplay, the number of checkpoint events whose
	// state the replay from the genesis reached, equal byte for byte.
	Proved int
}

// Verify checks the data dir dir without changing it: it takes no lock
// and repairs nothing, so it runs beside an Engine that has dir open.
// Every record's checksum, hash and link in the chain is checked, every
// checkpoint file against the SHA-256 its event in the chain commits (a
// file that differs is an error naming it), and the run is rebuilt as
// Open rebuilds it — from the newest checkpoint, the tail replayed with
// each record compared with what the arena computes — so a record with a
// valid chain that the run did not produce fails here as it fails there.
// VerifyReplay replays from the genesis instead and proves every
// checkpoint. A cancelled ctx stops it within a thousand records. The
// graveyard is the caller's to check against Audit.Dead (graveyard.Check).
// strategies are those of Config.Strategies: a run that names one the
// caller lacks is refused with ErrStrategyMissing.
func Verify(ctx context.Context, dir string, strategies ...arena.StrategySpec) (Audit, error) {
	return verify(ctx, Config{Dir: dir, Strategies: strategies}, false)
}

// VerifyReplay checks what Verify checks, but recomputes the whole run
// from its genesis, comparing every record with what the arena computes,
// and proves each checkpoint event: the state the replay reaches at the
// event's state sequence must encode to the SHA-256 the event commits.
// Its time is a full replay's.
func VerifyReplay(ctx context.Context, dir string, strategies ...arena.StrategySpec) (Audit, error) {
	return verify(ctx, Config{Dir: dir, Strategies: strategies}, true)
}

func verify(ctx context.Context, cfg Config, full bool) (Audit, error) {
	dir := cfg.Dir
	rb := &rebuilder{found: cfg.newArena, restore: func(g Genesis, data []byte, s arena.Sink) (*arena.Arena, error) {
		ac, err := cfg.arenaConfig(g)
		if err != nil {
			return nil, err
		}
		return arena.Restore(ac, data, s)
	}}
	defer func() {
		if rb.ar != nil {
			rb.ar.Close()
		}
	}()
	if err := rb.planRestart(dir, false); err != nil {
		return Audit{}, err
	}
	if full && rb.plan == nil {
		// Checkpoint events without files are still to be proved.
		rb.plan = &restartPlan{records: map[uint64]checkpointRecord{}}
	}
	plan := rb.plan
	l, err := eventlog.OpenReadOnly(filepath.Join(dir, "events"), eventlog.Options{Visit: interruptible(ctx, rb.visit)})
	if err != nil {
		return Audit{}, err
	}
	defer l.Close()
	a := Audit{Pending: l.Pending(), From: 1}
	a.Records, _ = l.Last()
	if plan != nil && rb.ar != nil {
		for seq, path := range plan.files {
			if _, ok := plan.records[seq]; !ok {
				a.Unrecorded++
				continue
			}
			if _, err := plan.checkFile(seq); err != nil {
				return a, fmt.Errorf("checkpoint %s: %w", path, err)
			}
			a.Checkpoints++
		}
		for seq := range plan.records {
			if _, ok := plan.files[seq]; !ok {
				a.Pruned++
			}
		}
		if full {
			rb.plan = nil
			rb.deaths = nil
			err = rb.replay(ctx, l, 1, func(rec eventlog.Record) error {
				r, ok := plan.records[rec.Seq]
				if !ok {
					return nil
				}
				if err := rb.prove(r); err != nil {
					return err
				}
				a.Proved++
				return nil
			})
		} else {
			err = rb.finish(ctx, l)
			a.From = rb.fromSeq
		}
		if err != nil {
			return a, err
		}
	}
	a.Dead = make(map[string]bool, len(rb.deaths))
	for _, c := range rb.deaths {
		a.Dead[c.event.Death.Agent] = true
	}
	return a, nil
}

// prove checks that the arena, about to replay the record of r's state
// sequence, is in the state r's checkpoint event commits.
func (rb *rebuilder) prove(r checkpointRecord) error {
	if rb.head != len(rb.queue) {
		return fmt.Errorf("%w: checkpoint event %d: sequence %d is not between two steps", eventlog.ErrCorrupt, r.seq, r.ev.StateSeq)
	}
	data, err := rb.ar.Checkpoint()
	if err != nil {
		return fmt.Errorf("checkpoint event %d: %w", r.seq, err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != r.ev.SHA256 {
		return fmt.Errorf("%w: checkpoint event %d: the state the replay reaches at sequence %d has SHA-256 %s, not the %s committed",
			eventlog.ErrCorrupt, r.seq, r.ev.StateSeq, got, r.ev.SHA256)
	}
	return nil
}
