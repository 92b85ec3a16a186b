package eventlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Iter reads durable records in sequence order. It is not safe for
// concurrent use; many Iters may read one Log at once, concurrently with
// its writer.
type Iter struct {
	segs   []segment
	from   uint64
	until  uint64 // exclusive: the durable count when the Iter was made
	chain  chain
	cur    int
	seek   int64 // offset in segs[cur] to start reading at
	resync bool  // the next record read starts the chain check
	f      *os.File
	fr     *frameReader
	err    error
}

// Iter returns an iterator over the durable records with sequence numbers
// from `from` on, up to those durable now. It starts reading at the entry
// of the log's sparse index nearest before from, so the first record costs
// the same wherever it lies in its segment. Records are checked as they are
// read (checksum, hash and chain), so a file damaged after Open is reported
// rather than served.
func (l *Log) Iter(from uint64) *Iter {
	l.mu.Lock()
	defer l.mu.Unlock()
	it := &Iter{segs: append([]segment(nil), l.segs...), from: from, until: l.durable}
	if e, ok := l.idx.find(from); ok {
		it.cur, it.seek, it.chain.next, it.resync = e.seg, e.off, e.seq, true
	} else if len(it.segs) > 0 {
		it.chain.next = it.segs[0].first
	}
	return it
}

// Next returns the next record, or io.EOF after the last durable one. The
// record's Payload is only valid until the next call.
func (it *Iter) Next() (Record, error) {
	for it.err == nil {
		if it.chain.next >= it.until || it.cur >= len(it.segs) {
			it.err = io.EOF
			break
		}
		if it.f == nil {
			f, err := os.Open(it.segs[it.cur].path)
			if err != nil {
				it.err = err
				break
			}
			if it.seek > 0 {
				if _, err := f.Seek(it.seek, io.SeekStart); err != nil {
					f.Close()
					it.err = err
					break
				}
			}
			it.f, it.fr = f, newFrameReader(f)
			it.fr.off, it.seek = it.seek, 0
		}
		rec, err := it.fr.next()
		if err == io.EOF {
			it.f.Close()
			it.f = nil
			it.cur++
			continue
		}
		if err != nil {
			it.err = fmt.Errorf("%w: %s at offset %d: %v", ErrCorrupt, filepath.Base(it.segs[it.cur].path), it.fr.off, err)
			break
		}
		// The first record read in a segment starts the chain there; its
		// link to the previous segment was checked by Open.
		// So does the first record read after a seek: Open checked its link.
		if rec.Seq == it.segs[it.cur].first || it.resync {
			it.chain.last = rec.Prev
			it.resync = false
		}
		if err := it.chain.check(rec); err != nil {
			it.err = err
			break
		}
		if rec.Seq >= it.from {
			return rec, nil
		}
	}
	return Record{}, it.err
}

// Close releases the iterator's file.
func (it *Iter) Close() error {
	if it.f != nil {
		err := it.f.Close()
		it.f = nil
		return err
	}
	if it.err == nil || errors.Is(it.err, io.EOF) {
		it.err = io.EOF
	}
	return nil
}

// Verify walks the log in dir without changing it: every frame's checksum,
// every record's hash and the chain. It returns the number of records, or
// an error naming the first defect — a torn tail included, which Open
// would repair but which is still a defect to report.
func Verify(dir string) (records uint64, err error) {
	res, err := scan(dir, nil)
	if err != nil {
		return 0, err
	}
	if res.tornAt >= 0 {
		last := res.segs[len(res.segs)-1]
		return res.next, fmt.Errorf("%w: torn tail in %s at offset %d after record %d (%d bytes: %v); opening the log truncates it",
			ErrCorrupt, filepath.Base(last.path), res.tornAt, int64(res.next)-1, res.tornSize, res.tornWhy)
	}
	return res.next, nil
}

// Walk calls visit with every record of the log in dir, checking it as
// Verify does; it stops at the first error from the log or from visit.
func Walk(dir string, visit func(Record) error) error {
	res, err := scan(dir, visit)
	if err != nil {
		return err
	}
	if res.tornAt >= 0 {
		return fmt.Errorf("%w: torn tail after record %d", ErrCorrupt, int64(res.next)-1)
	}
	return nil
}
