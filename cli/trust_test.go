package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lineage-arena/lineage/graveyard"
)

// A data dir whose graveyard cannot be trusted is refused at start, with
// one line naming the defect and pointing at verify; a run that has events
// is never given a new key.
func TestServeRefusesAnUntrustedGraveyard(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"key deleted", func(t *testing.T, dir string) {
			mustRemove(t, filepath.Join(dir, graveyard.KeyFile))
		}, "graveyard.key is missing"},
		{"tombstone tampered", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "graveyard", "Reckless.tomb")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			edited := strings.Replace(string(b), `"cause": "`, `"cause": "x`, 1)
			if edited == string(b) {
				t.Fatalf("no cause to edit in %s", b)
			}
			mustWrite(t, path, edited)
		}, "Reckless.tomb: bad signature"},
		{"tombstone malformed", func(t *testing.T, dir string) {
			mustWrite(t, filepath.Join(dir, "graveyard", "Reckless.tomb"), `{"agent_id": "Reckless"`)
		}, "Reckless.tomb: malformed"},
		{"extra tombstone", func(t *testing.T, dir string) {
			// Well-formed and signed with the run's key, for an agent the
			// log does not record as dead: it would bury the living.
			key, err := graveyard.LoadKey(dir)
			if err != nil {
				t.Fatal(err)
			}
			gy := filepath.Join(dir, "graveyard")
			tomb, err := graveyard.Read(filepath.Join(gy, "Reckless.tomb"), key)
			if err != nil {
				t.Fatal(err)
			}
			tomb.AgentID, tomb.Name = "Steady", "Steady"
			if _, err := graveyard.Write(gy, key, tomb); err != nil {
				t.Fatal(err)
			}
		}, "Steady.tomb: extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := deadRun(t)
			tt.damage(t, dir)
			code, logs := refused(t, startServer(t, "--data-dir", dir, "--tick-interval", "1ms"))
			line := lastLines(logs, 1)
			if code != 1 || !strings.HasPrefix(line, "lineage serve: ") || !strings.Contains(line, tt.want) ||
				!strings.Contains(line, "lineage verify --data-dir "+dir) {
				t.Fatalf("serve: exit %d, last line %q; want exit 1 and one line naming %q and pointing at verify", code, line, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, graveyard.KeyFile)); tt.name == "key deleted" && err == nil {
				t.Errorf("serve made a new key for a run that has events")
			}
		})
	}
}

// A run restarted with a sound graveyard starts as before, and a tombstone
// missing for a death in the log (a crash between the death and its
// burial) is written at start, not refused.
func TestServeBuriesAMissingTombstoneAtStart(t *testing.T) {
	dir := deadRun(t)
	mustRemove(t, filepath.Join(dir, "graveyard", "Reckless.tomb"))
	s := startServer(t, "--data-dir", dir, "--tick-interval", "1ms")
	s.logs.waitFor(t, "arena resumed", s.exited)
	if code := s.stop(); code != 0 {
		t.Fatalf("restart exited %d:\n%s", code, s.logs)
	}
	if !strings.Contains(s.logs.String(), "msg=buried agent=Reckless") {
		t.Errorf("the missing tombstone was not written at start:\n%s", s.logs)
	}
	if r := runCmd(t, nil, "verify", "--data-dir", dir); r.code != 0 {
		t.Errorf("verify after the burial: exit %d, %s", r.code, r.stderr)
	}
}

// refused waits for a server that should refuse to start: it returns the
// exit code and the log, or fails the test once the server serves.
func refused(t *testing.T, s *serveProc) (int, string) {
	t.Helper()
	for {
		if strings.Contains(s.logs.String(), "msg=serving") {
			code := s.stop()
			t.Fatalf("serve started (exit %d after a stop):\n%s", code, s.logs)
		}
		select {
		case code := <-s.exited:
			return code, s.logs.String()
		case <-s.logs.changed:
		}
	}
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// mustWrite replaces a file, read-only tombstones included.
func mustWrite(t *testing.T, path, body string) {
	t.Helper()
	os.Chmod(path, 0o600)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
