package main

import (
	"fmt"
	"io"
	"strings"
)

func printServer(w io.Writer, r serverReport) {
	c := r.Client
	fmt.Fprintf(w, "# %s: %.0f msgs/s at %.2f server cores = %.0f msgs/s per core; p50 %.1f ms p99 %.1f ms max %.1f ms; %.0f B per idle conn; cut %d gaps %d dups %d; load %s -> %s\n",
		r.Name, r.MsgsPerSec, r.ServerCores, r.MsgsPerCore, c.P50, c.P99, c.Max, r.BytesPerConn,
		c.Cut, c.Gaps, c.Dups, r.LoadBefore, r.LoadAfter)
	if r.Profile != nil {
		fmt.Fprintf(w, "# %s: profile %s: %s\n", r.Name, r.Profile.File, profileLine(r.Profile))
	}
}

// printTable writes the run as a Markdown table.
func printTable(w io.Writer, rep report) {
	fmt.Fprintf(w, "clients %d, window %.0f s, lineage serve %s; %d steps, %.1f msgs/step, %.0f bytes/msg (connection 0 of Lineage's run)\n\n",
		rep.Clients, rep.Window, rep.LineageArgs, rep.Steps, rep.MsgsPerStep, rep.BytesPerMsg)
	fmt.Fprintln(w, "| server | delivered msgs/s | server cores | msgs/s per core | p50 ms | p99 ms | max ms | bytes/idle conn | bytes/msg received | connected | cut | gaps | dups | pings answered | machine busy (cores) | load avg before → after |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rep.Servers {
		c := r.Client
		bpm, idle := "—", "—"
		if c.Messages > 0 {
			bpm = fmt.Sprintf("%.0f", float64(c.Bytes)/float64(c.Messages))
		}
		if r.BytesPerConn != 0 {
			idle = fmt.Sprintf("%.0f", r.BytesPerConn)
		}
		cut := fmt.Sprint(c.Cut)
		if len(c.CutReasons) > 0 {
			var rs []string
			for k, v := range c.CutReasons {
				rs = append(rs, fmt.Sprintf("%d %s", v, k))
			}
			cut += " (" + strings.Join(rs, "; ") + ")"
		}
		fmt.Fprintf(w, "| %s | %.0f | %.2f | %.0f | %.1f | %.1f | %.1f | %s | %s | %d | %s | %d | %d | %d | %.2f | %s → %s |\n",
			r.Name, r.MsgsPerSec, r.ServerCores, r.MsgsPerCore, c.P50, c.P99, c.Max, idle, bpm,
			c.Connected, cut, c.Gaps, c.Dups, c.Pings, r.MachineBusy, r.LoadBefore, r.LoadAfter)
	}
	for _, r := range rep.Servers {
		if r.Profile != nil {
			fmt.Fprintf(w, "\n%s's CPU profile (%s): %s\n", r.Name, r.Profile.File, profileLine(r.Profile))
		}
	}
}
