package feed

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// Retry defaults.
const (
	// DefaultMaxAttempts is how many times a request is tried in all.
	DefaultMaxAttempts = 3
	// DefaultMaxWait is the longest a call waits in one go, for a backoff,
	// a Retry-After or a rate-limit token. A longer Retry-After ends the
	// call instead, and the rate limiter refuses requests until it passes.
	DefaultMaxWait = 5 * time.Second
	backoffBase    = 250 * time.Millisecond
	backoffCap     = 2 * time.Second
)

// retryDoer retries a request that failed with a 429, a 5xx, a timeout or
// a network error, waiting an exponential backoff with jitter between
// attempts, or exactly the Retry-After the API asked for. It never retries
// auth failures (401/403), other 4xx, parse errors, nor a call the rate
// limiter refused.
type retryDoer struct {
	next     doer
	attempts int
	maxWait  time.Duration
	clock    Clock
	mu       sync.Mutex // guards rng
	rng      *rand.Rand
}

func (r *retryDoer) do(ctx context.Context, x *exchange) error {
	var last error // the last error a request produced
	for attempt := 1; ; attempt++ {
		err := r.next.do(ctx, x)
		if held(err) && last != nil {
			// The limiter refused the retry: report what the provider said.
			return last
		}
		if err == nil || attempt >= r.attempts || !retryable(err) {
			return err
		}
		last = err
		wait := r.backoff(attempt)
		var pe *providerError
		if errors.As(err, &pe) && pe.retryAfter > 0 {
			wait = pe.retryAfter
		}
		if wait > r.maxWait {
			return err
		}
		if err := r.clock.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// retryable reports the failures worth another attempt.
func retryable(err error) bool {
	var pe *providerError
	if !errors.As(err, &pe) || !pe.sent {
		return false
	}
	switch pe.reason {
	case ReasonHTTP5xx, ReasonNetwork, ReasonTimeout:
		return true
	case ReasonRateLimited:
		return pe.status == 429
	}
	return false
}

// backoff is the wait after the given failed attempt (1-based): the
// exponential step base·2^(attempt−1), capped, with "equal jitter": half of
// it fixed, half uniformly random, so clients spread out yet always back
// off.
func (r *retryDoer) backoff(attempt int) time.Duration {
	d := backoffBase << min(attempt-1, 16)
	d = min(d, backoffCap)
	r.mu.Lock()
	j := time.Duration(r.rng.Int64N(int64(d/2) + 1))
	r.mu.Unlock()
	return d/2 + j
}
