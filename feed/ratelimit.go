package feed

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// limiter is a token bucket: it holds at most burst tokens, gains rate
// tokens per second, and every request takes one. It also holds all
// requests until a Retry-After has passed. It is safe for concurrent use.
type limiter struct {
	mu     sync.Mutex
	clock  Clock
	rate   float64 // tokens per second, > 0
	burst  float64 // >= 1
	tokens float64 // may go negative: reserved ahead of time
	last   time.Time
	hold   time.Time // no request before this instant
}

func newLimiter(clock Clock, rate float64, burst int) *limiter {
	return &limiter{clock: clock, rate: rate, burst: float64(max(burst, 1)), tokens: float64(max(burst, 1))}
}

// reserve takes a token and returns how long the caller must wait before
// using it. When that is longer than maxWait it takes nothing and returns
// ok false.
func (l *limiter) reserve(maxWait time.Duration) (wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	if !l.last.IsZero() {
		if dt := now.Sub(l.last).Seconds(); dt > 0 {
			l.tokens = min(l.burst, l.tokens+dt*l.rate)
		}
	}
	l.last = now
	if l.tokens < 1 {
		wait = time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
	}
	if h := l.hold.Sub(now); h > wait {
		wait = h
	}
	if wait > maxWait {
		return wait, false
	}
	l.tokens--
	return wait, true
}

// holdUntil refuses or delays every request until t.
func (l *limiter) holdUntil(t time.Time) {
	l.mu.Lock()
	if t.After(l.hold) {
		l.hold = t
	}
	l.mu.Unlock()
}

// limitDoer paces requests through a limiter and makes the limiter honour
// every Retry-After the API sends.
type limitDoer struct {
	next     doer
	lim      *limiter
	maxWait  time.Duration
	clock    Clock
	provider string
	stats    *providerStats
}

func (l *limitDoer) do(ctx context.Context, x *exchange) error {
	wait, ok := l.lim.reserve(l.maxWait)
	if !ok {
		l.stats.refuse(ReasonRateLimited)
		return &providerError{provider: l.provider, reason: ReasonRateLimited,
			msg: fmt.Sprintf("held back by the rate limit or a Retry-After for another %s; no request sent", wait.Round(time.Millisecond))}
	}
	if wait > 0 {
		if err := l.clock.Sleep(ctx, wait); err != nil {
			return err
		}
	}
	err := l.next.do(ctx, x)
	if pe, ok := err.(*providerError); ok && pe.retryAfter > 0 {
		l.lim.holdUntil(l.clock.Now().Add(pe.retryAfter))
	}
	return err
}
