// Command lineage runs the Lineage arena: trading agents with finite
// capital, permanent scars, irreversible death and offspring, on a
// simulated, replayed or live price feed.
//
// Usage:
//
//	lineage <command> [flags]
//
// Run "lineage help" for the commands and "lineage help <command>" for a
// command's flags and their LINEAGE_* environment twins. The commands are
// package cli: a program of its own strategies runs them with cli.Main.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lineage-arena/lineage/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Options{})
	stop()
	os.Exit(code)
}
