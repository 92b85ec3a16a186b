package feed

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	clock := newFakeClock()
	l := newLimiter(clock, 2, 3) // 2 per second, bursts of 3
	const maxWait = time.Second
	steps := []struct {
		name    string
		advance time.Duration
		wait    time.Duration
		ok      bool
	}{
		{"burst 1", 0, 0, true},
		{"burst 2", 0, 0, true},
		{"burst 3", 0, 0, true},
		{"empty: wait for the next token", 0, 500 * time.Millisecond, true},
		{"reserved ahead: wait for the one after", 0, time.Second, true},
		{"more than maxWait: refused", 0, 1500 * time.Millisecond, false},
		{"refill", 1500 * time.Millisecond, 0, true},
		{"refill caps at the burst", time.Hour, 0, true},
		{"", 0, 0, true},
		{"", 0, 0, true},
		{"burst spent", 0, 500 * time.Millisecond, true},
	}
	for _, s := range steps {
		clock.advance(s.advance)
		wait, ok := l.reserve(maxWait)
		if wait != s.wait || ok != s.ok {
			t.Errorf("%s: reserve = %v, %v; want %v, %v", s.name, wait, ok, s.wait, s.ok)
		}
	}
	clock.advance(time.Hour)
	l.holdUntil(clock.Now().Add(800 * time.Millisecond))
	l.holdUntil(clock.Now().Add(100 * time.Millisecond)) // an earlier hold does not shorten it
	if wait, ok := l.reserve(maxWait); wait != 800*time.Millisecond || !ok {
		t.Errorf("held: reserve = %v, %v", wait, ok)
	}
	l.holdUntil(clock.Now().Add(time.Minute))
	if wait, ok := l.reserve(maxWait); wait != time.Minute || ok {
		t.Errorf("held long: reserve = %v, %v", wait, ok)
	}
}

// The provider's limiter paces its requests: Coinbase, asked for five
// symbols at 1 request/s with a burst of 2, waits for tokens in between.
func TestRateLimitPacesRequests(t *testing.T) {
	api := newFakeAPI(t, "coinbase")
	cfg := oneProvider(api, "")
	cfg.Providers[0].RateLimit, cfg.Providers[0].Burst = 1, 2
	l, clock, _ := newTestLive(t, cfg)
	if got := round(t, l); len(got) != 5 {
		t.Fatalf("ticks %q", show(got))
	}
	want := []time.Duration{time.Second, time.Second, time.Second}
	if got := clock.sleeps(); !equalDurations(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if d := a[i] - b[i]; d < -time.Microsecond || d > time.Microsecond {
			return false
		}
	}
	return true
}
