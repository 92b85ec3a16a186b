package metrics

import (
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// healthBody is /health's answer, byte for byte: the seed's published one.
const healthBody = `{"status":"ok","service":"lineage-metrics"}`

// Handler serves the metrics endpoints on a ServeMux of its own:
//
//   - GET /metrics: reg's metrics, in the Prometheus text format or, when
//     the Accept header asks for it, OpenMetrics;
//   - GET /health: exactly {"status":"ok","service":"lineage-metrics"};
//   - GET /livez: 200 "ok" while the process serves HTTP;
//   - GET /readyz: 200 "ok" when ready returns nil (or ready is nil),
//     otherwise 503 with the error's text;
//   - anything else: 404 (405 for another method on a known path).
//
// Handler adds promhttp's own scrape counters
// (promhttp_metric_handler_requests_total, …) to reg. ready is called once
// per /readyz request, possibly concurrently.
func Handler(reg *prometheus.Registry, ready func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(reg,
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true})))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, healthBody)
	})
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		plain(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				plain(w, http.StatusServiceUnavailable, err.Error())
				return
			}
		}
		plain(w, http.StatusOK, "ok")
	})
	return mux
}

func plain(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	io.WriteString(w, body)
}
