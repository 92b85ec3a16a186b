package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestEventSize(t *testing.T) {
	for _, n := range []int{200, 512} {
		b := event(n)
		if len(b) != n || !json.Valid(b) {
			t.Fatalf("event(%d): %d bytes, valid JSON %v", n, len(b), json.Valid(b))
		}
	}
}

func TestParseSrcs(t *testing.T) {
	ips, err := parseSrcs("127.0.0.2-127.0.0.10")
	if err != nil || len(ips) != 9 || ips[8].String() != "127.0.0.10" {
		t.Fatalf("got %v, %v", ips, err)
	}
	if _, err := parseSrcs("10.0.0.1"); err == nil {
		t.Fatal("a non-loopback source was accepted")
	}
}

// TestBroadcastEveryLibrary runs each server in process with a few raw
// clients and checks that every broadcast frame arrives, in every mode.
func TestBroadcastEveryLibrary(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Lib+"/"+c.Writer, func(t *testing.T) {
			s, err := newServer(c.Lib, c.Writer, 8)
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(s.mux())
			defer ts.Close()
			addr := strings.TrimPrefix(ts.URL, "http://")
			f := &fleet{addr: addr, path: "/ws", bufSize: 4096}
			const n = 5
			if up, err := f.open(n, 2); up != n {
				t.Fatalf("%d of %d connections up: %v", up, n, err)
			}
			defer f.closeAll()
			if got := s.waitConns(n, 10*time.Second); got != n {
				t.Fatalf("server has %d of %d connections", got, n)
			}
			resp, err := http.Get(ts.URL + "/broadcast?dur=100ms&size=200")
			if err != nil {
				t.Fatal(err)
			}
			var rep broadcastReport
			err = json.NewDecoder(resp.Body).Decode(&rep)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !f.waitEnded(10 * time.Second) {
				t.Fatal("not every client saw the end marker")
			}
			if rep.Sent == 0 || f.received() != rep.Sent {
				t.Fatalf("sent %d, received %d", rep.Sent, f.received())
			}
		})
	}
}

func TestServerRefusesNonLoopback(t *testing.T) {
	if err := serverMain([]string{"-listen", net.JoinHostPort("0.0.0.0", "0")}); err == nil {
		t.Fatal("listening on 0.0.0.0 was accepted")
	}
}
