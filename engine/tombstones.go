package engine

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/graveyard"
)

// undertaker writes a signed tombstone for every death once the death is
// durable. A tombstone that already exists is left alone: tombstones are
// never overwritten. A tombstone whose write fails waits, in order, and
// flush tries it again; the engine holds the arena meanwhile.
type undertaker struct {
	dir      string
	key      []byte
	ar       *arena.Arena
	log      *slog.Logger
	fault    func(op string) error // Config.Fault
	unburied []graveyard.Tombstone // signed-to-be tombstones not yet written
	err      error                 // the first failure that is not a write's; the engine stops on it
}

// newUndertaker loads the graveyard's key and checks the graveyard against
// deaths, every death the run's log holds. The key is made only for a run
// whose log holds no event yet (nothing can have been signed): a run with
// events and no key would otherwise be re-keyed silently, and every
// tombstone it had would fail its signature. A tombstone that is tampered
// with, malformed, unreadable or for an agent that did not die is refused
// the same way, with the first defect named. Tombstones missing for deaths
// in the log are not a defect here: a crash came between the death and its
// burial, and the caller buries them.
func newUndertaker(dataDir string, ar *arena.Arena, deaths []committed, log *slog.Logger) (*undertaker, error) {
	verify := fmt.Sprintf("check the data dir with: lineage verify --data-dir %s", dataDir)
	var key []byte
	var err error
	if ar.NextSeq() <= 1 {
		key, err = graveyard.LoadOrCreateKey(dataDir)
	} else if key, err = graveyard.LoadKey(dataDir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("graveyard key %s is missing but the run holds %d events: its tombstones cannot be checked,"+
			" and a new key is never made for a run that has one; %s", filepath.Join(dataDir, graveyard.KeyFile), ar.NextSeq()-1, verify)
	}
	if err != nil {
		return nil, fmt.Errorf("%w; %s", err, verify)
	}
	dir := filepath.Join(dataDir, "graveyard")
	dead := make(map[string]bool, len(deaths))
	for _, c := range deaths {
		dead[c.event.Death.Agent] = true
	}
	var problems []graveyard.Problem
	for _, p := range graveyard.Check(dir, key, dead) {
		if p.Kind != graveyard.Missing || p.Err != nil {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		more := ""
		if len(problems) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(problems)-1)
		}
		return nil, fmt.Errorf("graveyard not trusted: %s%s; %s", problems[0], more, verify)
	}
	return &undertaker{dir: dir, key: key, ar: ar, log: log}, nil
}

// bury writes the tombstone of the agent whose death c is. A write failure
// is kept for flush to retry; see flush.
func (u *undertaker) bury(c committed) {
	if c.event.Death == nil || u.err != nil {
		return
	}
	id := c.event.Death.Agent
	st, ok := u.ar.Agent(id)
	if !ok {
		u.err = fmt.Errorf("bury %s: no such agent", id)
		return
	}
	t, err := graveyard.New(st, c.event, hex.EncodeToString(c.hash[:]))
	if err != nil {
		u.err = fmt.Errorf("bury %s: %w", id, err)
		return
	}
	u.unburied = append(u.unburied, t)
	u.flush()
}

// write writes one tombstone, unless Config.Fault says the write fails.
func (u *undertaker) write(t graveyard.Tombstone) error {
	if u.fault != nil {
		if err := u.fault("tombstone"); err != nil {
			return fmt.Errorf("write tombstone %s: %w", t.AgentID, err)
		}
	}
	_, err := graveyard.Write(u.dir, u.key, t)
	return err
}

// flush writes the tombstones waiting, oldest first, and returns the first
// write that fails (nil once none waits).
func (u *undertaker) flush() error {
	for len(u.unburied) > 0 {
		t := u.unburied[0]
		err := u.write(t)
		if err != nil && !errors.Is(err, graveyard.ErrExists) {
			return fmt.Errorf("bury %s: %w", t.AgentID, err)
		}
		if err == nil {
			u.log.Info("buried", "agent", t.AgentID, "cause", t.Cause, "sequence", t.Died.Seq)
		}
		u.unburied[0] = graveyard.Tombstone{}
		u.unburied = u.unburied[1:]
	}
	u.unburied = nil
	return nil
}
