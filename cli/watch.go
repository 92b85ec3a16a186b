package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/lineage-arena/lineage/client"
)

const watchAbout = `lineage watch [URL]: the terminal client. Connects to a running server
(default ws://127.0.0.1:9001), prints every event as a table row, reconnects with
backoff when the connection drops and resumes from the last sequence it printed,
so nothing is missed or printed twice across a server restart.`

// Timing of watch, named so tests and docs can refer to them.
const (
	watchHeartbeat  = client.DefaultHeartbeat   // a heartbeat message goes out this often
	watchSilence    = client.DefaultReadTimeout // a server silent this long is gone
	watchBackoffMin = client.DefaultBackoffMin
	watchBackoffMax = client.DefaultBackoffMax
	maxWatchMessage = client.DefaultMaxMessageSize
)

type watchOpts struct {
	url      *url.URL
	n        int
	json     bool
	symbols  []string
	agents   []string
	events   []string
	token    string
	insecure bool
	retry    bool
	// heartbeat and silence are watchHeartbeat and watchSilence; tests
	// shorten them.
	heartbeat, silence time.Duration
}

func runWatch(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("watch", env, watchAbout)
	n := fs.Int("n", 0, "stop after N messages (0: never)")
	asJSON := fs.Bool("json", false, "print each message raw, one per line (for jq)")
	var symbols, agents, events listFlag
	fs.Var(&symbols, "symbols", "only these symbols (comma-separated)")
	fs.Var(&agents, "agents", "only these agents (comma-separated)")
	fs.Var(&events, "events", "only these event types: market, agent, trade, scar, death, spawn, round")
	token := fs.String("token", "", tokenUsage)
	insecure := fs.Bool("insecure", false, "accept any TLS certificate (self-signed test servers)")
	retry := fs.Bool("retry", false, "wait for an unreachable server instead of exiting 1")
	if err := parseFlagsAndArgs(fs, env, args, 1); err != nil {
		return err
	}
	raw := "ws://127.0.0.1:9001"
	if fs.NArg() == 1 {
		raw = fs.Arg(0)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return usagef("URL %q: want ws://host:port or wss://host:port", raw)
	}
	if *n < 0 {
		return usagef("-n %d: must not be negative", *n)
	}
	o := watchOpts{url: u, n: *n, json: *asJSON, symbols: symbols, agents: agents, events: events, token: *token,
		insecure: *insecure, retry: *retry, heartbeat: watchHeartbeat, silence: watchSilence}
	tty := env.StdoutIsTerminal
	p := &printer{w: env.Stdout, emoji: tty, color: tty && env.Getenv("NO_COLOR") == ""}
	return watch(ctx, o, p)
}

// watch follows the stream with the client package until ctx is done or
// -n messages are printed. A subscription the server refuses ends it with
// a usage error.
func watch(ctx context.Context, o watchOpts, p *printer) error {
	opts := client.Options{
		Filter:    client.Filter{Symbols: o.symbols, Agents: o.agents, Events: o.events},
		Token:     o.token,
		Heartbeat: o.heartbeat, ReadTimeout: o.silence, MaxMessageSize: maxWatchMessage,
		BackoffMin: watchBackoffMin, BackoffMax: watchBackoffMax,
		Rand:      rand.NewPCG(uint64(time.Now().UnixNano()), 0x7761746368),
		RetryDial: o.retry,
		OnRetry: func(r client.Retry) {
			if r.Lost {
				p.note("%v; reconnecting and resuming after sequence %d", r.Err, r.Since)
				return
			}
			p.note("cannot connect (%v); retrying in %s", r.Err, r.Wait.Round(time.Millisecond))
		},
		OnInvalid: func(b []byte) {
			p.note("the server sent something that is not a Lineage message (%d bytes); ignoring it", len(b))
		},
	}
	if o.insecure {
		opts.TLSConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	}
	c, err := client.Dial(ctx, o.url.String(), opts)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		var de *client.DialError
		if errors.As(err, &de) && de.StatusCode == http.StatusUnauthorized {
			return fmt.Errorf("%w: $LINEAGE_TOKEN or --token", err)
		}
		return err
	}
	defer c.Close()
	if !o.json { // once connected: a failure to connect is its error alone
		p.header()
	}
	printed := 0
	// show prints m and reports whether -n is reached.
	show := func(m *client.Message) bool {
		if o.json {
			fmt.Fprintln(p.w, string(m.Raw))
		} else if !p.print(m) {
			return false
		}
		printed++
		return o.n > 0 && printed >= o.n
	}
	w := c.Welcome()
	if show(&w) {
		return nil
	}
	for {
		m, err := c.Next(ctx)
		var se *client.SubscribeError
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &se):
			return usagef("%v", err)
		case err != nil:
			return err
		}
		if show(&m) {
			return nil
		}
	}
}
