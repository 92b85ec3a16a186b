package main

import (
	"context"
	"fmt"
	"runtime"
)

func runVersion(_ context.Context, env *Env, args []string) error {
	fs := newFlagSet("version", env, "lineage version: print build information.")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	version, revision := buildInfo()
	fmt.Fprintf(env.Stdout, "lineage %s (revision %s, %s, %s/%s)\n", version, revision, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
