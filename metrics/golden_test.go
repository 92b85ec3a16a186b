package metrics_test

import (
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/lineage-arena/lineage/metrics"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestExpositionGolden pins the text exposition of every lineage_ family for
// a fixed server state and a fixed clock. Go and process metrics vary from
// run to run and are left out; so is the Go version in lineage_build_info.
// Run with -update after a deliberate change, and read the diff.
func TestExpositionGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  metrics.Sources
	}{
		{"live", fixture()},
		{"sim", simFixture()},
		{"nats", natsFixture()},
		{"edge", edgeFixture()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := metrics.Handler(metrics.NewRegistry(tc.src), nil)
			code, _, body := get(t, h, "/metrics")
			if code != 200 {
				t.Fatalf("GET /metrics: %d\n%s", code, body)
			}
			got := strings.Join(lineageLines(body), "\n") + "\n"
			got = strings.ReplaceAll(got, `goversion="`+runtime.Version()+`"`, `goversion="GOVERSION"`)
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("exposition differs from %s (go test ./metrics -run Golden -update rewrites it):\n%s", path, diff(string(want), got))
			}
		})
	}
}

// diff lists the lines only one side has, in order, prefixed - and +.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	inW, inG := map[string]bool{}, map[string]bool{}
	for _, l := range w {
		inW[l] = true
	}
	for _, l := range g {
		inG[l] = true
	}
	var b strings.Builder
	for _, l := range w {
		if !inG[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range g {
		if !inW[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	if b.Len() == 0 {
		return "(same lines, different order)"
	}
	return b.String()
}

// TestScaleOutFamiliesOnlyWhenUsed: a plain server exports no lineage_nats_
// or lineage_edge_ series; a publisher only the former, an edge only the
// latter.
func TestScaleOutFamiliesOnlyWhenUsed(t *testing.T) {
	for _, tc := range []struct {
		name       string
		src        metrics.Sources
		nats, edge bool
	}{
		{"plain", fixture(), false, false},
		{"sim", simFixture(), false, false},
		{"nats", natsFixture(), true, false},
		{"edge", edgeFixture(), false, true},
	} {
		fams := mustGather(t, metrics.NewRegistry(tc.src))
		var nats, edge int
		for name := range fams {
			switch {
			case strings.HasPrefix(name, "lineage_nats_"):
				nats++
			case strings.HasPrefix(name, "lineage_edge_"):
				edge++
			}
		}
		if (nats == 7) != tc.nats || (nats == 0) == tc.nats {
			t.Errorf("%s: %d lineage_nats_ families", tc.name, nats)
		}
		if (edge == 5) != tc.edge || (edge == 0) == tc.edge {
			t.Errorf("%s: %d lineage_edge_ families", tc.name, edge)
		}
	}
}
