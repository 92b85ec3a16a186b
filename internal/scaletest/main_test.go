//go:build integration

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
