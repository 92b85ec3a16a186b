package cli

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Bounds on the counts a user can ask for. A count past its bound is a
// usage error naming the bound, found before anything is allocated, opened
// or written. docs/operations.md explains each.
const (
	// agentBytes is what one agent costs a running server: its state and
	// strategy, its share of every snapshot the hub and /api keep, its
	// state events and its metrics. Founding costs ~2 KiB; a running
	// server holds several copies of every agent's state.
	agentBytes = 64 << 10
	// agentMemShare is the fraction (1/agentMemShare) of the machine's
	// memory the agents of one run may take.
	agentMemShare = 2
	// maxAgentsCap bounds agents whatever the memory: every tick visits
	// every living agent.
	maxAgentsCap = 1_000_000
	// maxRoundTicks bounds --round-ticks; a round costs no memory per tick,
	// but a longer round is never reached.
	maxRoundTicks = 1_000_000_000
	// maxArenaTicks bounds arena --ticks.
	maxArenaTicks = 1_000_000_000_000
	// maxMetricsAgents bounds --metrics-max-agents: every labelled agent
	// is a dozen series in every scrape.
	maxMetricsAgents = 10_000
)

// agentsBound is the most agents (founders, or living with births) the
// machine can hold: a share of its memory at agentBytes each, at most
// maxAgentsCap.
func agentsBound() int {
	mem := totalMemory()
	n := mem / agentMemShare / agentBytes
	if n > maxAgentsCap || mem == 0 {
		return maxAgentsCap
	}
	return int(max(n, 16))
}

// checkCount returns a usage error when flag's value v is outside [lo, hi];
// why says what the upper bound stands for.
func checkCount(flag string, v, lo, hi int64, why string) error {
	switch {
	case v < lo:
		return usagef("--%s %d: must be at least %d", flag, v, lo)
	case v > hi:
		return usagef("--%s %d: at most %d (%s)", flag, v, hi, why)
	}
	return nil
}

// checkAddr checks that addr is host:port with a numeric port: a mistake
// in it is a usage error, found before anything is opened.
func checkAddr(flag, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("--%s %q: want host:port, e.g. 127.0.0.1:9001", flag, addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return usagef("--%s %q: port %q is not a number from 0 to 65535", flag, addr, port)
	}
	if strings.ContainsAny(host, " /?#@") {
		return usagef("--%s %q: host %q is not a host name or an IP address", flag, addr, host)
	}
	return nil
}

// parseOrigins splits --allowed-origins and checks each entry: "*", or
// scheme://host with an optional :port or :* (any port), and nothing else —
// no path, query, user or fragment.
func parseOrigins(s string) ([]string, error) {
	var out []string
	for o := range strings.SplitSeq(s, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o != "*" {
			if err := checkOrigin(o); err != nil {
				return nil, usagef("--allowed-origins %q: %v", o, err)
			}
		}
		out = append(out, o)
	}
	return out, nil
}

func checkOrigin(o string) error {
	const want = `want "*" or scheme://host[:port], e.g. https://example.com or http://localhost:*`
	base, anyPort := strings.CutSuffix(o, ":*")
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("not an origin; %s", want)
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(base, "?") || strings.HasSuffix(base, "#") {
		return fmt.Errorf("an origin has no user, path, query or fragment; %s", want)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q: want http or https", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if anyPort {
			return fmt.Errorf("a port and :* both; %s", want)
		}
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return fmt.Errorf("port %q is not a number from 0 to 65535", p)
		}
	}
	if u.Hostname() == "" {
		return fmt.Errorf("no host; %s", want)
	}
	return nil
}

// checkCounts checks the counts among the flags against their bounds,
// before anything is allocated for them. given is the set of flags given.
func (f *arenaFlags) checkCounts(given map[string]bool) error {
	bound := int64(agentsBound())
	memory := fmt.Sprintf("what this machine's memory holds at %d KiB an agent", agentBytes>>10)
	if bound == maxAgentsCap {
		memory = "every tick visits every agent"
	}
	if given["agents"] {
		if err := checkCount("agents", int64(f.agents), 1, bound, memory); err != nil {
			return err
		}
		if f.roster != "" {
			return usagef("--agents and --roster exclude each other")
		}
	}
	switch {
	case f.maxAgents < 0:
		return usagef("--max-agents %d: must not be negative (0: the default)", f.maxAgents)
	case f.maxAgents > 0:
		if err := checkCount("max-agents", int64(f.maxAgents), 1, bound, memory); err != nil {
			return err
		}
	}
	return checkCount("round-ticks", int64(f.roundTicks), 1, maxRoundTicks, "a longer round never ends")
}

// checkFounders checks the number of founders against --max-agents and
// the machine.
func (f *arenaFlags) checkFounders(n int) error {
	if bound := agentsBound(); n > bound {
		return usagef("--roster: %d founders, at most %d (what this machine holds)", n, bound)
	}
	if f.maxAgents > 0 && f.maxAgents < n {
		return usagef("--max-agents %d: fewer than the %d founders", f.maxAgents, n)
	}
	return nil
}
