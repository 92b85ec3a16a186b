package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixedClock stamps every step with the same time, so that two runs over
// the same ticks give the same events, byte for byte.
func fixedClock() time.Time { return time.Date(2026, 2, 3, 14, 30, 0, 0, time.UTC) }

func ckptConfig(dir string, steps int, logger *slog.Logger) Config {
	return Config{Dir: dir, Found: simFounding(4), TickInterval: time.Millisecond, AgentInterval: time.Hour,
		Clock: fixedClock, CheckpointSteps: steps, CheckpointInterval: -1, Logger: logger}
}

// collectSteps runs e for n steps and returns the JSON of their events.
func collectSteps(t *testing.T, e *Engine, n int) [][]byte {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out [][]byte
	steps := 0
	e.Subscribe(func(s Step) {
		if steps++; steps > n {
			return
		}
		for _, ev := range s.Events {
			b, _ := json.Marshal(ev)
			out = append(out, b)
		}
		if steps == n {
			cancel()
		}
	})
	if err := e.Run(ctx, simFeed(4)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return out
}

// copyDir copies a data dir, the event log's lock file left out.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		if d.Name() == "LOCK" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(filepath.Join(to, rel), b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// logBuffer is a logger whose lines a test reads.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

// checkpointedRun founds a run with a checkpoint every 7 steps, runs it
// 400 steps, and returns the engine (open, not running) and its dir.
func checkpointedRun(t *testing.T) (*Engine, string) {
	t.Helper()
	dir := t.TempDir()
	e, err := Open(t.Context(), ckptConfig(dir, 40, nil))
	if err != nil {
		t.Fatal(err)
	}
	collectSteps(t, e, 400)
	files, _, _ := checkpointFiles(dir)
	if len(files) == 0 {
		t.Fatal("no checkpoint file after 400 steps with one every 40")
	}
	return e, dir
}

func mustOpen(t *testing.T, cfg Config) *Engine {
	t.Helper()
	e, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func stateOf(t *testing.T, e *Engine) []byte {
	t.Helper()
	b, err := e.ar.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A restart from a checkpoint reaches the state of the run it restarts,
// and of a full replay, and goes on with the same events, byte for byte,
// as the run left uninterrupted and as the full replay.
func TestRestartFromCheckpointGoesOnAsUninterruptedAndFullReplay(t *testing.T) {
	e0, dir := checkpointedRun(t)
	defer e0.Close()
	withCkpt := copyDir(t, dir)
	full := copyDir(t, dir)
	if err := os.RemoveAll(filepath.Join(full, checkpointDir)); err != nil {
		t.Fatal(err)
	}
	want := stateOf(t, e0)
	e0.ckpt = nil
	uninterrupted := collectSteps(t, e0, 200)

	logger, logs := logBuffer()
	a := mustOpen(t, ckptConfig(withCkpt, -1, logger))
	if !strings.Contains(logs.String(), "msg=\"arena resumed\"") || strings.Contains(logs.String(), "checkpoint=1 ") {
		t.Fatalf("the restart did not start from a checkpoint:\n%s", logs)
	}
	b := mustOpen(t, ckptConfig(full, -1, nil))
	if !bytes.Equal(stateOf(t, a), want) || !bytes.Equal(stateOf(t, b), want) {
		t.Fatal("the state rebuilt from a checkpoint, or from a full replay, is not the state the run had")
	}
	fromCkpt, replayed := collectSteps(t, a, 200), collectSteps(t, b, 200)
	if !bytes.Contains(bytes.Join(uninterrupted, nil), []byte(`"event_type":"trade"`)) || e0.ar.LedgerRecords() == 0 {
		t.Fatal("no trade in the run: the comparison would mean little")
	}
	for name, got := range map[string][][]byte{"from a checkpoint": fromCkpt, "from a full replay": replayed} {
		if len(got) != len(uninterrupted) {
			t.Fatalf("%s: %d events, uninterrupted %d", name, len(got), len(uninterrupted))
		}
		for i := range got {
			if !bytes.Equal(got[i], uninterrupted[i]) {
				t.Fatalf("%s: event %d differs:\n%s\n%s", name, i, got[i], uninterrupted[i])
			}
		}
	}
}

// A kill while a checkpoint is being written loses nothing: a temporary
// file left behind, a file without its event in the chain, an event
// whose file is missing and a file with a flipped byte each restart to
// the state of a full replay, the bad checkpoint skipped with a log line;
// verify passes the first three and names the flipped file.
func TestRestartSurvivesBrokenCheckpoints(t *testing.T) {
	e0, dir := checkpointedRun(t)
	want := stateOf(t, e0)
	if err := e0.Close(); err != nil {
		t.Fatal(err)
	}
	files, _, _ := checkpointFiles(dir)
	newest := newestFirst(files)[0]
	cases := []struct {
		name   string
		break_ func(d string)
		logged string
		bad    bool // verify must fail
	}{
		{"temporary file left", func(d string) {
			os.WriteFile(filepath.Join(d, checkpointDir, checkpointName(newest+5)+".tmp"), []byte("{half"), 0o600)
		}, "unfinished checkpoint removed", false},
		{"file without its record", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, checkpointDir, checkpointName(newest)))
			os.WriteFile(filepath.Join(d, checkpointDir, checkpointName(newest+3)), b, 0o600)
		}, "no checkpoint event in the log commits it", false},
		{"record whose file is missing", func(d string) {
			os.Remove(filepath.Join(d, checkpointDir, checkpointName(newest)))
		}, "", false},
		{"flipped byte", func(d string) {
			p := filepath.Join(d, checkpointDir, checkpointName(newest))
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x01
			os.WriteFile(p, b, 0o600)
		}, "is not the", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := copyDir(t, dir)
			c.break_(d)
			_, verr := Verify(t.Context(), d)
			if c.bad != (verr != nil) {
				t.Errorf("Verify = %v, want failure %v", verr, c.bad)
			}
			if c.bad && !strings.Contains(verr.Error(), checkpointName(newest)) {
				t.Errorf("Verify = %v, want the file named", verr)
			}
			logger, logs := logBuffer()
			e := mustOpen(t, ckptConfig(d, -1, logger))
			if !bytes.Equal(stateOf(t, e), want) {
				t.Fatal("restart reached another state than the run's")
			}
			if !strings.Contains(logs.String(), c.logged) {
				t.Errorf("log does not say %q:\n%s", c.logged, logs)
			}
			if strings.Contains(logs.String(), "checkpoint=1 ") {
				t.Errorf("fell back to a full replay although an older checkpoint verifies:\n%s", logs)
			}
		})
	}
}

// verify --replay proves every checkpoint equal to the state the replay
// from the genesis reaches; a file changed and re-committed is refused.
func TestVerifyReplayProvesCheckpoints(t *testing.T) {
	e0, dir := checkpointedRun(t)
	if err := e0.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := VerifyReplay(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	files, _, _ := checkpointFiles(dir)
	if a.Proved < len(files) || a.Checkpoints != len(files) || a.From != 1 {
		t.Errorf("VerifyReplay: %+v; %d files", a, len(files))
	}
	q, err := Verify(t.Context(), dir)
	if err != nil || q.From <= 1 || q.Checkpoints != len(files) {
		t.Errorf("Verify = %+v, %v: want a rebuild from a checkpoint", q, err)
	}
	p := filepath.Join(dir, checkpointDir, checkpointName(newestFirst(files)[0]))
	b, _ := os.ReadFile(p)
	os.WriteFile(p, bytes.Replace(b, []byte(`"cash":`), []byte(`"cash":1`), 1), 0o600)
	if _, err := VerifyReplay(t.Context(), dir); err == nil {
		t.Error("VerifyReplay passed a changed checkpoint file")
	}
}

// A restart from a checkpoint reads the log only from the oldest kept
// checkpoint on — the sealed segments before it are taken on their seals,
// so a byte flipped inside the first one goes unread (a full replay is
// refused over it) — and serves the same state, the same recent trades
// and the same graveyard as a full replay of the intact log.
func TestRestartReadsOnlyTheTail(t *testing.T) {
	dir := t.TempDir()
	cfg := ckptConfig(dir, 40, nil)
	cfg.segmentBytes = 16 << 10
	e0 := mustOpen(t, cfg)
	collectSteps(t, e0, 600)
	if err := e0.Close(); err != nil {
		t.Fatal(err)
	}
	full := copyDir(t, dir)
	os.RemoveAll(filepath.Join(full, checkpointDir))
	segs, _ := filepath.Glob(filepath.Join(dir, "events", "*.seg"))
	files, _, _ := checkpointFiles(dir)
	if len(segs) < 6 || len(files) == 0 {
		t.Fatalf("%d segments and %d checkpoints: the test needs several of each", len(segs), len(files))
	}
	want := mustOpen(t, ckptConfig(full, -1, nil))
	damaged := copyDir(t, dir)
	first := filepath.Join(damaged, "events", filepath.Base(segs[0]))
	st, _ := os.Stat(first)
	b, _ := os.ReadFile(first)
	b[st.Size()/2] ^= 0x40
	os.WriteFile(first, b, 0o600)

	logger, logs := logBuffer()
	got := mustOpen(t, ckptConfig(damaged, -1, logger))
	if strings.Contains(logs.String(), "checkpoint=1 ") || strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("the restart did not go from a checkpoint and the tail alone:\n%s", logs)
	}
	if !bytes.Equal(stateOf(t, got), stateOf(t, want)) {
		t.Fatal("the state rebuilt from the checkpoint and the tail is not the full replay's")
	}
	trades := 0
	for _, a := range want.ar.Agents() {
		w, g := want.Trades(a.ID), got.Trades(a.ID)
		trades += len(w)
		wb, _ := json.Marshal(w)
		gb, _ := json.Marshal(g)
		if !bytes.Equal(wb, gb) {
			t.Fatalf("agent %s: recent trades differ:\n%s\n%s", a.ID, gb, wb)
		}
	}
	if trades == 0 {
		t.Fatal("no trades: the comparison would mean little")
	}
	wg, err1 := want.Graveyard()
	gg, err2 := got.Graveyard()
	if err1 != nil || err2 != nil || len(wg) != len(gg) {
		t.Fatalf("graveyards: %d (%v) and %d (%v)", len(gg), err2, len(wg), err1)
	}
	if _, err := Open(t.Context(), ckptConfig(copyDir(t, full), -1, nil)); err != nil {
		t.Fatalf("the intact log without checkpoints: %v", err)
	}
	os.RemoveAll(filepath.Join(damaged, checkpointDir))
	got.Close()
	if e, err := Open(t.Context(), ckptConfig(damaged, -1, nil)); err == nil {
		e.Close()
		t.Fatal("a full replay opened the log with a flipped byte")
	}
}
