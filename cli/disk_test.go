package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lineage-arena/lineage/eventlog"
)

// tinyDisk mounts a 256 KiB tmpfs, so a server fills it within a second.
// It needs root (mount); elsewhere the test skips, and in CI it fails.
func tinyDisk(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := "cannot mount a tmpfs to fill (needs root): " + strings.TrimSpace(string(out))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// A full disk holds the server instead of stopping it: /readyz says why,
// and once space is freed the arena goes on; the log opens and verifies,
// one gap-free chain across the failure.
func TestServeHoldsOnAFullDiskAndResumes(t *testing.T) {
	dir := tinyDisk(t)
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 96<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--data-dir", filepath.Join(dir, "data"), "--seed", "1", "--agents", "60", "--tick-interval", "1ms",
		"--agent-interval", "5ms", "--round-ticks", "50")
	s.logs.waitFor(t, "write failed: the arena is held", s.exited)
	s.logs.waitFor(t, "msg=metrics", s.exited)
	metricsURL := field(t, s.logs.String(), "msg=metrics", "url")
	waitReady(t, metricsURL, 503, "no space left on device")
	held, err := strconv.ParseUint(field(t, s.logs.String(), "write failed", "first_held"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	s.logs.waitFor(t, "writes succeed again", s.exited)
	// The disk fills again soon: stopped while held, serve says why.
	code := s.stop()
	out := s.logs.String()
	if code != 0 && (code != 1 || !strings.Contains(lastLines(out, 1), "no space left on device")) {
		t.Fatalf("serve stopped with %d:\n%s", code, lastLines(out, 3))
	}
	if strings.Contains(out, "panic") {
		t.Errorf("a panic:\n%s", out)
	}
	// Truncating a torn tail needs no space: the log opens and verifies.
	events := filepath.Join(dir, "data", "events")
	l, err := eventlog.Open(events, eventlog.Options{})
	if err != nil {
		t.Fatalf("reopen after a full disk: %v", err)
	}
	next, _ := l.Last()
	l.Close()
	if n, err := eventlog.Verify(events); err != nil || n != next || n <= held {
		t.Errorf("after a full disk: Verify = %d, %v (reopened with %d); want past %d, where the disk first filled", n, err, next, held)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func TestServeRefusesADataDirItCannotUse(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	os.WriteFile(file, nil, 0o600)
	r := runCmd(t, nil, "serve", "--data-dir", file)
	if r.code != 1 || !strings.Contains(r.stderr, "not-a-dir") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
		t.Errorf("serve with a file as data dir: exit %d, stderr %q; want one line naming it", r.code, r.stderr)
	}
}
