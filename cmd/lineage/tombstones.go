package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/graveyard"
)

// undertaker writes a signed tombstone for every death once the death is
// durable. A tombstone that already exists is left alone: tombstones are
// never overwritten.
type undertaker struct {
	dir string
	key []byte
	ar  *arena.Arena
	log *slog.Logger
	err error // the first failure; serve stops on it
}

func newUndertaker(dataDir string, ar *arena.Arena, log *slog.Logger) (*undertaker, error) {
	key, err := graveyard.LoadOrCreateKey(dataDir)
	if err != nil {
		return nil, err
	}
	return &undertaker{dir: filepath.Join(dataDir, "graveyard"), key: key, ar: ar, log: log}, nil
}

// bury writes the tombstone of the agent whose death c is.
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
	if err == nil {
		_, err = graveyard.Write(u.dir, u.key, t)
	}
	switch {
	case errors.Is(err, graveyard.ErrExists):
	case err != nil:
		u.err = fmt.Errorf("bury %s: %w", id, err)
	default:
		u.log.Info("buried", "agent", id, "cause", t.Cause, "sequence", c.event.Seq)
	}
}
