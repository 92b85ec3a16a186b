package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
)

// restartPlan is what the scan of a log collects when the data dir holds
// checkpoint files: instead of replaying every record as it is read, the
// scan notes the checkpoint events, the deaths and the trades, and the
// run is rebuilt afterwards from the newest checkpoint that verifies plus
// the log's tail (rebuilder.finish).
type restartPlan struct {
	files   map[uint64]string           // state sequence → checkpoint file
	records map[uint64]checkpointRecord // state sequence → its event in the chain
	deaths  []committed                 // the deaths of the records read
	trades  []committed                 // the trades of the records read
}

// oldest is the state sequence of the oldest checkpoint file: the log's
// recovery point (eventlog.Options.TrustBefore). The segments before it
// are taken on their seals; each kept checkpoint's event lies after it.
func (p *restartPlan) oldest() uint64 {
	if p == nil {
		return 0
	}
	seqs := newestFirst(p.files)
	return seqs[len(seqs)-1]
}

type checkpointRecord struct {
	seq uint64 // the event's own sequence
	ev  arena.CheckpointEvent
}

// planRestart lists the checkpoint files of the data dir dir. With none,
// the rebuild replays the whole log in the scan, as it always has. A
// temporary file, a checkpoint write a crash cut short, is removed when
// clean is set (the writer's open), and logged.
func (rb *rebuilder) planRestart(dir string, clean bool) error {
	files, temps, err := checkpointFiles(dir)
	if err != nil {
		return fmt.Errorf("list checkpoints: %w", err)
	}
	for _, t := range temps {
		if clean {
			rb.logger().Info("unfinished checkpoint removed", "file", t)
			os.Remove(t)
		}
	}
	if len(files) > 0 {
		rb.plan = &restartPlan{files: files, records: map[uint64]checkpointRecord{}}
	}
	return nil
}

func (rb *rebuilder) logger() *slog.Logger {
	if rb.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return rb.log
}

// collect is the scan's visit of a record past the genesis when a restart
// plan is made: it decodes only checkpoint events, deaths and trades.
func (rb *rebuilder) collect(rec eventlog.Record) error {
	switch rec.Type {
	case string(arena.EventCheckpoint), string(arena.EventDeath), string(arena.EventTrade):
	default:
		return nil
	}
	var e arena.Event
	if err := json.Unmarshal(rec.Payload, &e); err != nil || e.Seq != rec.Seq || string(e.Type) != rec.Type {
		return fmt.Errorf("%w: record %d: a %s event that does not decode", eventlog.ErrCorrupt, rec.Seq, rec.Type)
	}
	switch {
	case e.Checkpoint != nil:
		rb.plan.records[e.Checkpoint.StateSeq] = checkpointRecord{seq: rec.Seq, ev: *e.Checkpoint}
	case e.Death != nil:
		rb.plan.deaths = append(rb.plan.deaths, committed{event: e, hash: rec.Hash})
	case e.Trade != nil:
		rb.plan.trades = append(rb.plan.trades, committed{event: e, hash: rec.Hash})
	}
	return nil
}

// checkFile reads the checkpoint file of state sequence seq and checks it
// against its event in the chain; it returns the file's bytes, or why
// they cannot be used.
func (p *restartPlan) checkFile(seq uint64) ([]byte, error) {
	rec, ok := p.records[seq]
	if !ok {
		return nil, errors.New("no checkpoint event in the log commits it (a write a crash cut short, or a file put there)")
	}
	data, err := os.ReadFile(p.files[seq])
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != rec.ev.SHA256 || int64(len(data)) != rec.ev.Size {
		return nil, fmt.Errorf("its SHA-256 %s (%d bytes) is not the %s (%d bytes) that event %d commits",
			got, len(data), rec.ev.SHA256, rec.ev.Size, rec.seq)
	}
	return data, nil
}

// finish completes a rebuild planned with checkpoints, once the scan has
// checked the whole log: the arena is restored from the newest checkpoint
// whose file matches its event in the chain and that restores to its
// sequence, and the log's tail after it is replayed through the same
// checks as a full rebuild. A checkpoint that fails is skipped with a log
// line saying why; with none left the whole log is replayed. A cancelled
// ctx stops the replay within a thousand records.
func (rb *rebuilder) finish(ctx context.Context, l *eventlog.Log) error {
	p := rb.plan
	rb.plan = nil
	if p == nil || rb.ar == nil {
		return nil
	}
	log := rb.logger()
	from := uint64(1)
	for _, seq := range newestFirst(p.files) {
		data, err := p.checkFile(seq)
		var ar *arena.Arena
		if err == nil {
			ar, err = rb.restore(rb.g, data, rb)
		}
		if err == nil && ar.NextSeq() != seq {
			ar.Close()
			err = fmt.Errorf("it restores to sequence %d", ar.NextSeq())
		}
		if err != nil {
			log.Warn("checkpoint skipped: falling back to the one before it, or to a full replay", "file", p.files[seq], "err", err)
			continue
		}
		rb.ar.Close()
		rb.ar, from = ar, seq
		break
	}
	if from == 1 {
		log.Warn("no checkpoint verifies: replaying the whole log")
	}
	collected := map[uint64]bool{}
	for _, c := range p.deaths {
		collected[c.event.Seq] = true
		if c.event.Seq < from {
			rb.deaths = append(rb.deaths, c)
		}
	}
	if from > 1 {
		// Deaths in the segments the log took on their seals were not
		// read: the checkpoint knows them, and the record of one is read
		// only if its tombstone is missing (see Engine.bury).
		rb.older = map[string]uint64{}
		for _, a := range rb.ar.Agents() {
			if a.Death != nil && a.Death.Seq < from && !collected[a.Death.Seq] {
				rb.older[a.ID] = a.Death.Seq
			}
		}
		if err := rb.loadTrades(l, from, p); err != nil {
			return err
		}
	}
	rb.fromSeq = from
	return rb.replay(ctx, l, from, nil)
}

// replay feeds the records of l from sequence from on to the rebuilder.
// before, if set, is called ahead of each record.
func (rb *rebuilder) replay(ctx context.Context, l *eventlog.Log, from uint64, before func(eventlog.Record) error) error {
	it := l.Iter(from)
	defer it.Close()
	visit := interruptible(ctx, rb.visit)
	for {
		rec, err := it.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if before != nil {
			if err := before(rec); err != nil {
				return err
			}
		}
		if err := visit(rec); err != nil {
			return err
		}
	}
}

// loadTrades feeds the trade book (rb.seen) the durable trades before
// from, the state sequence of the checkpoint rebuilt from: those its trade
// file holds, then those the scan read. Without a trade file (a data dir
// written before them) the log is read up to from for its trades, and
// logged: that restart is O(history) once.
func (rb *rebuilder) loadTrades(l *eventlog.Log, from uint64, p *restartPlan) error {
	if rb.seen == nil {
		return nil
	}
	old, err := readTrades(p.files[from], from)
	if err != nil {
		rb.logger().Warn("checkpoint trade file unusable: reading the log for the recent trades", "file", tradesPath(p.files[from]), "err", err)
		it := l.Iter(1)
		defer it.Close()
		for {
			rec, err := it.Next()
			if errors.Is(err, io.EOF) || (err == nil && rec.Seq >= from) {
				break
			}
			if err != nil {
				return err
			}
			if rec.Type != string(arena.EventTrade) {
				continue
			}
			var e arena.Event
			if err := json.Unmarshal(rec.Payload, &e); err != nil || e.Trade == nil {
				return fmt.Errorf("%w: record %d: a trade event that does not decode", eventlog.ErrCorrupt, rec.Seq)
			}
			rb.seen(committed{event: e, hash: rec.Hash})
		}
	}
	for _, c := range old {
		rb.seen(c)
	}
	for _, c := range p.trades {
		if c.event.Seq < from {
			rb.seen(c)
		}
	}
	return nil
}
