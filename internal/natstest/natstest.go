// Package natstest starts an embedded NATS server with JetStream for tests:
// the real server, in the test's process, on a loopback port.
package natstest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Start starts a NATS server with JetStream, its file storage in storeDir
// (t.TempDir() when empty), on port (0: any free one), and shuts it down
// and waits for it when the test ends.
func Start(t testing.TB, storeDir string, port int) *server.Server {
	t.Helper()
	if storeDir == "" {
		storeDir = t.TempDir()
	}
	if port == 0 {
		port = -1
	}
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: storeDir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready in 10s")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Cluster starts n NATS servers with JetStream on 127.0.0.1, routed to one
// another as the cluster "lineage", each with its own file storage in a
// t.TempDir() and every write synced (sync_always), and returns them once
// the JetStream meta group has a leader that every server follows. The
// servers are named n0, n1, …; each is shut down, if it still runs, when
// the test ends.
func Cluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	// The route ports are chosen before any server starts: each server is
	// given the full list, so the cluster does not hang on one seed.
	ports := make([]int, n)
	routes := make([]string, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i])
	}
	servers := make([]*server.Server, n)
	for i := range servers {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(), SyncAlways: true, NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "lineage", Host: "127.0.0.1", Port: ports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(func() {
			s.Shutdown()
			s.WaitForShutdown()
		})
		servers[i] = s
	}
	for _, s := range servers {
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("nats server %s not ready in 10s", s.Name())
		}
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		leaders, current := 0, 0
		for _, s := range servers {
			if s.JetStreamIsLeader() {
				leaders++
			}
			if s.JetStreamIsCurrent() {
				current++
			}
		}
		if leaders == 1 && current == n {
			return servers
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("nats cluster of %d: no JetStream meta leader followed by all in 30s", n)
		}
	}
}

// URLs is the client URLs of servers, comma-separated: a NATS URL list.
func URLs(servers []*server.Server) string {
	var us []string
	for _, s := range servers {
		us = append(us, s.ClientURL())
	}
	return strings.Join(us, ",")
}

// JetStream is a JetStream client of the test's own on urls (one or
// several, comma-separated), reconnecting for as long as the test runs,
// to read or forge a stream beside the code under test. Its connection
// closes when the test ends.
func JetStream(t testing.TB, urls string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
