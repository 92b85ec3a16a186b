package edge_test

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/edge"
	"github.com/lineage-arena/lineage/internal/web"
	"github.com/lineage-arena/lineage/server"
)

// /api/events on an edge — its ring, and the stream before it — answers
// byte for byte what serve's answers for the same run, for every since
// and limit: from the first event, across chunks and the ring's start, at
// and beyond the last event, and the largest sequence.
func TestAPIEventsAsServe(t *testing.T) {
	ns := startNATS(t)
	s := newStack(t, ns)
	s.run(t, 40)
	e, _ := openTuned(t, ns, edge.Config{MaxLag: -1, RingEvents: 20, Backfill: -1}, nil)
	waitFor(t, "edge ready", func() bool { return e.Ready() == nil && e.Stats().Delivered == s.head() })
	head := s.head()

	srv, err := server.Listen(server.Config{WSAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
	if err := srv.Start(s.e); err != nil {
		t.Fatal(err)
	}
	serveAPI := "http://" + srv.WSAddr() + "/api/events"
	// The edge's API as `lineage edge` wires it.
	edgeSrv := httptest.NewServer(web.Handler(web.Sources{Snapshot: e.Snapshot, Events: e.Events}, nil))
	t.Cleanup(edgeSrv.Close)
	edgeAPI := edgeSrv.URL + "/api/events"

	sinces := []uint64{0, 1, testMarkEvery - 1, testMarkEvery, head / 2, head - 30, head - 20, head - 1, head, head + 1, 1 << 40, math.MaxUint64 - 1, math.MaxUint64}
	limits := []string{"", "1", "3", strconv.Itoa(testMarkEvery), "25", "100", "1000"}
	nonEmpty := 0
	for _, since := range sinces {
		for _, limit := range limits {
			q := "?since=" + strconv.FormatUint(since, 10)
			if limit != "" {
				q += "&limit=" + limit
			}
			sc, sb := get(t, serveAPI+q)
			ec, eb := get(t, edgeAPI+q)
			if sc != ec || sb != eb {
				t.Fatalf("%s:\nserve %d %s\nedge  %d %s", q, sc, sb, ec, eb)
			}
			if sc != http.StatusOK {
				t.Fatalf("%s: %d %s", q, sc, sb)
			}
			if len(sb) > len(`{"since":0,"events":[]}`)+len(q) {
				nonEmpty++
			}
		}
	}
	if nonEmpty < len(limits)*5 {
		t.Errorf("only %d answers with events", nonEmpty)
	}
	for _, q := range []string{"", "?since=-1", "?since=x", "?limit=0", "?limit=1001", "?since=18446744073709551616"} {
		sc, sb := get(t, serveAPI+q)
		ec, eb := get(t, edgeAPI+q)
		if sc != ec || sb != eb {
			t.Errorf("%q:\nserve %d %s\nedge  %d %s", q, sc, sb, ec, eb)
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
