package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/lineage-arena/lineage/cli"
)

// TestMain runs the test binary as the program itself when
// CUSTOMCLI_TEST_EXEC=1, so the tests run its real main.
func TestMain(m *testing.M) {
	if os.Getenv("CUSTOMCLI_TEST_EXEC") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// program is the test binary run as customcli with args.
func program(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), "CUSTOMCLI_TEST_EXEC=1")
	return cmd
}

// output runs the program and returns its stdout, failing on a non-zero exit.
func output(t *testing.T, args ...string) string {
	t.Helper()
	cmd := program(t, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("customcli %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// A roster naming dip runs offline and dip's founders are on the
// leaderboard.
func TestArenaRosterNamesDip(t *testing.T) {
	roster := filepath.Join(t.TempDir(), "roster.json")
	body := `[{"name":"Dipper","strategy":"dip"},{"name":"Cautious","strategy":"dip","params":{"risk":0.2}},{"name":"Mo","strategy":"momentum"}]`
	if err := os.WriteFile(roster, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Agents []struct {
			Agent    string `json:"agent_id"`
			Strategy string `json:"strategy"`
		} `json:"agents"`
	}
	out := output(t, "arena", "--roster", roster, "--seed", "2", "--ticks", "2000", "--format", "json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	got := map[string]string{}
	for _, a := range rep.Agents {
		got[a.Agent] = a.Strategy
	}
	if got["Dipper"] != "dip" || got["Cautious"] != "dip" || got["Mo"] != "momentum" {
		t.Errorf("leaderboard %v, want Dipper and Cautious trading dip beside Mo", got)
	}
}

// serve founds a run of dip agents and stops on SIGTERM; verify checks the
// data dir, rebuilding the run with dip.
func TestServeThenVerify(t *testing.T) {
	dir := t.TempDir()
	cmd := program(t, "serve", "--data-dir", dir, "--agents", "8", "--seed", "6", "--tick-interval", "1ms",
		"--round-ticks", "20", "--ws-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	lines := bufio.NewScanner(stderr)
	for lines.Scan() && !strings.Contains(lines.Text(), "msg=round") { // a round: the agents have traded
		log.WriteString(lines.Text() + "\n")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
		log.WriteString(lines.Text() + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), `msg="arena founded"`) {
		t.Fatalf("serve founded no run:\n%s", log.String())
	}
	if out := output(t, "verify", "--data-dir", dir); !strings.HasPrefix(out, "ok: ") {
		t.Errorf("verify: %q", out)
	}
	if out := output(t, "graveyard", "--data-dir", dir, "--format", "json"); !strings.HasPrefix(out, "[") {
		t.Errorf("graveyard: %q", out)
	}
	// The plain lineage command set, without dip, refuses the run, naming it.
	var plain strings.Builder
	if code := cli.Main(t.Context(), []string{"verify", "--data-dir", dir}, cli.Options{Stdout: &plain, Stderr: &plain}); code != 1 ||
		!strings.Contains(plain.String(), `strategy "dip"`) {
		t.Errorf("lineage verify without dip: exit %d\n%s", code, plain.String())
	}
}
