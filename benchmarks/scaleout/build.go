package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// binaries are what the harness runs.
type binaries struct {
	lineage, natsServer string
	natsVersion         string // the root go.mod's nats-server version
	revision            string // the repository's HEAD, for the report
}

// repoRoot is the Lineage repository, two levels up from this module.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root := filepath.Join(wd, "..", "..")
	if _, err := os.Stat(filepath.Join(root, "cmd", "lineage")); err != nil {
		return "", errors.New("run from benchmarks/scaleout in the Lineage repository")
	}
	return root, nil
}

// build builds lineage from this repository and, with nats, nats-server
// at the version the repository's go.mod requires (from the Go module
// proxy, through the module cache), both into dir.
func build(dir string, nats bool) (binaries, error) {
	var b binaries
	root, err := repoRoot()
	if err != nil {
		return b, err
	}
	goCmd := func(args ...string) (string, error) {
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, os.Stderr
		fmt.Fprintf(os.Stderr, "# (cd %s && go %s)\n", root, strings.Join(args, " "))
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(out.String()), nil
	}
	if rev, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		b.revision = strings.TrimSpace(string(rev))
	}
	b.lineage = filepath.Join(dir, "lineage")
	if _, err := goCmd("build", "-o", b.lineage, "./cmd/lineage"); err != nil {
		return b, err
	}
	if !nats {
		return b, nil
	}
	const mod = "github.com/nats-io/nats-server/v2"
	if b.natsVersion, err = goCmd("list", "-m", "-f", "{{.Version}}", mod); err != nil {
		return b, err
	}
	b.natsServer = filepath.Join(dir, "nats-server")
	if _, err := goCmd("build", "-o", b.natsServer, mod); err != nil {
		return b, err
	}
	return b, nil
}
