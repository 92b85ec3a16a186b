package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// natsNodes is the cluster's size: the stream is R3, a node on each.
const natsNodes = 3

// cluster is a running NATS cluster: its processes and client URLs.
type cluster struct {
	nodes []*proc
	urls  []string
}

func (c *cluster) url() string { return strings.Join(c.urls, ",") }

func (c *cluster) stop() {
	for _, n := range c.nodes {
		n.stop()
	}
}

// startCluster starts natsNodes nats-server processes on 127.0.0.1, routed
// to one another as the cluster "lineage", each with JetStream on its own
// file store with every write synced (sync_interval: always), and returns
// once each answers /healthz (JetStream current, a meta leader elected).
// Logs go to files in work.
func startCluster(work, bin string) (*cluster, error) {
	type ports struct{ client, route, http int }
	ps := make([]ports, natsNodes)
	var routes []string
	for i := range ps {
		for _, p := range []*int{&ps[i].client, &ps[i].route, &ps[i].http} {
			var err error
			if *p, err = freePort("127.0.0.1"); err != nil {
				return nil, err
			}
		}
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ps[i].route))
	}
	c := &cluster{}
	for i, p := range ps {
		name := fmt.Sprintf("n%d", i)
		dir := filepath.Join(work, "nats-"+name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		conf := fmt.Sprintf(`server_name: %s
listen: "127.0.0.1:%d"
http: "127.0.0.1:%d"
logfile: %q
jetstream {
  store_dir: %q
  sync_interval: always
}
cluster {
  name: lineage
  listen: "127.0.0.1:%d"
  routes: [%s]
}
`, name, p.client, p.http, filepath.Join(dir, "nats.log"), filepath.Join(dir, "store"), p.route, strings.Join(routes, ", "))
		path := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			return nil, err
		}
		n, err := start("nats-"+name, exec.Command(bin, "-c", path))
		if err != nil {
			c.stop()
			return nil, err
		}
		c.nodes = append(c.nodes, n)
		c.urls = append(c.urls, fmt.Sprintf("nats://127.0.0.1:%d", p.client))
	}
	for i, n := range c.nodes {
		health := fmt.Sprintf("http://127.0.0.1:%d/healthz", ps[i].http)
		if err := waitUntil(n, time.Minute, "healthy", func() bool { return httpOK(health) }); err != nil {
			c.stop()
			return nil, err
		}
	}
	return c, nil
}
