package natspub_test

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"strconv"
	"testing"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/natspub"
)

// Snapshots reach the Object Store on start and every SnapshotSteps steps,
// tagged with their sequence and that record's hash, and never ahead of
// the stream: the events a snapshot includes are in the stream when it is
// written.
func TestSnapshotsTaggedAndNeverAheadOfTheStream(t *testing.T) {
	ns := startNATS(t, t.TempDir(), 0)
	r := newRun(t)
	p := mustOpen(t, r, natspub.Config{URL: ns.ClientURL(), Stream: "RUN", Subject: "run.events", SnapshotBucket: "SNAP",
		SnapshotInterval: 1 << 40, SnapshotSteps: 5})
	waitFor(t, "snapshot on start", func() bool { return p.Stats().Snapshots >= 1 })
	r.stepN(t, 22)
	waitCaughtUp(t, p, r)
	s := p.Stats()
	if s.Snapshots < 1+22/5-1 || s.SnapshotErrors != 0 || s.SnapshotSeq > s.Published || s.SnapshotSeq == 0 {
		t.Fatalf("stats %+v: want a snapshot on start and one every 5 steps, none ahead of the stream", s)
	}
	js := jsClient(t, ns)
	obs, err := js.ObjectStore(t.Context(), "SNAP")
	if err != nil {
		t.Fatal(err)
	}
	res, err := obs.Get(t.Context(), natspub.SnapshotObject)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	info, err := res.Info()
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(res)
	if err != nil {
		t.Fatal(err)
	}
	var snap arena.Snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		t.Fatal(err)
	}
	seq, err := strconv.ParseUint(info.Headers.Get(natspub.HeaderSeq), 10, 64)
	if err != nil || seq != snap.NextSeq-1 || seq != s.SnapshotSeq {
		t.Fatalf("snapshot tagged %q, holds events up to %d, stats say %d", info.Headers.Get(natspub.HeaderSeq), snap.NextSeq-1, s.SnapshotSeq)
	}
	var hash [32]byte
	r.e.History().Records(seq, seq+1, func(rec eventlog.Record) error { hash = rec.Hash; return nil })
	if got := info.Headers.Get(natspub.HeaderHash); got != hex.EncodeToString(hash[:]) {
		t.Errorf("snapshot %d hash %s, the log's record has %x", seq, got, hash)
	}
	if len(snap.Agents) == 0 || len(snap.Marks) == 0 {
		t.Errorf("snapshot %d has %d agents and %d marks", seq, len(snap.Agents), len(snap.Marks))
	}
}
