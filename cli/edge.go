package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lineage-arena/lineage/edge"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/hub"
	"github.com/lineage-arena/lineage/internal/web"
	"github.com/lineage-arena/lineage/metrics"
	"github.com/lineage-arena/lineage/server"
)

const edgeAbout = `lineage edge: serve a run's clients from its NATS JetStream stream, the one
'lineage serve --nats-url' publishes, so the fan-out can be spread over many
machines. An edge has no data dir and no event log: it starts from the run's
latest snapshot in JetStream, reads the stream after it, checks every event's
sequence and hash chain, and serves the same WebSocket protocol as serve on
--ws-addr (welcome, snapshot, ?since=, filters, v1 and v2), the dashboard at /
and the read-only JSON API at /api/. ?since= and /api/events are served from
a ring of recent events (--ring-events) and, before it, from the stream, each
event checked to chain to one the edge verified before it goes out; events
the stream's retention removed are reported, never skipped ("truncated" on
the WebSocket, an error from /api/events). /metrics, /health, /livez and
/readyz are on --metrics-addr; /readyz is 200 once the edge has a snapshot
and is caught up with the stream. SIGINT/SIGTERM: 1001 to every client,
exit 0.`

// natsURLUsage is --nats-url's usage, one text for serve and edge (one
// plain twin, $LINEAGE_NATS_URL, for both).
const natsURLUsage = "NATS JetStream server of the run's stream (nats://host:4222; several comma-separated): serve also publishes every committed event to it once durable, edge serves its clients from it; serve: none by default"

// discoverEvery is how often an edge without --nats-run looks for the
// run's stream on the server until it finds one.
const discoverEvery = time.Second

func runEdge(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("edge", env, edgeAbout)
	var nf natsFlags
	fs.StringVar(&nf.url, "nats-url", "", natsURLUsage)
	runID := fs.String("nats-run", "", "run id of the stream to serve, LINEAGE_<id>; empty: the only run on the NATS server")
	ring := fs.Int("ring-events", edge.DefaultRingEvents, "recent events kept in memory for ?since= and /api/events; older ones are read from the stream")
	level := fs.String("log-level", "info", logLevelUsage)
	var sf serverFlags
	sf.register(fs)
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	log, err := env.logAt(*level)
	if err != nil {
		return err
	}
	if nf.url == "" {
		return usagef("--nats-url is required: the NATS server of the run's stream")
	}
	nf.replicas = 1
	if err := nf.check(); err != nil {
		return err
	}
	if err := checkCount("ring-events", int64(*ring), 1, 1<<24, "each is an event held in memory"); err != nil {
		return err
	}
	if strings.ContainsAny(*runID, ".*> \t") {
		return usagef("--nats-run %q: a run id has no dots, wildcards or spaces", *runID)
	}
	srv, err := sf.listen(0, func() *feed.Live { return nil }, log)
	if err != nil {
		return err
	}
	serving := false
	defer func() {
		if !serving {
			srv.Close(context.Background())
		}
	}()
	origins, _ := parseOrigins(sf.allowedOrigins) // checked by listen
	id := *runID
	if id == "" {
		if id, err = discoverRun(ctx, nf.url, log); err != nil {
			return interrupted(ctx, err, log)
		}
	}
	e, err := edge.Open(ctx, edge.Config{
		URL: nf.url, RunID: id, RingEvents: *ring, Logger: log, OnDeliver: nf.delays.Observe,
		Hub: hub.Config{MaxConns: sf.maxConns, AllowedOrigins: origins, Token: sf.token, Logger: log},
	})
	if err != nil {
		return interrupted(ctx, err, log)
	}
	defer e.Close(time.Second)
	err = srv.StartHub(server.Hub{
		Hub: e.Hub(),
		// /api/events comes from the ring and the stream, as ?since=
		// does; the graveyard's tombstones are the engine's:
		// /api/graveyard is empty.
		API: web.Sources{Snapshot: e.Snapshot, Events: func(since uint64, limit int) ([]json.RawMessage, error) {
			evs, err := e.Events(since, limit)
			if errors.Is(err, edge.ErrTruncated) { // pruned by the stream's retention: 410
				return nil, fmt.Errorf("%w: %v", web.GoneError{Oldest: e.Oldest()}, err)
			}
			return evs, err
		}},
		Metrics: metrics.Sources{Arena: e.Snapshot, Edge: func() metrics.EdgeStats {
			st := e.Stats()
			return metrics.EdgeStats{Delivered: st.Delivered, Lag: st.Lag, ConsumerResets: st.ConsumerResets, ChainFailures: st.ChainFailures,
				DeliveryDelay: nf.delays.Histogram()}
		}},
		Ready: e.Ready,
	})
	if err != nil {
		return err
	}
	serving = true
	log.Info("edge", "nats_url", redactURL(nf.url), "run", id)
	<-ctx.Done()
	// 1001 to every client and both HTTP servers closed within the budget.
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return errors.Join(srv.Close(sctx), e.Close(time.Second))
}

// discoverRun finds the run whose stream the NATS server holds, waiting
// for one to appear: a stream LINEAGE_<id> on lineage.<id>.events. Two or
// more runs need --nats-run.
func discoverRun(ctx context.Context, url string, log *slog.Logger) (string, error) {
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true), nats.Name("lineage edge"))
	if err != nil {
		return "", fmt.Errorf("--nats-url %s: %w", redactURL(url), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", err
	}
	t := time.NewTicker(discoverEvery)
	defer t.Stop()
	said := false
	for {
		ids, err := listRuns(ctx, js)
		switch {
		case err == nil && len(ids) == 1:
			return ids[0], nil
		case len(ids) > 1:
			return "", usagef("the NATS server holds %d runs (%s): name one with --nats-run", len(ids), strings.Join(ids, ", "))
		case !said:
			log.Info("edge: waiting for a run's stream on the NATS server", "err", err)
			said = true
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-t.C:
		}
	}
}

// listRuns lists the run ids of the Lineage streams on the server.
func listRuns(ctx context.Context, js jetstream.JetStream) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var ids []string
	l := js.ListStreams(ctx, jetstream.WithStreamListSubject("lineage.*.events"))
	for info := range l.Info() {
		if id, ok := strings.CutPrefix(info.Config.Name, "LINEAGE_"); ok && info.Config.Metadata["lineage_run"] != "" {
			ids = append(ids, id)
		}
	}
	return ids, l.Err()
}

// redactURL drops any user and password from a NATS URL list, for logs.
func redactURL(u string) string {
	var out []string
	for part := range strings.SplitSeq(u, ",") {
		if at := strings.LastIndex(part, "@"); at >= 0 {
			if i := strings.Index(part, "://"); i >= 0 && i < at {
				part = part[:i+3] + "…@" + part[at+1:]
			}
		}
		out = append(out, part)
	}
	return strings.Join(out, ",")
}
