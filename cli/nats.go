package cli

import (
	"context"
	"flag"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/lineage-arena/lineage/engine"
	"github.com/lineage-arena/lineage/metrics"
	"github.com/lineage-arena/lineage/natspub"
)

// natsFlags are serve's flags for publishing to NATS JetStream. Without
// --nats-url nothing of NATS is used.
type natsFlags struct {
	url      string
	replicas int
	// delays times each batch from its commit to its acknowledgement
	// (serve) or to its edge's hub (edge): the delay histograms.
	delays metrics.Delays
}

func (f *natsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "nats-url", "", natsURLUsage)
	fs.IntVar(&f.replicas, "nats-replicas", 1, "replicas of the JetStream stream, with --nats-url")
}

// check refuses a --nats-url that is not a list of nats://, tls://, ws://
// or wss:// URLs with a host, before anything is opened.
func (f *natsFlags) check() error {
	if f.replicas < 1 || f.replicas > 5 {
		return usagef("--nats-replicas %d: want 1 to 5", f.replicas)
	}
	if f.url == "" {
		return nil
	}
	for u := range strings.SplitSeq(f.url, ",") {
		p, err := url.Parse(strings.TrimSpace(u))
		if err != nil || p.Host == "" {
			return usagef("--nats-url %q: want nats://host:port", u)
		}
		switch p.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return usagef("--nats-url %q: scheme %q is not nats, tls, ws or wss", u, p.Scheme)
		}
	}
	return nil
}

// stats returns the metrics' view of the publisher p will hold once it is
// open (zero until then), or nil without --nats-url: no lineage_nats_
// families.
func (f *natsFlags) stats(p *atomic.Pointer[natspub.Publisher]) func() metrics.NATSStats {
	if f.url == "" {
		return nil
	}
	return func() metrics.NATSStats {
		pub := p.Load()
		if pub == nil {
			return metrics.NATSStats{}
		}
		st := pub.Stats()
		return metrics.NATSStats{Published: st.Published, Lag: st.Lag, Batches: st.Batches,
			PublishErrors: st.PublishErrors, Snapshots: st.Snapshots, Diverged: st.Diverged, PublishDelay: f.delays.Histogram()}
	}
}

// open starts the publisher for e, or returns nil without --nats-url. An
// unreachable server is not an error: the publisher retries and catches
// up from the log.
func (f *natsFlags) open(ctx context.Context, e *engine.Engine, log *slog.Logger) (*natspub.Publisher, error) {
	if f.url == "" {
		return nil, nil
	}
	return natspub.Open(ctx, e, natspub.Config{URL: f.url, Replicas: f.replicas, Logger: log, OnAck: f.delays.Observe})
}
