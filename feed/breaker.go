package feed

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// BreakerState is the state of a provider's circuit breaker.
type BreakerState int

// The states: closed lets calls through; open refuses them; half-open
// lets one probe through, whose outcome closes or reopens the breaker.
const (
	BreakerClosed BreakerState = iota
	BreakerOpen
	BreakerHalfOpen
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("BreakerState(%d)", int(s))
}

// Breaker settings.
const (
	// BreakerThreshold is how many consecutive failed calls open a breaker.
	BreakerThreshold = 5
	// BreakerCooldown is how long an open breaker refuses calls before it
	// lets a probe through.
	BreakerCooldown = 30 * time.Second
)

// breaker is a circuit breaker over whole provider calls (retries
// included): BreakerThreshold consecutive failures open it for
// BreakerCooldown; then it is half-open and lets exactly one probe
// through; the probe's success closes it, its failure reopens it for
// another cooldown. It is safe for concurrent use.
type breaker struct {
	mu       sync.Mutex
	clock    Clock
	state    BreakerState
	fails    int
	openedAt time.Time
	probing  bool
	onChange func(from, to BreakerState) // called outside the lock; may be nil
}

// allow reports whether a call may proceed. A true from a half-open
// breaker makes the caller the probe: it must report with done or release.
func (b *breaker) allow() bool {
	b.mu.Lock()
	from := b.state
	ok := false
	switch b.state {
	case BreakerClosed:
		ok = true
	case BreakerOpen:
		if b.clock.Now().Sub(b.openedAt) >= BreakerCooldown {
			b.state, b.probing, ok = BreakerHalfOpen, true, true
		}
	case BreakerHalfOpen:
		if !b.probing {
			b.probing, ok = true, true
		}
	}
	to := b.state
	b.mu.Unlock()
	b.changed(from, to)
	return ok
}

// done records the outcome of an allowed call.
func (b *breaker) done(ok bool) {
	b.mu.Lock()
	from := b.state
	switch {
	case ok:
		b.state, b.fails, b.probing = BreakerClosed, 0, false
	case b.state == BreakerHalfOpen:
		b.state, b.openedAt, b.probing = BreakerOpen, b.clock.Now(), false
	case b.state == BreakerClosed:
		b.fails++
		if b.fails >= BreakerThreshold {
			b.state, b.openedAt = BreakerOpen, b.clock.Now()
		}
	}
	to := b.state
	b.mu.Unlock()
	b.changed(from, to)
}

// release ends an allowed call that says nothing about the provider (the
// caller gave up, or the rate limiter held it back): a probe may go again.
func (b *breaker) release() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// current returns the state, showing an open breaker whose cooldown has
// passed as half-open: its next call is the probe.
func (b *breaker) current() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerOpen && b.clock.Now().Sub(b.openedAt) >= BreakerCooldown {
		return BreakerHalfOpen
	}
	return b.state
}

// retryIn is how long an open breaker still refuses calls.
func (b *breaker) retryIn() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(BreakerCooldown-b.clock.Now().Sub(b.openedAt), 0)
}

func (b *breaker) changed(from, to BreakerState) {
	if from != to && b.onChange != nil {
		b.onChange(from, to)
	}
}

// breakerProvider guards a provider with a breaker. A call fails when it
// returns an error and no price; a call that returns some prices succeeds.
// Calls the caller cancelled, and calls the rate limiter held back, count
// for neither.
type breakerProvider struct {
	next  provider
	br    *breaker
	stats *providerStats
}

func (p *breakerProvider) name() string { return p.next.name() }

func (p *breakerProvider) fetch(ctx context.Context, syms []market.Symbol) (map[market.Symbol]market.Price, error) {
	if !p.br.allow() {
		p.stats.refuse(ReasonBreakerOpen)
		return nil, &providerError{provider: p.name(), reason: ReasonBreakerOpen,
			msg: fmt.Sprintf("circuit open after %d consecutive failures; next probe in %s", BreakerThreshold, p.br.retryIn().Round(time.Second))}
	}
	prices, err := p.next.fetch(ctx, syms)
	switch {
	case err == nil || len(prices) > 0:
		p.br.done(true)
	case ctx.Err() != nil || held(err):
		p.br.release()
	default:
		p.br.done(false)
	}
	return prices, err
}
