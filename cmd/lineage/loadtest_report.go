package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// loadReport is what loadtest prints; with --json, as it is here. Times are
// milliseconds, memory bytes, rates per second of the window.
type loadReport struct {
	URL           string  `json:"url"`
	Schema        string  `json:"schema"`
	Clients       int     `json:"clients"`
	Slow          int     `json:"slow"`
	SourceAddrs   int     `json:"source_addrs"`
	RampSeconds   float64 `json:"ramp_s"`   // from the first dial to the last handshake's end
	WindowSeconds float64 `json:"window_s"` // the measurement window, after the ramp

	Connect  loadConnect  `json:"connect"`
	Delivery loadDelivery `json:"delivery"`
	// Latency is from an event's own timestamp to its receipt, for live
	// events received in the window.
	Latency *loadLatency `json:"latency_ms"`
	// LatencyWhileSlow is Latency restricted to the time some slow client
	// had stopped reading and was not yet seen cut.
	LatencyWhileSlow *loadLatency `json:"latency_while_slow_ms,omitempty"`
	Order            loadOrder    `json:"order"`
	// Dropped counts healthy clients whose connection ended before the
	// run did, by how it ended.
	Dropped     map[string]int `json:"dropped"`
	SlowClients *loadSlow      `json:"slow_clients,omitempty"`
	Server      *loadServer    `json:"server,omitempty"`
	Kernel      *loadKernel    `json:"kernel,omitempty"`
	// LoadtestCPUPercent is this process's CPU over the window, 100 = one core.
	LoadtestCPUPercent float64 `json:"loadtest_cpu_percent"`
	// MachineCPUPercent is every core's busy time over the window (100 =
	// one core): what the server and loadtest do not account for is other
	// work on the machine, which the figures share the cores with.
	MachineCPUPercent float64 `json:"machine_cpu_percent"`
	Cores             int     `json:"cores"`
}

type loadConnect struct {
	Attempted int            `json:"attempted"`
	Connected int            `json:"connected"` // handshakes that succeeded
	Welcomed  int            `json:"welcomed"`  // of those, clients that got their welcome
	Failed    int            `json:"failed"`
	Failures  map[string]int `json:"failures"`
	PerSecond float64        `json:"per_s"`
	// Handshake is from the dial to the welcome.
	Handshake *loadLatency `json:"handshake_ms"`
}

type loadDelivery struct {
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

type loadLatency struct {
	Samples uint64  `json:"samples"`
	P50     float64 `json:"p50"`
	P95     float64 `json:"p95"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
}

type loadOrder struct {
	Gaps                  uint64 `json:"gaps"`    // places where sequences were skipped
	Missing               uint64 `json:"missing"` // sequences skipped in all
	Duplicates            uint64 `json:"duplicates"`
	ClientsWithGaps       int    `json:"clients_with_gaps"`
	ClientsWithDuplicates int    `json:"clients_with_duplicates"`
}

type loadSlow struct {
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
	CutAfter *loadLatency `json:"cut_after_ms,omitempty"`
}

type loadServer struct {
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

type loadKernel struct {
	TCPSocketsBefore    int64 `json:"tcp_sockets_before"`
	TCPSocketsConnected int64 `json:"tcp_sockets_connected"` // both ends of every loopback connection
	SlabDelta           int64 `json:"slab_delta"`
	SlabPerSocket       int64 `json:"slab_per_socket"`
	BuffersDelta        int64 `json:"socket_buffers_delta"` // /proc/net/sockstat "mem"
}

func (r *loadReport) writeText(w io.Writer) {
	c, d := r.Connect, r.Delivery
	fmt.Fprintf(w, "lineage loadtest %s (schema %s): %d clients (%d slow) from %d source address(es)\n", r.URL, r.Schema, r.Clients, r.Slow, r.SourceAddrs)
	fmt.Fprintf(w, "connect    %d connected, %d welcomed, %d failed in %.2fs (%.0f/s)", c.Connected, c.Welcomed, c.Failed, r.RampSeconds, c.PerSecond)
	if h := c.Handshake; h != nil {
		fmt.Fprintf(w, "; dial to welcome p50 %s p99 %s max %s", loadFmtMs(h.P50), loadFmtMs(h.P99), loadFmtMs(h.Max))
	}
	fmt.Fprintln(w)
	if c.Failed > 0 {
		fmt.Fprintf(w, "failures   %s\n", loadReasons(c.Failures))
	}
	fmt.Fprintf(w, "delivery   %s msgs in %.2fs: %s msgs/s, %s per client; %d events (%.1f/s)\n",
		loadThousands(float64(d.WindowMessages)), r.WindowSeconds, loadThousands(d.PerSecond), loadThousands(d.PerClientPerSecond), d.WindowEvents, d.EventsPerSecond)
	if l := r.Latency; l != nil {
		fmt.Fprintf(w, "latency    p50 %s  p95 %s  p99 %s  max %s  (%s samples, event timestamp to receipt)\n",
			loadFmtMs(l.P50), loadFmtMs(l.P95), loadFmtMs(l.P99), loadFmtMs(l.Max), loadThousands(float64(l.Samples)))
	} else {
		fmt.Fprintln(w, "latency    no timed event received in the window")
	}
	o := r.Order
	fmt.Fprintf(w, "order      %d gaps (%d sequences missing) in %d clients, %d duplicates in %d clients; %s live msgs in all\n",
		o.Gaps, o.Missing, o.ClientsWithGaps, o.Duplicates, o.ClientsWithDuplicates, loadThousands(float64(d.Messages)))
	if len(r.Dropped) > 0 {
		fmt.Fprintf(w, "dropped    healthy clients disconnected early: %s\n", loadReasons(r.Dropped))
	}
	if s := r.SlowClients; s != nil {
		fmt.Fprintf(w, "slow       %d of %d cut (%d with 1008 \"too slow\"), %d not cut", s.Cut, s.Clients, s.CutTooSlow, s.NotCut)
		if s.CutAfter != nil {
			fmt.Fprintf(w, "; cut %s (p50) to %s (max) after they stopped reading", loadFmtMs(s.CutAfter.P50), loadFmtMs(s.CutAfter.Max))
		}
		fmt.Fprintln(w)
		if len(s.CloseReasons) > 0 {
			fmt.Fprintf(w, "           how they ended: %s\n", loadReasons(s.CloseReasons))
		}
		if l := r.LatencyWhileSlow; l != nil {
			fmt.Fprintf(w, "           healthy latency while slow clients were pending: p50 %s p99 %s max %s (%s samples)\n",
				loadFmtMs(l.P50), loadFmtMs(l.P99), loadFmtMs(l.Max), loadThousands(float64(l.Samples)))
		}
	}
	if s := r.Server; s != nil {
		fmt.Fprintf(w, "server     pid %d: RSS %s before, %s connected, %s peak, %s after; %s B/conn; CPU %.1f%% (%s msgs/s per core)\n",
			s.PID, loadMiB(s.RSSBefore), loadMiB(s.RSSConnected), loadMiB(s.RSSPeak), loadMiB(s.RSSAfter), loadThousands(s.BytesPerConn), s.CPUPercent, loadThousands(s.PerCorePerSec))
	}
	if k := r.Kernel; k != nil {
		fmt.Fprintf(w, "kernel     TCP sockets %d → %d (machine-wide): slab %s (%s B/socket), socket buffers %s\n",
			k.TCPSocketsBefore, k.TCPSocketsConnected, loadSigned(k.SlabDelta), loadThousands(float64(k.SlabPerSocket)), loadSigned(k.BuffersDelta))
	}
	fmt.Fprintf(w, "loadtest   CPU %.1f%% over the window; the machine's %d cores %.1f%% busy in all", r.LoadtestCPUPercent, r.Cores, r.MachineCPUPercent)
	if other := r.MachineCPUPercent - r.LoadtestCPUPercent; r.Server != nil {
		fmt.Fprintf(w, " (%.1f%% neither server nor loadtest)", other-r.Server.CPUPercent)
	}
	fmt.Fprintln(w)
}

func loadFmtMs(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + "ms"
}

func loadMiB(b int64) string {
	return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB"
}

func loadSigned(b int64) string {
	if b >= 0 {
		return "+" + loadMiB(b)
	}
	return loadMiB(b)
}

// loadThousands formats a figure rounded to an integer with thin separators:
// 1,234,567.
func loadThousands(f float64) string {
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

// loadReasons is "http 503: 3, timeout: 1", most frequent first.
func loadReasons(m map[string]int) string {
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

// loadHist counts durations in log-linear buckets: exact below 64 µs,
// then 64 buckets per power of two, so a quantile is within 1/64 (1.6 %)
// of the truth. Writers on different shards do not share counters.
type loadHist struct {
	shards [loadShards]loadHistShard
}

const (
	loadShards     = 16
	loadSubBuckets = 64
	loadOctaves    = 40 // up to 2^46 µs
	loadBuckets    = loadSubBuckets * (loadOctaves + 1)
)

type loadHistShard struct {
	counts [loadBuckets]atomic.Uint64
	max    atomic.Int64 // µs
}

func loadBucket(us int64) int {
	if us < loadSubBuckets {
		return int(max(us, 0))
	}
	e := bits.Len64(uint64(us)) - 7 // us>>e is in [64, 128)
	return min(loadSubBuckets*e+int(us>>e), loadBuckets-1)
}

// loadBucketTop is the largest value, in µs, counted in bucket i.
func loadBucketTop(i int) int64 {
	if i < loadSubBuckets {
		return int64(i)
	}
	e := i/loadSubBuckets - 1
	m := int64(i%loadSubBuckets + loadSubBuckets)
	return (m+1)<<e - 1
}

// record counts d on shard k (any int; clients use their index).
func (h *loadHist) record(k int, d time.Duration) {
	s := &h.shards[k%loadShards]
	us := max(int64(d/time.Microsecond), 0)
	s.counts[loadBucket(us)].Add(1)
	for {
		m := s.max.Load()
		if us <= m || s.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// summary is nil when nothing was recorded. Quantiles are the top of
// their bucket, never above the maximum, which is exact.
func (h *loadHist) summary() *loadLatency {
	var counts [loadBuckets]uint64
	var n uint64
	var top int64
	for i := range h.shards {
		s := &h.shards[i]
		for j := range counts {
			c := s.counts[j].Load()
			counts[j] += c
			n += c
		}
		top = max(top, s.max.Load())
	}
	if n == 0 {
		return nil
	}
	q := func(f float64) float64 {
		rank := uint64(f*float64(n) + 0.999999)
		var seen uint64
		for i, c := range counts {
			if seen += c; seen >= max(rank, 1) {
				return loadUsToMs(min(loadBucketTop(i), top))
			}
		}
		return loadUsToMs(top)
	}
	return &loadLatency{Samples: n, P50: q(0.50), P95: q(0.95), P99: q(0.99), Max: loadUsToMs(top)}
}

func loadUsToMs(us int64) float64 { return loadRound3(float64(us) / 1000) }

func loadRound3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// Kinds of server message.
type loadKind int

const (
	loadUnknown loadKind = iota
	loadWelcome
	loadControl // pong, error, resume, subscribed
	loadEvent
)

var (
	loadV1Prefix   = []byte(`{"event_type":"`)
	loadTypePrefix = []byte(`{"type":"`)
	loadSeqName    = []byte(`"sequence"`)  // a key, before its ':'
	loadTimeName   = []byte(`"timestamp"`) // a key, before its ':'
)

// scanLoadMessage reads what loadtest needs of a server message: its kind,
// its sequence and its event time, without decoding the rest. The hub
// writes the envelope's "sequence" after any payload's (a scar carries its
// own), and one "timestamp" per event: in the v1 payload, or at the top in
// v2. Anything shaped otherwise is decoded with encoding/json.
//
// Both keys are the last of their name in the message, and the hub writes
// them near its end: they are looked for from the end, at every ':' in
// turn, so that only the message's tail is read.
func scanLoadMessage(b []byte) (kind loadKind, seq uint64, ts time.Time) {
	switch {
	case bytes.HasPrefix(b, loadV1Prefix):
		kind = loadEvent
	case bytes.HasPrefix(b, loadTypePrefix):
		rest := b[len(loadTypePrefix):]
		end := bytes.IndexByte(rest, '"')
		if end < 0 {
			return loadUnknown, 0, ts
		}
		switch string(rest[:end]) {
		case "welcome":
			kind = loadWelcome
		case "pong", "error", "resume", "subscribed":
			return loadControl, 0, ts
		default:
			kind = loadEvent
		}
	default:
		return decodeLoadMessage(b)
	}
	seqAt, tsAt := -1, -1 // where the value of each key starts
	if kind != loadEvent {
		tsAt = 0 // not wanted
	}
	for end := len(b); seqAt < 0 || tsAt < 0; {
		i := bytes.LastIndexByte(b[:end], ':')
		if i < 0 {
			break
		}
		end = i
		switch {
		case seqAt < 0 && bytes.HasSuffix(b[:i], loadSeqName):
			seqAt = i + 1
		case tsAt < 0 && i+1 < len(b) && b[i+1] == '"' && bytes.HasSuffix(b[:i], loadTimeName):
			tsAt = i + 2
		}
	}
	if seqAt < 0 {
		return decodeLoadMessage(b)
	}
	seq, ok := loadParseUint(b[seqAt:])
	if !ok {
		return decodeLoadMessage(b)
	}
	if kind == loadEvent && tsAt >= 0 {
		v := b[tsAt:]
		if k := bytes.IndexByte(v, '"'); k > 0 {
			ts = loadParseTime(v[:k])
		}
	}
	return kind, seq, ts
}

// loadParseUint reads the decimal digits b starts with, as
// strconv.ParseUint would: false when there is none or they overflow.
func loadParseUint(b []byte) (uint64, bool) {
	const cutoff = math.MaxUint64/10 + 1
	var n uint64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if n >= cutoff {
			return 0, false
		}
		n1 := n*10 + uint64(b[i]-'0')
		if n1 < n*10 {
			return 0, false
		}
		n = n1
	}
	return n, i > 0
}

// loadParseTime reads an RFC 3339 time; the zero time if it is not one.
// The layout Go writes times in JSON — 2006-01-02T15:04:05.999999999Z07:00
// — is read by loadFastTime; anything else by time.Parse.
func loadParseTime(b []byte) time.Time {
	if t, ok := loadFastTime(b); ok {
		return t
	}
	t, _ := time.Parse(time.RFC3339Nano, string(b))
	return t
}

// loadFastTime reads b if it is a time in the layout
// 2006-01-02T15:04:05.999999999Z07:00 (the fraction of 1 to 9 digits, or
// none; the zone Z or ±hh:mm) and in range, and returns the instant
// time.Parse would, in UTC. ok is false for anything else.
func loadFastTime(b []byte) (t time.Time, ok bool) {
	if len(b) < len("2006-01-02T15:04:05Z") ||
		b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return t, false
	}
	ok = true
	num := func(p []byte, lo, hi int) int {
		n := 0
		for _, c := range p {
			if c < '0' || c > '9' {
				ok = false
				return lo
			}
			n = n*10 + int(c-'0')
		}
		if n < lo || n > hi {
			ok = false
			return lo
		}
		return n
	}
	year := num(b[0:4], 0, 9999)
	month := num(b[5:7], 1, 12)
	day := num(b[8:10], 1, loadDaysIn(month, year))
	hour := num(b[11:13], 0, 23)
	minute := num(b[14:16], 0, 59)
	sec := num(b[17:19], 0, 59)
	rest := b[19:]
	nsec := 0
	if rest[0] == '.' {
		k := 1
		for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
			k++
		}
		if k == 1 || k > 10 {
			return t, false
		}
		nsec = num(rest[1:k], 0, 999999999)
		for range 10 - k {
			nsec *= 10
		}
		rest = rest[k:]
	}
	offset := 0
	switch {
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		offset = (num(rest[1:3], 0, 23)*60 + num(rest[4:6], 0, 59)) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return t, false
	}
	if !ok {
		return t, false
	}
	days := loadDaysSinceEpoch(year, month, day)
	unix := days*86400 + int64(hour*3600+minute*60+sec-offset)
	return time.Unix(unix, int64(nsec)).UTC(), true
}

// loadDaysIn is the number of days in month of year.
func loadDaysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// loadDaysSinceEpoch is the number of days from 1970-01-01 to the date,
// in the proleptic Gregorian calendar (H. Hinnant's days_from_civil).
func loadDaysSinceEpoch(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400                     // [0, 399]
	mp := int64((month + 9) % 12)          // March is 0
	doy := (153*mp+2)/5 + int64(day) - 1   // [0, 365]
	doe := yoe*365 + yoe/4 - yoe/100 + doy // [0, 146096]
	return era*146097 + doe - 719468
}

// decodeLoadMessage is scanLoadMessage for messages in an unexpected shape.
func decodeLoadMessage(b []byte) (loadKind, uint64, time.Time) {
	type stamped struct {
		Timestamp time.Time `json:"timestamp"`
	}
	var m struct {
		Type      string    `json:"type"`
		EventType string    `json:"event_type"`
		Sequence  *uint64   `json:"sequence"`
		Timestamp time.Time `json:"timestamp"`
		Market    *stamped  `json:"market"`
		Agent     *stamped  `json:"agent"`
	}
	if json.Unmarshal(b, &m) != nil {
		return loadUnknown, 0, time.Time{}
	}
	switch {
	case m.Type == "welcome" && m.Sequence != nil:
		return loadWelcome, *m.Sequence, time.Time{}
	case m.Sequence == nil || (m.EventType == "" && m.Type == ""):
		return loadControl, 0, time.Time{}
	}
	ts := m.Timestamp
	switch {
	case m.Market != nil:
		ts = m.Market.Timestamp
	case m.Agent != nil:
		ts = m.Agent.Timestamp
	}
	return loadEvent, *m.Sequence, ts
}
