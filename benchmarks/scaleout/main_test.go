package main

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsCheck(t *testing.T) {
	ok := options{edges: 6, clients: 100000, window: 20 * time.Second, srcs: "127.0.0.2-127.0.0.11"}
	for _, c := range []struct {
		name string
		edit func(*options)
		err  string // "" for none
	}{
		{"100,000 over 6 edges and 10 sources", func(*options) {}, ""},
		{"more than a process holds", func(o *options) { o.edges = 5 }, "more than 18000 a process"},
		{"more than the sources' ports", func(o *options) { o.srcs = "127.0.0.2-127.0.0.4" }, "more than its 25000 ports"},
		{"a source that is an edge's address", func(o *options) { o.srcs = "127.0.0.100-127.0.0.110" }, "is an edge's address"},
		{"direct, one process", func(o *options) { o.direct, o.clients = true, 19000 }, "serve is one process"},
		{"direct, within one process", func(o *options) { o.direct, o.clients = true, 18000 }, ""},
		{"no edge", func(o *options) { o.edges = 0 }, "-edges 0"},
		{"short window", func(o *options) { o.window = time.Millisecond }, "-window"},
		{"not loopback", func(o *options) { o.srcs = "10.0.0.1" }, "not a loopback address"},
	} {
		o := ok
		c.edit(&o)
		err := o.check()
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.err)
		}
	}
}

func TestParseSrcs(t *testing.T) {
	got, err := parseSrcs("127.0.0.2-127.0.0.4, 127.0.1.9")
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, a := range got {
		s = append(s, a.String())
	}
	if strings.Join(s, " ") != "127.0.0.2 127.0.0.3 127.0.0.4 127.0.1.9" {
		t.Errorf("parseSrcs: %v", s)
	}
	for _, bad := range []string{"", "127.0.0.4-127.0.0.2", "::1", "127.0.0.x"} {
		if _, err := parseSrcs(bad); err == nil {
			t.Errorf("parseSrcs(%q): no error", bad)
		}
	}
}
