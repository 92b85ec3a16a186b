// Package scaletest runs Lineage beyond one machine, for real: a 3-node
// NATS JetStream cluster in the test's process, `lineage serve --nats-url`
// and two `lineage edge` processes built from ./cmd/lineage, and a few
// hundred protocol clients, through the failures the design must survive
// (docs/scale-out.md, "Tests").
package scaletest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// bin is the lineage binary the tests run, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lineage-scaletest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaletest:", err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "lineage")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/lineage-arena/lineage/cmd/lineage").CombinedOutput()
	code := 1
	if err != nil {
		fmt.Fprintf(os.Stderr, "scaletest: go build: %v\n%s", err, out)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}
