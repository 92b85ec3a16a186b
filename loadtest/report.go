package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Report is what a load test measured; WriteJSON writes it as it is here,
// WriteText as a few lines for people. Times are milliseconds, memory
// bytes, rates per second of the window. Optional parts are nil when not
// measured.
type Report struct {
	URL           string  `json:"url"`
	Schema        string  `json:"schema"`
	Clients       int     `json:"clients"`
	Slow          int     `json:"slow"`
	SourceAddrs   int     `json:"source_addrs"`
	RampSeconds   float64 `json:"ramp_s"`   // from the first dial to the last handshake's end
	WindowSeconds float64 `json:"window_s"` // the measurement window, after the ramp

	Connect  Connections `json:"connect"`
	Delivery Delivery    `json:"delivery"`
	// Latency is from an event's own timestamp to its receipt, for live
	// events received in the window.
	Latency *Latency `json:"latency_ms"`
	// LatencyWhileSlow is Latency restricted to the time some slow client
	// had stopped reading and was not yet seen cut.
	LatencyWhileSlow *Latency `json:"latency_while_slow_ms,omitempty"`
	Order            Order    `json:"order"`
	// Dropped counts healthy clients whose connection ended before the
	// run did, by how it ended.
	Dropped     map[string]int `json:"dropped"`
	SlowClients *SlowClients   `json:"slow_clients,omitempty"`
	Server      *Process       `json:"server,omitempty"`
	Kernel      *Kernel        `json:"kernel,omitempty"`
	// LoadtestCPUPercent is this process's CPU over the window, 100 = one core.
	LoadtestCPUPercent float64 `json:"loadtest_cpu_percent"`
	// MachineCPUPercent is every core's busy time over the window (100 =
	// one core): what the server and loadtest do not account for is other
	// work on the machine, which the figures share the cores with.
	MachineCPUPercent float64 `json:"machine_cpu_percent"`
	Cores             int     `json:"cores"`
}

// Connections are the connections a load test opened.
type Connections struct {
	Attempted int            `json:"attempted"`
	Connected int            `json:"connected"` // handshakes that succeeded
	Welcomed  int            `json:"welcomed"`  // of those, clients that got their welcome
	Failed    int            `json:"failed"`
	Failures  map[string]int `json:"failures"`
	PerSecond float64        `json:"per_s"`
	// Handshake is from the dial to the welcome.
	Handshake *Latency `json:"handshake_ms"`
}

// Delivery counts the messages clients received.
type Delivery struct {
	Messages           uint64  `json:"messages"`        // live events received, whole run
	WindowMessages     uint64  `json:"window_messages"` // live events received in the window
	PerSecond          float64 `json:"per_s"`
	PerClientPerSecond float64 `json:"per_client_per_s"` // per healthy client
	WindowEvents       uint64  `json:"window_events"`    // distinct sequences received in the window
	EventsPerSecond    float64 `json:"events_per_s"`
	Snapshot           uint64  `json:"snapshot"` // snapshot messages after welcomes
	Control            uint64  `json:"control"`  // pong, error, resume messages
	Unparsed           uint64  `json:"unparsed"` // messages that were none of the above
	Untimed            uint64  `json:"untimed"`  // window events without a timestamp
}

// Latency summarises Samples times, in milliseconds. Max is exact; the
// quantiles are the top of a log-linear bucket, within 1.6 % above the
// truth and never above Max (SlowClients.CutAfter's are exact: nearest rank).
type Latency struct {
	Samples uint64  `json:"samples"`
	P50     float64 `json:"p50"`
	P95     float64 `json:"p95"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
}

// Order counts where clients' sequence numbers did not follow one another.
type Order struct {
	Gaps                  uint64 `json:"gaps"`    // places where sequences were skipped
	Missing               uint64 `json:"missing"` // sequences skipped in all
	Duplicates            uint64 `json:"duplicates"`
	ClientsWithGaps       int    `json:"clients_with_gaps"`
	ClientsWithDuplicates int    `json:"clients_with_duplicates"`
}

// SlowClients is what became of the clients that stopped reading.
type SlowClients struct {
	Clients    int `json:"clients"`
	Stopped    int `json:"stopped"` // stopped reading (got a first message)
	Cut        int `json:"cut"`     // connection ended by the server
	CutTooSlow int `json:"cut_too_slow"`
	NotCut     int `json:"not_cut"`
	// CloseReasons counts how cut clients' connections ended, as they saw
	// it once they read again: "1008 too slow", or no close frame at all.
	CloseReasons map[string]int `json:"close_reasons"`
	// CutAfter is the time from a client's last read to the server closing
	// its connection, as the kernel's socket table shows it.
	CutAfter *Latency `json:"cut_after_ms,omitempty"`
}

// Process is the server process's memory and CPU, from /proc.
type Process struct {
	PID          int   `json:"pid"`
	RSSBefore    int64 `json:"rss_before"`
	RSSConnected int64 `json:"rss_connected"` // at the window's end, connections open
	RSSPeak      int64 `json:"rss_peak"`
	RSSAfter     int64 `json:"rss_after"` // when every connection had closed
	// BytesPerConn is (RSSConnected − RSSBefore) / connected.
	BytesPerConn float64 `json:"bytes_per_conn"`
	// CPUPercent is over the window; 100 = one core.
	CPUPercent    float64 `json:"cpu_percent"`
	PerCorePerSec float64 `json:"msgs_per_s_per_core"`
}

// Kernel is the machine's TCP socket count and the kernel memory that
// grows with it, before the ramp and at the window's end: machine-wide,
// so on loopback both ends of every connection, and anything else the
// machine did.
type Kernel struct {
	TCPSocketsBefore    int64 `json:"tcp_sockets_before"`
	TCPSocketsConnected int64 `json:"tcp_sockets_connected"` // both ends of every loopback connection
	SlabDelta           int64 `json:"slab_delta"`
	SlabPerSocket       int64 `json:"slab_per_socket"`
	BuffersDelta        int64 `json:"socket_buffers_delta"` // /proc/net/sockstat "mem"
}

// WriteJSON writes r as indented JSON, one object and a newline.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes r as a few lines for people, one per part of the
// report; it returns the first write error.
func (r *Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	r.writeText(ew)
	return ew.err
}

// errWriter keeps the first write error and skips every later write.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return len(b), nil
	}
	_, e.err = e.w.Write(b)
	return len(b), nil
}

func (r *Report) writeText(w io.Writer) {
	c, d := r.Connect, r.Delivery
	fmt.Fprintf(w, "lineage loadtest %s (schema %s): %d clients (%d slow) from %d source address(es)\n", r.URL, r.Schema, r.Clients, r.Slow, r.SourceAddrs)
	fmt.Fprintf(w, "connect    %d connected, %d welcomed, %d failed in %.2fs (%.0f/s)", c.Connected, c.Welcomed, c.Failed, r.RampSeconds, c.PerSecond)
	if h := c.Handshake; h != nil {
		fmt.Fprintf(w, "; dial to welcome p50 %s p99 %s max %s", fmtMs(h.P50), fmtMs(h.P99), fmtMs(h.Max))
	}
	fmt.Fprintln(w)
	if c.Failed > 0 {
		fmt.Fprintf(w, "failures   %s\n", reasons(c.Failures))
	}
	fmt.Fprintf(w, "delivery   %s msgs in %.2fs: %s msgs/s, %s per client; %d events (%.1f/s)\n",
		thousands(float64(d.WindowMessages)), r.WindowSeconds, thousands(d.PerSecond), thousands(d.PerClientPerSecond), d.WindowEvents, d.EventsPerSecond)
	if l := r.Latency; l != nil {
		fmt.Fprintf(w, "latency    p50 %s  p95 %s  p99 %s  max %s  (%s samples, event timestamp to receipt)\n",
			fmtMs(l.P50), fmtMs(l.P95), fmtMs(l.P99), fmtMs(l.Max), thousands(float64(l.Samples)))
	} else {
		fmt.Fprintln(w, "latency    no timed event received in the window")
	}
	o := r.Order
	fmt.Fprintf(w, "order      %d gaps (%d sequences missing) in %d clients, %d duplicates in %d clients; %s live msgs in all\n",
		o.Gaps, o.Missing, o.ClientsWithGaps, o.Duplicates, o.ClientsWithDuplicates, thousands(float64(d.Messages)))
	if len(r.Dropped) > 0 {
		fmt.Fprintf(w, "dropped    healthy clients disconnected early: %s\n", reasons(r.Dropped))
	}
	if s := r.SlowClients; s != nil {
		fmt.Fprintf(w, "slow       %d of %d cut (%d with 1008 \"too slow\"), %d not cut", s.Cut, s.Clients, s.CutTooSlow, s.NotCut)
		if s.CutAfter != nil {
			fmt.Fprintf(w, "; cut %s (p50) to %s (max) after they stopped reading", fmtMs(s.CutAfter.P50), fmtMs(s.CutAfter.Max))
		}
		fmt.Fprintln(w)
		if len(s.CloseReasons) > 0 {
			fmt.Fprintf(w, "           how they ended: %s\n", reasons(s.CloseReasons))
		}
		if l := r.LatencyWhileSlow; l != nil {
			fmt.Fprintf(w, "           healthy latency while slow clients were pending: p50 %s p99 %s max %s (%s samples)\n",
				fmtMs(l.P50), fmtMs(l.P99), fmtMs(l.Max), thousands(float64(l.Samples)))
		}
	}
	if s := r.Server; s != nil {
		fmt.Fprintf(w, "server     pid %d: RSS %s before, %s connected, %s peak, %s after; %s B/conn; CPU %.1f%% (%s msgs/s per core)\n",
			s.PID, mib(s.RSSBefore), mib(s.RSSConnected), mib(s.RSSPeak), mib(s.RSSAfter), thousands(s.BytesPerConn), s.CPUPercent, thousands(s.PerCorePerSec))
	}
	if k := r.Kernel; k != nil {
		fmt.Fprintf(w, "kernel     TCP sockets %d → %d (machine-wide): slab %s (%s B/socket), socket buffers %s\n",
			k.TCPSocketsBefore, k.TCPSocketsConnected, signedMiB(k.SlabDelta), thousands(float64(k.SlabPerSocket)), signedMiB(k.BuffersDelta))
	}
	fmt.Fprintf(w, "loadtest   CPU %.1f%% over the window; the machine's %d cores %.1f%% busy in all", r.LoadtestCPUPercent, r.Cores, r.MachineCPUPercent)
	if other := r.MachineCPUPercent - r.LoadtestCPUPercent; r.Server != nil {
		fmt.Fprintf(w, " (%.1f%% neither server nor loadtest)", other-r.Server.CPUPercent)
	}
	fmt.Fprintln(w)
}

func fmtMs(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + "ms"
}

func mib(b int64) string {
	return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB"
}

func signedMiB(b int64) string {
	if b >= 0 {
		return "+" + mib(b)
	}
	return mib(b)
}

// thousands formats a figure rounded to an integer with thin separators:
// 1,234,567.
func thousands(f float64) string {
	s := strconv.FormatInt(int64(f+0.5), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// reasons is "http 503: 3, timeout: 1", most frequent first.
func reasons(m map[string]int) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
