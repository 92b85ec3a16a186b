package eventlog

import "time"

// Stats are a log's counters since Open, for metrics. Histogram counts are
// cumulative per bound, as Prometheus wants them.
type Stats struct {
	Records  uint64 // records in the log (the next sequence number)
	Durable  uint64 // records synced
	Appends  uint64 // records appended since Open
	Syncs    uint64 // group commits (fsyncs) since Open
	Bytes    uint64 // bytes written since Open
	Segments int
	// SyncSeconds is the duration of each group commit: write and fsync.
	SyncSeconds Histogram
	// Failed is set while the log is in its failed state: a write, fsync,
	// rollover or high-water mark update failed, appends are refused, and
	// the next Sync tries again (see Log). Failure is that write's error.
	Failed  bool
	Failure string
	// WriteFailures counts the times the log went from writable to failed.
	WriteFailures uint64
}

// Histogram is a fixed-bucket histogram of durations in seconds.
type Histogram struct {
	Bounds []float64 // upper bounds, seconds
	Counts []uint64  // cumulative: observations ≤ Bounds[i]
	Count  uint64
	Sum    float64
}

// syncBounds span a page-cache write (~10 µs) to a struggling disk (1 s).
var syncBounds = []float64{0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}

func (h *Histogram) observe(d time.Duration) {
	if h.Bounds == nil {
		h.Bounds, h.Counts = syncBounds, make([]uint64, len(syncBounds))
	}
	s := d.Seconds()
	for i, b := range h.Bounds {
		if s <= b {
			h.Counts[i]++
		}
	}
	h.Count++
	h.Sum += s
}

// Stats returns the log's counters. It is safe for concurrent use.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Records, s.Durable, s.Segments = l.next, l.durable, len(l.segs)
	if l.failure != nil {
		s.Failed, s.Failure = true, l.failure.Error()
	}
	s.SyncSeconds.Bounds = syncBounds
	s.SyncSeconds.Counts = append([]uint64(nil), l.stats.SyncSeconds.Counts...)
	if s.SyncSeconds.Counts == nil {
		s.SyncSeconds.Counts = make([]uint64, len(syncBounds))
	}
	return s
}
