// Package loadtest loads a Lineage server on this machine with WebSocket
// clients and reports what they got: connections made and refused, live
// messages delivered per second, latency from each event's own timestamp
// to its receipt, sequence gaps and duplicates, healthy clients dropped,
// slow clients cut, and the server's memory and CPU.
//
// It is what `lineage loadtest` runs; a Go program runs the same load with
//
//	rep, err := loadtest.Run(ctx, loadtest.Config{URL: "ws://127.0.0.1:9001/", Clients: 100})
//
// and renders the Report with WriteText or WriteJSON.
//
// Only loopback targets are accepted: a load test never sends traffic off
// the machine it runs on, and a wss server's certificate is not verified.
// The load generator shares the machine with the server it measures, so
// each client does as little per message as its checks allow: one
// goroutine per connection reads 16 KiB at a time and parses the frames
// with internal/wsframe, stamping every message of one read with that
// read's time.
//
// The server's memory and CPU, the kernel's figures and the times slow
// clients were cut are read from Linux's /proc and socket table; elsewhere
// they are left out of the report (and Config.PID is refused).
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"time"
)

// Config describes a load test. Its zero values are the defaults noted on
// each field; only URL is required. A Config is read by Run and not kept.
type Config struct {
	// URL is the server's WebSocket URL, ws:// or wss://. Every address its
	// host resolves to must be a loopback address.
	URL string
	// Clients is how many connections to open, Slow ones included.
	// Zero means 1000.
	Clients int
	// Duration is the measurement window, after the ramp. Zero means 30s.
	Duration time.Duration
	// Ramp is the time over which the connections are opened, client i at
	// Ramp·i/Clients after the start. Zero opens them all at once (at most
	// MaxOpen dialling at a time).
	Ramp time.Duration
	// MaxOpen is how many connections may be dialling or handshaking at
	// once. Zero means 256.
	MaxOpen int
	// SourceAddrs are local loopback addresses, all of one family, to
	// spread the connections over round-robin (one address pair has about
	// 28,000 ports). None means the system's choice.
	SourceAddrs []netip.Addr
	// Slow clients, spread evenly among the others, stop reading at their
	// first message; the report says how many the server cut, how and when.
	// Zero means none.
	Slow int
	// PID is the server's process, whose RSS and CPU are sampled from
	// /proc. Zero means none.
	PID int
	// Token is sent as "Authorization: Bearer <Token>" when not empty.
	Token string
	// Schema is the wire schema to ask for, "v1" or "v2". Empty means "v1".
	Schema string
	// Progress, when not nil, gets a line a second during the ramp and the
	// window (connections dialled and open), each starting with "\r" to
	// overwrite the last on a terminal. Nil means none.
	Progress io.Writer
}

// Defaults of the zero Config fields.
const (
	defaultClients  = 1000
	defaultDuration = 30 * time.Second
	defaultMaxOpen  = 256
	defaultSchema   = "v1"
)

// A ConfigError is a Config that Run refuses. Field names the field at
// fault ("URL", "Clients", "PID", …), Value is its value as the message
// shows it, and Err says what is wrong with it.
type ConfigError struct {
	Field string
	Value string
	Err   error
}

func (e *ConfigError) Error() string { return e.Field + " " + e.Value + ": " + e.Err.Error() }

func (e *ConfigError) Unwrap() error { return e.Err }

func configErr(field string, value any, format string, args ...any) error {
	return &ConfigError{Field: field, Value: fmt.Sprint(value), Err: fmt.Errorf(format, args...)}
}

// ErrNoClient is what Run's error wraps when not one client connected.
var ErrNoClient = errors.New("no client connected")

// Run opens cfg.Clients connections over cfg.Ramp, holds them for
// cfg.Duration, closes them and returns the report; it returns after
// about Ramp + Duration, once every goroutine it started has ended.
// Cancelling ctx ends the ramp or the window early, and the report covers
// what was measured.
//
// A Config Run refuses is a *ConfigError, and a server that does not
// accept a TCP connection an error naming the URL; neither comes with a
// report. When no client connected, Run returns the report (its
// Connect.Failures say why) together with an error wrapping ErrNoClient.
//
// Runs are independent of one another and may go on at once.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	p, err := newPlan(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// One plain connection first: an unreachable server is one error, not
	// thousands of failed dials.
	d := net.Dialer{Timeout: 3 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", p.target.String())
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", cfg.URL, err)
	}
	conn.Close()

	rep := newRunner(p).run(ctx)
	if rep.Connect.Connected == 0 {
		return rep, fmt.Errorf("%w: %d failed (%s)", ErrNoClient, rep.Connect.Failed, reasons(rep.Connect.Failures))
	}
	return rep, nil
}

// plan is a validated load test: where to dial, from where, how many.
type plan struct {
	cfg     Config // with its defaults filled in
	addr    string // URL given to the WebSocket client: scheme://ip:port/path?query
	host    string // Host header: the URL's own host
	target  netip.AddrPort
	sources []netip.Addr
	scheme  string
}

// newPlan fills in cfg's defaults and checks it; every failure is a
// *ConfigError.
func newPlan(ctx context.Context, cfg Config) (*plan, error) {
	if cfg.Clients == 0 {
		cfg.Clients = defaultClients
	}
	if cfg.Duration == 0 {
		cfg.Duration = defaultDuration
	}
	if cfg.MaxOpen == 0 {
		cfg.MaxOpen = defaultMaxOpen
	}
	if cfg.Schema == "" {
		cfg.Schema = defaultSchema
	}
	switch {
	case cfg.Clients < 0:
		return nil, configErr("Clients", cfg.Clients, "must be at least 1")
	case cfg.Slow < 0 || cfg.Slow > cfg.Clients:
		return nil, configErr("Slow", cfg.Slow, "must be between 0 and Clients (%d)", cfg.Clients)
	case cfg.Duration < 0:
		return nil, configErr("Duration", cfg.Duration, "must be positive")
	case cfg.Ramp < 0:
		return nil, configErr("Ramp", cfg.Ramp, "must not be negative")
	case cfg.MaxOpen < 0:
		return nil, configErr("MaxOpen", cfg.MaxOpen, "must be at least 1")
	case cfg.PID < 0:
		return nil, configErr("PID", cfg.PID, "not a process id")
	case cfg.Schema != "v1" && cfg.Schema != "v2":
		return nil, configErr("Schema", strconv.Quote(cfg.Schema), "want v1 or v2")
	}
	p := &plan{cfg: cfg, sources: cfg.SourceAddrs}
	if lim, err := fileLimit(); err == nil {
		if need := uint64(cfg.Clients) + spareFiles; need > lim {
			return nil, configErr("Clients", cfg.Clients, "this process may open %d files (ulimit -n) and needs %d; raise the limit or run several loadtests", lim, need)
		}
	}
	quoted := strconv.Quote(cfg.URL)
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, configErr("URL", quoted, "%v", err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, configErr("URL", quoted, "the scheme must be ws or wss")
	}
	if u.Hostname() == "" {
		return nil, configErr("URL", quoted, "no host")
	}
	p.scheme = u.Scheme
	for _, a := range p.sources {
		if !a.IsLoopback() {
			return nil, configErr("SourceAddrs", a, "not a loopback address")
		}
		if a.Is4() != p.sources[0].Is4() {
			return nil, configErr("SourceAddrs", a, "IPv4 and IPv6 addresses mixed")
		}
	}
	ip, err := resolveLoopback(ctx, u.Hostname(), p.sources)
	if err != nil {
		return nil, configErr("URL", cfg.URL, "%v", err)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"ws": "80", "wss": "443"}[u.Scheme]
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return nil, configErr("URL", cfg.URL, "bad port %q", port)
	}
	p.target = netip.AddrPortFrom(ip, uint16(n))
	q := u.Query()
	q.Set("schema", cfg.Schema)
	dial := *u
	dial.Host = p.target.String()
	dial.RawQuery = q.Encode()
	if dial.Path == "" {
		dial.Path = "/"
	}
	p.addr, p.host = dial.String(), u.Host
	if cfg.PID > 0 {
		if _, err := readProc(cfg.PID); err != nil {
			return nil, configErr("PID", cfg.PID, "%v", err)
		}
	}
	return p, nil
}

// spareFiles is what a load test keeps open beside its connections.
const spareFiles = 64

// resolveLoopback resolves host and insists that every address it names is
// a loopback address: a load test never sends traffic off this machine.
// Of the addresses, it returns one of the family of the source addresses.
func resolveLoopback(ctx context.Context, host string, sources []netip.Addr) (netip.Addr, error) {
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
	return netip.Addr{}, fmt.Errorf("%q has no address of the family of the source addresses", host)
}
