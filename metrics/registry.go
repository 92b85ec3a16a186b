package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a new registry holding NewCollector(src), the Go
// runtime and process collectors, and lineage_build_info. It never touches
// prometheus.DefaultRegisterer. src.Arena must not be nil.
func NewRegistry(src Sources) *prometheus.Registry {
	build := src.withDefaults()
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		NewCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lineage_build_info",
			Help: "Always 1; its labels name the running build: version, VCS revision and Go version.",
			ConstLabels: prometheus.Labels{
				"version": build.Version, "revision": build.Revision, "goversion": runtime.Version(),
			},
		}, func() float64 { return 1 }),
	)
	return reg
}
