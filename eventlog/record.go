// Package eventlog is Lineage's permanent history: an append-only,
// hash-chained, checksummed log of every event, kept in segment files in a
// data directory.
//
// On disk a log is a sequence of segment files named after the sequence
// number of their first record (00000000000000000000.seg, ...). A segment is
// a run of records, each framed as
//
//	length  uint32 big-endian: bytes of body
//	crc     uint32 big-endian: CRC-32C (Castagnoli) of body
//	body    seq uint64 | unix nanos int64 | type length uint8 | type |
//	        prev [32]byte | payload | hash [32]byte
//
// where hash = SHA-256(seq | nanos | type length | type | prev | payload),
// that is SHA-256 of the body without its last 32 bytes, and prev is the
// previous record's hash (32 zero bytes for the first). The CRC tells a
// torn or garbled write from a record; the chain tells any edit, insertion
// or deletion from history. Sequence numbers start at 0 and have no gaps.
package eventlog

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// Record is one entry of the log.
type Record struct {
	Seq     uint64
	Time    time.Time
	Type    string
	Payload []byte
	Prev    [32]byte // hash of the previous record
	Hash    [32]byte // SHA-256 of this record's fields and Prev
}

// Limits of a record, so a corrupt length cannot make a reader allocate
// without bound.
const (
	MaxPayload  = 4 << 20
	MaxType     = 64
	frameHeader = 8
	bodyFixed   = 8 + 8 + 1 + 32 + 32 // seq, nanos, type length, prev, hash
	maxBody     = bodyFixed + MaxType + MaxPayload
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors callers branch on.
var (
	// ErrCorrupt reports a record that fails its checksum or its chain, or a
	// sequence gap, anywhere but the torn tail that Open repairs.
	ErrCorrupt = errors.New("corrupt event log")
	// ErrClosed is returned by a closed Log.
	ErrClosed = errors.New("event log closed")
)

// Hash is the hash a record with these fields has in the log: SHA-256
// over its sequence and time (big-endian uint64s, the time in Unix
// nanoseconds), its type's length (one byte) and bytes, the previous
// record's hash and the payload. A copy of a record that travels without
// the log (a JetStream message, say) can be checked with it.
func Hash(seq uint64, t time.Time, typ string, prev [32]byte, payload []byte) [32]byte {
	h := sha256.New()
	var fixed [17]byte
	binary.BigEndian.PutUint64(fixed[:], seq)
	binary.BigEndian.PutUint64(fixed[8:], uint64(t.UnixNano()))
	fixed[16] = byte(len(typ))
	h.Write(fixed[:])
	h.Write([]byte(typ))
	h.Write(prev[:])
	h.Write(payload)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// encode appends r's frame to dst, computing r.Hash from its fields and
// r.Prev (the bytes Hash hashes).
func (r *Record) encode(dst []byte) ([]byte, error) {
	if len(r.Type) == 0 || len(r.Type) > MaxType {
		return dst, fmt.Errorf("record %d: type %q must be 1..%d bytes", r.Seq, r.Type, MaxType)
	}
	if len(r.Payload) > MaxPayload {
		return dst, fmt.Errorf("record %d: payload of %d bytes exceeds %d", r.Seq, len(r.Payload), MaxPayload)
	}
	n := bodyFixed + len(r.Type) + len(r.Payload)
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
	body := len(dst)
	dst = binary.BigEndian.AppendUint64(dst, r.Seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.Time.UnixNano()))
	dst = append(dst, byte(len(r.Type)))
	dst = append(dst, r.Type...)
	dst = append(dst, r.Prev[:]...)
	dst = append(dst, r.Payload...)
	r.Hash = sha256.Sum256(dst[body:])
	dst = append(dst, r.Hash[:]...)
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(dst[body:], castagnoli))
	return dst, nil
}

// decodeBody parses a body whose CRC has been checked, and checks its hash.
// The payload aliases body.
func decodeBody(body []byte) (Record, error) {
	var r Record
	if len(body) < bodyFixed {
		return r, errors.New("body too short")
	}
	r.Seq = binary.BigEndian.Uint64(body)
	r.Time = time.Unix(0, int64(binary.BigEndian.Uint64(body[8:]))).UTC()
	tl := int(body[16])
	if tl == 0 || len(body) < bodyFixed+tl {
		return r, fmt.Errorf("record %d: bad type length %d", r.Seq, tl)
	}
	r.Type = string(body[17 : 17+tl])
	copy(r.Prev[:], body[17+tl:])
	r.Payload = body[17+tl+32 : len(body)-32]
	copy(r.Hash[:], body[len(body)-32:])
	if sha256.Sum256(body[:len(body)-32]) != r.Hash {
		return r, fmt.Errorf("record %d: hash does not match its contents", r.Seq)
	}
	return r, nil
}
