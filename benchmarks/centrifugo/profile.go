package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/pprof/profile"
)

// profileReport is a CPU profile of Lineage's load window, split by the
// hub's profiler labels (key "hub": fanout, burst, ping, liveness, read;
// "" is everything else: the engine, the event log, GC, the runtime).
type profileReport struct {
	File    string             `json:"file"`
	Seconds float64            `json:"cpu_s"`   // CPU time the profile sampled
	Share   map[string]float64 `json:"percent"` // of Seconds, by label
	// PingPong is the liveness work: ping writes, the look at every
	// client's pings, and reading client frames (pongs, in this workload).
	PingPong float64 `json:"ping_pong_percent"`
}

type profileResult struct {
	rep *profileReport
	err error
}

// fetchProfile takes a CPU profile of the window from Lineage's
// /debug/pprof/profile (at most 25 s: the metrics server's write timeout
// is 30 s), writes it to o.profile and splits it by label.
func fetchProfile(metrics string, o options, name string) profileResult {
	secs := max(1, min(int(o.window.Seconds())-1, 25))
	c := &http.Client{Timeout: time.Duration(secs+10) * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", metrics, secs))
	if err != nil {
		return profileResult{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return profileResult{err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return profileResult{err: fmt.Errorf("%s: %s", resp.Status, b)}
	}
	if err := os.MkdirAll(o.profile, 0o700); err != nil {
		return profileResult{err: err}
	}
	file := filepath.Join(o.profile, fmt.Sprintf("%s-%d.pprof", name, o.clients))
	if err := os.WriteFile(file, b, 0o600); err != nil {
		return profileResult{err: err}
	}
	p, err := profile.ParseData(b)
	if err != nil {
		return profileResult{err: err}
	}
	rep, err := splitProfile(p)
	if err != nil {
		return profileResult{err: err}
	}
	rep.File = file
	return profileResult{rep: rep}
}

// splitProfile sums p's CPU time by the "hub" label.
func splitProfile(p *profile.Profile) (*profileReport, error) {
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			idx = i
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("not a CPU profile: sample types %v", p.SampleType)
	}
	by := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		v := s.Value[idx]
		total += v
		l := ""
		if ls := s.Label["hub"]; len(ls) > 0 {
			l = ls[0]
		}
		by[l] += v
	}
	rep := &profileReport{Seconds: float64(total) / 1e9, Share: map[string]float64{}}
	if total == 0 {
		return rep, nil
	}
	for l, v := range by {
		rep.Share[l] = 100 * float64(v) / float64(total)
	}
	rep.PingPong = rep.Share["ping"] + rep.Share["liveness"] + rep.Share["read"]
	return rep, nil
}

// profileLine is the split as one line, labels in order.
func profileLine(r *profileReport) string {
	var ls []string
	for l := range r.Share {
		ls = append(ls, l)
	}
	sort.Strings(ls)
	out := fmt.Sprintf("%.1f CPU s profiled; ping/pong %.1f %%;", r.Seconds, r.PingPong)
	for _, l := range ls {
		name := l
		if name == "" {
			name = "other"
		}
		out += fmt.Sprintf(" %s %.1f %%", name, r.Share[l])
	}
	return out
}
