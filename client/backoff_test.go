package client

import (
	"math/rand/v2"
	"testing"
	"time"
)

// The wait before attempt n+1 is drawn in [c/2, c), c = min(min<<n, max),
// and the same seed draws the same waits.
func TestBackoffIsBoundedJitteredAndSeeded(t *testing.T) {
	newConn := func(seed uint64) *Conn {
		return &Conn{opts: Options{BackoffMin: 500 * time.Millisecond, BackoffMax: 30 * time.Second}, rng: rand.New(rand.NewPCG(seed, 0))}
	}
	a, b, other := newConn(7), newConn(7), newConn(8)
	differs := false
	for n := range 40 {
		ceil := min(500*time.Millisecond<<min(n, 20), 30*time.Second)
		w := a.backoff(n)
		if w < ceil/2 || w >= ceil {
			t.Errorf("attempt %d: wait %s, want in [%s, %s)", n, w, ceil/2, ceil)
		}
		if bw := b.backoff(n); bw != w {
			t.Errorf("attempt %d: %s and %s from the same seed", n, w, bw)
		}
		if other.backoff(n) != w {
			differs = true
		}
	}
	if !differs {
		t.Error("another seed drew the same waits: no jitter")
	}
}
