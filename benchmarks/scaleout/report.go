package main

import (
	"math"
	"runtime"
	"time"

	"github.com/lineage-arena/lineage/loadtest"
)

// report is one run of the harness; JSON as it is here.
type report struct {
	Started     string  `json:"started"`
	Revision    string  `json:"revision"`
	Mode        string  `json:"mode"` // "edges", or "direct": clients on serve
	Edges       int     `json:"edges"`
	Clients     int     `json:"clients"`
	WindowS     float64 `json:"window_s"`
	SettleS     float64 `json:"settle_s"`
	RampS       float64 `json:"ramp_s"`
	Sources     string  `json:"source_addrs"`
	LineageArgs string  `json:"lineage_args"`
	NATSServer  string  `json:"nats_server,omitempty"`
	Cores       int     `json:"cores"`
	GoVersion   string  `json:"go"`

	Summary   summary         `json:"summary"`
	Serve     serveFigures    `json:"serve"`
	Targets   []targetFigures `json:"targets"` // the edges, or serve with -direct
	Processes []procFigures   `json:"processes"`
	Loadtests []loadFigures   `json:"loadtests"`
	Notes     []string        `json:"notes,omitempty"`
}

// summary is the run's figures in one place. Delays are milliseconds;
// nil when not measured.
type summary struct {
	Connected int `json:"connected"` // handshakes the loadtests made
	Failed    int `json:"failed"`    // connections that failed
	Cut       int `json:"cut"`       // healthy clients whose connection ended before the run did
	// DeliveredPerS is the live messages every client received, a second
	// (each loadtest over its own window); WrittenPerS the messages the
	// edges (or serve) wrote, a second of the harness's window.
	DeliveredPerS float64 `json:"delivered_msgs_per_s"`
	WrittenPerS   float64 `json:"written_msgs_per_s"`
	EventsPerS    float64 `json:"events_per_s"` // the engine's, over the window
	Gaps          uint64  `json:"gaps"`
	Missing       uint64  `json:"missing"`
	Duplicates    uint64  `json:"duplicates"`
	// Client latency, from an event's timestamp to its read: the worst
	// loadtest's quantiles (quantiles of several processes do not merge).
	LatencyP50 *float64 `json:"latency_p50_ms"`
	LatencyP99 *float64 `json:"latency_p99_ms"`
	// MsgsPerCore is the messages written over the CPU seconds of the
	// processes that wrote them (edges, or serve with -direct).
	MsgsPerCore float64 `json:"msgs_per_s_per_core"`
	// BytesPerConn is their RSS growth from before the clients to the
	// window's end over the connections they held.
	BytesPerConn float64 `json:"bytes_per_conn"`
	// Per-hop delays from the record time, over the window, from the
	// histograms (interpolated within a bucket, as histogram_quantile).
	PublishDelayP50 *float64 `json:"publish_delay_p50_ms"`
	PublishDelayP99 *float64 `json:"publish_delay_p99_ms"`
	EdgeDelayP50    *float64 `json:"edge_delay_p50_ms"`
	EdgeDelayP99    *float64 `json:"edge_delay_p99_ms"`
	PublisherLag    *float64 `json:"publisher_lag_events"` // at the window's end
	MaxEdgeLag      *float64 `json:"max_edge_lag_events"`  // at the window's end
	// MachineBusy is every core's busy time over the window, in cores.
	MachineBusy float64 `json:"machine_busy_cores"`
	LoadBefore  string  `json:"loadavg_before"`
	LoadAfter   string  `json:"loadavg_after"`
}

// serveFigures are lineage serve's over the window.
type serveFigures struct {
	Cores           float64  `json:"cores"`
	RSS             int64    `json:"rss"`
	EventsPerS      float64  `json:"events_per_s"`
	BatchesPerS     float64  `json:"batches_per_s,omitempty"`
	PublishDelayP50 *float64 `json:"publish_delay_p50_ms"`
	PublishDelayP99 *float64 `json:"publish_delay_p99_ms"`
	PublishDelay    *hist    `json:"publish_delay_seconds,omitempty"`
	PublisherLag    *float64 `json:"publisher_lag_events"`
}

// targetFigures are an edge's (or serve's, with -direct) over the window.
type targetFigures struct {
	Name         string   `json:"name"`
	URL          string   `json:"url"`
	Clients      int      `json:"clients"`     // its share
	Connections  float64  `json:"connections"` // open at the window's end
	WrittenPerS  float64  `json:"written_msgs_per_s"`
	Cores        float64  `json:"cores"`
	MsgsPerCore  float64  `json:"msgs_per_s_per_core"`
	RSSIdle      int64    `json:"rss_idle"`
	RSS          int64    `json:"rss"`
	BytesPerConn float64  `json:"bytes_per_conn"`
	Lag          *float64 `json:"lag_events,omitempty"`
	DelayP50     *float64 `json:"delay_p50_ms,omitempty"`
	DelayP99     *float64 `json:"delay_p99_ms,omitempty"`
	Delay        *hist    `json:"delivery_delay_seconds,omitempty"`
}

// procFigures are one process's CPU and memory.
type procFigures struct {
	Name   string   `json:"name"`
	PID    int      `json:"pid"`
	Cores  *float64 `json:"cores"` // CPU seconds over the window's seconds
	RSS    int64    `json:"rss"`   // at the window's end
	NoFile int64    `json:"nofile"`
}

// loadFigures is one loadtest: where it pointed and its own report.
type loadFigures struct {
	Name    string           `json:"name"`
	Target  string           `json:"target"`
	Clients int              `json:"clients"`
	Report  *loadtest.Report `json:"report"`
}

func newReport(o options, b binaries) *report {
	r := &report{
		Started: time.Now().UTC().Format(time.RFC3339), Revision: b.revision, Mode: "edges", Edges: o.edges,
		Clients: o.clients, WindowS: o.window.Seconds(), SettleS: o.settle.Seconds(), RampS: o.ramp.Seconds(),
		Sources: o.srcs, LineageArgs: o.lineageArgs, NATSServer: b.natsVersion, Cores: ncpu(), GoVersion: runtime.Version(),
	}
	if o.direct {
		r.Mode, r.Edges = "direct", 0
	}
	return r
}

// opt is v, or nil when it is NaN (not measured).
func opt(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// ms is a quantile of h in milliseconds, nil when h is empty.
func ms(h hist, q float64) *float64 { return opt(1000 * h.quantile(q)) }

// fill computes the figures from the two snapshots and the loadtests'
// reports.
func (r *report) fill(o options, srv *target, targets []*target, loads []*loadProc, reports []*loadtest.Report, a, b *snapshot) {
	win := b.at.Sub(a.at).Seconds()
	s := &r.Summary
	s.LoadBefore, s.LoadAfter = a.load, b.load
	if b.total > a.total {
		s.MachineBusy = float64(b.busy-a.busy) / float64(b.total-a.total) * float64(r.Cores)
	}
	cores := func(p *proc) float64 {
		c0, ok0 := a.cpu[p]
		c1, ok1 := b.cpu[p]
		if !ok0 || !ok1 {
			return math.NaN()
		}
		return (c1 - c0) / win
	}

	// serve
	r.Serve.Cores, r.Serve.RSS = cores(srv.proc), b.rss[srv.proc]
	r.Serve.EventsPerS = (b.serve.value("lineage_event_sequence") - a.serve.value("lineage_event_sequence")) / win
	s.EventsPerS = r.Serve.EventsPerS
	if !o.direct {
		r.Serve.BatchesPerS = (b.serve.value("lineage_nats_batches_total") - a.serve.value("lineage_nats_batches_total")) / win
		h1, ok1 := b.serve.histogram("lineage_nats_publish_delay_seconds")
		h0, ok0 := a.serve.histogram("lineage_nats_publish_delay_seconds")
		if ok0 && ok1 {
			d := h1.minus(h0)
			r.Serve.PublishDelay = &d
			r.Serve.PublishDelayP50, r.Serve.PublishDelayP99 = ms(d, 0.5), ms(d, 0.99)
		}
		r.Serve.PublisherLag = opt(b.serve.value("lineage_nats_publisher_lag_events"))
		s.PublishDelayP50, s.PublishDelayP99, s.PublisherLag = r.Serve.PublishDelayP50, r.Serve.PublishDelayP99, r.Serve.PublisherLag
	}

	// targets
	var msgs, cpu, grown, conns float64
	var edgeDelay hist
	maxLag := math.NaN()
	for _, t := range targets {
		m0, m1 := a.targets[t], b.targets[t]
		f := targetFigures{Name: t.name, URL: t.ws, Clients: t.clients, Connections: m1.value("lineage_active_connections"),
			RSSIdle: t.rssIdle, RSS: b.rss[t.proc]}
		written := m1.value("lineage_messages_broadcast_total") - m0.value("lineage_messages_broadcast_total")
		f.WrittenPerS, f.Cores = written/win, cores(t.proc)
		if f.Cores > 0 {
			f.MsgsPerCore = written / (f.Cores * win)
			msgs += written
			cpu += f.Cores * win
		}
		if f.Connections > 0 && f.RSS > 0 {
			f.BytesPerConn = float64(f.RSS-f.RSSIdle) / f.Connections
			grown += float64(f.RSS - f.RSSIdle)
			conns += f.Connections
		}
		if !o.direct {
			f.Lag = opt(m1.value("lineage_edge_lag_events"))
			if f.Lag != nil {
				maxLag = math.Max(nanToInf(maxLag), *f.Lag)
			}
			h1, ok1 := m1.histogram("lineage_edge_delivery_delay_seconds")
			h0, ok0 := m0.histogram("lineage_edge_delivery_delay_seconds")
			if ok0 && ok1 {
				d := h1.minus(h0)
				f.Delay, f.DelayP50, f.DelayP99 = &d, ms(d, 0.5), ms(d, 0.99)
				edgeDelay = edgeDelay.plus(d)
			}
		}
		s.WrittenPerS += f.WrittenPerS
		r.Targets = append(r.Targets, f)
	}
	if cpu > 0 {
		s.MsgsPerCore = msgs / cpu
	}
	if conns > 0 {
		s.BytesPerConn = grown / conns
	}
	if !o.direct {
		s.EdgeDelayP50, s.EdgeDelayP99, s.MaxEdgeLag = ms(edgeDelay, 0.5), ms(edgeDelay, 0.99), opt(maxLag)
	}

	// clients
	p50, p99 := math.NaN(), math.NaN()
	for i, rep := range reports {
		l := loads[i]
		r.Loadtests = append(r.Loadtests, loadFigures{Name: l.name, Target: l.target.name, Clients: l.clients, Report: rep})
		s.Connected += rep.Connect.Connected
		s.Failed += rep.Connect.Failed
		s.DeliveredPerS += rep.Delivery.PerSecond
		s.Gaps += rep.Order.Gaps
		s.Missing += rep.Order.Missing
		s.Duplicates += rep.Order.Duplicates
		for _, n := range rep.Dropped {
			s.Cut += n
		}
		if rep.Latency != nil && rep.Latency.Samples > 0 {
			p50, p99 = math.Max(nanToInf(p50), rep.Latency.P50), math.Max(nanToInf(p99), rep.Latency.P99)
		}
	}
	s.LatencyP50, s.LatencyP99 = opt(p50), opt(p99)

	// processes
	for _, p := range a.procs {
		r.Processes = append(r.Processes, procFigures{Name: p.name, PID: p.pid(), Cores: opt(cores(p)), RSS: b.rss[p], NoFile: a.nofile[p]})
	}
}

// nanToInf makes a NaN lose every math.Max.
func nanToInf(v float64) float64 {
	if math.IsNaN(v) {
		return math.Inf(-1)
	}
	return v
}
