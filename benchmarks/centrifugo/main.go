// Command vscentrifugo runs `lineage serve` and Centrifugo v6 on the same
// workload, one after the other, with the same client process, and
// two floors: a WebSocket server that does no work (floorws.go) and
// loopfloor (hub/internal/wsbench/cmd/loopfloor), the machine's own;
// it prints, for each, delivered msgs/s per server core, p50/p99 latency,
// bytes per idle connection, cut clients and gaps. README.md says how to
// run it and what each figure is.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "clients":
		err = clientMain(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "floorws":
		err = floorWSMain(os.Args[2:])
	default:
		err = runMain(os.Args[1:])
	}
	var usage usageError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "vscentrifugo:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "vscentrifugo:", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

// options are the run's flags.
type options struct {
	clients     int
	window      time.Duration
	settle      time.Duration
	srcs        string
	lineageArgs string
	centrifugo  string
	only        string
	jsonOut     string
	profile     string
	keep        bool
	// floor-ws's burst: Lineage's messages a step and bytes a message.
	floorMsgs, floorBytes int
}

func runMain(args []string) error {
	var o options
	fs := flag.NewFlagSet("vscentrifugo", flag.ContinueOnError)
	fs.IntVar(&o.clients, "clients", 1000, "client connections, the same for every server")
	fs.DurationVar(&o.window, "window", 30*time.Second, "measuring window of each load run")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "wait after the clients are up, before measuring")
	fs.StringVar(&o.srcs, "srcs", "127.0.0.2-127.0.0.11", "client source addresses, round-robin")
	fs.StringVar(&o.lineageArgs, "lineage-args", "--tick-interval 1s --agent-interval 1s --agents 30",
		"lineage serve's workload flags; Centrifugo is sent what Lineage sent")
	fs.StringVar(&o.centrifugo, "centrifugo", "github.com/centrifugal/centrifugo/v6@v6.9.1", "module to go install")
	fs.StringVar(&o.only, "only", "lineage,centrifugo,floor-ws,floor", "what to run (lineage is needed for centrifugo's and floor-ws's workload)")
	fs.StringVar(&o.jsonOut, "json", "", "write every figure to this file as JSON")
	fs.StringVar(&o.profile, "profile", "", "write a CPU profile of Lineage's load window (serve --pprof) to this directory, and report its share by the hub's labels")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (binaries, data, configs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.clients < 1 || o.clients > 19000 {
		return usageError{fmt.Errorf("clients %d: want 1 to 19000 (one process may open 20,000 files)", o.clients)}
	}
	if o.window < time.Second {
		return usageError{fmt.Errorf("window %v: want at least 1s", o.window)}
	}
	if _, err := parseSrcs(o.srcs); err != nil {
		return usageError{err}
	}
	want := map[string]bool{}
	for _, s := range strings.Split(o.only, ",") {
		switch s {
		case "lineage", "centrifugo", "floor-ws", "floor":
			want[s] = true
		default:
			return usageError{fmt.Errorf("only %q: want lineage, centrifugo, floor-ws, floor", s)}
		}
	}
	if (want["centrifugo"] || want["floor-ws"]) && !want["lineage"] {
		return usageError{errors.New("only: centrifugo and floor-ws replay lineage's workload, so lineage must run too")}
	}

	work, err := os.MkdirTemp("", "vscentrifugo-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(work)
	}
	b, err := buildAll(work, o.centrifugo, want)
	if err != nil {
		return err
	}
	rep := report{Clients: o.clients, Window: o.window.Seconds(), LineageArgs: o.lineageArgs,
		Centrifugo: o.centrifugo, Started: time.Now().UTC().Format(time.RFC3339)}
	var trace []traceEvent
	if want["lineage"] {
		r, tr, err := runServer(work, b, o, "lineage", nil)
		if err != nil {
			return fmt.Errorf("lineage: %w", err)
		}
		rep.Servers = append(rep.Servers, r)
		trace = tr
		rep.Steps, rep.MsgsPerStep, rep.BytesPerMsg = traceShape(trace)
		printServer(os.Stderr, r)
	}
	if want["centrifugo"] {
		if len(trace) == 0 {
			return errors.New("lineage's connection 0 received no event in the window: nothing to replay")
		}
		r, _, err := runServer(work, b, o, "centrifugo", trace)
		if err != nil {
			return fmt.Errorf("centrifugo: %w", err)
		}
		rep.Servers = append(rep.Servers, r)
		printServer(os.Stderr, r)
	}
	if want["floor-ws"] {
		o.floorMsgs, o.floorBytes = int(rep.MsgsPerStep+0.5), int(rep.BytesPerMsg+0.5)
		r, _, err := runServer(work, b, o, "floor-ws", nil)
		if err != nil {
			return fmt.Errorf("floor-ws: %w", err)
		}
		r.Note = floorWSString(o.floorMsgs, o.floorBytes)
		rep.Servers = append(rep.Servers, r)
		printServer(os.Stderr, r)
	}
	if want["floor"] {
		size := 12000
		if rep.Steps > 0 {
			size = int(rep.MsgsPerStep * rep.BytesPerMsg)
		}
		r, err := runFloor(b.loopfloor, o, size, rep.MsgsPerStep)
		if err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		rep.Servers = append(rep.Servers, r)
		printServer(os.Stderr, r)
	}
	printTable(os.Stdout, rep)
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

// report is one run of the harness.
type report struct {
	Started     string         `json:"started"`
	Clients     int            `json:"clients"`
	Window      float64        `json:"window_s"`
	LineageArgs string         `json:"lineage_args"`
	Centrifugo  string         `json:"centrifugo"`
	Steps       int            `json:"steps"`
	MsgsPerStep float64        `json:"msgs_per_step"`
	BytesPerMsg float64        `json:"bytes_per_msg"`
	Servers     []serverReport `json:"servers"`
}

// serverReport is one server's figures.
type serverReport struct {
	Name          string        `json:"name"`
	IdleRSSBefore int64         `json:"idle_rss_before"`
	IdleRSSAfter  int64         `json:"idle_rss_after"`
	BytesPerConn  float64       `json:"bytes_per_idle_conn"`
	ServerCPU     float64       `json:"server_cpu_s"` // over the load window
	ServerCores   float64       `json:"server_cores"` // CPU s / window s
	MsgsPerSec    float64       `json:"msgs_per_s"`   // delivered, all clients
	MsgsPerCore   float64       `json:"msgs_per_s_per_core"`
	MachineBusy   float64       `json:"machine_busy_cores"` // every process, over the window
	LoadBefore    string        `json:"loadavg_before"`
	LoadAfter     string        `json:"loadavg_after"`
	Client        *clientReport `json:"client,omitempty"`
	Note          string        `json:"note,omitempty"`
	// Profile is Lineage's CPU profile of the window, when -profile.
	Profile *profileReport `json:"profile,omitempty"`
}
