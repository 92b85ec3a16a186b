package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/engine"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// checkpointedDir runs an engine with a checkpoint every 20 steps for 200
// steps and returns its data dir and its newest checkpoint file.
func checkpointedDir(t *testing.T) (dir, newest string) {
	t.Helper()
	dir = t.TempDir()
	e, err := engine.Open(t.Context(), engine.Config{Dir: dir, TickInterval: time.Millisecond, AgentInterval: time.Hour,
		CheckpointSteps: 20, CheckpointInterval: -1,
		Found: func() (engine.Founding, error) {
			return engine.Founding{Arena: arena.Config{Symbols: market.DefaultSymbols, Seed: 3}, Roster: arena.DefaultRoster(), Feed: "sim"}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	steps := 0
	e.Subscribe(func(engine.Step) {
		if steps++; steps == 200 {
			cancel()
		}
	})
	if err := e.Run(ctx, engine.Feed{Source: feed.NewSim(feed.SimConfig{Symbols: market.DefaultSymbols, Seed: 3})}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "*.ckpt"))
	if len(files) == 0 {
		t.Fatal("no checkpoint written")
	}
	return dir, files[len(files)-1]
}

// verify checks checkpoint files against the chain, and --replay proves
// them against the replay from the genesis; a flipped byte fails both,
// naming the file.
func TestVerifyChecksCheckpoints(t *testing.T) {
	dir, newest := checkpointedDir(t)
	r := runCmd(t, nil, "verify", "--data-dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "checkpoint files match the chain") {
		t.Fatalf("verify: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCmd(t, nil, "verify", "--replay", "--data-dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "checkpoints proved equal") {
		t.Fatalf("verify --replay: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	b, _ := os.ReadFile(newest)
	b[len(b)/3] ^= 0x01
	os.WriteFile(newest, b, 0o600)
	for _, args := range [][]string{{"verify", "--data-dir", dir}, {"verify", "--replay", "--data-dir", dir}} {
		r = runCmd(t, nil, args...)
		if r.code != 1 || !strings.Contains(r.stderr, filepath.Base(newest)) {
			t.Errorf("%v on a flipped checkpoint: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}
