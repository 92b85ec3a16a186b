package main

import (
	"math"
	"testing"

	"github.com/google/pprof/profile"
)

// The split sums CPU by the hub label; ping/pong is ping, liveness and
// read together, and unlabelled samples are "".
func TestSplitProfile(t *testing.T) {
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}}}
	add := func(label string, ns int64) {
		s := &profile.Sample{Value: []int64{1, ns}}
		if label != "" {
			s.Label = map[string][]string{"hub": {label}}
		}
		p.Sample = append(p.Sample, s)
	}
	add("burst", 600e6)
	add("ping", 50e6)
	add("liveness", 30e6)
	add("read", 20e6)
	add("", 300e6)
	r, err := splitProfile(p)
	if err != nil {
		t.Fatal(err)
	}
	if r.Seconds != 1 || math.Abs(r.PingPong-10) > 1e-9 || math.Abs(r.Share["burst"]-60) > 1e-9 || math.Abs(r.Share[""]-30) > 1e-9 {
		t.Errorf("split %+v, want 1 s, ping/pong 10 %%, burst 60 %%, other 30 %%", r)
	}
	p.SampleType = p.SampleType[:1]
	if _, err := splitProfile(p); err == nil {
		t.Error("a profile without CPU nanoseconds was split")
	}
}
