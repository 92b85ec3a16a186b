package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/feed"
)

// TestMain lets tests run the real binary: with LINEAGE_TEST_EXEC=1 the
// test executable is lineage itself, as cmd/lineage's main makes it.
func TestMain(m *testing.M) {
	if os.Getenv("LINEAGE_TEST_EXEC") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Main(ctx, os.Args[1:], Options{})
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// result is what one in-process run printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs lineage in-process with args and the given environment.
func runCmd(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return runCmdCtx(t.Context(), env, args...)
}

// runCmdCtx is runCmd until ctx is done.
func runCmdCtx(ctx context.Context, env map[string]string, args ...string) result {
	var out, errb bytes.Buffer
	e := &cmdEnv{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	code := run(ctx, e, args)
	return result{code, out.String(), errb.String()}
}

// execLineage runs the test binary as lineage in a child process.
func execLineage(t *testing.T, extraEnv []string, args ...string) (stdout []byte) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), append([]string{"LINEAGE_TEST_EXEC=1"}, extraEnv...)...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("lineage %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out
}

func TestArenaSameHashWhateverGOMAXPROCS(t *testing.T) {
	args := []string{"arena", "--seed", "42", "--ticks", "20000", "--agents", "200", "--format", "json"}
	one := execLineage(t, []string{"GOMAXPROCS=1"}, args...)
	two := execLineage(t, []string{"GOMAXPROCS=2"}, args...)
	again := execLineage(t, []string{"GOMAXPROCS=2"}, args...)
	var rep struct {
		LedgerHash    string `json:"ledger_hash"`
		LedgerRecords int64  `json:"ledger_records"`
		Seed          uint64 `json:"seed"`
	}
	if err := json.Unmarshal(one, &rep); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	if len(rep.LedgerHash) != 64 || rep.LedgerRecords == 0 || rep.Seed != 42 {
		t.Fatalf("report hash %q records %d seed %d", rep.LedgerHash, rep.LedgerRecords, rep.Seed)
	}
	if !bytes.Equal(one, two) || !bytes.Equal(two, again) {
		t.Errorf("reports differ between GOMAXPROCS=1 and 2 or between runs")
	}
}

func TestArenaBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badCSV := write("bad.csv", "timestamp,symbol,price\n2025-01-01T00:00:00Z,BTC-USD,100\n2025-01-01T00:00:05Z,BTC-USD,abc\n")
	dup := write("dup.json", `[{"name":"A","strategy":"momentum"},{"name":"A","strategy":"balanced"}]`)
	unknown := write("unknown.json", `[{"name":"A","strategy":"coinflip"}]`)
	typo := write("typo.json", `[{"name":"A","stratgy":"momentum"}]`)
	notJSON := write("roster.txt", `name,strategy`)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"unknown flag", nil, []string{"--nope"}, 2, "flag provided but not defined"},
		{"zero ticks", nil, []string{"--ticks", "0"}, 2, "--ticks 0"},
		{"negative ticks", nil, []string{"--ticks", "-5"}, 2, "--ticks -5"},
		{"zero agents", nil, []string{"--agents", "0"}, 2, "--agents 0"},
		{"negative agents", nil, []string{"--agents", "-3"}, 2, "--agents -3"},
		{"zero round ticks", nil, []string{"--round-ticks", "0"}, 2, "--round-ticks 0"},
		{"bad format", nil, []string{"--format", "xml"}, 2, `--format "xml"`},
		{"bad feed", nil, []string{"--feed", "magic"}, 2, `--feed "magic"`},
		{"replay without file", nil, []string{"--feed", "replay"}, 2, "needs --replay"},
		{"bad symbol", nil, []string{"--symbols", "BTC-USD,??"}, 2, "invalid symbol"},
		{"bad seed", nil, []string{"--seed", "-1"}, 2, "--seed"},
		{"bad env twin", map[string]string{"LINEAGE_TICKS": "many"}, nil, 2, "LINEAGE_TICKS"},
		{"agents and roster", nil, []string{"--agents", "5", "--roster", dup}, 2, "exclude each other"},
		{"stray argument", nil, []string{"extra"}, 2, `unexpected argument "extra"`},
		{"missing replay file", nil, []string{"--feed", "replay", "--replay", filepath.Join(dir, "missing.csv")}, 1, "missing.csv"},
		{"malformed csv", nil, []string{"--feed", "replay", "--replay", badCSV}, 1, "bad.csv:3:"},
		{"missing roster", nil, []string{"--roster", filepath.Join(dir, "none.json")}, 1, "none.json"},
		{"duplicate names", nil, []string{"--roster", dup}, 1, `duplicate agent name "A"`},
		{"unknown strategy", nil, []string{"--roster", unknown}, 1, `unknown strategy "coinflip"`},
		{"misspelt field", nil, []string{"--roster", typo}, 1, "stratgy"},
		{"roster not json", nil, []string{"--roster", notJSON}, 1, "roster.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No --seed: a drawn seed is announced only once the run starts,
			// so the error is always the first line.
			args := append([]string{"arena", "--ticks", "10"}, tt.args...)
			if tt.name == "zero ticks" || tt.name == "negative ticks" || tt.name == "bad env twin" {
				args = append([]string{"arena"}, tt.args...)
			}
			r := runCmd(t, tt.env, args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.code, r.stderr)
			}
			stderr := r.stderr
			if tt.name == "malformed csv" {
				// The bad row is found once the run has started and
				// announced its drawn seed.
				seedLine, rest, _ := strings.Cut(stderr, "\n")
				if !strings.HasPrefix(seedLine, "seed ") {
					t.Errorf("first line %q, want the drawn seed", seedLine)
				}
				stderr = rest
			}
			first, _, _ := strings.Cut(stderr, "\n")
			if !strings.HasPrefix(first, "lineage arena: ") || !strings.Contains(first, tt.want) {
				t.Errorf("first stderr line %q, want it to name %q", first, tt.want)
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
				t.Errorf("stderr has a stack trace:\n%s", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("printed a report despite the error:\n%s", r.stdout)
			}
		})
	}
}

type jsonReport struct {
	Ticks      int64  `json:"ticks"`
	LedgerHash string `json:"ledger_hash"`
	Config     struct {
		Feed    string   `json:"feed"`
		Symbols []string `json:"symbols"`
	} `json:"config"`
	Agents []struct {
		Agent   string          `json:"agent_id"`
		Capital json.RawMessage `json:"capital"`
		Status  string          `json:"status"`
	} `json:"agents"`
	Trades []struct {
		Agent string `json:"agent_id"`
	} `json:"trades"`
	Rounds []struct {
		Winner string `json:"winner"`
	} `json:"rounds"`
}

func TestArenaReports(t *testing.T) {
	base := []string{"arena", "--seed", "7", "--ticks", "3000", "--round-ticks", "1000"}
	t.Run("json", func(t *testing.T) {
		r := runCmd(t, nil, append(base, "--format", "json", "--trades")...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		var rep jsonReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Ticks != 3000 || len(rep.Agents) < 3 || len(rep.Rounds) != 3 || rep.Config.Feed != "sim" || len(rep.Config.Symbols) != 5 {
			t.Errorf("report: ticks %d, %d agents, %d rounds, feed %s, %d symbols", rep.Ticks, len(rep.Agents), len(rep.Rounds), rep.Config.Feed, len(rep.Config.Symbols))
		}
		if len(rep.Trades) == 0 {
			t.Error("--trades gave no trade ledger")
		}
		if _, _, ok := strings.Cut(r.stderr, "seed"); ok {
			t.Errorf("a given seed was announced on stderr: %q", r.stderr)
		}
	})
	t.Run("table", func(t *testing.T) {
		r := runCmd(t, nil, base...)
		for _, want := range []string{"RANK", "Momentum", "Conservative", "Balanced", "Ledger hash: ", "Round winners: "} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("table lacks %q:\n%s", want, r.stdout)
			}
		}
	})
	t.Run("csv", func(t *testing.T) {
		r := runCmd(t, nil, append(base, "--format", "csv")...)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "rank,agent,strategy,") {
			t.Errorf("csv leaderboard:\n%s", r.stdout)
		}
		r = runCmd(t, nil, append(base, "--format", "csv", "--trades")...)
		if !strings.HasPrefix(r.stdout, "sequence,tick,time,decision_tick,decision_sequence,agent,symbol,action,side,quantity,price,slippage_ppm,fee,realized_pnl,net_pnl,cash,reason\n") {
			t.Errorf("csv trade ledger starts %q", firstLine(r.stdout))
		}
	})
	t.Run("out file", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "report.json")
		r := runCmd(t, nil, append(base, "--format", "json", "--out", out)...)
		if r.code != 0 || r.stdout != "" {
			t.Fatalf("exit %d stdout %q", r.code, r.stdout)
		}
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o640 {
			t.Errorf("report mode %v, want 0640", st.Mode().Perm())
		}
	})
	t.Run("random seed is printed", func(t *testing.T) {
		r := runCmd(t, nil, "arena", "--ticks", "100")
		if r.code != 0 || !strings.HasPrefix(r.stderr, "seed ") {
			t.Errorf("exit %d, stderr %q: want the drawn seed announced", r.code, r.stderr)
		}
	})
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func TestEnvironmentTwins(t *testing.T) {
	env := map[string]string{"LINEAGE_TICKS": "500", "LINEAGE_SEED": "3", "LINEAGE_ARENA_FORMAT": "json"}
	var rep jsonReport
	r := runCmd(t, env, "arena")
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Ticks != 500 {
		t.Fatalf("LINEAGE_TICKS=500: ticks %d, err %v, stderr %s", rep.Ticks, err, r.stderr)
	}
	r = runCmd(t, env, "arena", "--ticks", "200")
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Ticks != 200 {
		t.Errorf("--ticks 200 with LINEAGE_TICKS=500: ticks %d, want the flag to win", rep.Ticks)
	}
	env["LINEAGE_ARENA_TICKS"] = "300"
	r = runCmd(t, env, "arena")
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Ticks != 300 {
		t.Errorf("LINEAGE_ARENA_TICKS=300 with LINEAGE_TICKS=500: ticks %d, want the scoped twin to win", rep.Ticks)
	}
	// LINEAGE_FORMAT means different things to arena and graveyard: neither reads it.
	r = runCmd(t, map[string]string{"LINEAGE_FORMAT": "json"}, "arena", "--ticks", "10", "--seed", "1")
	if r.code != 0 || strings.HasPrefix(r.stdout, "{") {
		t.Errorf("arena read LINEAGE_FORMAT=json: exit %d, stdout starts %q", r.code, firstLine(r.stdout))
	}
}

func TestArenaReplay(t *testing.T) {
	// Record 2,000 sim ticks as a generic CSV, then replay them.
	path := filepath.Join(t.TempDir(), "ticks.csv")
	var b strings.Builder
	b.WriteString("timestamp,symbol,price\n")
	sim := feed.NewSim(feed.SimConfig{Seed: 11})
	for range 2000 {
		tk, err := sim.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s,%s,%s\n", tk.Time.Format(time.RFC3339), tk.Symbol, tk.Price)
	}
	b.WriteString("2030-01-01T00:00:00Z,BTC-USD,not-a-price\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, nil, "arena", "--seed", "1", "--feed", "replay", "--replay", path, "--lenient", "--format", "json", "--symbols", "BTC-USD,ETH-USD")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep struct {
		jsonReport
		Skipped int `json:"skipped_rows"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Ticks != 800 || rep.Skipped != 1 || len(rep.Config.Symbols) != 2 {
		t.Errorf("replayed %d ticks (want 800 of BTC and ETH), skipped %d (want 1), symbols %v", rep.Ticks, rep.Skipped, rep.Config.Symbols)
	}
}

func TestHelpListsFlagsAndTwins(t *testing.T) {
	r := runCmd(t, nil, "help", "arena")
	for _, want := range []string{"--ticks", "$LINEAGE_TICKS", "--roster", "$LINEAGE_ROSTER", "--format"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help arena lacks %q", want)
		}
	}
	if r := runCmd(t, nil); r.code != 2 || !strings.Contains(r.stderr, "commands:") {
		t.Errorf("no command: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runCmd(t, nil, "dance"); r.code != 2 || !strings.Contains(r.stderr, `unknown command "dance"`) {
		t.Errorf("unknown command: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runCmd(t, nil, "watch", "--retry=false", "ws://127.0.0.1:1"); r.code != 1 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("watch with nothing listening: exit %d, stderr %q; want exit 1 and one line", r.code, r.stderr)
	}
	if r := runCmd(t, nil, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "lineage ") {
		t.Errorf("version: exit %d, stdout %q", r.code, r.stdout)
	}
}
