//go:build integration

package scaletest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// natsNode is one nats-server process of a natsCluster. Its config file,
// ports and store dir stay the same across restarts.
type natsNode struct {
	name   string
	conf   string // the config file, mode 0600
	client int    // client port
	http   int    // monitoring port: /healthz
	starts int
	p      *proc
}

// natsCluster is n nats-server processes on 127.0.0.1, routed to one
// another as the cluster "lineage", each with JetStream on file storage in
// a store dir of its own and every write synced (sync_interval: always) —
// deploy/compose/nats.conf, on one machine.
type natsCluster struct {
	nodes []*natsNode
}

// startNATSCluster writes the nodes' config files, starts them and waits
// for every node's /healthz to say 200: JetStream is up and in contact
// with a meta leader. The processes are killed when the test ends.
func startNATSCluster(t *testing.T, n int) *natsCluster {
	t.Helper()
	// Every port is chosen before any server starts: each is given the
	// full list of routes, and a restarted node takes its own again.
	ports := freePorts(t, 3*n)
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3*i+2]))
	}
	dir := t.TempDir()
	c := &natsCluster{}
	for i := range n {
		nd := &natsNode{name: fmt.Sprintf("n%d", i), client: ports[3*i], http: ports[3*i+1]}
		store := filepath.Join(dir, nd.name)
		nd.conf = filepath.Join(dir, nd.name+".conf")
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream {
  store_dir: %q
  sync_interval: always
}
cluster {
  name: lineage
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, nd.name, nd.client, nd.http, store, ports[3*i+2], strings.Join(routes, ", "))
		if err := os.WriteFile(nd.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, nd)
	}
	for _, nd := range c.nodes {
		nd.start(t)
	}
	for _, nd := range c.nodes {
		nd.healthy(t)
	}
	return c
}

// freePorts returns n TCP ports free on 127.0.0.1 a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// start starts the node's process on its config (its store as it was
// left); healthy waits for it to serve.
func (nd *natsNode) start(t *testing.T) {
	t.Helper()
	nd.starts++
	nd.p = spawn(t, fmt.Sprintf("nats-%s-%d", nd.name, nd.starts), natsBin, "-c", nd.conf)
}

// healthy waits for the node's /healthz to say 200.
func (nd *natsNode) healthy(t *testing.T) {
	t.Helper()
	poll(t, time.Minute, "nats-server "+nd.name+" /healthz 200", func() bool {
		select {
		case <-nd.p.exited:
			t.Fatalf("nats-server %s exited (%v):\n%s", nd.name, nd.p.err, nd.p.logs())
		default:
		}
		code, _ := get(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", nd.http))
		return code == 200
	})
}

// urls is the nodes' client URLs, comma-separated.
func (c *natsCluster) urls() string {
	var us []string
	for _, nd := range c.nodes {
		us = append(us, fmt.Sprintf("nats://127.0.0.1:%d", nd.client))
	}
	return strings.Join(us, ",")
}

// node returns the node named name.
func (c *natsCluster) node(t *testing.T, name string) *natsNode {
	t.Helper()
	for _, nd := range c.nodes {
		if nd.name == name {
			return nd
		}
	}
	t.Fatalf("no nats node %q", name)
	return nil
}
