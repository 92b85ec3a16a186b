package edge

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
)

// ErrChain is wrapped by a chain failure: a message that is not the next
// sequence or does not link to the previous one's hash.
var ErrChain = errors.New("stream chain broken")

// isHash says s is a record hash: 64 hex digits.
func isHash(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32
}

// verify checks message m: it must be stream sequence want (any, if 0),
// name that sequence, link to prev (any, if ""), and hold that event.
// It returns the event, with its payload and link, and its hash.
func verify(m jetstream.Msg, want uint64, prev string) (entry, string, error) {
	seq, hash, err := verifyLink(m, want, prev)
	if err != nil {
		return entry{}, "", err
	}
	h := m.Headers()
	var ev arena.Event
	if err := json.NewDecoder(bytes.NewReader(m.Data())).Decode(&ev); err != nil {
		return entry{}, "", fmt.Errorf("%w: event %d: %v", ErrChain, seq, err)
	}
	if ev.Seq != seq {
		return entry{}, "", fmt.Errorf("%w: stream message %d holds event %d", ErrChain, seq, ev.Seq)
	}
	// The payload is copied out: m.Data() shares its array with the
	// message's headers, which the ring need not keep.
	return entry{ev: ev, raw: bytes.Clone(m.Data()), prev: h.Get(HeaderPrev)}, hash, nil
}

// verifyLink is verify without decoding the event: the message is the
// record of event want (any, if 0) that links to prev (any, if ""). It
// returns its sequence and hash.
func verifyLink(m jetstream.Msg, want uint64, prev string) (uint64, string, error) {
	meta, err := m.Metadata()
	if err != nil {
		return 0, "", fmt.Errorf("message metadata: %w", err)
	}
	seq := meta.Sequence.Stream
	h := m.Headers()
	hash := h.Get(HeaderHash)
	switch {
	case want != 0 && seq != want:
		return 0, "", fmt.Errorf("%w: stream sequence %d where %d was next", ErrChain, seq, want)
	case h.Get(HeaderSeq) != strconv.FormatUint(seq, 10):
		return 0, "", fmt.Errorf("%w: stream message %d says it is event %q", ErrChain, seq, h.Get(HeaderSeq))
	case prev != "" && h.Get(HeaderPrev) != prev:
		return 0, "", fmt.Errorf("%w: event %d links to %q, event %d's hash is %s", ErrChain, seq, h.Get(HeaderPrev), seq-1, prev)
	case !isHash(hash):
		return 0, "", fmt.Errorf("%w: event %d has hash %q", ErrChain, seq, hash)
	}
	if err := checkHash(h, seq, m.Data(), hash); err != nil {
		return 0, "", err
	}
	return seq, hash, nil
}

// checkHash recomputes the record hash of event seq from its headers (its
// time, type and link) and payload, as the event log computed it, and
// compares it with hash: a message whose content is not the logged
// record's is refused even when its link is right.
func checkHash(h nats.Header, seq uint64, payload []byte, hash string) error {
	nanos, err := strconv.ParseInt(h.Get(HeaderTime), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: event %d has time %q", ErrChain, seq, h.Get(HeaderTime))
	}
	prevHex, err := hex.DecodeString(h.Get(HeaderPrev))
	if err != nil || len(prevHex) != 32 {
		return fmt.Errorf("%w: event %d links to %q", ErrChain, seq, h.Get(HeaderPrev))
	}
	var prev [32]byte
	copy(prev[:], prevHex)
	sum := eventlog.Hash(seq, time.Unix(0, nanos), h.Get(HeaderType), prev, payload)
	if hex.EncodeToString(sum[:]) != hash {
		return fmt.Errorf("%w: event %d does not hash to its %s header", ErrChain, seq, HeaderHash)
	}
	return nil
}

// inBatch says a message is part of an atomic batch and not its last:
// natspub publishes every step as one or more batches, each ended by its
// commit. A message of no batch stands alone.
func inBatch(h nats.Header) bool {
	return h.Get(hdrBatchID) != "" && h.Get(hdrBatchCommit) != "1"
}
