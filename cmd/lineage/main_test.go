package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestMain lets tests run the real binary: with LINEAGE_TEST_EXEC=1 the
// test executable is lineage itself. The commands are tested in package
// cli; what is tested here is main: the exit code and the signals.
func TestMain(m *testing.M) {
	if os.Getenv("LINEAGE_TEST_EXEC") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// lineage is the test binary run as lineage with args.
func lineage(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), "LINEAGE_TEST_EXEC=1")
	return cmd
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  string // in stdout or stderr
	}{
		{[]string{"version"}, 0, "lineage "},
		{[]string{"help", "serve"}, 0, "--roster"},
		{[]string{"arena", "--ticks", "0"}, 2, "lineage arena: --ticks 0"},
		{[]string{"verify", "--data-dir", t.TempDir()}, 1, "lineage verify: "},
		{[]string{"dance"}, 2, `unknown command "dance"`},
	}
	for _, tt := range tests {
		out, err := lineage(t, tt.args...).CombinedOutput()
		code := 0
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tt.code || !strings.Contains(string(out), tt.out) {
			t.Errorf("lineage %s: exit %d, want %d with %q in:\n%s", strings.Join(tt.args, " "), code, tt.code, tt.out, out)
		}
	}
}

// SIGTERM stops serve cleanly: exit 0 after its shutdown line.
func TestServeStopsOnSIGTERM(t *testing.T) {
	cmd := lineage(t, "serve", "--data-dir", t.TempDir(), "--seed", "3", "--tick-interval", "10ms",
		"--ws-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	for lines.Scan() && !strings.Contains(lines.Text(), "msg=serving") {
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	for lines.Scan() {
		log.WriteString(lines.Text() + "\n")
	}
	// stderr is closed: serve has exited.
	if err := cmd.Wait(); err != nil || !strings.Contains(log.String(), `msg="shutting down"`) {
		t.Errorf("serve after SIGTERM: %v; log:\n%s", err, log.String())
	}
}
