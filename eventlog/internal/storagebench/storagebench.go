// Package storagebench runs one workload — durable appends of hash-chained
// event records, then an open and full re-verification of a million of them
// — on the project's eventlog and on two embedded stores, go.etcd.io/bbolt
// and modernc.org/sqlite, so that the choice of storage rests on
// measurements. It is a separate module so that the root module gains no
// dependency; see README.md for the figures.
package storagebench

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lineage-arena/lineage/eventlog"
	bolt "go.etcd.io/bbolt"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// The workload: records of a typical event's size, as in eventlog's
// BenchmarkDurableAppend.
var (
	t0      = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	evType  = "trade"
	payload = func() []byte {
		p := make([]byte, 250)
		for i := range p {
			p[i] = 'a' + byte(i%26)
		}
		return p
	}()
)

// store is one backend under test, open for writing.
type store interface {
	// appendBatch appends n records with the next sequence numbers and
	// returns once they are durable (one fsync'd commit).
	appendBatch(n int) error
	close() error
}

// chain produces records exactly as eventlog encodes their bodies:
//
//	seq uint64 | unix nanos int64 | type length uint8 | type | prev [32]byte | payload | hash [32]byte
//
// with hash = SHA-256 of everything before it and prev the previous hash.
type chain struct {
	next uint64
	last [32]byte
}

// body appends the next record's body to dst and advances the chain. It
// returns the extended dst and the body's bounds within it.
func (c *chain) body(dst []byte, t time.Time, typ string, p []byte) ([]byte, int) {
	start := len(dst)
	dst = binary.BigEndian.AppendUint64(dst, c.next)
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.UnixNano()))
	dst = append(dst, byte(len(typ)))
	dst = append(dst, typ...)
	dst = append(dst, c.last[:]...)
	dst = append(dst, p...)
	c.last = sha256.Sum256(dst[start:])
	dst = append(dst, c.last[:]...)
	c.next++
	return dst, start
}

// checkBody checks a stored body against the chain: its sequence number,
// its link to the previous hash and its own hash; then advances the chain.
func (c *chain) checkBody(body []byte) error {
	if len(body) < 8+8+1+32+32 {
		return fmt.Errorf("record %d: body of %d bytes is too short", c.next, len(body))
	}
	if seq := binary.BigEndian.Uint64(body); seq != c.next {
		return fmt.Errorf("record %d: found sequence %d", c.next, seq)
	}
	tl := int(body[16])
	if tl == 0 || len(body) < 8+8+1+tl+32+32 {
		return fmt.Errorf("record %d: bad type length %d", c.next, tl)
	}
	if !bytes.Equal(body[17+tl:17+tl+32], c.last[:]) {
		return fmt.Errorf("record %d: does not link to the previous record", c.next)
	}
	h := sha256.Sum256(body[:len(body)-32])
	if !bytes.Equal(h[:], body[len(body)-32:]) {
		return fmt.Errorf("record %d: hash does not match its contents", c.next)
	}
	c.last = h
	c.next++
	return nil
}

// ---- eventlog ----

type eventlogStore struct{ l *eventlog.Log }

func openEventlog(dir string) (store, error) {
	l, err := eventlog.Open(dir, eventlog.Options{})
	if err != nil {
		return nil, err
	}
	return &eventlogStore{l: l}, nil
}

func (s *eventlogStore) appendBatch(n int) error {
	next, _ := s.l.Last()
	for i := range n {
		if _, err := s.l.Append(next+uint64(i), t0, evType, payload); err != nil {
			return err
		}
	}
	return s.l.Sync()
}

func (s *eventlogStore) close() error { return s.l.Close() }

// readEventlog opens the log, which reads every record and checks its
// checksum, hash and link in the chain, and closes it.
func readEventlog(dir string) (uint64, error) {
	l, err := eventlog.Open(dir, eventlog.Options{})
	if err != nil {
		return 0, err
	}
	n, _ := l.Last()
	return n, l.Close()
}

// ---- bbolt ----

var boltBucket = []byte("events")

// boltConfig is a bbolt variant: default options unless set.
type boltConfig struct {
	noFreelistSync bool
	fillPercent    float64 // 0: bbolt's default (0.5)
}

type boltStore struct {
	db    *bolt.DB
	cfg   boltConfig
	chain chain
	arena []byte // keys and values of the open transaction
}

func boltFile(dir string) string { return filepath.Join(dir, "events.bolt") }

func openBolt(dir string, cfg boltConfig) (store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	opts := *bolt.DefaultOptions
	opts.NoFreelistSync = cfg.noFreelistSync
	db, err := bolt.Open(boltFile(dir), 0o600, &opts)
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	return &boltStore{db: db, cfg: cfg}, nil
}

// appendBatch puts n records in one read-write transaction; its commit
// fsyncs (bbolt's default).
func (s *boltStore) appendBatch(n int) error {
	s.arena = s.arena[:0]
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltBucket)
		if s.cfg.fillPercent > 0 {
			b.FillPercent = s.cfg.fillPercent
		}
		for range n {
			// bbolt needs keys and values to stay valid until the commit:
			// they are slices of the arena, which is only reused after it.
			// (A reallocation leaves earlier slices on the old array.)
			seq := s.chain.next
			var k, v int
			k = len(s.arena)
			s.arena = binary.BigEndian.AppendUint64(s.arena, seq)
			s.arena, v = s.chain.body(s.arena, t0, evType, payload)
			if err := b.Put(s.arena[k:v:v], s.arena[v:len(s.arena):len(s.arena)]); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

func (s *boltStore) close() error { return s.db.Close() }

// readBolt opens the database and walks the bucket in key order, checking
// every key against the sequence and every value against the chain.
func readBolt(dir string) (uint64, error) {
	db, err := bolt.Open(boltFile(dir), 0o600, nil)
	if err != nil {
		return 0, err
	}
	var c chain
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltBucket)
		if b == nil {
			return errors.New("no bucket")
		}
		cur := b.Cursor()
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			if len(k) != 8 || binary.BigEndian.Uint64(k) != c.next {
				return fmt.Errorf("record %d: key %x", c.next, k)
			}
			if err := c.checkBody(v); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return c.next, err
}

// ---- SQLite ----

func sqliteFile(dir string) string { return filepath.Join(dir, "events.db") }

// sqliteDSN opens in WAL mode with synchronous=FULL, so that a committed
// transaction has been fsync'd to the WAL.
func sqliteDSN(dir string) string {
	return "file:" + sqliteFile(dir) + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
}

func openSQLiteDB(dir string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", sqliteDSN(dir))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	var mode string
	var syncLevel int
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.QueryRow("PRAGMA synchronous").Scan(&syncLevel); err != nil {
		db.Close()
		return nil, err
	}
	if mode != "wal" || syncLevel != 2 {
		db.Close()
		return nil, fmt.Errorf("sqlite: journal_mode=%s synchronous=%d, want wal and 2 (FULL)", mode, syncLevel)
	}
	return db, nil
}

type sqliteStore struct {
	db    *sql.DB
	ins   *sql.Stmt
	chain chain
	buf   []byte
}

func openSQLite(dir string) (store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := openSQLiteDB(dir)
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS events(
		seq INTEGER PRIMARY KEY, time INTEGER, type TEXT, prev BLOB, hash BLOB, payload BLOB)`); err != nil {
		db.Close()
		return nil, err
	}
	ins, err := db.Prepare(`INSERT INTO events(seq, time, type, prev, hash, payload) VALUES(?, ?, ?, ?, ?, ?)`)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &sqliteStore{db: db, ins: ins}, nil
}

// appendBatch inserts n rows in one transaction with the prepared insert;
// the commit fsyncs the WAL.
func (s *sqliteStore) appendBatch(n int) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	st := tx.Stmt(s.ins)
	nanos := t0.UnixNano()
	for range n {
		seq := s.chain.next
		prev := s.chain.last
		s.buf, _ = s.chain.body(s.buf[:0], t0, evType, payload)
		if _, err := st.Exec(int64(seq), nanos, evType, prev[:], s.chain.last[:], payload); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

func (s *sqliteStore) close() error {
	s.ins.Close()
	return s.db.Close()
}

// readSQLite opens the database and reads every row in sequence order,
// rebuilding each record's body to check its hash and its link.
func readSQLite(dir string) (uint64, error) {
	db, err := openSQLiteDB(dir)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	rows, err := db.Query(`SELECT seq, time, type, prev, hash, payload FROM events ORDER BY seq`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var (
		c                     chain
		seq, nanos            int64
		typ, prev, hash, data sql.RawBytes
		buf                   []byte
	)
	for rows.Next() {
		if err := rows.Scan(&seq, &nanos, &typ, &prev, &hash, &data); err != nil {
			return c.next, err
		}
		if uint64(seq) != c.next {
			return c.next, fmt.Errorf("record %d: found sequence %d", c.next, seq)
		}
		if len(typ) == 0 || len(typ) > 255 || len(prev) != 32 || len(hash) != 32 {
			return c.next, fmt.Errorf("record %d: malformed row", c.next)
		}
		buf = binary.BigEndian.AppendUint64(buf[:0], uint64(seq))
		buf = binary.BigEndian.AppendUint64(buf, uint64(nanos))
		buf = append(buf, byte(len(typ)))
		buf = append(buf, typ...)
		buf = append(buf, prev...)
		buf = append(buf, data...)
		buf = append(buf, hash...)
		if err := c.checkBody(buf); err != nil {
			return c.next, err
		}
	}
	return c.next, rows.Err()
}

// dirBytes is the total size of the regular files under dir.
func dirBytes(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		total += fi.Size()
		return nil
	})
	return total, err
}
