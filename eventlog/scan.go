package eventlog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const segExt = ".seg"

// segment is one file of the log.
type segment struct {
	first uint64 // sequence number of its first record
	path  string
}

func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segExt) }

// listSegments returns dir's segments in sequence order. A file with the
// segment extension but a malformed name is an error: someone put it there.
func listSegments(dir string) ([]segment, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, segExt) {
			continue
		}
		base := strings.TrimSuffix(name, segExt)
		first, err := strconv.ParseUint(base, 10, 64)
		if err != nil || len(base) != 20 {
			return nil, fmt.Errorf("%w: unexpected file %s", ErrCorrupt, filepath.Join(dir, name))
		}
		segs = append(segs, segment{first: first, path: filepath.Join(dir, name)})
	}
	slices.SortFunc(segs, func(a, b segment) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	return segs, nil
}

// frameReader reads frames from one segment file.
type frameReader struct {
	r    *bufio.Reader
	off  int64 // offset of the next frame
	body []byte
}

func newFrameReader(f io.Reader) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(f, 256<<10)}
}

// errTorn marks a frame that is incomplete or fails its checksum: what a
// write cut short by a crash leaves behind.
var errTorn = errors.New("torn or garbled frame")

// next reads the next frame and returns its decoded record, io.EOF at a
// clean end of file, or an error wrapping errTorn (bad frame) or another
// error (a record whose checksum holds but whose hash does not). The
// record's payload is only valid until the next call.
func (fr *frameReader) next() (Record, error) {
	var hdr [frameHeader]byte
	n, err := io.ReadFull(fr.r, hdr[:])
	switch {
	case err == io.EOF:
		return Record{}, io.EOF
	case err == io.ErrUnexpectedEOF:
		return Record{}, fmt.Errorf("%w: %d-byte frame header", errTorn, n)
	case err != nil:
		return Record{}, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	sum := binary.BigEndian.Uint32(hdr[4:])
	if size < bodyFixed+1 || size > maxBody {
		return Record{}, fmt.Errorf("%w: frame length %d", errTorn, size)
	}
	if cap(fr.body) < int(size) {
		fr.body = make([]byte, size)
	}
	body := fr.body[:size]
	if n, err := io.ReadFull(fr.r, body); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return Record{}, fmt.Errorf("%w: %d of %d body bytes", errTorn, n, size)
		}
		return Record{}, err
	}
	if crc32.Checksum(body, castagnoli) != sum {
		return Record{}, fmt.Errorf("%w: checksum mismatch", errTorn)
	}
	rec, err := decodeBody(body)
	if err != nil {
		return Record{}, err
	}
	fr.off += frameHeader + int64(size)
	return rec, nil
}

// chain checks that records follow each other: consecutive sequence
// numbers, each pointing at its predecessor's hash.
type chain struct {
	next uint64
	last [32]byte
}

func (c *chain) check(r Record) error {
	if r.Seq != c.next {
		return fmt.Errorf("%w: record %d where %d was expected", ErrCorrupt, r.Seq, c.next)
	}
	if r.Prev != c.last {
		return fmt.Errorf("%w: record %d does not point at record %d's hash", ErrCorrupt, r.Seq, r.Seq-1)
	}
	c.next++
	c.last = r.Hash
	return nil
}

// scanResult is what walking a log found.
type scanResult struct {
	chain
	segs     []segment
	idx      index
	markAt   uint64   // the high-water mark's count of committed records; 0 for none
	markHash [32]byte // the hash of record markAt-1, once the scan has read it
	tornAt   int64    // offset in the last segment where a torn tail starts; -1 if none
	tornSize int64    // bytes from tornAt to the end of the last segment
	tornWhy  error
	trusted  int    // segments taken on their seals, not read
	sealed   []seal // for each segment read but the last, its seal as read
}

// scan walks every segment of dir, checking frames, hashes and the chain.
// visit, if not nil, sees every good record in order. A bad frame at the
// end of the last segment, with no good frame after it, is a torn tail:
// reported in the result, not an error. Any other defect is an error
// wrapping ErrCorrupt that names the sequence number and file.
//
// If dir holds a high-water mark, the log must reach it with the record it
// names: a shorter log is an error wrapping ErrLostTail. The mark is read
// before the segments, so a writer committing meanwhile only moves the end
// further out.
func scan(dir string, visit func(Record) error) (*scanResult, error) {
	return scanFrom(dir, visit, 0, nil)
}

// scanFrom is scan with a recovery point: the sealed segments whose records
// all lie before trustBefore (and before the high-water mark) are checked
// by their seals (see trusted) instead of being read, and visit sees
// record 0, then every record of the segments read. A seal that does not
// hold is logged and every segment read, as scan does.
func scanFrom(dir string, visit func(Record) error, trustBefore uint64, logger *slog.Logger) (*scanResult, error) {
	h, hasHead, err := readHead(dir)
	if err != nil {
		return nil, err
	}
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	res := &scanResult{segs: segs, tornAt: -1, markAt: h.committed}
	start := 0
	if trustBefore > 0 && len(segs) > 1 && segs[0].first == 0 {
		n, seals, first, err := trusted(segs, trustBefore, h.committed, hasHead)
		if err != nil && logger != nil {
			logger.Warn("event log seal does not hold: reading every segment", "err", err)
		}
		if err == nil && n > 0 {
			for i := range n {
				res.idx.add(segs[i].first, i, 0)
			}
			res.next, res.last, res.trusted = seals[n-1].next, seals[n-1].last, n
			if res.next == res.markAt {
				res.markHash = res.last
			}
			if visit != nil {
				if err := visit(first); err != nil {
					return nil, err
				}
			}
			start = n
		}
	}
	for i := start; i < len(segs); i++ {
		sg := segs[i]
		if sg.first != res.next {
			return nil, fmt.Errorf("%w: segment %s starts at %d where %d was expected", ErrCorrupt, filepath.Base(sg.path), sg.first, res.next)
		}
		last := i == len(segs)-1
		if err := scanSegment(i, last, res, visit); err != nil {
			return nil, err
		}
		if !last {
			st, err := os.Stat(sg.path)
			if err != nil {
				return nil, err
			}
			res.sealed = append(res.sealed, seal{next: res.next, size: st.Size(), last: res.last})
		}
	}
	if hasHead {
		if err := checkHead(h, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func scanSegment(i int, last bool, res *scanResult, visit func(Record) error) error {
	sg := res.segs[i]
	f, err := os.Open(sg.path)
	if err != nil {
		return err
	}
	defer f.Close()
	// The segment is read up to its size now: a writer appending meanwhile
	// (beside a read-only open) adds only what this scan does not see.
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	fr := newFrameReader(io.LimitReader(f, size))
	for {
		start := fr.off
		rec, err := fr.next()
		if err == io.EOF {
			return nil
		}
		if errors.Is(err, errTorn) {
			if start == 0 && foreign(sg.path, sg.first) {
				return fmt.Errorf("%w: %w: %s does not start with record %d; nothing was changed",
					ErrCorrupt, ErrNotSegment, sg.path, sg.first)
			}
			if !last || goodFrameAfter(sg.path, fr.off+1, size) {
				return fmt.Errorf("%w: %s at offset %d, after record %d: %v", ErrCorrupt, filepath.Base(sg.path), fr.off, int64(res.next)-1, err)
			}
			res.tornAt, res.tornSize, res.tornWhy = fr.off, size-fr.off, err
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %s at offset %d: %v", ErrCorrupt, filepath.Base(sg.path), fr.off, err)
		}
		if err := res.check(rec); err != nil {
			return fmt.Errorf("%w (in %s)", err, filepath.Base(sg.path))
		}
		res.idx.add(rec.Seq, i, start)
		if res.next == res.markAt {
			res.markHash = rec.Hash
		}
		if visit != nil {
			if err := visit(rec); err != nil {
				return err
			}
		}
	}
}

// ErrNotSegment reports a segment file whose first bytes are not a
// record of this log — someone else's file, not a write a crash cut short.
// It comes wrapped with ErrCorrupt; nothing is truncated.
var ErrNotSegment = errors.New("not a Lineage event log segment")

// foreign reports whether the bad frame at the start of the segment at path
// cannot be the beginning of its first record, first, cut short by a crash:
// a torn write leaves a prefix of the frame (or zeros, where the file grew
// before its data reached the disk), so its length must be a record's and
// its sequence number, if it got that far, first.
func foreign(path string, first uint64) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [frameHeader + 8]byte
	n, _ := io.ReadFull(f, b[:])
	if n == 0 || bytes.Count(b[:n], []byte{0}) == n {
		return false
	}
	if n < 4 {
		return b[0] != 0 // a record's length is below 2^24
	}
	if size := binary.BigEndian.Uint32(b[:]); size < bodyFixed+1 || size > maxBody {
		return true
	}
	return n == len(b) && binary.BigEndian.Uint64(b[frameHeader:]) != first
}

// goodFrameAfter reports whether any offset at or after from, and before
// size, in path starts
// a frame whose checksum holds. A crash tears only the end of what was being
// written; a good record after a bad one means the damage is in the middle
// of history, which must not be truncated away.
func goodFrameAfter(path string, from, size int64) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	b = b[:min(int64(len(b)), size)]
	if from >= int64(len(b)) {
		return false
	}
	for off := from; off+frameHeader+bodyFixed < int64(len(b)); off++ {
		size := int64(binary.BigEndian.Uint32(b[off:]))
		if size < bodyFixed+1 || size > maxBody || off+frameHeader+size > int64(len(b)) {
			continue
		}
		body := b[off+frameHeader : off+frameHeader+size]
		if crc32.Checksum(body, castagnoli) == binary.BigEndian.Uint32(b[off+4:]) {
			if _, err := decodeBody(body); err == nil {
				return true
			}
		}
	}
	return false
}
