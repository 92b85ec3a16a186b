package deploy_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const k8sDir = "k8s"

// k8sObjects returns every object of the manifests kustomization.yaml
// lists, checking that it lists every manifest in the directory.
func k8sObjects(t *testing.T) []map[string]any {
	t.Helper()
	kust := yamlDocs(t, filepath.Join(k8sDir, "kustomization.yaml"))[0]
	resources := strs(kust["resources"])
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" && !slices.Contains(resources, b) {
			t.Errorf("kustomization.yaml does not list %s", b)
		}
	}
	for _, img := range listOf(kust["images"]) {
		// The image built here has no release version: an explicit tag,
		// never latest (kustomize edit set image names the pushed one).
		if tag := str(path(img, "newTag")); path(img, "name") == ourImage && (tag == "" || tag == "latest") && path(img, "digest") == nil {
			t.Errorf("kustomization.yaml: %s has no fixed tag", ourImage)
		}
	}
	var objs []map[string]any
	for _, r := range resources {
		if _, err := os.Stat(filepath.Join(k8sDir, r)); err != nil {
			t.Errorf("kustomization.yaml: resource %s: %v", r, err)
			continue
		}
		objs = append(objs, yamlDocs(t, filepath.Join(k8sDir, r))...)
	}
	return objs
}

// portOf resolves a probe's or a Service's target port (a name or a
// number) among a container's ports.
func portOf(ports []any, p any) int {
	for _, cp := range ports {
		n, _ := path(cp, "containerPort").(int)
		if path(cp, "name") == p || p == n {
			return n
		}
	}
	return 0
}

func TestKubernetesManifests(t *testing.T) {
	cmds := lineageCommands(t)
	objs := k8sObjects(t)
	type workload struct {
		labels map[string]any
		ports  []any
	}
	var pods []workload
	roles := map[string]string{} // lineage subcommand → kind
	for _, o := range objs {
		kind, name := str(o["kind"]), str(path(o, "metadata", "name"))
		if kind != "StatefulSet" && kind != "Deployment" {
			continue
		}
		spec := path(o, "spec", "template", "spec")
		for _, c := range listOf(path(spec, "containers")) {
			image := str(path(c, "image"))
			pods = append(pods, workload{mapOf(path(o, "spec", "template", "metadata", "labels")), listOf(path(c, "ports"))})
			if !strings.HasPrefix(image, ourImage+":") {
				if !pinned(image) {
					t.Errorf("%s %s: image %q is not pinned", kind, name, image)
				}
				continue
			}
			var env []string
			for _, e := range listOf(path(c, "env")) {
				env = append(env, str(path(e, "name")))
				// The token comes from a Secret, never a value in the file.
				if path(e, "name") == "LINEAGE_TOKEN" && (path(e, "value") != nil || path(e, "valueFrom", "secretKeyRef") == nil) {
					t.Errorf("%s %s: LINEAGE_TOKEN is not taken from a Secret", kind, name)
				}
			}
			if !slices.Contains(env, "LINEAGE_TOKEN") {
				t.Errorf("%s %s: no LINEAGE_TOKEN from the Secret", kind, name)
			}
			if path(c, "command") != nil {
				t.Errorf("%s %s: command overrides the image's entrypoint (lineage); give args", kind, name)
			}
			inv, errs := checkArgs(cmds, strs(path(c, "args")), env)
			for _, e := range errs {
				t.Errorf("%s %s: %s", kind, name, e)
			}
			if inv.cmd == "" {
				continue
			}
			roles[inv.cmd] = kind
			for u := range strings.SplitSeq(inv.values["nats-url"], ",") {
				if p, err := url.Parse(u); err != nil || p.Hostname() != "nats" || p.Port() != "4222" {
					t.Errorf("%s %s: --nats-url %q: want the chart's Service, nats://nats:4222", kind, name, u)
				}
			}
			ws, err := listenPort(inv, "ws-addr")
			if err != nil {
				t.Errorf("%s %s: %v", kind, name, err)
			}
			metricsPort, err := listenPort(inv, "metrics-addr")
			if err != nil {
				t.Errorf("%s %s: %v", kind, name, err)
			}
			ports := listOf(path(c, "ports"))
			if portOf(ports, "ws") != ws || portOf(ports, "metrics") != metricsPort || len(ports) != 2 {
				t.Errorf("%s %s: container ports %v, want ws %d and metrics %d", kind, name, ports, ws, metricsPort)
			}
			for probe, want := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/livez"} {
				get := path(c, probe, "httpGet")
				if path(get, "path") != want || portOf(ports, path(get, "port")) != metricsPort {
					t.Errorf("%s %s: %s %v, want GET %s on the metrics port %d", kind, name, probe, get, want, metricsPort)
				}
			}
			switch inv.cmd {
			case "serve":
				if kind != "StatefulSet" || path(o, "spec", "replicas") != 1 {
					t.Errorf("%s %s: lineage serve runs in a StatefulSet of 1 replica", kind, name)
				}
				if inv.values["nats-replicas"] != "3" {
					t.Errorf("%s %s: --nats-replicas %q, want 3", kind, name, inv.values["nats-replicas"])
				}
				claims := map[string]bool{}
				for _, vc := range listOf(path(o, "spec", "volumeClaimTemplates")) {
					claims[str(path(vc, "metadata", "name"))] = true
				}
				dir := inv.values["data-dir"]
				if !slices.ContainsFunc(listOf(path(c, "volumeMounts")), func(m any) bool {
					mp := str(path(m, "mountPath"))
					return claims[str(path(m, "name"))] && (dir == mp || strings.HasPrefix(dir, mp+"/"))
				}) {
					t.Errorf("%s %s: --data-dir %q is not on a volumeClaimTemplate's volume", kind, name, dir)
				}
			case "edge":
				if n, _ := path(o, "spec", "replicas").(int); kind != "Deployment" || n < 2 {
					t.Errorf("%s %s: lineage edge runs in a Deployment of 2 or more replicas", kind, name)
				}
			}
		}
	}
	if roles["serve"] != "StatefulSet" || roles["edge"] != "Deployment" {
		t.Errorf("workloads: %v; want serve in a StatefulSet and edge in a Deployment", roles)
	}

	// Every Service selects pods and targets one of their ports.
	services := 0
	for _, o := range objs {
		if o["kind"] != "Service" {
			continue
		}
		services++
		name, sel := str(path(o, "metadata", "name")), mapOf(path(o, "spec", "selector"))
		var selected []workload
		for _, p := range pods {
			match := len(sel) > 0
			for k, v := range sel {
				match = match && p.labels[k] == v
			}
			if match {
				selected = append(selected, p)
			}
		}
		if len(selected) == 0 {
			t.Errorf("Service %s selects no pods (%v)", name, sel)
		}
		for _, sp := range listOf(path(o, "spec", "ports")) {
			for _, p := range selected {
				if portOf(p.ports, path(sp, "targetPort")) == 0 {
					t.Errorf("Service %s: targetPort %v is not a port of the pods it selects", name, path(sp, "targetPort"))
				}
			}
		}
	}
	if services < 2 {
		t.Errorf("%d Services, want the engine's and the edges'", services)
	}
}

// TestNATSHelmValues checks the values for NATS's Helm chart: a cluster of
// 3, JetStream on file storage with a PVC per node, a pinned server of at
// least 2.12 (atomic batches).
func TestNATSHelmValues(t *testing.T) {
	v := yamlDocs(t, filepath.Join(k8sDir, "nats", "values.yaml"))[0]
	for _, c := range []struct {
		keys []string
		want any
	}{
		{[]string{"config", "cluster", "enabled"}, true},
		{[]string{"config", "cluster", "replicas"}, 3},
		{[]string{"config", "jetstream", "enabled"}, true},
		{[]string{"config", "jetstream", "fileStore", "enabled"}, true},
		{[]string{"config", "jetstream", "fileStore", "pvc", "enabled"}, true},
		{[]string{"container", "image", "repository"}, "nats"},
	} {
		if got := path(v, c.keys...); got != c.want {
			t.Errorf("%s: %v, want %v", strings.Join(c.keys, "."), got, c.want)
		}
	}
	tag := str(path(v, "container", "image", "tag"))
	var major, minor int
	if _, err := fmt.Sscanf(tag, "%d.%d", &major, &minor); err != nil || !pinned("nats:"+tag) || major < 2 || major == 2 && minor < 12 {
		t.Errorf("container.image.tag %q: want a pinned nats-server 2.12 or later", tag)
	}
	if path(v, "config", "jetstream", "fileStore", "pvc", "size") == nil {
		t.Error("config.jetstream.fileStore.pvc.size is not set")
	}
}
