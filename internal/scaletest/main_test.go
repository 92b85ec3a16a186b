//go:build integration

package scaletest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// bin is the lineage binary the tests run, natsBin the nats-server
// binary, both built once by TestMain: lineage from ./cmd/lineage,
// nats-server from the module go.mod requires (the server the other tests
// embed, as a process of its own).
var bin, natsBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lineage-scaletest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaletest:", err)
		os.Exit(1)
	}
	bin, natsBin = filepath.Join(dir, "lineage"), filepath.Join(dir, "nats-server")
	code := 1
	if build(bin, "github.com/lineage-arena/lineage/cmd/lineage") && build(natsBin, "github.com/nats-io/nats-server/v2") {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build builds the main package pkg into out, saying why when it fails.
func build(out, pkg string) bool {
	b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "scaletest: go build %s: %v\n%s", pkg, err, b)
		return false
	}
	return true
}
