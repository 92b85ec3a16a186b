package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// Environment twins. Every flag --some-flag of command CMD is also read from
// LINEAGE_CMD_SOME_FLAG, its scoped twin, and — when the name means the same
// in every command that has it — from LINEAGE_SOME_FLAG, its plain twin. The
// command line wins over the scoped twin, which wins over the plain one.
//
// scopedOnly lists the flag names that mean different things in different
// commands: they have no plain twin, so a variable set for one command never
// changes another's meaning. TestPlainTwinsMeanOneThing checks that every
// other name shared by two commands is the same flag (usage, type, default).
var scopedOnly = map[string]bool{
	"agents":  true, // serve, arena: how many agents to found; watch: which agents to show
	"symbols": true, // serve, arena: what to trade; watch: which symbols to show
	"format":  true, // arena: table, json or csv; graveyard: table or json
	"json":    true, // watch: every message raw; loadtest: the report
	"replay":  true, // serve, arena: CSV files to replay; verify: recompute from the genesis
}

// Usage texts of flags that several commands share through one plain twin:
// one text, one meaning.
const (
	dataDirUsage = "data dir: the event log, the graveyard and its key"
	tokenUsage   = "bearer token of the server: serve requires it from clients (header, or ?token= for browsers), watch and loadtest send it; prefer $LINEAGE_TOKEN, a command line is visible to every user of the machine"
)

// newFlagSet returns a flag set whose usage lists every flag with the
// environment twins it reads.
func newFlagSet(name string, env *cmdEnv, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := env.Stderr
		fmt.Fprintln(w, about)
		fmt.Fprintf(w, "\nusage: lineage %s [flags]\n\nflags (each also read from the environment variables under it, in that order; the command line wins):\n", name)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && !strings.Contains(f.Usage, "(default") {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(w, "  --%-16s %s%s\n  %-18s $%s\n", f.Name, f.Usage, def, "", strings.Join(twins(name, f.Name), " or $"))
		})
	}
	return fs
}

// envName is a flag's plain environment twin: --round-ticks → LINEAGE_ROUND_TICKS.
func envName(flagName string) string {
	return "LINEAGE_" + envPart(flagName)
}

func envPart(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }

// twins are the environment variables command cmd reads for its flag
// flagName, in the order they are read: the scoped twin, then the plain
// twin unless the name is scopedOnly.
func twins(cmd, flagName string) []string {
	scoped := "LINEAGE_" + envPart(cmd) + "_" + envPart(flagName)
	if scopedOnly[flagName] {
		return []string{scoped}
	}
	return []string{scoped, envName(flagName)}
}

// parseFlags parses the flags of a command that takes no positional
// argument: see parseFlagsAndArgs.
func parseFlags(fs *flag.FlagSet, env *cmdEnv, args []string) error {
	return parseFlagsAndArgs(fs, env, args, 0)
}

// parseFlagsAndArgs parses args, flags and at most maxArgs positional
// arguments in any order (a "--" ends the flags), leaving the positional
// arguments in fs.Args(). It then fills every flag not given on the command
// line from its environment twins (see twins). Errors are usage errors
// naming the flag, the variable or the stray argument.
//
// With env.inspect set, it hands fs over before parsing anything and
// returns flag.ErrHelp: that is how a command's flags are listed without
// running it.
func parseFlagsAndArgs(fs *flag.FlagSet, env *cmdEnv, args []string, maxArgs int) error {
	if env.inspect != nil {
		env.inspect(fs)
		return flag.ErrHelp
	}
	usage := fs.Usage
	fs.Usage = func() {} // a parse error is one line, not the whole usage
	positional, err := parseInterspersed(fs, args)
	fs.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
		}
		return err
	}
	if len(positional) > maxArgs {
		if maxArgs == 0 {
			hint := ""
			if fs.Lookup("url") != nil && strings.Contains(positional[0], "://") {
				hint = "; the server is given with --url"
			}
			return usagef("unexpected argument %q: lineage %s takes flags only%s", positional[0], fs.Name(), hint)
		}
		plural := "s"
		if maxArgs == 1 {
			plural = ""
		}
		return usagef("unexpected argument %q: lineage %s takes %d argument%s at most", positional[maxArgs], fs.Name(), maxArgs, plural)
	}
	// Leave the positional arguments in fs.Args() without setting a flag again.
	if err := fs.Parse(append([]string{"--"}, positional...)); err != nil {
		return usageError{err}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		for _, name := range twins(fs.Name(), f.Name) {
			v := env.Getenv(name)
			if v == "" {
				continue
			}
			if e := fs.Set(f.Name, v); e != nil {
				err = badValue(fmt.Sprintf("%s=%q", name, v), f.Value, e)
			}
			return
		}
	})
	return err
}

// parseInterspersed parses flags wherever they stand among args and
// returns the positional arguments in order. A bad value is reported as
// badValue words it.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var bad error
	restore := map[*flag.Flag]flag.Value{}
	fs.VisitAll(func(f *flag.Flag) {
		restore[f] = f.Value
		f.Value = checkedValue{f.Value, f.Name, &bad}
	})
	defer func() {
		for f, v := range restore {
			f.Value = v
		}
	}()
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if bad != nil {
				return nil, bad
			}
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(positional, rest...), nil // everything after "--" is an argument
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// checkedValue wraps a flag's value while the command line is parsed so
// that a bad value is reported in words (see badValue).
type checkedValue struct {
	flag.Value
	name string
	bad  *error
}

func (v checkedValue) Set(s string) error {
	err := v.Value.Set(s)
	if err != nil {
		*v.bad = badValue(fmt.Sprintf("%s %q", flagRef(v.name), s), v.Value, err)
	}
	return err
}

// IsBoolFlag keeps --flag without a value working for boolean flags.
func (v checkedValue) IsBoolFlag() bool {
	b, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// flagRef is how errors name a flag: -n, --tick-interval.
func flagRef(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// badValue is the usage error for value s of a flag, given as what (the
// flag or the variable with the value), saying what the flag wants.
func badValue(what string, v flag.Value, err error) error {
	want := err.Error()
	if g, ok := v.(flag.Getter); ok {
		switch g.Get().(type) {
		case time.Duration:
			want = "want a duration such as 5s or 500ms"
		case int, int64, uint, uint64:
			want = "want a whole number"
			if strings.Contains(err.Error(), "range") {
				want = "out of range"
			}
		case float64:
			want = "want a number"
		case bool:
			want = "want true or false"
		}
	}
	return usagef("%s: %s", what, want)
}

// listFlag is a repeatable flag that also splits on commas:
// --replay a.csv --replay b.csv or --replay a.csv,b.csv.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}
