package eventlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// A seal is written beside a segment when the log rolls over to the next
// one: <first>.seal, 56 bytes, fsynced before the next segment exists:
//
//	magic "LSEL" | next uint64 BE | size int64 BE | last [32]byte | crc uint32 BE (CRC-32C of the 52 bytes before it)
//
// next is the sequence of the next segment's first record, size the
// segment's length in bytes and last the hash of its last record. A
// segment with a seal that matches — its name, its size, and the next
// segment's first record pointing at last — is trusted by an Open given
// Options.TrustBefore without reading it: the recovery point of Kafka's
// logs, where only the segments after it are scanned.
const sealExt = ".seal"

const sealSize = 56

var sealMagic = []byte("LSEL")

// seal is a decoded seal.
type seal struct {
	next uint64
	size int64
	last [32]byte
}

func sealPath(segPath string) string { return strings.TrimSuffix(segPath, segExt) + sealExt }

func (s seal) encode() []byte {
	b := make([]byte, 0, sealSize)
	b = append(b, sealMagic...)
	b = binary.BigEndian.AppendUint64(b, s.next)
	b = binary.BigEndian.AppendUint64(b, uint64(s.size))
	b = append(b, s.last[:]...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// readSeal reads the seal of the segment at segPath.
func readSeal(segPath string) (seal, error) {
	b, err := os.ReadFile(sealPath(segPath))
	if err != nil {
		return seal{}, err
	}
	if len(b) != sealSize || !bytes.Equal(b[:4], sealMagic) || crc32.Checksum(b[:52], castagnoli) != binary.BigEndian.Uint32(b[52:]) {
		return seal{}, errors.New("not a seal")
	}
	var s seal
	s.next = binary.BigEndian.Uint64(b[4:])
	s.size = int64(binary.BigEndian.Uint64(b[12:]))
	copy(s.last[:], b[20:52])
	return s, nil
}

// writeSeal makes s durable as the seal of the segment at segPath.
func writeSeal(segPath string, s seal) error {
	f, err := os.OpenFile(sealPath(segPath), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(s.encode())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// firstRecord reads and checks the first record of the segment at path.
func firstRecord(path string) (Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return Record{}, err
	}
	defer f.Close()
	fr := newFrameReader(io.LimitReader(f, frameHeader+maxBody))
	rec, err := fr.next()
	if err != nil {
		return Record{}, err
	}
	rec.Payload = bytes.Clone(rec.Payload)
	return rec, nil
}

// trusted decides how many of segs, from the first, a scan may take on
// their seals without reading them: those whose records all lie before
// before (and before the high-water mark's count, markAt, if any). Each is
// checked cheaply: its seal decodes, names the next segment's first record
// and the segment's size, and that record — read, checksum and hash
// checked — points at the seal's last hash (the first segment's first
// record must be record 0 with no predecessor). It returns the count, the
// seals and the log's first record (to be visited), or why a seal does not
// hold: then the caller scans every segment.
func trusted(segs []segment, before, markAt uint64, hasHead bool) (int, []seal, Record, error) {
	var seals []seal
	var first Record
	limit := before
	if hasHead {
		limit = min(limit, markAt)
	}
	prev := [32]byte{}
	for i := 0; i+1 < len(segs) && segs[i+1].first <= limit; i++ {
		sg := segs[i]
		rec, err := firstRecord(sg.path)
		if err != nil || rec.Seq != sg.first || rec.Prev != prev {
			return 0, nil, Record{}, fmt.Errorf("segment %s: its first record does not follow the seal before it (%v)", filepath.Base(sg.path), err)
		}
		if i == 0 {
			first = rec
		}
		s, err := readSeal(sg.path)
		if errors.Is(err, os.ErrNotExist) {
			break // a log written before seals: scanned from here
		}
		if err != nil {
			return 0, nil, Record{}, fmt.Errorf("segment %s: seal: %w", filepath.Base(sg.path), err)
		}
		st, err := os.Stat(sg.path)
		if err != nil {
			return 0, nil, Record{}, err
		}
		if s.next != segs[i+1].first || s.size != st.Size() {
			return 0, nil, Record{}, fmt.Errorf("segment %s is %d bytes before record %d; its seal says %d bytes before record %d",
				filepath.Base(sg.path), st.Size(), segs[i+1].first, s.size, s.next)
		}
		seals = append(seals, s)
		prev = s.last
	}
	if n := len(seals); n > 0 {
		// The link from the last trusted segment to the first scanned one.
		nx := segs[n]
		rec, err := firstRecord(nx.path)
		if err != nil || rec.Seq != nx.first || rec.Prev != prev {
			return 0, nil, Record{}, fmt.Errorf("segment %s: its first record does not follow the seal before it (%v)", filepath.Base(nx.path), err)
		}
	}
	return len(seals), seals, first, nil
}
