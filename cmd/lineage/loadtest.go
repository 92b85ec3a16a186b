package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
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

// loadPlan is a validated load test: where to dial, from where, how many.
type loadPlan struct {
	flags    loadFlags
	addr     string // URL given to the WebSocket client: scheme://ip:port/path?query
	host     string // Host header: the URL's own host
	target   netip.AddrPort
	sources  []netip.Addr
	scheme   string
	fdLimit  uint64
	progress bool
}

// plan checks the flags; every failure is a usage error naming the flag.
func (f *loadFlags) plan(ctx context.Context) (*loadPlan, error) {
	switch {
	case f.clients < 1:
		return nil, usagef("--clients %d: must be at least 1", f.clients)
	case f.slow < 0 || f.slow > f.clients:
		return nil, usagef("--slow %d: must be between 0 and --clients (%d)", f.slow, f.clients)
	case f.duration <= 0:
		return nil, usagef("--duration %s: must be positive", f.duration)
	case f.ramp < 0:
		return nil, usagef("--ramp %s: must not be negative", f.ramp)
	case f.maxOpen < 1:
		return nil, usagef("--max-open %d: must be at least 1", f.maxOpen)
	case f.pid < 0:
		return nil, usagef("--pid %d: not a process id", f.pid)
	case f.schema != "v1" && f.schema != "v2":
		return nil, usagef("--schema %q: want v1 or v2", f.schema)
	}
	p := &loadPlan{flags: *f}
	if lim, err := loadFileLimit(); err == nil {
		p.fdLimit = lim
		if need := uint64(f.clients) + loadSpareFiles; need > lim {
			return nil, usagef("--clients %d: this process may open %d files (ulimit -n) and needs %d; raise the limit or run several loadtests", f.clients, lim, need)
		}
	}
	u, err := url.Parse(f.url)
	if err != nil {
		return nil, usagef("--url %q: %v", f.url, err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, usagef("--url %q: the scheme must be ws or wss", f.url)
	}
	if u.Hostname() == "" {
		return nil, usagef("--url %q: no host", f.url)
	}
	p.scheme = u.Scheme
	if f.sources != "" {
		if p.sources, err = parseLoadSources(f.sources); err != nil {
			return nil, usagef("--source-addrs %q: %v", f.sources, err)
		}
	}
	ip, err := loadResolveLoopback(ctx, u.Hostname(), p.sources)
	if err != nil {
		return nil, usagef("--url %s: %v", f.url, err)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"ws": "80", "wss": "443"}[u.Scheme]
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return nil, usagef("--url %s: bad port %q", f.url, port)
	}
	p.target = netip.AddrPortFrom(ip, uint16(n))
	q := u.Query()
	q.Set("schema", f.schema)
	dial := *u
	dial.Host = p.target.String()
	dial.RawQuery = q.Encode()
	if dial.Path == "" {
		dial.Path = "/"
	}
	p.addr, p.host = dial.String(), u.Host
	if f.pid > 0 {
		if _, err := readLoadProc(f.pid); err != nil {
			return nil, usagef("--pid %d: %v", f.pid, err)
		}
	}
	return p, nil
}

// loadSpareFiles is what loadtest keeps open beside its connections.
const loadSpareFiles = 64

// loadResolveLoopback resolves host and insists that every address it names is
// a loopback address: loadtest never sends traffic off this machine. Of
// the addresses, it returns one of the family of the source addresses.
func loadResolveLoopback(ctx context.Context, host string, sources []netip.Addr) (netip.Addr, error) {
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
			return netip.Addr{}, fmt.Errorf("cannot resolve %q to check that it is a loopback address: %v", host, err)
		}
	}
	for _, ip := range ips {
		if !ip.Unmap().IsLoopback() {
			return netip.Addr{}, fmt.Errorf("%s is not a loopback address; loadtest only runs against this machine", ip)
		}
	}
	want4 := len(sources) == 0 || sources[0].Is4()
	for _, ip := range ips {
		if ip = ip.Unmap(); ip.Is4() == want4 {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%q has no address of the family of --source-addrs", host)
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

func runLoadtest(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet("loadtest", env, loadtestAbout)
	var f loadFlags
	f.register(fs)
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q; the server is given with --url", fs.Arg(0))
	}
	p, err := f.plan(ctx)
	if err != nil {
		return err
	}
	p.progress = env.StderrIsTerminal
	// One plain connection first: an unreachable server is one line, not
	// loadThousands of failed dials.
	d := net.Dialer{Timeout: 3 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", p.target.String())
	if err != nil {
		return fmt.Errorf("cannot reach %s: %w", f.url, err)
	}
	conn.Close()

	rep := newLoadRun(p, env.Stderr).run(ctx)
	if f.json {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.writeText(env.Stdout)
	}
	if rep.Connect.Connected == 0 {
		return fmt.Errorf("no client connected: %d failed (%s)", rep.Connect.Failed, loadReasons(rep.Connect.Failures))
	}
	return nil
}
