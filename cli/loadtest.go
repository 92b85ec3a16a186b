package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/lineage-arena/lineage/loadtest"
)

const loadtestAbout = `lineage loadtest: load a running lineage server on this machine and report
what its clients got. --clients WebSocket connections are opened over --ramp
(at most --max-open dialling at once, spread over --source-addrs), held for
--duration, then closed; it stops by itself after about ramp + duration.

Reported: connections made and refused (with reasons), live messages delivered
per second in the window (total and per client), latency from each event's own
"timestamp" to its receipt (p50/p95/p99/max; one machine, one clock), sequence
gaps and duplicates (every client's sequence numbers after its welcome must be
consecutive), and healthy clients dropped early. With --slow K, K clients stop
reading after their welcome; the report says how many the server cut, with
which close code and reason, and how long after they stopped reading. With
--pid, the server's RSS and CPU are sampled from /proc: bytes per connection,
CPU %, messages per second per server core. Only loopback targets are
accepted; wss certificates are not verified.`

// loadFlags are loadtest's flags.
type loadFlags struct {
	url      string
	clients  int
	duration time.Duration
	ramp     time.Duration
	sources  string
	slow     int
	pid      int
	token    string
	schema   string
	json     bool
	maxOpen  int
}

func (f *loadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", "ws://127.0.0.1:9001/", "WebSocket URL of the server (loopback only)")
	fs.IntVar(&f.clients, "clients", 1000, "connections to open, --slow ones included")
	fs.DurationVar(&f.duration, "duration", 30*time.Second, "measurement window, after the ramp")
	fs.DurationVar(&f.ramp, "ramp", 10*time.Second, "time over which the connections are opened")
	fs.StringVar(&f.sources, "source-addrs", "", "local loopback addresses to spread connections over: 127.0.0.2-127.0.0.20 or a comma list (one address pair has ~28k ports)")
	fs.IntVar(&f.slow, "slow", 0, "clients that stop reading after their welcome")
	fs.IntVar(&f.pid, "pid", 0, "server process to sample RSS and CPU of, from /proc")
	fs.StringVar(&f.token, "token", "", tokenUsage)
	fs.StringVar(&f.schema, "schema", "v1", "wire schema to ask for: v1 or v2")
	fs.BoolVar(&f.json, "json", false, "print the report as JSON")
	fs.IntVar(&f.maxOpen, "max-open", 256, "connections dialling or handshaking at once")
}

// config checks the flags and turns them into the load test's Config. The
// checks that loadtest.Run also makes are made here first, in the flags'
// words, since a zero that is a usage error here is a default there.
func (f *loadFlags) config(env *cmdEnv) (loadtest.Config, error) {
	switch {
	case f.clients < 1:
		return loadtest.Config{}, usagef("--clients %d: must be at least 1", f.clients)
	case f.slow < 0 || f.slow > f.clients:
		return loadtest.Config{}, usagef("--slow %d: must be between 0 and --clients (%d)", f.slow, f.clients)
	case f.duration <= 0:
		return loadtest.Config{}, usagef("--duration %s: must be positive", f.duration)
	case f.ramp < 0:
		return loadtest.Config{}, usagef("--ramp %s: must not be negative", f.ramp)
	case f.maxOpen < 1:
		return loadtest.Config{}, usagef("--max-open %d: must be at least 1", f.maxOpen)
	case f.pid < 0:
		return loadtest.Config{}, usagef("--pid %d: not a process id", f.pid)
	case f.schema != "v1" && f.schema != "v2":
		return loadtest.Config{}, usagef("--schema %q: want v1 or v2", f.schema)
	}
	cfg := loadtest.Config{
		URL: f.url, Clients: f.clients, Duration: f.duration, Ramp: f.ramp, MaxOpen: f.maxOpen,
		Slow: f.slow, PID: f.pid, Token: f.token, Schema: f.schema,
	}
	if f.sources != "" {
		var err error
		if cfg.SourceAddrs, err = parseLoadSources(f.sources); err != nil {
			return loadtest.Config{}, usagef("--source-addrs %q: %v", f.sources, err)
		}
	}
	if env.StderrIsTerminal {
		cfg.Progress = env.Stderr
	}
	return cfg, nil
}

// loadFlagOf names the flag of each loadtest.Config field a
// loadtest.ConfigError can name.
var loadFlagOf = map[string]string{
	"URL": "url", "Clients": "clients", "Duration": "duration", "Ramp": "ramp", "MaxOpen": "max-open",
	"SourceAddrs": "source-addrs", "Slow": "slow", "PID": "pid", "Schema": "schema",
}

// parseLoadSources reads "127.0.0.2-127.0.0.20,127.0.1.1": ranges and
// single addresses, every one a loopback address of one family.
func parseLoadSources(s string) ([]netip.Addr, error) {
	const most = 1 << 16
	var out []netip.Addr
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := netip.ParseAddr(strings.TrimSpace(lo))
		if err != nil {
			return nil, err
		}
		last := first
		if isRange {
			if last, err = netip.ParseAddr(strings.TrimSpace(hi)); err != nil {
				return nil, err
			}
			if first.Is4() != last.Is4() || last.Less(first) {
				return nil, fmt.Errorf("%s: not a range", part)
			}
		}
		for a := first; ; a = a.Next() {
			if !a.IsLoopback() {
				return nil, fmt.Errorf("%s is not a loopback address", a)
			}
			if len(out) > 0 && out[0].Is4() != a.Is4() {
				return nil, fmt.Errorf("IPv4 and IPv6 addresses mixed")
			}
			if out = append(out, a); len(out) > most {
				return nil, fmt.Errorf("more than %d addresses", most)
			}
			if a == last {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no address")
	}
	return out, nil
}

func runLoadtest(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("loadtest", env, loadtestAbout)
	var f loadFlags
	f.register(fs)
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q; the server is given with --url", fs.Arg(0))
	}
	cfg, err := f.config(env)
	if err != nil {
		return err
	}
	rep, err := loadtest.Run(ctx, cfg)
	if ce := (*loadtest.ConfigError)(nil); errors.As(err, &ce) {
		return usagef("--%s %s: %v", loadFlagOf[ce.Field], ce.Value, ce.Err)
	}
	if rep != nil {
		write := rep.WriteText
		if f.json {
			write = rep.WriteJSON
		}
		if werr := write(env.Stdout); werr != nil {
			return werr
		}
	}
	return err
}
