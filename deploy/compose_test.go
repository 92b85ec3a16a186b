package deploy_test

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

const composeDir = "compose"

// composeEnv lists a compose service's environment variable names.
func composeEnv(svc map[string]any) []string {
	var names []string
	switch env := svc["environment"].(type) {
	case map[string]any:
		for k := range env {
			names = append(names, k)
		}
	case []any:
		for _, kv := range env {
			k, _, _ := strings.Cut(str(kv), "=")
			names = append(names, k)
		}
	}
	return names
}

// containerPorts lists the container side of a service's ports and expose.
func containerPorts(t *testing.T, svc map[string]any) (published, exposed []int) {
	t.Helper()
	for _, p := range listOf(svc["ports"]) {
		s := fmt.Sprint(p)
		n, err := strconv.Atoi(s[strings.LastIndex(s, ":")+1:])
		if err != nil {
			t.Fatalf("port %q: %v", s, err)
		}
		published = append(published, n)
	}
	for _, p := range listOf(svc["expose"]) {
		n, err := strconv.Atoi(fmt.Sprint(p))
		if err != nil {
			t.Fatalf("expose %q: %v", p, err)
		}
		exposed = append(exposed, n)
	}
	return published, exposed
}

// natsHosts checks a --nats-url value against the compose services: every
// URL names a NATS service on its client port.
func natsHosts(t *testing.T, services map[string]any, value string, clientPort string) {
	t.Helper()
	if value == "" {
		t.Error("--nats-url not given")
	}
	for u := range strings.SplitSeq(value, ",") {
		p, err := url.Parse(u)
		if err != nil {
			t.Errorf("--nats-url %q: %v", u, err)
			continue
		}
		svc := mapOf(services[p.Hostname()])
		if svc == nil || !strings.HasPrefix(str(svc["image"]), "nats:") {
			t.Errorf("--nats-url %q: no NATS service %q", u, p.Hostname())
		}
		if p.Port() != clientPort {
			t.Errorf("--nats-url %q: NATS listens on %s", u, clientPort)
		}
	}
}

func TestComposeFile(t *testing.T) {
	cmds := lineageCommands(t)
	docs := yamlDocs(t, filepath.Join(composeDir, "docker-compose.yml"))
	services := mapOf(docs[0]["services"])
	volumes := mapOf(docs[0]["volumes"])

	nats := 0
	roles := map[string]int{} // lineage subcommand → services running it
	for name, v := range services {
		svc := mapOf(v)
		image := str(svc["image"])
		ours := strings.HasPrefix(image, ourImage+":")
		if !ours && !pinned(image) {
			t.Errorf("service %s: image %q is not pinned to a version", name, image)
		}
		if ours && path(svc, "build", "dockerfile") != "Dockerfile" {
			t.Errorf("service %s: %s is built from the repository's Dockerfile", name, ourImage)
		}
		// Every bind mount's source exists; every named volume is declared.
		for _, m := range strs(svc["volumes"]) {
			src, _, _ := strings.Cut(m, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(composeDir, src)); err != nil {
					t.Errorf("service %s: mount source %s: %v", name, src, err)
				}
			} else if _, ok := volumes[src]; !ok {
				t.Errorf("service %s: volume %s is not declared", name, src)
			}
		}
		if strings.HasPrefix(image, "nats:") {
			nats++
			if !slices.ContainsFunc(strs(svc["volumes"]), func(m string) bool { return strings.HasSuffix(m, ":/data") }) {
				t.Errorf("service %s: no volume for JetStream's store_dir /data", name)
			}
			continue
		}
		if !ours {
			continue
		}
		args := strs(svc["command"])
		inv, errs := checkArgs(cmds, args, composeEnv(svc))
		for _, e := range errs {
			t.Errorf("service %s: %s", name, e)
		}
		if inv.cmd == "" {
			continue
		}
		roles[inv.cmd]++
		natsHosts(t, services, inv.values["nats-url"], "4222")
		ws, err := listenPort(inv, "ws-addr")
		if err != nil {
			t.Errorf("service %s: %v", name, err)
		}
		metricsPort, err := listenPort(inv, "metrics-addr")
		if err != nil {
			t.Errorf("service %s: %v", name, err)
		}
		published, exposed := containerPorts(t, svc)
		if !slices.Contains(published, ws) {
			t.Errorf("service %s: ports %v do not publish --ws-addr's port %d", name, published, ws)
		}
		for _, p := range append(published, exposed...) {
			if p != ws && p != metricsPort {
				t.Errorf("service %s: port %d is neither --ws-addr's %d nor --metrics-addr's %d", name, p, ws, metricsPort)
			}
		}
		hc := strings.Join(strs(path(svc, "healthcheck", "test")), " ")
		if want := fmt.Sprintf("http://127.0.0.1:%d/readyz", metricsPort); !strings.Contains(hc, want) {
			t.Errorf("service %s: health check %q does not GET %s", name, hc, want)
		}
		// A token, if any, comes from the environment of docker compose.
		if env := mapOf(svc["environment"]); env["LINEAGE_TOKEN"] != nil && !strings.HasPrefix(str(env["LINEAGE_TOKEN"]), "${LINEAGE_TOKEN") {
			t.Errorf("service %s: LINEAGE_TOKEN is not taken from the environment", name)
		}
		switch inv.cmd {
		case "serve":
			if inv.values["nats-replicas"] != "3" {
				t.Errorf("service %s: --nats-replicas %q, want 3 (an R3 stream over the 3 nodes)", name, inv.values["nats-replicas"])
			}
			dir := inv.values["data-dir"]
			if !slices.ContainsFunc(strs(svc["volumes"]), func(m string) bool {
				_, target, _ := strings.Cut(m, ":")
				target, _, _ = strings.Cut(target, ":")
				return dir == target || strings.HasPrefix(dir, target+"/")
			}) {
				t.Errorf("service %s: --data-dir %q is not on a volume", name, dir)
			}
		case "edge":
			if n, _ := path(svc, "deploy", "replicas").(int); n < 2 {
				t.Errorf("service %s: deploy.replicas %d, want 2 or more", name, n)
			}
		}
	}
	if nats != 3 || roles["serve"] != 1 || roles["edge"] != 1 {
		t.Errorf("services: %d NATS, %d serve, %d edge; want 3, 1, 1", nats, roles["serve"], roles["edge"])
	}

	// Prometheus scrapes the engine and every edge on the metrics port and
	// loads the shipped alert rules from where they are mounted.
	prom := yamlDocs(t, filepath.Join(composeDir, "prometheus.yml"))[0]
	var targets []string
	for _, sc := range listOf(prom["scrape_configs"]) {
		for _, st := range listOf(path(sc, "static_configs")) {
			targets = append(targets, strs(path(st, "targets"))...)
		}
		for _, sd := range listOf(path(sc, "dns_sd_configs")) {
			for _, n := range strs(path(sd, "names")) {
				targets = append(targets, net.JoinHostPort(n, fmt.Sprint(path(sd, "port"))))
			}
		}
	}
	for _, want := range []string{"engine:9184", "edge:9184"} {
		if !slices.Contains(targets, want) {
			t.Errorf("prometheus.yml scrapes %v, not %s", targets, want)
		}
	}
	promSvc := mapOf(services["prometheus"])
	mounts := map[string]string{} // target → source
	for _, m := range strs(promSvc["volumes"]) {
		parts := strings.Split(m, ":")
		mounts[parts[1]] = parts[0]
	}
	rules := strs(prom["rule_files"])
	if len(rules) != 1 || filepath.Clean(mounts[rules[0]]) != filepath.Clean("../../monitoring/alerts.yml") {
		t.Errorf("prometheus.yml rule_files %v: want the mount of ../../monitoring/alerts.yml (%v)", rules, mounts)
	}
	if mounts["/etc/prometheus/prometheus.yml"] != "./prometheus.yml" {
		t.Errorf("the prometheus service does not load ./prometheus.yml: %v", mounts)
	}

	// Grafana: the shipped dashboard and its provider, and a data source
	// on the prometheus service.
	grafana := strings.Join(strs(mapOf(services["grafana"])["volumes"]), " ")
	for _, want := range []string{
		"../../monitoring/grafana/dashboards:/var/lib/grafana/dashboards/lineage",
		"../../monitoring/grafana/provisioning/dashboards:/etc/grafana/provisioning/dashboards",
		"./grafana/datasource.yml:/etc/grafana/provisioning/datasources/",
	} {
		if !strings.Contains(grafana, want) {
			t.Errorf("grafana's volumes %q lack %s", grafana, want)
		}
	}
	ds := listOf(yamlDocs(t, filepath.Join(composeDir, "grafana", "datasource.yml"))[0]["datasources"])
	if len(ds) != 1 || path(ds[0], "url") != "http://prometheus:9090" {
		t.Errorf("grafana's data source: %v, want http://prometheus:9090", ds)
	}
}

// TestNATSConf parses the compose cluster's nats.conf with nats-server's
// own parser, as each node does.
func TestNATSConf(t *testing.T) {
	t.Setenv("NATS_SERVER_NAME", "nats-1")
	opts, err := server.ProcessConfigFile(filepath.Join(composeDir, "nats.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if opts.ServerName != "nats-1" || !opts.JetStream || opts.StoreDir != "/data" || !opts.SyncAlways {
		t.Errorf("server_name %q, jetstream %v, store_dir %q, sync always %v", opts.ServerName, opts.JetStream, opts.StoreDir, opts.SyncAlways)
	}
	if opts.Port != 4222 || opts.HTTPPort != 8222 || opts.Cluster.Name == "" || len(opts.Routes) != 3 {
		t.Errorf("port %d, http %d, cluster %q, %d routes", opts.Port, opts.HTTPPort, opts.Cluster.Name, len(opts.Routes))
	}
}

// TestDockerComposeConfig validates the compose file with docker-compose
// itself (Debian's package; no Docker engine needed): with the secrets in
// the environment it is valid, and without LINEAGE_TOKEN it is refused.
func TestDockerComposeConfig(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("docker-compose not found, and CI=true: .ci/run must install Debian's docker-compose package")
		}
		t.Skip("docker-compose not found: apt-get install docker-compose to run this test")
	}
	empty := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(env ...string) (string, error) {
		cmd := exec.CommandContext(t.Context(), bin, "--env-file", empty, "-f", filepath.Join(composeDir, "docker-compose.yml"), "config", "-q")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "LINEAGE_") && !strings.HasPrefix(kv, "GRAFANA_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("LINEAGE_TOKEN=placeholder", "GRAFANA_ADMIN_PASSWORD=placeholder"); err != nil {
		t.Fatalf("docker-compose config: %v: %s", err, out)
	}
	out, err := run("GRAFANA_ADMIN_PASSWORD=placeholder")
	if err == nil || !strings.Contains(out, "LINEAGE_TOKEN") {
		t.Errorf("docker-compose config without LINEAGE_TOKEN: %v: %s; want a refusal naming it", err, out)
	}
}
