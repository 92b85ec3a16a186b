package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlagSet returns a flag set whose usage lists every flag with its
// LINEAGE_* environment twin.
func newFlagSet(name string, env *Env, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := env.Stderr
		fmt.Fprintln(w, about)
		fmt.Fprintf(w, "\nusage: lineage %s [flags]\n\nflags (each also read from its environment twin):\n", name)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && !strings.Contains(f.Usage, "(default") {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(w, "  --%-16s %s%s\n  %-18s $%s\n", f.Name, f.Usage, def, "", envName(f.Name))
		})
	}
	return fs
}

// envName is a flag's environment twin: --round-ticks → LINEAGE_ROUND_TICKS.
func envName(flagName string) string {
	return "LINEAGE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args, then fills every flag not given on the command
// line from its environment twin. The command line wins over the
// environment. Errors are usage errors naming the flag or variable.
func parseFlags(fs *flag.FlagSet, env *Env, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {} // a parse error is one line, not the whole usage
	err := fs.Parse(args)
	fs.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
			return err
		}
		return usageError{err}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v := env.Getenv(envName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = usagef("%s=%q: %v", envName(f.Name), v, e)
			}
		}
	})
	return err
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
