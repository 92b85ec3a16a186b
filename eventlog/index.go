package eventlog

import "sort"

// indexSpacing is the most bytes of a segment between two entries of the
// sparse index: a read from any sequence number starts at most this far
// before it. At 64 KiB a 64 MiB segment has about a thousand entries (24
// bytes each).
const indexSpacing = 64 << 10

// indexEntry says that record seq starts at byte off of segment seg
// (an index into the log's segments).
type indexEntry struct {
	seq uint64
	seg int
	off int64
}

// index is a sparse, in-memory index of the log by sequence number: built
// while the log is scanned, extended as records are appended. Entries are
// in sequence order; every segment's first record has one.
type index struct {
	entries []indexEntry
}

// add notes that record seq starts at off in segment seg, keeping it if it
// starts a segment or lies indexSpacing past the previous entry.
func (x *index) add(seq uint64, seg int, off int64) {
	if n := len(x.entries); n > 0 {
		e := x.entries[n-1]
		if e.seg == seg && off-e.off < indexSpacing {
			return
		}
	}
	x.entries = append(x.entries, indexEntry{seq: seq, seg: seg, off: off})
}

// find returns the last entry at or before seq, and false if there is none.
func (x *index) find(seq uint64) (indexEntry, bool) {
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].seq > seq })
	if i == 0 {
		return indexEntry{}, false
	}
	return x.entries[i-1], true
}
