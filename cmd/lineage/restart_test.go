package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
)

// recklessRoster founds an agent that trades every tick at full risk and
// dies within a few thousand ticks, beside one that lives.
func recklessRoster(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "roster.json")
	body := `[{"name":"Reckless","strategy":"momentum","params":{"fast":2,"slow":3,"band":0,"risk":3}},
	          {"name":"Steady","strategy":"conservative"}]`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeRestartResumesTheRun stops a server after a death and starts it
// again on the same data dir: the rebuilt arena has the same ledger, the
// sequence continues without a gap, and the dead stay dead.
func TestServeRestartResumesTheRun(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "--data-dir", dir, "--roster", recklessRoster(t), "--seed", "1",
		"--tick-interval", "1ms", "--agent-interval", "50ms", "--round-ticks", "100")
	s.logs.waitFor(t, "msg=death", s.exited)
	if code := s.stop(); code != 0 {
		t.Fatalf("first run exited %d:\n%s", code, s.logs)
	}
	first := s.logs.String()
	hash := field(t, first, "shutting down", "ledger_hash")
	next := field(t, first, "shutting down", "next_sequence")

	s = startServer(t, "--data-dir", dir, "--tick-interval", "1ms", "--agent-interval", "50ms")
	s.logs.waitFor(t, "arena resumed", s.exited)
	resumed := s.logs.String()
	if got := field(t, resumed, "arena resumed", "ledger_hash"); got != hash {
		t.Errorf("rebuilt ledger hash %s, the first run ended with %s", got, hash)
	}
	if got := field(t, resumed, "arena resumed", "next_sequence"); got != next {
		t.Errorf("rebuilt next sequence %s, the first run ended at %s", got, next)
	}
	if got := field(t, resumed, "arena resumed", "seed"); got != "1" {
		t.Errorf("resumed with seed %s, want the stored 1", got)
	}
	s.logs.waitFor(t, "msg=round", s.exited) // a round after the restart
	if code := s.stop(); code != 0 {
		t.Fatalf("second run exited %d:\n%s", code, s.logs)
	}

	// The whole history verifies, and nothing happens to the dead.
	dead := map[string]uint64{}
	var records uint64
	err := eventlog.Walk(filepath.Join(dir, "events"), func(r eventlog.Record) error {
		records++
		if r.Seq == 0 {
			return nil
		}
		var e arena.Event
		if err := json.Unmarshal(r.Payload, &e); err != nil {
			return err
		}
		if e.Seq != r.Seq {
			return errors.New("event sequence differs from its record's")
		}
		var who string
		switch {
		case e.Death != nil:
			dead[e.Death.Agent] = e.Seq
			return nil
		case e.Trade != nil:
			who = e.Trade.Agent
		case e.Scar != nil:
			who = e.Scar.Agent
		case e.Agent != nil:
			who = e.Agent.ID
		}
		if at, ok := dead[who]; ok {
			t.Errorf("seq %d: %s appears in a %s event after dying at %d", e.Seq, who, e.Type, at)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk the log: %v", err)
	}
	if _, ok := dead["Reckless"]; !ok {
		t.Fatal("Reckless did not die: the test proves nothing about the dead")
	}
	if first, _ := strconv.ParseUint(next, 10, 64); records <= first {
		t.Errorf("the second run added nothing: %d records, %d after the first", records, first)
	}
}

func TestServeRefusesToChangeAStoredRun(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "--data-dir", dir, "--seed", "1", "--tick-interval", "1ms", "--round-ticks", "10")
	s.logs.waitFor(t, "msg=round", s.exited)
	s.stop()
	for _, args := range [][]string{
		{"--seed", "2"},
		{"--symbols", "BTC-USD"},
		{"--agents", "10"},
	} {
		r := runCmd(t, nil, append([]string{"serve", "--data-dir", dir}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "the data dir holds a run") {
			t.Errorf("serve %v on a stored run: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	// The same seed, given again, is no conflict.
	s = startServer(t, "--data-dir", dir, "--seed", "1", "--tick-interval", "1ms")
	s.logs.waitFor(t, "arena resumed", s.exited)
	if code := s.stop(); code != 0 {
		t.Errorf("resume with the stored seed exited %d:\n%s", code, s.logs)
	}
}

func TestServeRefusesABrokenHistory(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "--data-dir", dir, "--seed", "1", "--tick-interval", "1ms", "--round-ticks", "10")
	s.logs.waitFor(t, "msg=round", s.exited)
	s.stop()
	segs, _ := filepath.Glob(filepath.Join(dir, "events", "*.seg"))
	b, err := os.ReadFile(segs[0])
	if err != nil || len(b) < 2000 {
		t.Fatalf("segment: %d bytes, %v", len(b), err)
	}
	b[len(b)/2] ^= 0x20
	os.WriteFile(segs[0], b, 0o600)
	r := runCmd(t, nil, "serve", "--data-dir", dir, "--tick-interval", "1ms")
	if r.code != 1 || !strings.Contains(r.stderr, "corrupt event log") {
		t.Errorf("serve on a broken log: exit %d, stderr %q", r.code, r.stderr)
	}
}
