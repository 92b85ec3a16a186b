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
}

// DefaultSegmentBytes is the size at which a new segment starts.
const DefaultSegmentBytes = 64 << 20

// maxBuffered bounds the bytes appended but not yet written: past it,
// Append writes them out (still not durable until Sync).
const maxBuffered = 4 << 20

// Log is an open event log. Append and Sync are for one writer goroutine;
// only one Log at a time may have a directory open for writing (see
// ErrLocked); any number may have it open read-only (OpenReadOnly).
// Durable, Last and Iter may be called from any goroutine. An event is
// durable — and may be acknowledged — once a Sync that began after its
// Append has returned nil. A failed write or fsync makes the Log refuse
// every later Append and Sync with the same error: what was written and not
// synced is a torn tail that the next Open truncates, so the log on disk is
// never left corrupt.
type Log struct {
	dir  string
	opts Options

	mu      sync.Mutex
	seg     *os.File
	segs    []segment
	size    int64 // bytes of the current segment, buffered ones included
	buf     []byte
	next    uint64 // sequence of the next record
	last    [32]byte
	durable uint64 // records [0, durable) are on disk and synced
	err     error  // sticky write failure, or ErrClosed
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
	res, err := scan(dir, opts.Visit)
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
	res, err := scan(dir, opts.Visit)
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
	return l, nil
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
	l.seg, l.size = f, end
	return nil
}

// newSegment starts a segment whose first record is l.next, and makes its
// name durable in the directory.
func (l *Log) newSegment() error {
	path := filepath.Join(l.dir, segmentName(l.next))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("event log: new segment: %w", err)
	}
	if err := syncDir(l.dir); err != nil {
		f.Close()
		return fmt.Errorf("event log: new segment: %w", err)
	}
	if l.seg != nil {
		// At a rollover every record is durable: the mark is made durable
		// with them, so losing a whole segment is always caught.
		if err := l.head.write(head{committed: l.durable, last: l.last}, true); err != nil {
			f.Close()
			return fmt.Errorf("event log: high-water mark: %w", err)
		}
		l.seg.Close()
	}
	l.seg, l.size = f, 0
	l.segs = append(l.segs, segment{first: l.next, path: path})
	return nil
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
// is durable only after Sync.
func (l *Log) Append(seq uint64, t time.Time, typ string, payload []byte) ([32]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return [32]byte{}, l.err
	}
	if seq != l.next {
		return [32]byte{}, fmt.Errorf("event log: append %d: the next sequence is %d", seq, l.next)
	}
	if l.size >= l.opts.SegmentBytes && l.size > 0 {
		if err := l.flush(true); err != nil {
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
		if err := l.flush(false); err != nil {
			return [32]byte{}, err
		}
	}
	return r.Hash, nil
}

// Sync writes out everything appended and fsyncs it. When it returns nil,
// every record appended before the call is durable.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	return l.flush(true)
}

// flush writes the buffer and, if sync, fsyncs the segment. A failure is
// sticky. Called with l.mu held.
func (l *Log) flush(sync bool) error {
	start := time.Now()
	if len(l.buf) > 0 {
		if _, err := l.seg.Write(l.buf); err != nil {
			return l.fail(fmt.Errorf("event log: write: %w", err))
		}
		l.stats.Bytes += uint64(len(l.buf))
		l.buf = l.buf[:0]
	}
	if sync && l.durable < l.next {
		if err := l.seg.Sync(); err != nil {
			return l.fail(fmt.Errorf("event log: fsync: %w", err))
		}
		l.durable = l.next
		// The mark follows the fsync, so it never runs ahead of the log;
		// it is not fsynced itself (see HeadFile).
		if err := l.head.write(head{committed: l.durable, last: l.last}, false); err != nil {
			return l.fail(fmt.Errorf("event log: high-water mark: %w", err))
		}
		l.stats.Syncs++
		l.stats.SyncSeconds.observe(time.Since(start))
	}
	return nil
}

func (l *Log) fail(err error) error {
	l.err = err
	return err
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
	var err error
	if l.err == nil {
		err = l.flush(true)
		if err == nil {
			err = l.head.write(head{committed: l.durable, last: l.last}, true)
		}
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
