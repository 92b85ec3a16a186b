package eventlog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Options configure Open. The zero value is the documented defaults.
type Options struct {
	// SegmentBytes starts a new segment once the current one reaches this
	// size. Default 64 MiB.
	SegmentBytes int64
	// Logger receives the repair notice of a torn tail; nil discards it.
	Logger *slog.Logger
	// Visit, if set, sees every good record, in order, while Open reads
	// the log — one pass for whoever rebuilds state from it. The payload
	// is valid only during the call; an error from Visit fails Open.
	Visit func(Record) error
	// TrustBefore, if set, is a recovery point: the sealed segments whose
	// records all lie before it (and before the high-water mark) are
	// checked by their seals — name, size, and the link to the next
	// segment's first record — instead of being read, and Visit sees record
	// 0 and then every record of the segments read, from the one holding
	// TrustBefore (or an earlier one) on. A seal that does not hold is
	// logged, and every segment read as without it. Zero reads every
	// segment. Verify and Walk always read every segment.
	TrustBefore uint64
	// Fault, if set, is asked before each write the writer makes to disk —
	// op is "write", "fsync", "segment" (a rollover's new file) or "mark"
	// (the high-water mark) — and an error it returns is taken as that
	// write's failure, as if the disk had returned it. It lets tests drive a
	// full or failing disk; leave it nil otherwise.
	Fault func(op string) error
}

// DefaultSegmentBytes is the size at which a new segment starts.
const DefaultSegmentBytes = 64 << 20

// maxBuffered bounds the bytes appended but not yet durable, which the Log
// keeps in memory until they are (to write them again after a failure):
// past it, Append syncs them.
const maxBuffered = 4 << 20

// Log is an open event log. Append and Sync are for one writer goroutine;
// only one Log at a time may have a directory open for writing (see
// ErrLocked); any number may have it open read-only (OpenReadOnly).
// Durable, Last and Iter may be called from any goroutine. An event is
// durable — and may be acknowledged — once a Sync that began after its
// Append has returned nil.
//
// A failed write, fsync, rollover or high-water mark update (a full disk,
// say) puts the Log in a failed state, which Stats reports: Append refuses
// new records with an error wrapping ErrWriteFailed (the record is not
// added), and every later Sync tries again — it reopens the current
// segment, cuts it back to its last durable byte, writes again what it
// holds in memory of the records appended since, and fsyncs. When that
// succeeds the Log is writable again, with no record lost, repeated or
// renumbered. What was written and not synced when the process dies is a
// torn tail that the next Open truncates, so the log on disk is never left
// corrupt.
type Log struct {
	dir  string
	opts Options

	mu      sync.Mutex
	seg     *os.File
	segs    []segment
	size    int64  // bytes of the current segment, buffered ones included
	synced  int64  // bytes of the current segment that are durable
	buf     []byte // the bytes after synced: records not yet durable
	next    uint64 // sequence of the next record
	last    [32]byte
	durable uint64 // records [0, durable) are on disk and synced
	err     error  // ErrClosed or ErrReadOnly: for good
	failure error  // the write failure the next Sync tries to repair
	idx     index  // sequence → segment offset, see Iter

	readOnly bool
	lock     *dirLock    // the writer's lock; nil when read-only
	head     *headWriter // the writer's high-water mark; nil when read-only
	pending  int64       // read-only: bytes after the last whole record
	stats    Stats       // counters; the derived fields are filled in by Stats
}

// Open opens the log in dir for writing, creating dir (mode 0700) and the
// log if needed. It first takes the directory's writer lock: if another Log
// holds it, in this process or another, Open fails with an error wrapping
// ErrLocked that names the holder's process id. Close (or the process's
// death) releases it.
//
// Open reads every record, checking checksums, hashes and the chain, and
// that the log reaches its high-water mark (HeadFile): a log whose newest
// committed records are gone fails with ErrLostTail. A torn tail — an
// incomplete or garbled last write, with no good record after it — is
// truncated, and the repair is logged. A segment that does not start with a
// record of this log fails with ErrNotSegment. Damage anywhere else is an
// error wrapping ErrCorrupt that names the record: a broken history is
// never repaired silently, and on any error nothing is changed.
func Open(dir string, opts Options) (*Log, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open event log: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open event log %s: %w", dir, err)
	}
	l, err := openWriter(dir, opts)
	if err != nil {
		lock.release()
		return nil, err
	}
	l.lock = lock
	return l, nil
}

// OpenReadOnly opens the log in dir for reading only, beside a writer that
// may be appending to it: it takes no lock and changes no byte. It checks
// the log as Open does, except that bytes after the last whole record of
// the last segment — a write in progress, or a torn tail that the writer's
// next Open will repair — are the end of the log, not a defect (Pending
// says how many). The Log sees the records there were when it was opened;
// Append and Sync fail with ErrReadOnly. A missing dir is an error.
func OpenReadOnly(dir string, opts Options) (*Log, error) {
	opts = opts.withDefaults()
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("open event log: %w", err)
	}
	res, err := scanFrom(dir, opts.Visit, opts.TrustBefore, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("open event log %s: %w", dir, err)
	}
	l := &Log{dir: dir, opts: opts, segs: res.segs, idx: res.idx, next: res.next, last: res.last, durable: res.next,
		readOnly: true, err: ErrReadOnly}
	if res.tornAt >= 0 {
		l.pending = res.tornSize
	}
	return l, nil
}

// ErrReadOnly is returned by Append and Sync on a Log opened with
// OpenReadOnly.
var ErrReadOnly = errors.New("event log opened read-only")

// ErrWriteFailed is wrapped by the errors of a write to disk that failed —
// a write, fsync, rollover or high-water mark update — and by Append's
// refusal while the Log is in that failed state. The next Sync tries again.
var ErrWriteFailed = errors.New("event log write failed")

// writeFailure is a failed write: its text is the cause's, and errors.Is
// sees ErrWriteFailed too.
type writeFailure struct{ err error }

func (w *writeFailure) Error() string   { return w.err.Error() }
func (w *writeFailure) Unwrap() []error { return []error{ErrWriteFailed, w.err} }

func (o Options) withDefaults() Options {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// openWriter opens the log in dir, whose lock the caller holds.
func openWriter(dir string, opts Options) (*Log, error) {
	res, err := scanFrom(dir, opts.Visit, opts.TrustBefore, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("open event log %s: %w", dir, err)
	}
	l := &Log{dir: dir, opts: opts, segs: res.segs, idx: res.idx, next: res.next, last: res.last, durable: res.next}
	hw, err := openHeadWriter(dir)
	if err != nil {
		return nil, fmt.Errorf("open event log: %w", err)
	}
	if err := l.openTail(hw, res); err != nil {
		hw.close()
		return nil, err
	}
	l.head = hw
	l.writeSeals(res)
	return l, nil
}

// writeSeals writes the seals that the segments read by Open's scan lack
// (a log written before seals, or a rollover a crash cut short) or that
// do not match what the scan found there. A seal it cannot write is
// logged: the next Open reads the segment.
func (l *Log) writeSeals(res *scanResult) {
	for j, s := range res.sealed {
		sg := l.segs[res.trusted+j]
		if old, err := readSeal(sg.path); err == nil && old == s {
			continue
		}
		if err := writeSeal(sg.path, s); err != nil {
			l.opts.Logger.Warn("event log seal not written", "segment", filepath.Base(sg.path), "err", err)
		}
	}
}

// openTail makes the high-water mark durable, then opens the last segment
// for appending (repairing a torn tail) or starts the first one.
func (l *Log) openTail(hw *headWriter, res *scanResult) error {
	// The mark is made durable now, for a log that had none and for one
	// that runs past its (lagging) mark.
	if err := hw.write(head{committed: res.next, last: res.last}, true); err != nil {
		return fmt.Errorf("open event log: high-water mark: %w", err)
	}
	if len(l.segs) == 0 {
		return l.newSegment()
	}
	cur := l.segs[len(l.segs)-1]
	f, err := os.OpenFile(cur.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open event log: %w", err)
	}
	if res.tornAt >= 0 {
		err := f.Truncate(res.tornAt)
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("open event log: repair torn tail: %w", err)
		}
		l.opts.Logger.Warn("event log torn tail repaired", "segment", filepath.Base(cur.path),
			"offset", res.tornAt, "bytes_dropped", res.tornSize, "last_sequence", int64(res.next)-1, "defect", res.tornWhy.Error())
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return fmt.Errorf("open event log: %w", err)
	}
	l.seg, l.size, l.synced = f, end, end
	return nil
}

// newSegment starts a segment whose first record is l.next, and makes its
// name durable in the directory. On failure the current segment stays the
// one appended to; a file left behind by an earlier failed attempt (its
// name is no segment's of the log yet) is reused.
func (l *Log) newSegment() error {
	if l.seg != nil {
		// At a rollover every record is durable: the mark is made durable
		// with them first, so losing a whole segment is always caught.
		err := l.fault("mark")
		if err == nil {
			err = l.head.write(head{committed: l.durable, last: l.last}, true)
		}
		if err != nil {
			return fmt.Errorf("event log: high-water mark: %w", err)
		}
	}
	if l.seg != nil {
		// The segment ends here: its seal is durable before the next
		// segment exists (see seal).
		cur := l.segs[len(l.segs)-1]
		if err := writeSeal(cur.path, seal{next: l.next, size: l.synced, last: l.last}); err != nil {
			return fmt.Errorf("event log: seal %s: %w", filepath.Base(cur.path), err)
		}
	}
	path := filepath.Join(l.dir, segmentName(l.next))
	err := l.fault("segment")
	var f *os.File
	if err == nil {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	}
	if err != nil {
		return fmt.Errorf("event log: new segment: %w", err)
	}
	if err := syncDir(l.dir); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("event log: new segment: %w", err)
	}
	if l.seg != nil {
		l.seg.Close()
	}
	l.seg, l.size, l.synced = f, 0, 0
	l.segs = append(l.segs, segment{first: l.next, path: path})
	return nil
}

// fault asks Options.Fault about a write.
func (l *Log) fault(op string) error {
	if l.opts.Fault == nil {
		return nil
	}
	return l.opts.Fault(op)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Append adds a record with the next sequence number (see Last) and the
// previous record's hash, and returns its hash. The record is buffered: it
// is durable only after Sync. An error means the record was not added; one
// wrapping ErrWriteFailed says the log is in its failed state (see Log), and
// the same record may be appended again after a Sync succeeds.
func (l *Log) Append(seq uint64, t time.Time, typ string, payload []byte) ([32]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return [32]byte{}, l.err
	}
	if l.failure != nil {
		return [32]byte{}, l.failure
	}
	if seq != l.next {
		return [32]byte{}, fmt.Errorf("event log: append %d: the next sequence is %d", seq, l.next)
	}
	if l.size >= l.opts.SegmentBytes && l.size > 0 {
		if err := l.flush(); err != nil {
			return [32]byte{}, err
		}
		if err := l.newSegment(); err != nil {
			return [32]byte{}, l.fail(err)
		}
	}
	r := Record{Seq: seq, Time: t, Type: typ, Payload: payload, Prev: l.last}
	offset := l.size
	before := len(l.buf)
	buf, err := r.encode(l.buf)
	if err != nil {
		l.buf = buf[:before]
		return [32]byte{}, err
	}
	l.buf = buf
	l.size += int64(len(l.buf) - before)
	l.stats.Appends++
	l.idx.add(seq, len(l.segs)-1, offset)
	l.next++
	l.last = r.Hash
	if len(l.buf) >= maxBuffered {
		// The record is added either way: a failure here is the Log's
		// state, reported by the next Append or Sync.
		_ = l.flush()
	}
	return r.Hash, nil
}

// Sync writes out everything appended and fsyncs it. When it returns nil,
// every record appended before the call is durable. On a Log in its failed
// state it first repairs the current segment (see Log); an error wrapping
// ErrWriteFailed means the log is still failed and Sync may be tried again.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	return l.flush()
}

// flush makes every appended record durable: it writes the bytes not yet
// durable after the segment's last durable byte, fsyncs the segment and
// updates the high-water mark. After a failure it first reopens the
// segment and cuts it back to that byte, so what a failed write left there
// (part of a record, or bytes an fsync error may have dropped from the
// page cache) is written again from memory. Called with l.mu held.
func (l *Log) flush() error {
	if l.failure == nil && l.durable == l.next {
		return nil
	}
	start := time.Now()
	if l.failure != nil {
		if err := l.reopen(); err != nil {
			return l.fail(fmt.Errorf("event log: reopen %s: %w", filepath.Base(l.seg.Name()), err))
		}
	}
	if len(l.buf) > 0 {
		err := l.fault("write")
		if err == nil {
			_, err = l.seg.WriteAt(l.buf, l.synced)
		}
		if err != nil {
			return l.fail(fmt.Errorf("event log: write: %w", err))
		}
		l.stats.Bytes += uint64(len(l.buf))
	}
	err := l.fault("fsync")
	if err == nil {
		err = l.seg.Sync()
	}
	if err != nil {
		return l.fail(fmt.Errorf("event log: fsync: %w", err))
	}
	l.synced += int64(len(l.buf))
	l.buf = l.buf[:0]
	l.durable = l.next
	// The mark follows the fsync, so it never runs ahead of the log; it is
	// not fsynced itself (see HeadFile).
	err = l.fault("mark")
	if err == nil {
		err = l.head.write(head{committed: l.durable, last: l.last}, false)
	}
	if err != nil {
		return l.fail(fmt.Errorf("event log: high-water mark: %w", err))
	}
	if l.failure != nil {
		l.opts.Logger.Info("event log writable again", "durable", l.durable)
		l.failure = nil
	}
	l.stats.Syncs++
	l.stats.SyncSeconds.observe(time.Since(start))
	return nil
}

// reopen opens the current segment again and cuts it back to its last
// durable byte; cutting needs no free space.
func (l *Log) reopen() error {
	f, err := os.OpenFile(l.segs[len(l.segs)-1].path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Truncate(l.synced); err != nil {
		f.Close()
		return err
	}
	l.seg.Close()
	l.seg = f
	return nil
}

// fail puts the Log in its failed state with err, and returns it.
func (l *Log) fail(err error) error {
	if l.failure == nil {
		l.stats.WriteFailures++
	}
	l.failure = &writeFailure{err}
	return l.failure
}

// Durable is the number of durable records: sequence numbers below it are
// on disk and synced.
func (l *Log) Durable() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durable
}

// Last returns the sequence number the next record must have and the hash
// of the last record (zero for an empty log).
func (l *Log) Last() (next uint64, hash [32]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next, l.last
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// Pending is, for a Log opened read-only, the bytes after the last whole
// record of the last segment: a write in progress or a torn tail, left
// alone. It is 0 for a writable Log.
func (l *Log) Pending() int64 { return l.pending }

// Close syncs what was appended, makes the high-water mark durable, closes
// the log and releases its lock. It is idempotent; a sync failure is
// returned.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if errors.Is(l.err, ErrClosed) {
		return nil
	}
	if l.readOnly {
		l.err = ErrClosed
		return nil
	}
	// A Log in its failed state tries once more; what it cannot make
	// durable is a torn tail for the next Open.
	err := l.flush()
	if err == nil {
		err = l.head.write(head{committed: l.durable, last: l.last}, true)
	}
	if cerr := l.seg.Close(); err == nil {
		err = cerr
	}
	if cerr := l.head.close(); err == nil {
		err = cerr
	}
	if cerr := l.lock.release(); err == nil {
		err = cerr
	}
	l.err = ErrClosed
	return err
}
