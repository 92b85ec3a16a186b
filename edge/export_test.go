package edge

import (
	"context"

	"github.com/lineage-arena/lineage/arena"
)

// OpenTuned is Open with marks every markEvery events, learnt span events
// at a time, and hook (if not nil) run before every history read of the
// stream: its error fails the read.
func OpenTuned(ctx context.Context, cfg Config, markEvery, span uint64, hook func(context.Context) error) (*Edge, error) {
	return open(ctx, cfg, tuning{markEvery: markEvery, learnSpan: span, readHook: hook})
}

// OpenHeld is Open with no poller of the stream's end, and the live read
// of the stream held until hold is closed (or the edge closes).
func OpenHeld(ctx context.Context, cfg Config, hold <-chan struct{}) (*Edge, error) {
	return open(ctx, cfg, tuning{markEvery: markEvery, learnSpan: learnSpan, noPoll: true,
		consumeHook: func(ctx context.Context) {
			select {
			case <-hold:
			case <-ctx.Done():
			}
		}})
}

// Replay is the hub's History.Replay of e.
func Replay(e *Edge, from, until uint64, fn func(arena.Event) error) error {
	return history{e}.Replay(from, until, fn)
}
