package cli

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
)

// recklessRoster founds an agent that trades every tick at full risk and
// dies within a few thousand ticks, beside one that lives.
func recklessRoster(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "roster.json")
	body := `[{"name":"Reckless","strategy":"momentum","params":{"fast":2,"slow":3,"band":0,"risk":3}},
	          {"name":"Steady","strategy":"conservative"}]`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeRestartResumesTheRun stops a server after a death and starts it
// again on the same data dir: the rebuilt arena has the same ledger, the
// sequence continues without a gap, and the dead stay dead.
func TestServeRestartResumesTheRun(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "--data-dir", dir, "--roster", recklessRoster(t), "--seed", "1",
		"--tick-interval", "1ms", "--agent-interval", "50ms", "--round-ticks", "100")
	s.logs.waitFor(t, "msg=death", s.exited)
	if code := s.stop(); code != 0 {
		t.Fatalf("first run exited %d:\n%s", code, s.logs)
	}
	first := s.logs.String()
	hash := field(t, first, "shutting down", "ledger_hash")
	next := field(t, first, "shutting down", "next_sequence")

	s = startServer(t, "--data-dir", dir, "--tick-interval", "1ms", "--agent-interval", "50ms")
	s.logs.waitFor(t, "arena resumed", s.exited)
	resumed := s.logs.String()
	if got := field(t, resumed, "arena resumed", "ledger_hash"); got != hash {
		t.Errorf("rebuilt ledger hash %s, the first run ended with %s", got, hash)
	}
	if got := field(t, resumed, "arena resumed", "next_sequence"); got != next {
		t.Errorf("rebuilt next sequence %s, the first run ended at %s", got, next)
	}
	if got := field(t, resumed, "arena resumed", "seed"); got != "1" {
		t.Errorf("resumed with seed %s, want the stored 1", got)
	}
	s.logs.waitFor(t, "msg=round", s.exited) // a round after the restart
	if code := s.stop(); code != 0 {
		t.Fatalf("second run exited %d:\n%s", code, s.logs)
	}

	// The whole history verifies, and nothing happens to the dead.
	dead := map[string]uint64{}
	var records uint64
	err := eventlog.Walk(filepath.Join(dir, "events"), func(r eventlog.Record) error {
		records++
		if r.Seq == 0 {
			return nil
		}
		var e arena.Event
		if err := json.Unmarshal(r.Payload, &e); err != nil {
			return err
		}
		if e.Seq != r.Seq {
			return errors.New("event sequence differs from its record's")
		}
		var who string
		switch {
		case e.Death != nil:
			dead[e.Death.Agent] = e.Seq
			return nil
		case e.Trade != nil:
			who = e.Trade.Agent
		case e.Scar != nil:
			who = e.Scar.Agent
		case e.Agent != nil:
			who = e.Agent.ID
		}
		if at, ok := dead[who]; ok {
			t.Errorf("seq %d: %s appears in a %s event after dying at %d", e.Seq, who, e.Type, at)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk the log: %v", err)
	}
	if _, ok := dead["Reckless"]; !ok {
		t.Fatal("Reckless did not die: the test proves nothing about the dead")
	}
	if first, _ := strconv.ParseUint(next, 10, 64); records <= first {
		t.Errorf("the second run added nothing: %d records, %d after the first", records, first)
	}
}

func TestServeRefusesToChangeAStoredRun(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "--data-dir", dir, "--seed", "1", "--tick-interval", "1ms", "--round-ticks", "10")
	s.logs.waitFor(t, "msg=round", s.exited)
	s.stop()
	for _, args := range [][]string{
		{"--seed", "2"},
		{"--symbols", "BTC-USD"},
		{"--agents", "10"},
	} {
		r := runCmd(t, nil, append([]string{"serve", "--data-dir", dir}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "the data dir holds a run") {
			t.Errorf("serve %v on a stored run: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	// The same seed, given again, is no conflict.
	s = startServer(t, "--data-dir", dir, "--seed", "1", "--tick-interval", "1ms")
	s.logs.waitFor(t, "arena resumed", s.exited)
	if code := s.stop(); code != 0 {
		t.Errorf("resume with the stored seed exited %d:\n%s", code, s.logs)
	}
}

func TestServeRefusesABrokenHistory(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "--data-dir", dir, "--seed", "1", "--tick-interval", "1ms", "--round-ticks", "10")
	s.logs.waitFor(t, "msg=round", s.exited)
	s.stop()
	segs, _ := filepath.Glob(filepath.Join(dir, "events", "*.seg"))
	b, err := os.ReadFile(segs[0])
	if err != nil || len(b) < 2000 {
		t.Fatalf("segment: %d bytes, %v", len(b), err)
	}
	b[len(b)/2] ^= 0x20
	os.WriteFile(segs[0], b, 0o600)
	r := runCmd(t, nil, "serve", "--data-dir", dir, "--tick-interval", "1ms")
	if r.code != 1 || !strings.Contains(r.stderr, "corrupt event log") {
		t.Errorf("serve on a broken log: exit %d, stderr %q", r.code, r.stderr)
	}
}

// deadRun runs a server until Reckless dies and stops it, leaving a data
// dir with a death, its tombstone and a key.
func deadRun(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s := startServer(t, "--data-dir", dir, "--roster", recklessRoster(t), "--seed", "1",
		"--tick-interval", "1ms", "--round-ticks", "100")
	s.logs.waitFor(t, "msg=buried", s.exited)
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, s.logs)
	}
	return dir
}

func TestVerifyAndGraveyard(t *testing.T) {
	dir := deadRun(t)
	r := runCmd(t, nil, "verify", "--data-dir", dir)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ok: ") || !strings.Contains(r.stdout, "1 tombstones") {
		t.Fatalf("verify on a sound data dir: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCmd(t, nil, "graveyard", "--data-dir", dir, "--format", "json")
	var dead []struct {
		Agent string `json:"agent_id"`
		Cause string `json:"cause"`
		Hash  string `json:"last_event_hash"`
		Died  struct {
			Seq uint64 `json:"sequence"`
		} `json:"died"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &dead); err != nil || len(dead) != 1 || dead[0].Agent != "Reckless" {
		t.Fatalf("graveyard json: %v %+v\n%s", err, dead, r.stderr)
	}
	// The tombstone names the hash of the death's own record.
	var deathHash string
	eventlog.Walk(filepath.Join(dir, "events"), func(rec eventlog.Record) error {
		if rec.Seq == dead[0].Died.Seq {
			deathHash = hex.EncodeToString(rec.Hash[:])
		}
		return nil
	})
	if dead[0].Hash != deathHash || dead[0].Cause == "" {
		t.Errorf("tombstone hash %s cause %q; the death record's hash is %s", dead[0].Hash, dead[0].Cause, deathHash)
	}
	r = runCmd(t, nil, "graveyard", "--data-dir", dir)
	if !strings.Contains(r.stdout, "Reckless") || !strings.Contains(r.stdout, "CAUSE") {
		t.Errorf("graveyard table:\n%s", r.stdout)
	}
}

func TestVerifyNamesTheDefect(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"flipped byte mid-log", func(t *testing.T, dir string) {
			seg := segments(t, dir)[0]
			b, _ := os.ReadFile(seg)
			b[len(b)/2] ^= 0x01
			os.WriteFile(seg, b, 0o600)
		}, "after record"},
		{"committed record truncated mid-way", func(t *testing.T, dir string) {
			seg := segments(t, dir)[0]
			b, _ := os.ReadFile(seg)
			os.WriteFile(seg, b[:len(b)-10], 0o600)
		}, "was committed"},
		{"cut at a record boundary", func(t *testing.T, dir string) {
			seg := segments(t, dir)[0]
			b, _ := os.ReadFile(seg)
			os.WriteFile(seg, b[:frameOffset(b, 200)], 0o600)
		}, "log ends at sequence 199 but sequence"},
		{"last segment deleted", func(t *testing.T, dir string) {
			segs := segments(t, dir)
			os.Remove(segs[len(segs)-1])
		}, "was committed"},
		{"not a segment", func(t *testing.T, dir string) {
			os.WriteFile(segments(t, dir)[0], []byte("PK\x03\x04 some zip file, not a log"), 0o600)
		}, "not a Lineage event log segment"},
		{"tombstone edited", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "graveyard", "Reckless.tomb")
			b, _ := os.ReadFile(path)
			edited := strings.Replace(string(b), `"cause": "`, `"cause": "x`, 1)
			if edited == string(b) {
				t.Fatalf("no cause to edit in %s", b)
			}
			os.Chmod(path, 0o600)
			os.WriteFile(path, []byte(edited), 0o600)
		}, "Reckless.tomb"},
		{"tombstone deleted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "graveyard", "Reckless.tomb"))
		}, "Reckless"},
		{"key deleted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "graveyard.key"))
		}, "graveyard.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := deadRun(t)
			tt.damage(t, dir)
			r := runCmd(t, nil, "verify", "--data-dir", dir)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("verify: exit %d, stderr %q; want exit 1 naming %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "events", "*.seg"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segments: %v", err)
	}
	return segs
}

// frameOffset is the offset of record n in a segment that starts at 0.
func frameOffset(b []byte, n int) int {
	off := 0
	for range n {
		off += 8 + int(uint32(b[off])<<24|uint32(b[off+1])<<16|uint32(b[off+2])<<8|uint32(b[off+3]))
	}
	return off
}

// uncommit rewrites dir's high-water mark (docs/eventlog.md) to say that
// only records [0, n) were committed: the state a crash leaves when the
// records after them were written but their fsync never returned.
func uncommit(t *testing.T, dir string, n uint64) {
	t.Helper()
	var hash [32]byte
	if err := eventlog.Walk(filepath.Join(dir, "events"), func(r eventlog.Record) error {
		if r.Seq == n-1 {
			hash = r.Hash
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b := append([]byte("LHWM"), binary.BigEndian.AppendUint64(nil, n)...)
	b = append(b, hash[:]...)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	if err := os.WriteFile(filepath.Join(dir, "events", eventlog.HeadFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A torn tail — the last write, never committed — is repaired when the
// server starts; the repaired log verifies.
func TestServeRepairsATornTail(t *testing.T) {
	dir := deadRun(t)
	seg := segments(t, dir)[0]
	b, _ := os.ReadFile(seg)
	n := 0
	for frameOffset(b, n+1) < len(b) {
		n++
	}
	uncommit(t, dir, uint64(n)) // the last record's commit never returned
	os.WriteFile(seg, b[:len(b)-7], 0o600)
	if r := runCmd(t, nil, "verify", "--data-dir", dir); r.code != 0 || !strings.Contains(r.stdout, "bytes after the last record") {
		t.Errorf("verify with a torn tail: exit %d, stdout %q, stderr %q; want ok and a note", r.code, r.stdout, r.stderr)
	}
	s := startServer(t, "--data-dir", dir, "--tick-interval", "1ms")
	s.logs.waitFor(t, "arena resumed", s.exited)
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, s.logs)
	}
	if !strings.Contains(s.logs.String(), "torn tail repaired") {
		t.Errorf("the repair was not logged:\n%s", s.logs)
	}
	if r := runCmd(t, nil, "verify", "--data-dir", dir); r.code != 0 {
		t.Errorf("verify after repair: exit %d, %s", r.code, r.stderr)
	}
}

// A log that ends inside a tick — its market record durable, what the
// agents did with it not — is completed on restart with the very events
// the first run computed.
func TestServeCompletesACutShortTick(t *testing.T) {
	dir := deadRun(t)
	r := runCmd(t, nil, "verify", "--data-dir", dir)
	if r.code != 0 {
		t.Fatalf("verify: %s", r.stderr)
	}
	var recs []eventlog.Record
	var cut uint64 // the first record after the last market record followed by agent actions
	eventlog.Walk(filepath.Join(dir, "events"), func(rec eventlog.Record) error {
		rec.Payload = bytes.Clone(rec.Payload)
		if n := len(recs); n > 0 && recs[n-1].Type == "market" && rec.Type != "market" && rec.Type != "agent" {
			cut = rec.Seq
		}
		recs = append(recs, rec)
		return nil
	})
	want := map[uint64]string{} // the cut tick's records: from cut to the next tick
	for _, rec := range recs[cut:] {
		if rec.Type == "market" || rec.Type == "agent" {
			break
		}
		want[rec.Seq] = string(rec.Payload)
	}
	if cut == 0 {
		t.Fatal("no tick with agent events to cut")
	}
	seg := segments(t, dir)[0]
	b, _ := os.ReadFile(seg)
	off := 0
	for range cut { // records 0..cut-1 stay
		off += 8 + int(uint32(b[off])<<24|uint32(b[off+1])<<16|uint32(b[off+2])<<8|uint32(b[off+3]))
	}
	uncommit(t, dir, cut)
	os.WriteFile(seg, b[:off], 0o600)

	s := startServer(t, "--data-dir", dir, "--tick-interval", "1ms")
	s.logs.waitFor(t, "arena resumed", s.exited)
	s.stop()
	if n := field(t, s.logs.String(), "arena resumed", "completed_events"); n == "0" {
		t.Fatalf("nothing completed after cutting the log at %d", cut)
	}
	matched := 0
	eventlog.Walk(filepath.Join(dir, "events"), func(rec eventlog.Record) error {
		if w, ok := want[rec.Seq]; ok {
			matched++
			if string(rec.Payload) != w {
				t.Errorf("record %d recomputed differently:\n%s\n%s", rec.Seq, rec.Payload, w)
			}
		}
		return nil
	})
	if matched != len(want) || matched == 0 {
		t.Errorf("%d of the cut tick's %d records are back", matched, len(want))
	}
	if r := runCmd(t, nil, "verify", "--data-dir", dir); r.code != 0 {
		t.Errorf("verify after completion: %s", r.stderr)
	}
}

// A data dir belongs to one server: a second serve on it refuses, naming
// the holder, while verify and graveyard read it beside the running one
// and change nothing. A lost tail is refused by serve as by verify.
func TestLockedDataDirAndVerifyBesideServe(t *testing.T) {
	dir := deadRun(t)
	os.Chmod(dir, 0o700) // no warning about its mode: the error is the one line
	s := startServer(t, "--data-dir", dir, "--tick-interval", "1ms")
	s.logs.waitFor(t, "arena resumed", s.exited)
	r := runCmd(t, nil, "serve", "--data-dir", dir, "--ws-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	want := "data dir is in use by process " + strconv.Itoa(os.Getpid())
	if r.code != 1 || !strings.Contains(r.stderr, want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
		t.Errorf("second serve: exit %d, stderr %q; want one line saying %q", r.code, r.stderr, want)
	}
	for range 5 { // the server appends all the while
		if r := runCmd(t, nil, "verify", "--data-dir", dir); r.code != 0 {
			t.Fatalf("verify beside serve: exit %d, %s", r.code, r.stderr)
		}
	}
	if r := runCmd(t, nil, "graveyard", "--data-dir", dir); r.code != 0 || !strings.Contains(r.stdout, "Reckless") {
		t.Errorf("graveyard beside serve: exit %d, %s", r.code, r.stderr)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, s.logs)
	}

	seg := segments(t, dir)[0]
	b, _ := os.ReadFile(seg)
	os.WriteFile(seg, b[:frameOffset(b, 300)], 0o600)
	r = runCmd(t, nil, "serve", "--data-dir", dir, "--ws-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	if r.code != 1 || !strings.Contains(r.stderr, "log ends at sequence 299 but sequence") {
		t.Errorf("serve on a log that lost its tail: exit %d, stderr %q", r.code, r.stderr)
	}
	if after, _ := os.ReadFile(seg); len(after) != frameOffset(b, 300) {
		t.Error("the refused serve changed the log")
	}
}

// A forged last record — checksum, hash and chain all valid, appended after
// the last commit — is refused by verify as it is by serve: both replay the
// run and check every record against what the arena computes.
func TestVerifyAgreesWithServeOnAForgedRecord(t *testing.T) {
	dir := deadRun(t)
	var trade []byte
	eventlog.Walk(filepath.Join(dir, "events"), func(r eventlog.Record) error {
		if r.Type == string(arena.EventTrade) && trade == nil {
			trade = bytes.Clone(r.Payload)
		}
		return nil
	})
	l, err := eventlog.Open(filepath.Join(dir, "events"), eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	next, _ := l.Last()
	forgedAt := time.Unix(2e9, 0)
	if _, err := l.Append(next, forgedAt, string(arena.EventTrade), trade); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	want := "replay diverged at sequence " + strconv.FormatUint(next, 10)
	r := runCmd(t, nil, "serve", "--data-dir", dir, "--ws-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("serve on a forged record: exit %d, stderr %q; want %q", r.code, r.stderr, want)
	}
	r = runCmd(t, nil, "verify", "--data-dir", dir)
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("verify on a forged record: exit %d, stderr %q; want %q", r.code, r.stderr, want)
	}
}
