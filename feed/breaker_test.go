package feed

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestBreakerTransitions(t *testing.T) {
	clock := newFakeClock()
	var changes []string
	b := &breaker{clock: clock, onChange: func(from, to BreakerState) { changes = append(changes, from.String()+"→"+to.String()) }}
	check := func(step string, allow bool, state BreakerState) {
		t.Helper()
		if got := b.current(); got != state {
			t.Errorf("%s: state %s, want %s", step, got, state)
		}
		if got := b.allow(); got != allow {
			t.Errorf("%s: allow %v, want %v", step, got, allow)
		}
	}
	for i := range BreakerThreshold - 1 {
		check(fmt.Sprint("failure ", i+1), true, BreakerClosed)
		b.done(false)
	}
	check("a success resets the count", true, BreakerClosed)
	b.done(true)
	for i := range BreakerThreshold {
		check(fmt.Sprint("failure ", i+1), true, BreakerClosed)
		b.done(false)
	}
	check("open", false, BreakerOpen)
	clock.advance(BreakerCooldown - time.Nanosecond)
	check("still open", false, BreakerOpen)
	clock.advance(time.Nanosecond)
	check("half-open: the probe", true, BreakerHalfOpen)
	check("half-open: one probe at a time", false, BreakerHalfOpen)
	b.done(false)
	check("the failed probe reopens it", false, BreakerOpen)
	clock.advance(BreakerCooldown)
	check("half-open again", true, BreakerHalfOpen)
	b.release()
	check("a released probe frees the slot", true, BreakerHalfOpen)
	b.done(true)
	check("the probe's success closes it", true, BreakerClosed)
	want := []string{"closed→open", "open→half-open", "half-open→open", "open→half-open", "half-open→closed"}
	if !slices.Equal(changes, want) {
		t.Errorf("changes %v, want %v", changes, want)
	}
}

// Through a provider: five failed calls (an auth failure is not retried,
// but counts) open the breaker; an open breaker sends nothing; after the
// cooldown one probe goes out, and its success closes the breaker.
func TestBreakerOverProvider(t *testing.T) {
	api := newFakeAPI(t, "coingecko")
	var down atomic.Bool
	down.Store(true)
	api.set(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			writeBody(w, 401, "application/json", []byte(`{"error":"invalid key"}`))
			return
		}
		serveSample(t, "coingecko", w, r)
	})
	l, clock, logs := newTestLive(t, oneProvider(api, "k", "BTC-USD"))
	for i := range BreakerThreshold {
		if _, err := fetchOnce(t, l, "BTC-USD"); reasonOf(err) != ReasonAuth {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	if api.count() != BreakerThreshold {
		t.Fatalf("%d requests, want one per call (no retry on 401)", api.count())
	}
	_, err := fetchOnce(t, l, "BTC-USD")
	if reasonOf(err) != ReasonBreakerOpen || !strings.Contains(err.Error(), "next probe in 30s") || api.count() != BreakerThreshold {
		t.Fatalf("open: %v after %d requests", err, api.count())
	}
	st := l.Stats().Providers[0]
	if st.Breaker != BreakerOpen || st.Errors[ReasonBreakerOpen] != 1 || st.Errors[ReasonAuth] != 5 || st.Requests != 5 {
		t.Errorf("stats %+v", st)
	}
	clock.advance(BreakerCooldown)
	if st := l.Stats().Providers[0]; st.Breaker != BreakerHalfOpen {
		t.Errorf("after the cooldown: %s", st.Breaker)
	}
	if _, err := fetchOnce(t, l, "BTC-USD"); reasonOf(err) != ReasonAuth || api.count() != 6 {
		t.Fatalf("failed probe: %v after %d requests", err, api.count())
	}
	if _, err := fetchOnce(t, l, "BTC-USD"); reasonOf(err) != ReasonBreakerOpen {
		t.Fatalf("after the failed probe: %v", err)
	}
	down.Store(false)
	clock.advance(BreakerCooldown)
	if p, err := fetchOnce(t, l, "BTC-USD"); err != nil || len(p) != 1 {
		t.Fatalf("probe: %v %v", p, err)
	}
	if st := l.Stats().Providers[0]; st.Breaker != BreakerClosed {
		t.Errorf("after the probe: %s", st.Breaker)
	}
	if logs.count("provider circuit open") != 1 || logs.count("provider circuit closed") != 1 {
		t.Errorf("log:\n%s", logs)
	}
}
