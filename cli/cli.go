// Package cli is the lineage command set — serve, arena, watch, loadtest,
// verify, graveyard, version and help — as a package, so that a Go program
// can run it with strategies of its own.
//
// A Go program cannot import package main, so the commands live here and
// cmd/lineage is only the process around them: a context cancelled by
// SIGINT/SIGTERM and os.Exit(cli.Main(ctx, os.Args[1:], cli.Options{})).
// It is the idiom of Go tools built to be extended: the root command in an
// importable package, main a call to it.
// A program that registers its own arena.StrategySpec does the same with
// Options.Strategies and is lineage in full, its strategies beside the
// built-in ones (see examples/customcli):
//
//	func main() {
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//		code := cli.Main(ctx, os.Args[1:], cli.Options{Strategies: []arena.StrategySpec{mine}})
//		stop()
//		os.Exit(code)
//	}
//
// The registered strategies may then be named in --roster files of serve
// and arena, and --agents N spreads its founders round-robin over the
// built-in strategies followed by the registered ones. verify rebuilds a
// run with them: a data dir founded by such a program is served again and
// verified by the same program (one that lacks a strategy the run names
// refuses it, naming the strategy), and graveyard reads it with any.
package cli

import (
	"context"
	"io"
	"os"

	"github.com/lineage-arena/lineage/arena"
)

// Options are what Main takes from its caller; the zero value of each
// field is the process's own.
type Options struct {
	// Strategies are the caller's own strategies, beside arena.Builtin():
	// each may be named in a roster, joins the --agents round-robin and is
	// used to rebuild a run (serve, verify). Register the same strategies,
	// by the same names and with the same behaviour, every time a data dir
	// is opened: the rebuild recomputes every event. Nil: the built-ins.
	Strategies []arena.StrategySpec
	// Stdout and Stderr receive the commands' output, errors and logs.
	// Nil: os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
	// Getenv reads the LINEAGE_* environment twins of the flags and the
	// price providers' API keys. Nil: os.Getenv.
	Getenv func(string) string
}

// Main runs the command args names (args excludes the program name, as
// os.Args[1:]) until it ends or ctx is done, and returns the process's
// exit code: 0 success, 2 a usage error, 1 a runtime failure, each error
// one line on Stderr. A cancelled ctx is how serve is told to shut down
// (the SIGINT/SIGTERM of cmd/lineage). Main never calls os.Exit.
func Main(ctx context.Context, args []string, opts Options) int {
	env := &cmdEnv{Stdout: opts.Stdout, Stderr: opts.Stderr, Getenv: opts.Getenv, strategies: opts.Strategies}
	if env.Stdout == nil {
		env.Stdout = os.Stdout
	}
	if env.Stderr == nil {
		env.Stderr = os.Stderr
	}
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	env.StdoutIsTerminal, env.StderrIsTerminal = isTerminal(env.Stdout), isTerminal(env.Stderr)
	return run(ctx, env, args)
}

// isTerminal reports whether w is a terminal: a file that is a character
// device.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
