package eventlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// HeadFile is the log's high-water mark: the number of committed records
// and the hash of the last of them, kept beside the segments so that a log
// whose newest records were lost — a segment cut at a record boundary, or
// deleted — is refused rather than resumed with their sequence numbers
// issued again.
//
// It is 48 bytes, rewritten in place after every group commit (one pwrite,
// no fsync of its own), and fsynced at every segment rollover and at Close:
//
//	magic "LHWM" | committed uint64 BE | hash [32]byte | crc uint32 BE (CRC-32C of the 44 bytes before it)
//
// It never runs ahead of the log: it is written only after the segment's
// fsync returned. After a power loss it may lag behind (by what was
// committed since the last writeback of the page cache); then the check is
// weaker for that tail, never wrong.
const HeadFile = "HEAD"

const headSize = 48

var headMagic = []byte("LHWM")

// ErrLostTail reports a log that ends before a record its high-water mark
// says was committed (it wraps ErrCorrupt too).
var ErrLostTail = errors.New("committed records are missing")

// head is a decoded high-water mark: records [0, committed) were durable,
// and record committed-1 had hash last.
type head struct {
	committed uint64
	last      [32]byte
}

func (h head) encode() []byte {
	b := make([]byte, 0, headSize)
	b = append(b, headMagic...)
	b = binary.BigEndian.AppendUint64(b, h.committed)
	b = append(b, h.last[:]...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeHead(b []byte) (head, bool) {
	if len(b) != headSize || !bytes.Equal(b[:4], headMagic) || crc32.Checksum(b[:44], castagnoli) != binary.BigEndian.Uint32(b[44:]) {
		return head{}, false
	}
	var h head
	h.committed = binary.BigEndian.Uint64(b[4:])
	copy(h.last[:], b[12:44])
	return h, true
}

// readHead reads dir's high-water mark; ok is false when there is none (a
// new log, or one written before the mark existed). A read that races the
// writer's in-place update may see a mix of two marks: it is read again.
func readHead(dir string) (h head, ok bool, err error) {
	path := filepath.Join(dir, HeadFile)
	for range 5 {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return head{}, false, nil
		}
		if err != nil {
			return head{}, false, err
		}
		if h, ok := decodeHead(b); ok {
			return h, true, nil
		}
	}
	return head{}, false, fmt.Errorf("%w: %s is damaged (not a high-water mark)", ErrCorrupt, path)
}

// checkHead compares what a scan found with the high-water mark.
func checkHead(h head, res *scanResult) error {
	if res.next < h.committed {
		return fmt.Errorf("%w: %w: log ends at sequence %d but sequence %d was committed", ErrCorrupt, ErrLostTail,
			int64(res.next)-1, h.committed-1)
	}
	if h.committed > 0 && res.markHash != h.last {
		return fmt.Errorf("%w: record %d is not the record that was committed (its hash differs from %s)",
			ErrCorrupt, h.committed-1, HeadFile)
	}
	return nil
}

// headWriter keeps the high-water mark of an open, writable log.
type headWriter struct{ f *os.File }

func openHeadWriter(dir string) (*headWriter, error) {
	f, err := os.OpenFile(filepath.Join(dir, HeadFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &headWriter{f: f}, nil
}

// write records h; with sync it is made durable too.
func (w *headWriter) write(h head, sync bool) error {
	if _, err := w.f.WriteAt(h.encode(), 0); err != nil {
		return err
	}
	if sync {
		return w.f.Sync()
	}
	return nil
}

func (w *headWriter) close() error {
	if w == nil || w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
