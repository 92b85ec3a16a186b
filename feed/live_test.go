package feed

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// Next returns one tick per symbol per round, in the configured order, all
// stamped with the round's time; rounds are an Interval apart.
func TestLiveNext(t *testing.T) {
	api := newFakeAPI(t, "coinbase")
	l, clock, _ := newTestLive(t, oneProvider(api, "", "ETH-USD", "BTC-USD", "ETH-USD"))
	var got []string
	for range 6 {
		tk, err := l.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tk.Time.Sub(t0).String()+" "+show([]market.Tick{tk})[0])
	}
	want := []string{
		"0s ETH-USD 2500.01 coinbase", "0s BTC-USD 45003.17 coinbase",
		"5s ETH-USD 2500.01 coinbase", "5s BTC-USD 45003.17 coinbase",
		"10s ETH-USD 2500.01 coinbase", "10s BTC-USD 45003.17 coinbase",
	}
	if !slices.Equal(got, want) {
		t.Errorf("ticks\n got %q\nwant %q", got, want)
	}
	if sl := clock.sleeps(); !slices.Equal(sl, []time.Duration{5 * time.Second, 5 * time.Second}) {
		t.Errorf("slept %v", sl)
	}
	if st := l.Stats(); st.Rounds != 3 || st.Providers[0].Requests != 6 {
		t.Errorf("rounds %d, requests %d", st.Rounds, st.Providers[0].Requests)
	}
}

// Ticks never go back in time, even when the clock does.
func TestLiveTimeNeverGoesBack(t *testing.T) {
	api := newFakeAPI(t, "coingecko")
	l, clock, _ := newTestLive(t, oneProvider(api, "", "BTC-USD"))
	first := round(t, l)[0].Time
	clock.advance(-time.Hour)
	if again := round(t, l)[0].Time; !again.Equal(first) {
		t.Errorf("second round at %v, before the first's %v", again, first)
	}
}

func TestLiveCloseAndCancel(t *testing.T) {
	api := newFakeAPI(t, "coingecko")
	l, _, _ := newTestLive(t, oneProvider(api, "", "BTC-USD"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.Next(ctx); err != context.Canceled {
		t.Errorf("cancelled: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.Next(t.Context()); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if api.count() != 0 {
		t.Errorf("%d requests", api.count())
	}
}

// pipeNet is an in-memory network for synctest bubbles, where loopback
// sockets would keep the bubble from ever being idle: an http.Server
// accepts, over net.Pipe, the connections its client's transport dials.
// While down, dials are refused.
type pipeNet struct {
	srv    *http.Server
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	served chan struct{}
	down   atomic.Bool
}

func newPipeNet(h http.Handler) *pipeNet {
	n := &pipeNet{srv: &http.Server{Handler: h}, conns: make(chan net.Conn), closed: make(chan struct{}), served: make(chan struct{})}
	go func() {
		n.srv.Serve(n)
		close(n.served)
	}()
	return n
}

func (n *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-n.conns:
		return c, nil
	case <-n.closed:
		return nil, net.ErrClosed
	}
}

func (n *pipeNet) Close() error {
	n.once.Do(func() { close(n.closed) })
	return nil
}

func (n *pipeNet) Addr() net.Addr { return &net.UnixAddr{Name: "pipe", Net: "pipe"} }

func (n *pipeNet) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	if n.down.Load() {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	srv, cli := net.Pipe()
	select {
	case n.conns <- srv:
		return cli, nil
	case <-n.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (n *pipeNet) client() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: n.dial}}
}

// shutdown closes the server and its connections and waits for it.
func (n *pipeNet) shutdown() {
	n.srv.Close()
	<-n.served
}

// A machine without network starts: Next keeps trying every interval
// without an error, logs the outage once, and recovers by itself. The
// bubble's fake time runs the real clock, timers and HTTP stack, and
// synctest fails if any goroutine is left behind once Close and the
// server's shutdown returned.
func TestLiveOfflineStartRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveSample(t, "coingecko", w, r) }))
		n.down.Store(true)
		logs := &logBuffer{}
		l, err := NewLive(LiveConfig{
			Symbols:   []market.Symbol{"BTC-USD", "ETH-USD"},
			Providers: []ProviderConfig{{Name: "coingecko", BaseURL: "http://coingecko.test"}},
			Client:    n.client(), Logger: logs.logger(), Seed: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ticks := make(chan market.Tick)
		errc := make(chan error, 1)
		go func() {
			for {
				tk, err := l.Next(t.Context())
				if err != nil {
					errc <- err
					return
				}
				ticks <- tk
			}
		}()
		time.Sleep(62 * time.Second) // the bubble's fake clock: instant, and every timer fires in order
		synctest.Wait()
		select {
		case tk := <-ticks:
			t.Fatalf("a tick while offline: %+v", tk)
		case err := <-errc:
			t.Fatalf("Next failed while offline: %v", err)
		default:
		}
		st := l.Stats() // concurrently with Next
		p := st.Providers[0]
		if !st.Offline || st.Rounds != 13 || p.Errors[ReasonNetwork] == 0 || p.Errors[ReasonBreakerOpen] == 0 || p.Breaker == BreakerClosed {
			t.Errorf("offline stats: %+v, provider %+v", st, p)
		}
		if logs.count("no provider answers") != 1 || !strings.Contains(logs.String(), "connection refused") {
			t.Errorf("log:\n%s", logs)
		}

		n.down.Store(false)
		tk := <-ticks
		if got := show([]market.Tick{tk}); got[0] != "BTC-USD 45000.10 coingecko" {
			t.Errorf("first tick %q", got)
		}
		// Recovery waits at most for the breaker's probe and a round.
		if d := tk.Time.Sub(start); d > 62*time.Second+BreakerCooldown+DefaultLiveInterval {
			t.Errorf("recovered after %v", d)
		}
		if tk2 := <-ticks; tk2.Symbol != "ETH-USD" || !tk2.Time.Equal(tk.Time) {
			t.Errorf("second tick %+v", tk2)
		}
		if logs.count("prices recovered") != 1 || logs.count("no provider answers") != 1 || logs.count("provider circuit open") != 1 {
			t.Errorf("log:\n%s", logs)
		}
		if st := l.Stats(); st.Offline || st.Providers[0].Breaker != BreakerClosed || !st.Symbols[0].LastTick.Equal(tk.Time) {
			t.Errorf("recovered stats %+v", st)
		}

		l.Close() // Next is waiting for the next round: it wakes up to the error
		if err := <-errc; !errors.Is(err, fs.ErrClosed) {
			t.Errorf("after Close: %v", err)
		}
		n.shutdown()
	})
}

// The request timeout runs on the clock too: in the bubble it is exactly
// the configured duration, and the latency histogram shows it.
func TestLiveTimeoutFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
		var seen []string
		l, err := NewLive(LiveConfig{
			Symbols:     []market.Symbol{"BTC-USD"},
			Providers:   []ProviderConfig{{Name: "coindesk", BaseURL: "http://coindesk.test"}},
			Client:      n.client(),
			MaxAttempts: 1,
			OnRequest: func(p string, d time.Duration, r Reason) {
				seen = append(seen, p+" "+d.String()+" "+string(r))
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = fetchOnce(t, l, "BTC-USD")
		if reasonOf(err) != ReasonTimeout || time.Since(start) != DefaultRequestTimeout {
			t.Errorf("err %v after %v", err, time.Since(start))
		}
		h := l.Stats().Providers[0].Latency
		// Bounds: 25ms 50ms 100ms 250ms 500ms 1s 2.5s 5s 10s.
		if h.Count != 1 || h.Sum != DefaultRequestTimeout || !slices.Equal(h.Counts, []uint64{0, 0, 0, 0, 0, 0, 0, 1, 1}) {
			t.Errorf("histogram %+v", h)
		}
		if !slices.Equal(seen, []string{"coindesk 5s timeout"}) {
			t.Errorf("OnRequest saw %q", seen)
		}
		l.Close()
		n.shutdown()
	})
}

func TestLiveCancelWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet(http.NotFoundHandler())
		n.down.Store(true)
		l, err := NewLive(LiveConfig{Providers: []ProviderConfig{{Name: "coinbase", BaseURL: "http://coinbase.test"}}, Client: n.client()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() {
			_, err := l.Next(ctx)
			errc <- err
		}()
		time.Sleep(12 * time.Second) // the bubble's fake clock
		synctest.Wait()
		cancel()
		if err := <-errc; err != context.Canceled {
			t.Errorf("Next: %v, want context.Canceled", err)
		}
		l.Close()
		n.shutdown()
	})
}
