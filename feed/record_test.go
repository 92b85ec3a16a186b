package feed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// A recorded live session replays into the same ticks: symbols, exact
// prices and times to the nanosecond, stale ones included.
func TestRecorderRoundTrip(t *testing.T) {
	api := newFakeAPI(t, "coinbase")
	var n atomic.Int64
	var down atomic.Bool
	api.set(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		i := n.Add(1)
		writeBody(w, 200, "application/json", fmt.Appendf(nil, `{"trade_id":%d,"price":"%d.%08d","size":"0.1","time":"2026-01-01T00:00:00Z"}`, i, 100+i, 12345678*i%100000000))
	})
	l, _, _ := newTestLive(t, oneProvider(api, "", "BTC-USD", "ETH-USD"))
	path := filepath.Join(t.TempDir(), "session.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	rec := NewRecorder(f, l)
	var live []market.Tick
	for i := range 8 {
		if i == 6 {
			down.Store(true) // the fourth round is served stale
		}
		tk, err := rec.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		live = append(live, tk)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if !live[7].Stale || live[0].Stale {
		t.Fatalf("want the last round stale: %q", show(live))
	}

	replay, err := OpenReplay([]string{path}, ReplayConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer replay.Close()
	var replayed []market.Tick
	for {
		tk, err := replay.Next(t.Context())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		replayed = append(replayed, tk)
	}
	if len(replayed) != len(live) {
		t.Fatalf("replayed %d ticks, recorded %d", len(replayed), len(live))
	}
	for i, tk := range replayed {
		want := live[i]
		if tk.Symbol != want.Symbol || tk.Price != want.Price || !tk.Time.Equal(want.Time) || tk.Source != "replay" {
			t.Errorf("tick %d: replayed %+v, live %+v", i, tk, want)
		}
	}
	if !slices.Equal(replay.Symbols(), l.Symbols()) {
		t.Errorf("symbols %v", replay.Symbols())
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(string(b), "\n")
	if lines[0] != "timestamp,symbol,price" || lines[1] != "2026-01-01T12:00:00.123456789Z,BTC-USD,101.12345678" {
		t.Errorf("file starts %q", lines[:2])
	}
}

// sliceSource yields its ticks, then io.EOF.
type sliceSource []market.Tick

func (s *sliceSource) Next(ctx context.Context) (market.Tick, error) {
	if len(*s) == 0 {
		return market.Tick{}, io.EOF
	}
	t := (*s)[0]
	*s = (*s)[1:]
	return t, nil
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after == 0 {
		return 0, errors.New("disk full")
	}
	w.after--
	return len(p), nil
}

func TestRecorderErrors(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("CET", 3600))
	src := sliceSource{
		{Symbol: "BTC-USD", Price: 4500000000000, Time: at},
		{Symbol: "ETH-USD", Price: 250000000000, Time: at},
	}
	var sb strings.Builder
	rec := NewRecorder(&sb, &src)
	for range 2 {
		if _, err := rec.Next(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rec.Next(t.Context()); err != io.EOF {
		t.Errorf("end: %v, want io.EOF passed through", err)
	}
	want := "timestamp,symbol,price\n2025-12-31T23:00:00Z,BTC-USD,45000.00\n2025-12-31T23:00:00Z,ETH-USD,2500.00\n"
	if sb.String() != want {
		t.Errorf("wrote %q, want %q", sb.String(), want)
	}

	src = sliceSource{{Symbol: "BTC-USD", Price: 1, Time: at}, {Symbol: "BTC-USD", Price: 2, Time: at}}
	rec = NewRecorder(&failWriter{after: 1}, &src)
	if _, err := rec.Next(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := rec.Next(t.Context())
	if err == nil || !strings.Contains(err.Error(), "record tick: disk full") {
		t.Fatalf("err %v", err)
	}
	if _, again := rec.Next(t.Context()); again != err {
		t.Errorf("the write error is not sticky: %v", again)
	}
}
