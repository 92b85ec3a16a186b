package feed

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// Recorder is a Source that passes on the ticks of another and writes each
// one to w in the generic replay CSV format: the header
// timestamp,symbol,price, then one row per tick with an RFC 3339 UTC
// timestamp to the nanosecond and the exact price text. OpenReplay reads
// such a file back into the same symbols, prices and times (as Source
// "replay": the provider and the Stale flag are not recorded).
//
// Each tick is one Write of whole lines, header included, so an unbuffered
// file holds every tick passed on, even after a crash; w should start
// empty. A Recorder is not safe for concurrent use; its owner closes w and
// the source.
type Recorder struct {
	src    Source
	w      io.Writer
	header bool
	buf    []byte
	err    error // sticky write error
}

var _ Source = (*Recorder)(nil)

// NewRecorder returns a Recorder of src's ticks into w. It writes nothing
// before the first tick.
func NewRecorder(w io.Writer, src Source) *Recorder {
	return &Recorder{src: src, w: w}
}

// Next returns src's next tick once it is written. src's errors (io.EOF,
// ctx.Err()) pass through unchanged. A failed write is returned, wrapped,
// and then by every later call: a recording is never silently incomplete.
func (r *Recorder) Next(ctx context.Context) (market.Tick, error) {
	if r.err != nil {
		return market.Tick{}, r.err
	}
	t, err := r.src.Next(ctx)
	if err != nil {
		return t, err
	}
	b := r.buf[:0]
	if !r.header {
		b = append(b, "timestamp,symbol,price\n"...)
	}
	b = t.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, ',')
	b = append(b, t.Symbol...)
	b = append(b, ',')
	b = append(b, t.Price.String()...)
	b = append(b, '\n')
	r.buf = b
	if _, err := r.w.Write(b); err != nil {
		r.err = fmt.Errorf("record tick: %w", err)
		return market.Tick{}, r.err
	}
	r.header = true
	return t, nil
}
