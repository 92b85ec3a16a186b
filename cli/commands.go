package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/lineage-arena/lineage/arena"
)

// command is one subcommand: its one-line summary and its entry point.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cmdEnv, args []string) error
}

// cmdEnv is what a command may touch of the process, injected so tests
// can run commands in-process.
type cmdEnv struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// StderrIsTerminal enables progress output; StdoutIsTerminal enables
	// watch's emoji and colours.
	StderrIsTerminal, StdoutIsTerminal bool
	// Log is the command's logger once it has made one; Logger falls back
	// to warnings on Stderr.
	Log *slog.Logger
	// inspect, when set, receives a command's flag set instead of the
	// command running (see parseFlagsAndArgs): how the tests list every
	// command's flags.
	inspect func(*flag.FlagSet)
	// strategies are Options.Strategies: the caller's, beside the built-ins.
	strategies []arena.StrategySpec
}

// Logger returns the command's logger.
func (e *cmdEnv) Logger() *slog.Logger {
	if e.Log == nil {
		e.Log = slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return e.Log
}

// logAt makes the command's logger, writing to Stderr at the given
// --log-level; a level that is none of debug, info, warn or error is a
// usage error.
func (e *cmdEnv) logAt(level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	e.Log = slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: lv}))
	return e.Log, nil
}

// logLevelUsage is --log-level's usage, one text for every command.
const logLevelUsage = "log level: debug, info, warn or error"

func commands() []command {
	return []command{
		{"serve", "run the arena live: feed → arena → event log → WebSocket hub and metrics", runServe},
		{"edge", "serve a run's clients from its NATS JetStream stream: the same protocol, API and dashboard as serve, spread over machines", runEdge},
		{"arena", "run a competition offline as fast as the machine allows and print the leaderboard", runArena},
		{"watch", "terminal client for a running server", runWatch},
		{"loadtest", "load generator against a running server", runLoadtest},
		{"verify", "check the event log's hash chain and every tombstone's signature", runVerify},
		{"graveyard", "list dead agents with cause of death, scars, lifespan and final capital", runGraveyard},
		{"version", "print build information", runVersion},
	}
}

// usageError marks a bad command line; Main returns 2 for it and 1 for any
// other error.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// run dispatches args to a command and maps its error to an exit code:
// 0 success, 2 usage error, 1 runtime failure. Errors are one line on
// stderr, prefixed with the command's name.
func run(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) == 0 {
		printUsage(env.Stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return runHelp(env, rest)
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, env, rest)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, new(usageError)):
			fmt.Fprintf(env.Stderr, "lineage %s: %v (see 'lineage help %s')\n", name, oneLine(err), name)
			return 2
		default:
			fmt.Fprintf(env.Stderr, "lineage %s: %v\n", name, oneLine(err))
			return 1
		}
	}
	fmt.Fprintf(env.Stderr, "lineage: unknown command %q\n", name)
	printUsage(env.Stderr)
	return 2
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: lineage <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "  help       show a command's flags and their LINEAGE_* environment twins")
}

func runHelp(env *cmdEnv, args []string) int {
	if len(args) == 0 {
		printUsage(env.Stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			// Every command prints its usage for -h and returns ErrHelp.
			h := *env
			h.Stderr = env.Stdout
			_ = c.run(context.Background(), &h, []string{"-h"})
			return 0
		}
	}
	fmt.Fprintf(env.Stderr, "lineage help: unknown command %q\n", args[0])
	return 2
}
