package archtest

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/lineage-arena/lineage"

// allowed lists, for each package of the module, the module packages it
// may depend on (directly or not). A package missing here fails the test,
// so a new package must take its place in the architecture.
var allowed = map[string][]string{
	"market":             {},
	"arena":              {"market"},
	"feed":               {"market"},
	"eventlog":           {"market", "arena"},
	"graveyard":          {"market", "arena"},
	"hub":                {"market", "arena", "internal/wsframe", "internal/bearer"},
	"internal/web":       {"market", "arena", "internal/bearer"},
	"metrics":            {"market", "arena", "feed", "eventlog", "hub", "internal/wsframe", "internal/bearer"},
	"loadtest":           {"internal/wsframe", "internal/procfs"},              // a client of the protocol: knows its bytes, not the hub
	"engine":             {"market", "arena", "feed", "eventlog", "graveyard"}, // the durable run: composes the domain and its adapters
	"internal/bearer":    {},
	"internal/archtest":  {},
	"internal/wsframe":   {},
	"internal/procfs":    {},         // /proc's process and machine figures, for loadtest and benchmarks/
	"internal/natstest":  {},         // test support: an embedded NATS server
	"internal/promtest":  {},         // test support: a real Prometheus
	"internal/scaletest": {},         // tests only: the lineage binary, NATS and clients, across failures
	"deploy":             {},         // tests only: deploy/'s files checked offline
	"client":             {"market"}, // the protocol client: the standard library and the WebSocket library
	"examples/follow":    {"market", "client"},
	// a user's program: its own strategy served with the full stack.
	"examples/strategy": {"market", "arena", "feed", "eventlog", "graveyard", "engine", "hub", "internal/web", "metrics", "internal/wsframe", "internal/bearer", "server"},
	// server serves an engine: the hub, the API and dashboard, the metrics.
	"server":  {"market", "arena", "feed", "eventlog", "graveyard", "engine", "hub", "internal/web", "metrics", "internal/wsframe", "internal/bearer"},
	"natspub": {"market", "arena", "feed", "eventlog", "graveyard", "engine"},
	"edge":    {"market", "arena", "hub", "internal/wsframe", "internal/bearer", "eventlog"}, // serves the protocol from the stream: no engine, no log of its own (eventlog only for the record hash)
	// the composition roots may import anything: cli is the lineage command
	// set, imported only by cmd/lineage (the process around it) and by a
	// user's program that runs it with strategies of its own.
	"cli":                nil,
	"cmd/lineage":        {"cli"},
	"examples/customcli": {"cli"},
}

// roots are the composition roots: their own imports are not checked.
var roots = []string{"cli", "cmd/lineage", "examples/customcli"}

func TestImportsPointInward(t *testing.T) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, "list", "-deps=false", "-f", `{{.ImportPath}}|{{join .Deps " "}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, "|")
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		may, known := allowed[rel]
		if !known {
			t.Errorf("package %s has no place in the layout: add it to allowed", rel)
			continue
		}
		seen++
		if slices.Contains(roots, rel) {
			continue
		}
		for _, d := range strings.Fields(deps) {
			if !strings.HasPrefix(d, module+"/") {
				if strings.Contains(strings.SplitN(d, "/", 2)[0], ".") && (rel == "market" || rel == "arena") {
					t.Errorf("%s depends on %s: the domain imports only the standard library", rel, d)
				}
				continue
			}
			dr := strings.TrimPrefix(d, module+"/")
			if !slices.Contains(may, dr) {
				t.Errorf("%s depends on %s; it may depend only on %v", rel, dr, may)
			}
		}
	}
	if seen < 4 {
		t.Fatalf("go list found only %d of the module's packages", seen)
	}
}
