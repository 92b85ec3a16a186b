package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/graveyard"
)

// commandFlags returns the flag set of every command, by name, without
// running any: each command hands its flag set over when it would parse.
func commandFlags(t *testing.T) map[string]*flag.FlagSet {
	t.Helper()
	out := map[string]*flag.FlagSet{}
	for _, c := range commands() {
		env := &cmdEnv{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" },
			inspect: func(fs *flag.FlagSet) { out[c.name] = fs }}
		_ = c.run(t.Context(), env, nil)
		if out[c.name] == nil {
			t.Fatalf("lineage %s parsed no flags", c.name)
		}
	}
	return out
}

// An environment variable read by two commands must mean one thing to both:
// the same usage, type and default. A flag name that means different
// things in different commands must be scopedOnly.
func TestPlainTwinsMeanOneThing(t *testing.T) {
	type reader struct {
		cmd  string
		flag *flag.Flag
	}
	readers := map[string][]reader{} // variable → the flags that read it
	for cmd, fs := range commandFlags(t) {
		fs.VisitAll(func(f *flag.Flag) {
			for _, v := range twins(cmd, f.Name) {
				readers[v] = append(readers[v], reader{cmd, f})
			}
		})
	}
	meaning := func(r reader) string {
		return fmt.Sprintf("%T %q (default %q)", r.flag.Value, r.flag.Usage, r.flag.DefValue)
	}
	for v, rs := range readers {
		for _, r := range rs[1:] {
			if r.flag.Name != rs[0].flag.Name {
				t.Errorf("$%s is read for --%s of %s and for --%s of %s", v, rs[0].flag.Name, rs[0].cmd, r.flag.Name, r.cmd)
				continue
			}
			if meaning(r) != meaning(rs[0]) {
				t.Errorf("$%s means different things: to %s --%s is %s, to %s it is %s; add %q to scopedOnly or give both one meaning",
					v, rs[0].cmd, r.flag.Name, meaning(rs[0]), r.cmd, meaning(r), r.flag.Name)
			}
		}
	}
	for name := range scopedOnly {
		var users []string
		for v, rs := range readers {
			if strings.HasSuffix(v, "_"+envPart(name)) && rs[0].flag.Name == name {
				users = append(users, rs[0].cmd)
			}
		}
		if len(users) == 0 {
			t.Errorf("scopedOnly lists %q, which no command has", name)
		}
	}
	// The reported crossings.
	for _, v := range []string{"LINEAGE_AGENTS", "LINEAGE_SYMBOLS", "LINEAGE_FORMAT", "LINEAGE_JSON"} {
		if rs := readers[v]; len(rs) > 0 {
			t.Errorf("$%s is read (by %s --%s)", v, rs[0].cmd, rs[0].flag.Name)
		}
	}
}

func TestHelpNamesTheTwinsEachFlagReads(t *testing.T) {
	r := runCmd(t, nil, "help", "watch")
	for _, want := range []string{"$LINEAGE_WATCH_AGENTS\n", "$LINEAGE_WATCH_SYMBOLS\n", "$LINEAGE_WATCH_TOKEN or $LINEAGE_TOKEN\n", "$LINEAGE_WATCH_N or $LINEAGE_N\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help watch lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCmd(t, nil, "help", "serve")
	for _, want := range []string{"$LINEAGE_SERVE_AGENTS\n", "$LINEAGE_SERVE_DATA_DIR or $LINEAGE_DATA_DIR\n", "$LINEAGE_SERVE_TICK_INTERVAL or $LINEAGE_TICK_INTERVAL\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help serve lacks %q", want)
		}
	}
	for _, cmd := range []string{"watch", "serve", "arena", "graveyard", "loadtest"} {
		out := runCmd(t, nil, "help", cmd).stdout
		for _, plain := range []string{"$LINEAGE_AGENTS", "$LINEAGE_SYMBOLS", "$LINEAGE_FORMAT", "$LINEAGE_JSON"} {
			if strings.Contains(out, plain) {
				t.Errorf("help %s offers %s, which means different things in different commands", cmd, plain)
			}
		}
	}
}

func TestFormatTwinStaysInItsCommand(t *testing.T) {
	dir := t.TempDir()
	if _, err := graveyard.LoadOrCreateKey(dir); err != nil {
		t.Fatal(err)
	}
	// Meant for arena: graveyard neither reads nor refuses it.
	r := runCmd(t, map[string]string{"LINEAGE_FORMAT": "csv"}, "graveyard", "--data-dir", dir)
	if r.code != 0 || r.stdout != "The graveyard is empty.\n" {
		t.Errorf("graveyard with LINEAGE_FORMAT=csv: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCmd(t, map[string]string{"LINEAGE_FORMAT": "csv", "LINEAGE_GRAVEYARD_FORMAT": "json"}, "graveyard", "--data-dir", dir)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("graveyard with LINEAGE_GRAVEYARD_FORMAT=json: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCmd(t, map[string]string{"LINEAGE_DATA_DIR": dir}, "graveyard")
	if r.code != 0 || r.stdout != "The graveyard is empty.\n" {
		t.Errorf("graveyard with LINEAGE_DATA_DIR: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// Every command that takes no argument refuses one, in one line naming it,
// before doing anything.
func TestStrayArgumentsAreRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{
		{"serve", "extra", "--data-dir", dir, "--ws-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"},
		{"serve", "--data-dir", dir, "extra"},
		{"graveyard", "extra", "--data-dir", dir},
		{"verify", "extra", "--data-dir", dir},
		{"version", "extra"},
		{"arena", "--ticks", "10", "extra"},
		{"loadtest", "extra"},
		{"watch", "ws://127.0.0.1:1", "extra"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			// Bounded: a command that ignored the argument would run.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			r := runCmdCtx(ctx, nil, args...)
			if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, `unexpected argument "extra"`) {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line naming \"extra\"", r.code, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q", r.stdout)
			}
		})
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a refused command touched its data dir: %v", err)
	}
}

func TestBadValuesAreNamedInWords(t *testing.T) {
	tests := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"serve", "--tick-interval", "5"}, `--tick-interval "5": want a duration such as 5s or 500ms`},
		{nil, []string{"serve", "--agent-interval=soon"}, `--agent-interval "soon": want a duration such as 5s or 500ms`},
		{map[string]string{"LINEAGE_TICK_INTERVAL": "5"}, []string{"serve"}, `LINEAGE_TICK_INTERVAL="5": want a duration such as 5s or 500ms`},
		{nil, []string{"watch", "-n", "x"}, `-n "x": want a whole number`},
		{nil, []string{"arena", "--ticks", "99999999999999999999"}, `--ticks "99999999999999999999": out of range`},
		{nil, []string{"arena", "--fee-bps", "ten"}, `--fee-bps "ten": want a number`},
		{nil, []string{"watch", "--json=maybe"}, `--json "maybe": want true or false`},
		{map[string]string{"LINEAGE_ARENA_TICKS": "many"}, []string{"arena"}, `LINEAGE_ARENA_TICKS="many": want a whole number`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			r := runCmd(t, tt.env, tt.args...)
			if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line with %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

func TestUsageErrorIsOneLine(t *testing.T) {
	r := runCmd(t, nil, "arena", "--nope")
	want := "lineage arena: flag provided but not defined: -nope (see 'lineage help arena')\n"
	if r.code != 2 || r.stderr != want {
		t.Errorf("exit %d, stderr %q; want exit 2 and %q", r.code, r.stderr, want)
	}
}

func TestFlagsAndArgumentsInAnyOrder(t *testing.T) {
	tests := []struct {
		args      []string
		n         int
		json      bool
		positonal []string
	}{
		{[]string{"URL", "--json", "-n", "3"}, 3, true, []string{"URL"}},
		{[]string{"-n", "3", "URL", "--json"}, 3, true, []string{"URL"}},
		{[]string{"--json", "--", "-n"}, 0, true, []string{"-n"}},
		{[]string{"A", "-n=2", "--", "B"}, 2, false, []string{"A", "B"}},
	}
	for _, tt := range tests {
		fs := newFlagSet("test", &cmdEnv{Stderr: io.Discard}, "")
		n := fs.Int("n", 0, "")
		j := fs.Bool("json", false, "")
		err := parseFlagsAndArgs(fs, &cmdEnv{Getenv: func(string) string { return "" }}, tt.args, 2)
		if err != nil || *n != tt.n || *j != tt.json || !slices.Equal(fs.Args(), tt.positonal) {
			t.Errorf("%q: n %d json %v args %q err %v; want n %d json %v args %q", tt.args, *n, *j, fs.Args(), err, tt.n, tt.json, tt.positonal)
		}
	}
}

func TestVersionSaysHowToGetARevision(t *testing.T) {
	if got := versionLine("(devel)", "unknown"); !strings.Contains(got, "go build -buildvcs=true") || !strings.Contains(got, modulePath) {
		t.Errorf("without a revision: %q", got)
	}
	if got := versionLine("v1.2.3", "abc123"); !strings.HasPrefix(got, "lineage v1.2.3 (") || !strings.Contains(got, "revision abc123") || strings.Contains(got, "go build") {
		t.Errorf("with a revision: %q", got)
	}
	r := runCmd(t, nil, "version")
	version, revision := buildInfo()
	if r.code != 0 || r.stdout != versionLine(version, revision)+"\n" {
		t.Errorf("version: exit %d, stdout %q", r.code, r.stdout)
	}
}
