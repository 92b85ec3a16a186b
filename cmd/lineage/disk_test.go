package main

import (
	"os"
	"os/exec"
	"path/filepath"
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

// A full disk stops the server with a clear error and leaves a log that
// opens and verifies: what was acknowledged is intact, what was not is at
// most a torn tail.
func TestServeStopsCleanlyOnAFullDisk(t *testing.T) {
	dir := tinyDisk(t)
	r := runCmd(t, nil, "serve", "--data-dir", dir, "--ws-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--seed", "1", "--agents", "60", "--tick-interval", "1ms",
		"--agent-interval", "1ms", "--round-ticks", "50")
	if r.code != 1 || !strings.Contains(r.stderr, "no space left on device") {
		t.Fatalf("serve on a full disk: exit %d, stderr:\n%s", r.code, lastLines(r.stderr, 3))
	}
	if strings.Contains(r.stderr, "panic") {
		t.Errorf("a panic:\n%s", r.stderr)
	}
	// Truncating a torn tail needs no space: the log opens and verifies.
	l, err := eventlog.Open(filepath.Join(dir, "events"), eventlog.Options{})
	if err != nil {
		t.Fatalf("reopen after a full disk: %v", err)
	}
	next, _ := l.Last()
	l.Close()
	if n, err := eventlog.Verify(filepath.Join(dir, "events")); err != nil || n != next || n < 100 {
		t.Errorf("after a full disk: Verify = %d, %v (reopened with %d)", n, err, next)
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
