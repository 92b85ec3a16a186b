package natspub

import (
	"bytes"
	"context"
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

// SnapshotObject is the name of the object that holds the latest snapshot
// in the snapshot bucket (an Object Store). Its headers say where in the
// stream it stands: HeaderSeq is the last event it includes (0: none) and
// HeaderHash that event's record hash (for 0, the genesis record's), the
// anchor of the chain an edge checks from there.
const SnapshotObject = "snapshot"

// DefaultSnapshotInterval is Config.SnapshotInterval's default.
const DefaultSnapshotInterval = 10 * time.Second

// pendingSnap is the newest snapshot not written yet.
type pendingSnap struct {
	snap  *arena.Snapshot
	steps int // steps committed since the last snapshot written
}

// offerSnapshot keeps snap as the one to write next and writes it when it
// is due: on the first offer, then once SnapshotInterval has passed or
// SnapshotSteps steps were committed since the last one written. It is
// written only once every event it includes is in the stream; a failed
// write is counted and logged, and tried again with the next offer.
func (p *Publisher) offerSnapshot(ctx context.Context, snap *arena.Snapshot) {
	if p.cfg.SnapshotInterval < 0 {
		return
	}
	if snap != nil {
		p.snap.snap = snap
		p.snap.steps++
	}
	s := p.snap.snap
	if s == nil || s.NextSeq == 0 || s.NextSeq-1 >= p.next {
		return // none, or ahead of the stream
	}
	due := p.snapAt.IsZero() || time.Since(p.snapAt) >= p.cfg.SnapshotInterval ||
		(p.cfg.SnapshotSteps > 0 && p.snap.steps >= p.cfg.SnapshotSteps)
	if !due {
		return
	}
	if err := p.writeSnapshot(ctx, s); err != nil {
		p.snapErrs.Add(1)
		p.cfg.Logger.Warn("jetstream snapshot not written", "bucket", p.cfg.SnapshotBucket, "sequence", s.NextSeq-1, "err", err)
		return
	}
	p.snap = pendingSnap{}
	p.snapAt = time.Now()
}

// writeSnapshot puts s, as JSON, in the snapshot bucket (created if
// missing), tagged with its sequence and that event's hash.
func (p *Publisher) writeSnapshot(ctx context.Context, s *arena.Snapshot) error {
	seq := s.NextSeq - 1
	var hash [32]byte
	found := false
	if err := p.e.History().Records(seq, seq+1, func(r eventlog.Record) error {
		hash, found = r.Hash, true
		return nil
	}); err != nil || !found {
		return fmt.Errorf("read record %d from the log: %v", seq, errors.Join(err, errors.New("not found")))
	}
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.AckTimeout+time.Duration(len(data)>>20)*time.Second)
	defer cancel()
	if p.obs == nil {
		obs, err := p.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      p.cfg.SnapshotBucket,
			Description: "Lineage run " + p.cfg.RunID + ": the arena's latest snapshot, tagged with its sequence",
			Storage:     jetstream.FileStorage,
			Replicas:    p.cfg.Replicas,
			Metadata:    map[string]string{metaRun: p.cfg.RunID, metaGenesis: hex.EncodeToString(p.genesis[:])},
		})
		if err != nil {
			return fmt.Errorf("object store %s: %w", p.cfg.SnapshotBucket, err)
		}
		p.obs = obs
	}
	h := nats.Header{}
	h.Set(HeaderSeq, strconv.FormatUint(seq, 10))
	h.Set(HeaderHash, hex.EncodeToString(hash[:]))
	if _, err := p.obs.Put(ctx, jetstream.ObjectMeta{Name: SnapshotObject, Headers: h}, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("put snapshot %d: %w", seq, err)
	}
	p.snapshots.Add(1)
	p.snapSeq.Store(seq)
	return nil
}
