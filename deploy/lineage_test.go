// Package deploy_test checks the deployment files of deploy/ offline: every
// YAML file parses, every lineage command line names a real subcommand and
// only its flags, every LINEAGE_* variable is a twin of that command's
// flags, ports agree with the flags, probes point at /readyz and /livez on
// the metrics port, images are pinned and no secret is written in a file.
// Nothing here starts a container: docs/deploy.md says what was not run.
package deploy_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lineage-arena/lineage/cli"
)

// ourImage is the image built from the repository's Dockerfile; the
// containers running it are lineage command lines.
const ourImage = "lineage-arena/lineage"

// command is what `lineage help CMD` says of one subcommand.
type command struct {
	flags map[string]bool // flag names, without dashes
	envs  map[string]bool // the LINEAGE_* twins it reads
}

var (
	helpOnce sync.Once
	helpCmds map[string]command
	helpErr  error
)

var (
	flagLine = regexp.MustCompile(`(?m)^  --([a-z0-9-]+)\s`)
	envWord  = regexp.MustCompile(`\$(LINEAGE_[A-Z0-9_]+)`)
	cmdLine  = regexp.MustCompile(`(?m)^  ([a-z]+)\s{2,}`)
)

// lineageCommands runs `lineage help` and `lineage help CMD` in-process
// (cli.Main) and returns every subcommand with its flags and twins.
func lineageCommands(t *testing.T) map[string]command {
	t.Helper()
	helpOnce.Do(func() {
		out, code := runLineage("help")
		if code != 0 {
			helpErr = fmt.Errorf("lineage help: exit %d: %s", code, out)
			return
		}
		helpCmds = map[string]command{}
		for _, m := range cmdLine.FindAllStringSubmatch(out, -1) {
			name := m[1]
			if name == "help" {
				continue
			}
			usage, code := runLineage("help", name)
			if code != 0 {
				helpErr = fmt.Errorf("lineage help %s: exit %d: %s", name, code, usage)
				return
			}
			c := command{flags: map[string]bool{}, envs: map[string]bool{}}
			for _, f := range flagLine.FindAllStringSubmatch(usage, -1) {
				c.flags[f[1]] = true
			}
			for _, e := range envWord.FindAllStringSubmatch(usage, -1) {
				c.envs[e[1]] = true
			}
			helpCmds[name] = c
		}
	})
	if helpErr != nil {
		t.Fatal(helpErr)
	}
	if len(helpCmds["serve"].flags) == 0 || len(helpCmds["edge"].flags) == 0 {
		t.Fatalf("lineage help lists no flags of serve or edge: %v", helpCmds)
	}
	return helpCmds
}

// runLineage runs the command set in-process with an empty environment
// and returns what it printed and its exit code.
func runLineage(args ...string) (string, int) {
	var out bytes.Buffer
	code := cli.Main(context.Background(), args, cli.Options{
		Stdout: &out, Stderr: &out,
		Getenv: func(string) string { return "" },
	})
	return out.String(), code
}

// invocation is a checked lineage command line.
type invocation struct {
	cmd    string
	values map[string]string // flag name → its value on the command line
}

// checkArgs checks one lineage command line (args without the program
// name) and its environment variable names: a real subcommand, only its
// flags, values its flags accept (the command line is parsed by the real
// flag set, ended by -h so nothing runs), no --token on the command line,
// and only LINEAGE_* variables that are twins of its flags.
func checkArgs(cmds map[string]command, args, env []string) (invocation, []string) {
	var errs []string
	if len(args) == 0 {
		return invocation{}, []string{"empty lineage command line"}
	}
	c, ok := cmds[args[0]]
	if !ok {
		return invocation{}, []string{fmt.Sprintf("lineage %q: no such subcommand", args[0])}
	}
	inv := invocation{cmd: args[0], values: map[string]string{}}
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !c.flags[name] {
			errs = append(errs, fmt.Sprintf("lineage %s: no flag --%s", args[0], name))
			continue
		}
		if name == "token" {
			errs = append(errs, fmt.Sprintf("lineage %s: --token on a command line; give it as $LINEAGE_TOKEN from a secret", args[0]))
		}
		if !hasValue && i+1 < len(rest) && !strings.HasPrefix(rest[i+1], "-") {
			value = rest[i+1]
		}
		inv.values[name] = value
	}
	if out, code := runLineage(append(append([]string{}, args...), "-h")...); code != 0 {
		errs = append(errs, fmt.Sprintf("lineage %s refuses its command line: %s", args[0], firstLine(out)))
	}
	for _, name := range env {
		if strings.HasPrefix(name, "LINEAGE_") && !c.envs[name] {
			errs = append(errs, fmt.Sprintf("lineage %s: $%s is not a twin of any of its flags", args[0], name))
		}
	}
	return inv, errs
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// listenPort returns the port of a --ws-addr or --metrics-addr value that
// listens on every interface (a container's 127.0.0.1, the flags' default,
// is unreachable from the others).
func listenPort(inv invocation, flag string) (int, error) {
	addr, ok := inv.values[flag]
	if !ok {
		return 0, fmt.Errorf("lineage %s: --%s not given; its default 127.0.0.1 is unreachable outside the container", inv.cmd, flag)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("lineage %s: --%s %q: %v", inv.cmd, flag, addr, err)
	}
	if host != "0.0.0.0" && host != "" && host != "::" {
		return 0, fmt.Errorf("lineage %s: --%s %q: listen on every interface (0.0.0.0) in a container", inv.cmd, flag, addr)
	}
	return strconv.Atoi(port)
}

// pinned reports whether an image reference names a fixed version: a tag
// with a digit in it, or a digest; never "latest" or no tag.
func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon < slash+1 {
		return false
	}
	tag := image[colon+1:]
	return tag != "latest" && strings.ContainsAny(tag, "0123456789")
}

func TestCheckArgsCatchesMistakes(t *testing.T) {
	cmds := lineageCommands(t)
	good := []string{"edge", "--nats-url", "nats://n:4222", "--ws-addr", "0.0.0.0:9001", "--metrics-addr=0.0.0.0:9184"}
	inv, errs := checkArgs(cmds, good, []string{"LINEAGE_TOKEN", "LINEAGE_EDGE_RING_EVENTS"})
	if len(errs) != 0 {
		t.Fatalf("a good command line: %v", errs)
	}
	if inv.values["metrics-addr"] != "0.0.0.0:9184" || inv.values["nats-url"] != "nats://n:4222" {
		t.Fatalf("values: %v", inv.values)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"subcommand", []string{"server"}, nil, "no such subcommand"},
		{"flag of another command", []string{"edge", "--data-dir", "/data"}, nil, "no flag --data-dir"},
		{"bad value", []string{"serve", "--nats-replicas", "three"}, nil, "refuses its command line"},
		{"token on the command line", []string{"edge", "--token", "x"}, nil, "--token on a command line"},
		{"env of another command", []string{"edge"}, []string{"LINEAGE_DATA_DIR"}, "$LINEAGE_DATA_DIR is not a twin"},
		{"scoped env of another command", []string{"edge"}, []string{"LINEAGE_SERVE_WS_ADDR"}, "not a twin"},
	} {
		_, errs := checkArgs(cmds, tc.args, tc.env)
		if !strings.Contains(strings.Join(errs, "; "), tc.want) {
			t.Errorf("%s: errors %q, want one with %q", tc.name, errs, tc.want)
		}
	}
	if _, err := listenPort(invocation{cmd: "edge", values: map[string]string{"ws-addr": "127.0.0.1:9001"}}, "ws-addr"); err == nil {
		t.Error("listenPort accepted 127.0.0.1")
	}
	for image, want := range map[string]bool{
		"nats:2.15.3-alpine": true, "nats": false, "nats:latest": false, "nats:alpine": false,
		"registry:5000/x": false, "registry:5000/x:1.2": true, "x@sha256:abc": true,
	} {
		if pinned(image) != want {
			t.Errorf("pinned(%q) = %v, want %v", image, !want, want)
		}
	}
}
