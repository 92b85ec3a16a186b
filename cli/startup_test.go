package cli

import (
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/market"
)

// busyAddr returns an address something already listens on.
func busyAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// writeRoster writes a roster file and returns its path.
func writeRoster(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "roster.json")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Every mistake serve can find without the data dir — a count past its
// bound, an address that is not one or is busy, a key pair that does not
// load — is reported in one line before the data dir is touched, so the
// retry with the intended flags founds the run.
func TestServeRefusesBeforeTheDataDir(t *testing.T) {
	notCert := filepath.Join(t.TempDir(), "cert.pem")
	os.WriteFile(notCert, []byte("not a certificate"), 0o600)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"agents past the machine", []string{"--agents", "100000000"}, 2, "--agents 100000000: at most"},
		{"max-agents past the machine", []string{"--max-agents", "100000000"}, 2, "--max-agents 100000000: at most"},
		{"max-agents below the founders", []string{"--max-agents", "1"}, 2, "--max-agents 1: fewer than the 3 founders"},
		{"max-agents below the generated founders", []string{"--agents", "20", "--max-agents", "19"}, 2, "fewer than the 20 founders"},
		{"round-ticks past the bound", []string{"--round-ticks", "2000000000"}, 2, "--round-ticks 2000000000: at most 1000000000"},
		{"metrics agents past the bound", []string{"--metrics-max-agents", "1000000"}, 2, "--metrics-max-agents 1000000: at most"},
		{"max-conns past the open-files limit", []string{"--max-conns", "2000000000"}, 2, "open-files limit"},
		{"feed unknown", []string{"--feed", "nosuch"}, 2, "want sim, replay or live"},
		{"ws-addr not an address", []string{"--ws-addr", "nonsense"}, 2, "--ws-addr \"nonsense\": want host:port"},
		{"ws-addr port out of range", []string{"--ws-addr", "127.0.0.1:99999"}, 2, "port \"99999\""},
		{"metrics-addr not an address", []string{"--metrics-addr", "localhost"}, 2, "--metrics-addr"},
		{"origin not an origin", []string{"--allowed-origins", "::bad"}, 2, "--allowed-origins \"::bad\""},
		{"origin with a user", []string{"--allowed-origins", "http://evil.example@localhost"}, 2, "no user"},
		{"origin with a path", []string{"--allowed-origins", "https://a.example/x"}, 2, "no user, path"},
		{"tls cert not a certificate", []string{"--tls-cert", notCert, "--tls-key", notCert}, 1, "--tls-cert " + notCert},
		{"ws-addr busy", []string{"--ws-addr", busyAddr(t)}, 1, "--ws-addr"},
		{"metrics-addr busy", []string{"--metrics-addr", busyAddr(t)}, 1, "--metrics-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"serve", "--data-dir", dir}, tt.args...)
			for _, flag := range []string{"--ws-addr", "--metrics-addr"} {
				if !strings.Contains(strings.Join(tt.args, " "), flag) {
					args = append(args, flag, "127.0.0.1:0")
				}
			}
			r := runCmd(t, nil, args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d naming %q", r.code, r.stderr, tt.code, tt.want)
			}
			if line := firstLine(r.stderr); !strings.HasPrefix(line, "lineage serve: ") {
				t.Errorf("first line %q: want the error, alone", line)
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the data dir was touched: %v", err)
			}
		})
	}
}

// The retry of a serve refused for a busy address founds the run it was
// meant to: nothing of the failed one is left.
func TestServeRetryAfterABusyPortFoundsTheIntendedRun(t *testing.T) {
	dir := t.TempDir()
	r := runCmd(t, nil, "serve", "--data-dir", dir, "--ws-addr", busyAddr(t), "--metrics-addr", "127.0.0.1:0")
	if r.code != 1 {
		t.Fatalf("busy port: exit %d, %s", r.code, r.stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the data dir holds %d entries after the failure, want none", len(entries))
	}
	s := startServer(t, "--data-dir", dir, "--seed", "77", "--tick-interval", "1ms")
	s.logs.waitFor(t, "arena founded", s.exited)
	if code := s.stop(); code != 0 || field(t, s.logs.String(), "arena founded", "seed") != "77" {
		t.Fatalf("retry: exit %d:\n%s", code, s.logs)
	}
}

func TestArenaRefusesCountsPastTheirBound(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--agents", "100000000"}, "--agents 100000000: at most"},
		{[]string{"--ticks", "2000000000000"}, "--ticks 2000000000000: at most"},
		{[]string{"--max-agents", "2"}, "fewer than the 3 founders"},
		{[]string{"--feed", "nosuch"}, "want sim, replay or live"},
	} {
		r := runCmd(t, nil, append([]string{"arena"}, tt.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("arena %v: exit %d, stderr %q; want exit 2 naming %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

func TestServeRefusesAnEmptyDataDir(t *testing.T) {
	t.Chdir(t.TempDir())
	r := runCmd(t, nil, "serve", "--data-dir", "", "--ws-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	if r.code != 2 || !strings.Contains(r.stderr, "--data-dir: must not be empty") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Errorf("the working directory holds %d entries, want none", len(entries))
	}
}

// A roster's capital is the default only when it is left out: zero, a
// negative amount or one finer than a millionth of a dollar is an error.
func TestRosterCapital(t *testing.T) {
	for _, tt := range []struct {
		capital string
		want    string // error; "" for success
		cents   market.Money
	}{
		{`, "capital": 0`, `capital 0 must be positive (leave "capital" out for the default 100000`, 0},
		{`, "capital": -5`, "must be positive", 0},
		{`, "capital": 100.1234567`, "finer than the money resolution 0.000001", 0},
		{`, "capital": "100.0000001"`, "finer than the money resolution", 0},
		{`, "capital": 100.123456`, "", market.MoneyFromFloat(100.123456)},
		{`, "capital": "2500"`, "", market.USD(2500)},
		{``, "", 0}, // the default
	} {
		path := writeRoster(t, `[{"name": "A", "strategy": "momentum"`+tt.capital+`}]`)
		roster, err := readRoster(path, nil)
		switch {
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("capital%s: error %v, want one naming %q", tt.capital, err, tt.want)
		case tt.want == "" && err != nil:
			t.Errorf("capital%s: %v", tt.capital, err)
		case tt.want == "" && roster[0].Capital != tt.cents:
			t.Errorf("capital%s: read %v, want %v", tt.capital, roster[0].Capital, tt.cents)
		}
	}
	r := runCmd(t, nil, "arena", "--roster", writeRoster(t, `[{"name": "A", "strategy": "momentum", "capital": 0}]`), "--ticks", "5")
	if r.code == 0 || !strings.Contains(r.stderr, "must be positive") {
		t.Errorf("arena with a zero capital: exit %d, %q", r.code, r.stderr)
	}
}

func TestParseOrigins(t *testing.T) {
	good := "https://a.example, http://localhost:*, http://[::1]:8080,*"
	got, err := parseOrigins(good)
	if err != nil || len(got) != 4 {
		t.Errorf("parseOrigins(%q) = %q, %v", good, got, err)
	}
	for _, bad := range []string{"::bad", "a.example", "ftp://a.example", "http://", "http://a.example:99999",
		"http://a.example:80:*", "http://u:p@a.example", "http://a.example?x", "http://a.example#f", "http://a.example/"} {
		if _, err := parseOrigins(bad); err == nil {
			t.Errorf("parseOrigins(%q) accepted", bad)
		}
	}
}

// A data dir that is not private is used with one warning; a new one is
// made private.
func TestServeWarnsOfAnOpenDataDir(t *testing.T) {
	open := filepath.Join(t.TempDir(), "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o755)
	s := startServer(t, "--data-dir", open, "--tick-interval", "1ms")
	s.logs.waitFor(t, "msg=serving", s.exited)
	s.stop()
	if n := strings.Count(s.logs.String(), "data dir is open to group or others"); n != 1 {
		t.Errorf("%d warnings about a 0755 data dir, want 1:\n%s", n, s.logs)
	}

	fresh := filepath.Join(t.TempDir(), "fresh")
	s = startServer(t, "--data-dir", fresh, "--tick-interval", "1ms")
	s.logs.waitFor(t, "msg=serving", s.exited)
	s.stop()
	fi, err := os.Stat(fresh)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("new data dir: %v, %v; want mode 0700", fi, err)
	}
	if strings.Contains(s.logs.String(), "data dir is open") {
		t.Errorf("a warning about a new data dir:\n%s", s.logs)
	}
}

// SIGINT during a long start returns at once: a rebuild stops within a
// thousand records, and a founding before its genesis is written.
func TestServeInterruptedWhileStarting(t *testing.T) {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	serve := func(args ...string) (int, string) {
		lw := newLogWatcher()
		env := &cmdEnv{Stdout: &strings.Builder{}, Stderr: lw, Getenv: func(string) string { return "" }}
		code := run(cancelled, env, append([]string{"serve", "--ws-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"}, args...))
		return code, lw.String()
	}

	// A cancelled start stops before anything is read or written: the
	// rebuild within a thousand records (engine.TestOpenInterrupted), here
	// at once.
	big := deadRun(t)
	want, err := eventlog.Verify(filepath.Join(big, "events"))
	if err != nil {
		t.Fatal(err)
	}
	code, logs := serve("--data-dir", big, "--tick-interval", "1ms")
	if code != 0 || !strings.Contains(logs, "interrupted while starting") || strings.Contains(logs, "arena resumed") {
		t.Errorf("rebuild interrupted: exit %d:\n%s", code, logs)
	}
	// The log is as it was, whole.
	if n, err := eventlog.Verify(filepath.Join(big, "events")); err != nil || n != want {
		t.Errorf("after an interrupted rebuild: Verify = %d, %v; want %d", n, err, want)
	}

	fresh := filepath.Join(t.TempDir(), "fresh")
	code, logs = serve("--data-dir", fresh, "--agents", "2000", "--seed", "1")
	if code != 0 || strings.Contains(logs, "arena founded") {
		t.Errorf("founding interrupted: exit %d:\n%s", code, logs)
	}
	records := 0
	eventlog.Walk(filepath.Join(fresh, "events"), func(eventlog.Record) error { records++; return nil })
	if records != 0 {
		t.Errorf("an interrupted founding left %d records; want none, so that the next serve founds afresh", records)
	}
	s := startServer(t, "--data-dir", fresh, "--seed", "9", "--tick-interval", "1ms")
	s.logs.waitFor(t, "arena founded", s.exited)
	if code := s.stop(); code != 0 || field(t, s.logs.String(), "arena founded", "seed") != "9" {
		t.Errorf("serve after an interrupted founding: exit %d:\n%s", code, s.logs)
	}
}

// A data dir whose segment is not a Lineage segment (random bytes) is
// refused by verify and by serve, and left as it was.
func TestForeignSegmentRefused(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	events := filepath.Join(dir, "events")
	os.Mkdir(events, 0o700)
	junk := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range junk {
		junk[i] = byte(rng.Uint32())
	}
	seg := filepath.Join(events, strings.Repeat("0", 20)+".seg")
	if err := os.WriteFile(seg, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	const want = "not a Lineage event log segment"
	if r := runCmd(t, nil, "verify", "--data-dir", dir); r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("verify: exit %d, stderr %q; want exit 1 naming %q", r.code, r.stderr, want)
	}
	r := runCmd(t, nil, "serve", "--data-dir", dir, "--ws-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("serve: exit %d, stderr %q; want exit 1 naming %q", r.code, r.stderr, want)
	}
	if b, _ := os.ReadFile(seg); string(b) != string(junk) {
		t.Errorf("the foreign segment was changed: %d bytes", len(b))
	}
}
