package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

func runVersion(_ context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("version", env, "lineage version: print build information: the module version, the VCS revision, the Go version and the platform.")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, versionLine(buildInfo()))
	return nil
}

// versionLine is what lineage version prints. A binary built by go run or
// go test, or outside a git checkout, carries no revision: the line says
// how to get one.
func versionLine(version, revision string) string {
	rev := "revision " + revision
	if revision == "unknown" {
		rev = "no revision stamped: build from a git clone with go build -buildvcs=true to stamp it"
	}
	return fmt.Sprintf("lineage %s (module %s; %s; %s, %s/%s)", version, modulePath, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// modulePath is the module lineage is built from.
const modulePath = "github.com/lineage-arena/lineage"

// buildInfo returns the module version and VCS revision, "unknown" when the
// binary does not carry them.
func buildInfo() (version, revision string) {
	version, revision = "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	return version, revision
}
