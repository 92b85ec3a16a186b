// Command scaleout measures Lineage's scale-out on one machine: a
// three-node NATS cluster (R3, file storage, every write synced),
// `lineage serve --nats-url` running a workload, E `lineage edge`
// processes, and `lineage loadtest` processes holding the clients, each
// pointed at one edge. It collects the load tests' reports, each edge's
// and serve's /metrics (the publish and delivery delay histograms, lag,
// messages written) and every process's CPU and memory from /proc, prints
// a table and writes JSON. With -direct the clients connect to serve
// itself, without NATS: the baseline. README.md says how to run it and
// what each figure is.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

func main() {
	err := runMain(os.Args[1:])
	var usage usageError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "scaleout:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "scaleout:", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

// Bounds of one machine: a process may open 20,000 files, and a source
// address has about 28,000 ephemeral ports, shared by every process that
// binds it (loadtest binds its source addresses before connecting).
const (
	maxPerProcess = 18000 // client connections per loadtest, edge or serve
	maxPerSource  = 25000 // client connections per source address, all loadtests
	maxEdges      = 100   // edges listen on 127.0.0.101 onwards
)

// options are the run's flags.
type options struct {
	edges       int
	clients     int
	window      time.Duration
	settle      time.Duration
	ramp        time.Duration
	srcs        string
	lineageArgs string
	direct      bool
	jsonOut     string
	keep        bool
}

func runMain(args []string) error {
	var o options
	fs := flag.NewFlagSet("scaleout", flag.ContinueOnError)
	fs.IntVar(&o.edges, "edges", 2, "lineage edge processes, each with an equal share of the clients")
	fs.IntVar(&o.clients, "clients", 1000, "client connections in all, spread over the edges (or on serve, with -direct)")
	fs.DurationVar(&o.window, "window", 20*time.Second, "measuring window, once every client is connected and -settle has passed")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "wait after the clients are connected, before measuring")
	fs.DurationVar(&o.ramp, "ramp", 10*time.Second, "time over which each loadtest opens its connections")
	fs.StringVar(&o.srcs, "srcs", "127.0.0.2-127.0.0.11", "client source addresses, for every loadtest (each address has ~28k ports for all of them)")
	fs.StringVar(&o.lineageArgs, "lineage-args", "--tick-interval 1s --agent-interval 1s --agents 30", "lineage serve's workload flags")
	fs.BoolVar(&o.direct, "direct", false, "the baseline: clients on serve itself, no NATS and no edge")
	fs.StringVar(&o.jsonOut, "json", "", "write every figure to this file as JSON")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (binaries, data, NATS stores, logs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if err := o.check(); err != nil {
		return usageError{err}
	}
	if err := checkNoFile(o); err != nil {
		return err
	}

	work, err := os.MkdirTemp("", "scaleout-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(os.Stderr, "# work directory %s (kept)\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	b, err := build(work, !o.direct)
	if err != nil {
		return err
	}
	rep, err := run(work, b, o)
	if err != nil {
		return err
	}
	printReport(os.Stdout, rep)
	if o.jsonOut != "" {
		js, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonOut, append(js, '\n'), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// check refuses what one machine cannot hold.
func (o *options) check() error {
	switch {
	case o.clients < 1:
		return fmt.Errorf("-clients %d: want at least 1", o.clients)
	case o.window < time.Second:
		return fmt.Errorf("-window %v: want at least 1s", o.window)
	case o.settle < 0 || o.ramp < 0:
		return errors.New("-settle and -ramp must not be negative")
	case !o.direct && (o.edges < 1 || o.edges > maxEdges):
		return fmt.Errorf("-edges %d: want 1 to %d", o.edges, maxEdges)
	case o.direct && o.clients > maxPerProcess:
		return fmt.Errorf("-direct -clients %d: serve is one process, at most %d connections", o.clients, maxPerProcess)
	case !o.direct && (o.clients+o.edges-1)/o.edges > maxPerProcess:
		return fmt.Errorf("-clients %d over %d edges: more than %d a process; add edges", o.clients, o.edges, maxPerProcess)
	}
	srcs, err := parseSrcs(o.srcs)
	if err != nil {
		return fmt.Errorf("-srcs %q: %v", o.srcs, err)
	}
	if per := (o.clients + len(srcs) - 1) / len(srcs); per > maxPerSource {
		return fmt.Errorf("-srcs %q: %d addresses for %d clients is %d a source address, more than its %d ports; add addresses",
			o.srcs, len(srcs), o.clients, per, maxPerSource)
	}
	for _, a := range srcs {
		if edgeAddr(0).Less(a) && !edgeAddr(maxEdges).Less(a) {
			return fmt.Errorf("-srcs %q: %s is an edge's address (%s onwards)", o.srcs, a, edgeAddr(1))
		}
	}
	return nil
}

// edgeAddr is edge i's address (1-based): 127.0.0.100+i.
func edgeAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{127, 0, 0, byte(100 + i)}) }

// parseSrcs reads "127.0.0.2-127.0.0.11" or a comma list of loopback
// addresses and ranges.
func parseSrcs(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		first, err := netip.ParseAddr(lo)
		if err != nil {
			return nil, err
		}
		last := first
		if isRange {
			if last, err = netip.ParseAddr(hi); err != nil {
				return nil, err
			}
		}
		if !first.Is4() || !last.Is4() || last.Less(first) {
			return nil, fmt.Errorf("%q: not an IPv4 range", part)
		}
		for a := first; ; a = a.Next() {
			if !a.IsLoopback() {
				return nil, fmt.Errorf("%s is not a loopback address", a)
			}
			if out = append(out, a); a == last || len(out) > 1<<16 {
				break
			}
		}
	}
	return out, nil
}
