package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/lineage-arena/lineage/client"
	"github.com/lineage-arena/lineage/hub"
)

// The welcome, then the snapshot (every message marked), then the live
// stream, typed in either schema.
func TestWelcomeSnapshotThenLive(t *testing.T) {
	for _, schema := range []string{"v1", "v2"} {
		t.Run(schema, func(t *testing.T) {
			s := startServer(t, hub.Config{}, "")
			s.publish(events(1, 10), snapshot())
			c := mustDial(t, s.url, client.Options{Schema: schema})
			if w := c.Welcome(); w.Type != client.TypeWelcome || w.Sequence != 10 || w.Text == "" {
				t.Fatalf("welcome %+v", w)
			}
			var got []string
			for range 4 {
				m := next(t, c)
				if !m.Snapshot || m.Sequence != 10 {
					t.Errorf("%s: want a snapshot message at sequence 10", m.Raw)
				}
				switch {
				case m.Market != nil:
					got = append(got, m.Market.Symbol+" "+m.Market.Price.String())
				case m.Agent != nil:
					got = append(got, m.Agent.ID+" "+m.Agent.Capital.String()+" "+m.Agent.Status)
				default:
					t.Errorf("no typed payload: %s", m.Raw)
				}
			}
			want := []string{"BTC-USD 45150.32", "ETH-USD 2499.50", "Balanced 115000.50 active", "Momentum 45000.00 deceased"}
			if !slices.Equal(got, want) {
				t.Errorf("snapshot %q, want %q", got, want)
			}
			s.publish(events(11, 2), nil)
			for want := uint64(11); want <= 12; want++ {
				m := next(t, c)
				if m.Snapshot || m.Sequence != want || !m.Event {
					t.Errorf("live %s, want event %d", m.Raw, want)
				}
				if m.Market == nil && m.Agent == nil {
					t.Errorf("no typed payload: %s", m.Raw)
				}
				if m.Market != nil && !m.Market.Timestamp.Equal(t0.Add(11*time.Second)) {
					t.Errorf("market timestamp %v", m.Market.Timestamp)
				}
			}
			if c.Last() != 12 {
				t.Errorf("Last %d, want 12", c.Last())
			}
		})
	}
}

// The filter goes to the server and applies to the snapshot too.
func TestFilter(t *testing.T) {
	s := startServer(t, hub.Config{}, "")
	s.publish(events(1, 10), snapshot())
	c := mustDial(t, s.url, client.Options{Filter: client.Filter{Symbols: []string{"eth/usd"}, Agents: []string{"Balanced"}}})
	var got []string
	for len(got) < 2 {
		m := next(t, c)
		switch {
		case m.Market != nil:
			got = append(got, m.Market.Symbol)
		case m.Agent != nil:
			got = append(got, m.Agent.ID)
		}
	}
	if !slices.Equal(got, []string{"ETH-USD", "Balanced"}) {
		t.Errorf("snapshot through the filter: %q", got)
	}
	// Wait for the server's answer: then it filters too.
	for m := next(t, c); m.Type != client.TypeSubscribed; m = next(t, c) {
	}
	s.publish(events(11, 8), nil) // ETH, Balanced, BTC, Momentum, ETH, …
	for _, want := range []uint64{11, 12, 15, 16} {
		if m := nextEvent(t, c); m.Sequence != want {
			t.Errorf("filtered event %s, want %d", m.Raw, want)
		}
	}
}

func TestRefusedSubscription(t *testing.T) {
	s := startServer(t, hub.Config{}, "")
	s.publish(events(1, 10), snapshot())
	c := mustDial(t, s.url, client.Options{Filter: client.Filter{Events: []string{"weather"}}})
	err := nextErr(t, c)
	var se *client.SubscribeError
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "weather") {
		t.Fatalf("error %v, want the server's refusal naming weather", err)
	}
	if _, again := c.Next(t.Context()); again != err {
		t.Errorf("next after the refusal: %v, want the same error", again)
	}
}

// A server restart: the Conn is closed with 1001, cannot connect for a
// while, then resumes after the last sequence it read; the caller gets
// every event once, in order, and no snapshot again.
func TestReconnectResumesAcrossARestart(t *testing.T) {
	kept := &memLog{}
	s := startServer(t, hub.Config{History: kept}, "")
	kept.append(events(1, 10))
	s.publish(events(1, 10), snapshot())
	var retries []client.Retry
	c := mustDial(t, s.url, fast(client.Options{OnRetry: func(r client.Retry) { retries = append(retries, r) }}))
	for range 4 {
		next(t, c) // the snapshot
	}
	kept.append(events(11, 5))
	s.publish(events(11, 5), nil)
	var seqs []uint64
	for len(seqs) < 5 {
		seqs = append(seqs, nextEvent(t, c).Sequence)
	}

	s.stop()
	// Committed while the server is down, then a new server on the same
	// address, then live events.
	kept.append(events(16, 10))
	s2 := startServer(t, hub.Config{History: kept}, s.srv.Listener.Addr().String())
	s2.hub.SetLastSeq(25, snapshot())
	go func() {
		kept.append(events(26, 5))
		s2.publish(events(26, 5), nil)
	}()
	for len(seqs) < 20 {
		m := next(t, c)
		if m.Snapshot {
			t.Fatalf("a snapshot after resuming: %s", m.Raw)
		}
		if m.Event {
			seqs = append(seqs, m.Sequence)
		}
	}
	for i, seq := range seqs {
		if seq != uint64(11+i) {
			t.Fatalf("sequences %v, want 11 to 30 once each", seqs)
		}
	}
	if len(retries) == 0 || !retries[0].Lost || !retries[0].Resume || retries[0].Since != 15 {
		t.Fatalf("retries %+v, want the first one after a lost connection, resuming after 15", retries)
	}
	var ce *client.CloseError
	if !errors.As(retries[0].Err, &ce) || ce.Code != 1001 || ce.Reason != "server shutting down" {
		t.Errorf("why the connection ended: %v, want the server's close frame", retries[0].Err)
	}
	if q := lastQuery(s2); q != "since=15" {
		t.Errorf("the new server was asked %q, want since=15", q)
	}
}

func lastQuery(s *server) string {
	var q string
	for {
		select {
		case q = <-s.queries:
		default:
			return q
		}
	}
}

// History the server no longer keeps is announced, never skipped silently.
func TestTruncatedHistoryIsAnnounced(t *testing.T) {
	kept := &memLog{oldest: 10}
	kept.append(events(1, 30))
	s := startServer(t, hub.Config{History: kept}, "")
	s.hub.SetLastSeq(30, nil)
	c := mustDial(t, s.url, client.Options{Resume: true, Since: 3})
	m := next(t, c)
	if m.Type != client.TypeResume || m.Code != client.CodeTruncated || m.From != 10 || m.To != 30 || m.Event {
		t.Fatalf("first message %s, want resume truncated from 10 to 30", m.Raw)
	}
	if m := next(t, c); m.Sequence != 10 {
		t.Errorf("first event %d, want the oldest kept, 10", m.Sequence)
	}
}

func TestToken(t *testing.T) {
	s := startServer(t, hub.Config{Token: "s3cret"}, "")
	_, err := client.Dial(t.Context(), s.url, client.Options{Token: "wrong"})
	var de *client.DialError
	if !errors.As(err, &de) || de.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %v, want a DialError with 401", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the error shows the token: %v", err)
	}
	c := mustDial(t, s.url, client.Options{Token: "s3cret"})
	if c.Welcome().Type != client.TypeWelcome {
		t.Errorf("welcome %+v", c.Welcome())
	}
}

func TestTLS(t *testing.T) {
	h := hub.New(hub.Config{})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused certificate below
	srv.StartTLS()
	t.Cleanup(func() { h.Close(time.Second); srv.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	url := "wss" + strings.TrimPrefix(srv.URL, "https")
	if _, err := client.Dial(t.Context(), url, client.Options{}); err == nil {
		t.Error("a certificate from no known authority was accepted")
	}
	c := mustDial(t, url, client.Options{TLSConfig: &tls.Config{RootCAs: pool}})
	if c.Welcome().Type != client.TypeWelcome {
		t.Errorf("welcome %+v", c.Welcome())
	}
}

// The heartbeat goes out on its interval; the server answers pong.
func TestHeartbeat(t *testing.T) {
	s := startServer(t, hub.Config{}, "")
	c := mustDial(t, s.url, client.Options{Heartbeat: 20 * time.Millisecond})
	if m := next(t, c); m.Type != client.TypePong {
		t.Errorf("%s, want the answer to a heartbeat", m.Raw)
	}
}

// Without reconnection, the server's close reason ends the stream.
func TestCloseReasonEndsTheStreamWithoutReconnect(t *testing.T) {
	s := startServer(t, hub.Config{}, "")
	c := mustDial(t, s.url, client.Options{NoReconnect: true})
	s.stop()
	err := nextErr(t, c)
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != 1001 || !strings.Contains(err.Error(), "1001: server shutting down") {
		t.Errorf("error %v, want the close frame 1001 server shutting down", err)
	}
}

// A message over MaxMessageSize drops the connection; it is not read.
func TestMessageSizeIsBounded(t *testing.T) {
	up := gws.NewUpgrader(&gws.BuiltinEventHandler{}, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
		c.WriteString(`{"type":"welcome","sequence":0}`)
		c.WriteString(fmt.Sprintf(`{"type":"error","code":"big","message":%q}`, strings.Repeat("x", 2000)))
	}))
	defer srv.Close()
	c := mustDial(t, wsURL(srv.URL), client.Options{MaxMessageSize: 1000, NoReconnect: true})
	var de *client.DropError
	if err := nextErr(t, c); !errors.As(err, &de) {
		t.Errorf("error %v, want the connection dropped", err)
	}
}

// Close ends a Next that waits, and returns once the Conn's goroutines
// are gone.
func TestCloseEndsNext(t *testing.T) {
	s := startServer(t, hub.Config{}, "")
	c := mustDial(t, s.url, client.Options{})
	done := make(chan error, 1)
	go func() {
		_, err := c.Next(context.Background())
		done <- err
	}()
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, client.ErrClosed) {
			t.Errorf("next: %v, want ErrClosed", err)
		}
	case <-time.After(wait):
		t.Fatal("Next still waits after Close")
	}
	c.Close() // a second Close is harmless
}

func TestDialRefusesABadURL(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:1", "ws://", "::"} {
		if _, err := client.Dial(t.Context(), u, client.Options{}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	if _, err := client.Dial(t.Context(), "ws://127.0.0.1:1", client.Options{Schema: "v9"}); err == nil {
		t.Error("schema v9 accepted")
	}
}

// With RetryDial, Dial waits for a server that is not up yet.
func TestRetryDialWaitsForTheServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there until the server starts below
	retried := make(chan client.Retry, 100)
	dialed := make(chan error, 1)
	go func() {
		c, err := client.Dial(t.Context(), "ws://"+addr+"/ws", fast(client.Options{RetryDial: true,
			OnRetry: func(r client.Retry) {
				select {
				case retried <- r:
				default:
				}
			}}))
		if err == nil {
			c.Close()
		}
		dialed <- err
	}()
	select {
	case r := <-retried:
		var de *client.DialError
		if r.Lost || !errors.As(r.Err, &de) || de.StatusCode != 0 {
			t.Errorf("retry %+v, want a failed dial", r)
		}
	case err := <-dialed:
		t.Fatalf("Dial returned %v before a server was up", err)
	case <-time.After(wait):
		t.Fatal("no retry")
	}
	startServer(t, hub.Config{}, addr)
	select {
	case err := <-dialed:
		if err != nil {
			t.Errorf("dial once the server is up: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Dial did not connect once the server was up")
	}
}
