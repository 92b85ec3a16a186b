package main

import (
	"fmt"
	"io"
)

// printReport writes the run as Markdown tables: the summary, each edge
// (or serve, with -direct), each process.
func printReport(w io.Writer, r *report) {
	s := r.Summary
	where := fmt.Sprintf("%d edges, nats-server %s (3 nodes, R3, file, sync always)", r.Edges, r.NATSServer)
	if r.Mode == "direct" {
		where = "clients on serve itself (-direct), no NATS"
	}
	fmt.Fprintf(w, "%d clients, %s; window %.0f s after %.0f s settle; lineage serve %s; commit %s, %d cores\n\n",
		r.Clients, where, r.WindowS, r.SettleS, r.LineageArgs, r.Revision, r.Cores)

	fmt.Fprintln(w, "| mode | connected | cut | delivered msgs/s | events/s | msgs/s per core | bytes/conn | client p50 ms | client p99 ms | publish delay p50 / p99 ms | edge delay p50 / p99 ms | gaps | dups | edge lag | machine busy (cores) | load avg before → after |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	fmt.Fprintf(w, "| %s | %d of %d | %d | %.0f | %.1f | %.0f | %.0f | %s | %s | %s / %s | %s / %s | %d | %d | %s | %.2f | %s → %s |\n\n",
		r.Mode, s.Connected, r.Clients, s.Cut, s.DeliveredPerS, s.EventsPerS, s.MsgsPerCore, s.BytesPerConn,
		f1(s.LatencyP50), f1(s.LatencyP99), f1(s.PublishDelayP50), f1(s.PublishDelayP99), f1(s.EdgeDelayP50), f1(s.EdgeDelayP99),
		s.Gaps, s.Duplicates, f0(s.MaxEdgeLag), s.MachineBusy, s.LoadBefore, s.LoadAfter)

	fmt.Fprintln(w, "| server | clients | connections | written msgs/s | cores | msgs/s per core | RSS idle MiB | RSS MiB | bytes/conn | lag | delay p50 / p99 ms |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, t := range r.Targets {
		fmt.Fprintf(w, "| %s | %d | %.0f | %.0f | %.2f | %.0f | %.1f | %.1f | %.0f | %s | %s / %s |\n",
			t.Name, t.Clients, t.Connections, t.WrittenPerS, t.Cores, t.MsgsPerCore, mib(t.RSSIdle), mib(t.RSS), t.BytesPerConn,
			f0(t.Lag), f1(t.DelayP50), f1(t.DelayP99))
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "| process | cores | RSS MiB | open files limit |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	for _, p := range r.Processes {
		fmt.Fprintf(w, "| %s | %s | %.1f | %d |\n", p.Name, f2(p.Cores), mib(p.RSS), p.NoFile)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\nNote: %s\n", n)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func f0(v *float64) string { return fmtOpt("%.0f", v) }
func f1(v *float64) string { return fmtOpt("%.1f", v) }
func f2(v *float64) string { return fmtOpt("%.2f", v) }

func fmtOpt(format string, v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf(format, *v)
}
