package loadtest

import (
	"testing"
	"time"
)

func TestHistQuantiles(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.record(i, time.Duration(i)*time.Millisecond)
	}
	s := h.summary()
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", s.P50, 500}, {"p95", s.P95, 950}, {"p99", s.P99, 990}, {"max", s.Max, 1000}} {
		if c.got < c.want || c.got > c.want*(1+1.0/64) {
			t.Errorf("%s = %v ms, want %v within 1/64", c.name, c.got, c.want)
		}
	}
	if s.Samples != 1000 {
		t.Errorf("samples %d", s.Samples)
	}
	for us := int64(0); us < 1<<20; us += 7 {
		if i := bucketOf(us); bucketTop(i) < us || (i > 0 && bucketTop(i-1) >= us) {
			t.Fatalf("%d µs in bucket %d of top %d", us, i, bucketTop(i))
		}
	}
}
