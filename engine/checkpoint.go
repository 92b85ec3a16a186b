package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lineage-arena/lineage/arena"
)

// Checkpoint defaults (Config.CheckpointSteps, Config.CheckpointInterval)
// and how many checkpoint files are kept.
const (
	DefaultCheckpointSteps    = 10_000
	DefaultCheckpointInterval = 10 * time.Minute
	keepCheckpoints           = 3
)

// checkpointDir is the data dir's directory of checkpoint files.
const checkpointDir = "checkpoints"

const checkpointExt = ".ckpt"

func checkpointName(seq uint64) string { return fmt.Sprintf("%020d%s", seq, checkpointExt) }

// checkpointFiles lists the checkpoint files of the data dir dir by the
// sequence number they are named after: the arena's next sequence when
// the state was taken. Temporary files, a write a crash cut short, are
// returned apart. A missing directory holds none.
func checkpointFiles(dir string) (files map[uint64]string, temps []string, err error) {
	d := filepath.Join(dir, checkpointDir)
	ents, err := os.ReadDir(d)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	files = map[uint64]string{}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".tmp"):
			temps = append(temps, filepath.Join(d, name))
		case strings.HasSuffix(name, checkpointExt):
			base := strings.TrimSuffix(name, checkpointExt)
			if seq, err := strconv.ParseUint(base, 10, 64); err == nil && len(base) == 20 {
				files[seq] = filepath.Join(d, name)
			}
		}
	}
	return files, temps, nil
}

// newestFirst returns the keys of files, largest first.
func newestFirst(files map[uint64]string) []uint64 {
	seqs := make([]uint64, 0, len(files))
	for s := range files {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	slices.Reverse(seqs)
	return seqs
}

// checkpointer takes the engine's checkpoints: every Config.CheckpointSteps
// committed steps or Config.CheckpointInterval, whichever comes first, the
// arena's state is encoded on Run's goroutine (a copy, between steps), and
// written to checkpoints/<seq>.ckpt by a goroutine of its own — a
// temporary file, fsynced, renamed into place, the directory fsynced. Once
// the file is durable, the next commit carries a checkpoint event with the
// file's SHA-256: the file is worth something only with that event in the
// hash chain. One write is in flight at most; Run waits for it before it
// returns. It is used by Run's goroutine only.
type checkpointer struct {
	dir   string // the data dir's checkpoints/
	steps int    // ≤ 0: no step trigger
	every time.Duration
	log   *slog.Logger
	fault func(op string) error
	// trades, if set, gives the trade book now (tradeBook.snapshot), to
	// write beside each checkpoint (see tradesExt).
	trades func() map[string][]Trade

	count int       // steps committed since the last checkpoint
	since time.Time // the step time of the last checkpoint (or of the first step)
	off   bool      // the arena cannot be checkpointed: said once
	busy  bool
	done  chan checkpointWrite // capacity 1: the writer never blocks
	wg    sync.WaitGroup
	kept  []uint64 // files written or found, oldest first, for pruning
}

type checkpointWrite struct {
	ev  arena.CheckpointEvent
	err error
}

// newCheckpointer returns cfg's checkpointer, nil when both triggers are
// off (negative).
func newCheckpointer(cfg Config) *checkpointer {
	steps, every := cfg.CheckpointSteps, cfg.CheckpointInterval
	if steps == 0 {
		steps = DefaultCheckpointSteps
	}
	if every == 0 {
		every = DefaultCheckpointInterval
	}
	if steps < 0 && every < 0 {
		return nil
	}
	files, _, _ := checkpointFiles(cfg.Dir)
	kept := newestFirst(files)
	slices.Reverse(kept)
	return &checkpointer{
		dir: filepath.Join(cfg.Dir, checkpointDir), steps: steps, every: every, log: cfg.Logger,
		fault: cfg.Fault, done: make(chan checkpointWrite, 1), kept: kept,
	}
}

// afterCommit is called on Run's goroutine after every commit that
// succeeded, with the arena between steps: it emits the checkpoint event
// of a file that became durable (the next commit makes it durable too),
// and starts a checkpoint when one is due. at is the time of the step
// just committed: it stamps the event and measures the interval (the
// engine's clock is the pacer's, and is not called here).
func (c *checkpointer) afterCommit(ar *arena.Arena, at time.Time) error {
	if c == nil || c.off {
		return nil
	}
	c.count++
	var ready *checkpointWrite
	select {
	case w := <-c.done:
		c.busy, ready = false, &w
	default:
	}
	if c.since.IsZero() {
		c.since = at
	}
	if !c.busy && ((c.steps > 0 && c.count >= c.steps) || (c.every > 0 && at.Sub(c.since) >= c.every)) {
		c.start(ar, at)
	}
	if ready != nil {
		return c.record(ar, *ready, at)
	}
	return nil
}

// start takes the arena's state now — a copy, the only part of a
// checkpoint on Run's goroutine — and hands it to a writer goroutine that
// encodes it, hashes it and writes it.
func (c *checkpointer) start(ar *arena.Arena, at time.Time) {
	c.count, c.since = 0, at
	st, err := ar.CheckpointState()
	if err != nil {
		c.off = true
		c.log.Warn("checkpoints unavailable for this run: restarts replay the whole log", "err", err)
		return
	}
	var book map[string][]Trade
	if c.trades != nil {
		book = c.trades()
	}
	c.busy = true
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.done <- c.encodeAndWrite(st, book)
	}()
}

// encodeAndWrite encodes st and makes it durable (write); it runs on the
// checkpointer's writer goroutine.
func (c *checkpointer) encodeAndWrite(st *arena.CheckpointState, book map[string][]Trade) checkpointWrite {
	ev := arena.CheckpointEvent{StateSeq: st.NextSeq(), Ticks: st.Ticks()}
	if book != nil {
		// The trade file first: a checkpoint file always has its own.
		tb, err := encodeTrades(ev.StateSeq, book)
		if err == nil {
			err = c.writeFile(tradesPath(checkpointName(ev.StateSeq)), tb)
		}
		if err != nil {
			return checkpointWrite{ev: ev, err: fmt.Errorf("trade file: %w", err)}
		}
	}
	data, err := st.Encode()
	if err != nil {
		return checkpointWrite{ev: ev, err: err}
	}
	sum := sha256.Sum256(data)
	ev.SHA256, ev.Size = hex.EncodeToString(sum[:]), int64(len(data))
	return checkpointWrite{ev: ev, err: c.write(ev.StateSeq, data)}
}

// record emits the checkpoint event of a finished write, and prunes the
// oldest files.
func (c *checkpointer) record(ar *arena.Arena, w checkpointWrite, at time.Time) error {
	if w.err != nil {
		c.log.Warn("checkpoint not written: the next one is tried at the next interval", "state_sequence", w.ev.StateSeq, "err", w.err)
		return nil
	}
	if err := ar.EmitCheckpoint(at, w.ev); err != nil {
		return fmt.Errorf("record checkpoint %d: %w", w.ev.StateSeq, err)
	}
	c.log.Info("checkpoint", "state_sequence", w.ev.StateSeq, "ticks", w.ev.Ticks, "bytes", w.ev.Size)
	c.kept = append(c.kept, w.ev.StateSeq)
	for len(c.kept) > keepCheckpoints {
		// The newest keepCheckpoints stay: a restart falls back to an
		// older one if the newest does not verify.
		path := filepath.Join(c.dir, checkpointName(c.kept[0]))
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			c.log.Warn("old checkpoint not removed", "err", err)
		}
		os.Remove(tradesPath(path))
		c.kept = c.kept[1:]
	}
	return nil
}

// wait waits for a write in flight and returns its checkpoint, if it was
// written, so that Run records it before it returns.
func (c *checkpointer) wait() (checkpointWrite, bool) {
	if c == nil || !c.busy {
		return checkpointWrite{}, false
	}
	c.wg.Wait()
	c.busy = false
	return <-c.done, true
}

// write makes data durable as checkpoints/<seq>.ckpt: a temporary file,
// fsynced, renamed into place, the directory fsynced. A crash leaves at
// worst a temporary file, which the next Open removes.
func (c *checkpointer) write(seq uint64, data []byte) error {
	return c.writeFile(checkpointName(seq), data)
}

// writeFile makes data durable as the file name of the checkpoints dir.
func (c *checkpointer) writeFile(name string, data []byte) error {
	if c.fault != nil {
		if err := c.fault("checkpoint"); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(c.dir, name)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(c.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
