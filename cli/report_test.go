package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// recomputeRoster founds agents reckless enough that a short run has
// trades, scars, births and a death.
const recomputeRoster = `[
 {"name":"Wild","strategy":"momentum","params":{"risk":3,"fast":5,"slow":20}},
 {"name":"Calm","strategy":"balanced"},
 {"name":"Steady","strategy":"conservative"},
 {"name":"Quick","strategy":"momentum","params":{"fast":10,"slow":40}}
]`

// TestReportLedgerHashRecomputes reads `lineage arena --trades --format
// json` as an outside script would — encoding/json for the report,
// crypto/sha256 for the hash, nothing of the arena package — rebuilds every
// ledger record by the layout docs/arena.md gives, and gets the report's
// ledger hash.
func TestReportLedgerHashRecomputes(t *testing.T) {
	roster := filepath.Join(t.TempDir(), "roster.json")
	if err := os.WriteFile(roster, []byte(recomputeRoster), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, nil, "arena", "--seed", "1", "--roster", roster, "--ticks", "20000", "--leverage", "10",
		"--trades", "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.UseNumber()
	var rep map[string]any
	if err := dec.Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if rep["format"] != "lineage-arena-report" || str(rep["version"]) != "2" || str(rep["ledger_format"]) != "2" {
		t.Fatalf("format %v version %v ledger_format %v", rep["format"], rep["version"], rep["ledger_format"])
	}

	type record struct {
		seq uint64
		b   []byte
	}
	var recs []record
	counts := map[string]int{}
	add := func(typ string, o map[string]any, b []byte) {
		seq, err := strconv.ParseUint(str(o["sequence"]), 10, 64)
		if err != nil {
			t.Fatalf("%s without a sequence: %v", typ, o)
		}
		head := lpString(nil, typ)
		head = be(head, integer(t, o["tick"], 0))
		recs = append(recs, record{seq, append(head, b...)})
		counts[typ]++
	}
	for _, x := range list(rep["trades"]) {
		o := x.(map[string]any)
		b := lpString(nil, str(o["agent_id"]), str(o["symbol"]), str(o["action"]), str(o["side"]), str(o["reason"]))
		b = be(b, integer(t, o["quantity"], 8), integer(t, o["price"], 8), integer(t, o["fee"], 6), integer(t, o["realized_pnl"], 6),
			integer(t, o["net_pnl"], 6), integer(t, o["cash"], 6), integer(t, o["decision_tick"], 0), integer(t, o["slippage_ppm"], 0))
		add("trade", o, b)
	}
	for _, x := range list(rep["agents"]) {
		a := x.(map[string]any)
		id := str(a["agent_id"])
		for i, y := range list(a["scar_log"]) {
			s := y.(map[string]any)
			b := lpString(nil, id, str(s["kind"]))
			b = be(b, integer(t, s["severity"], 0), integer(t, s["equity"], 6), int64(i+1))
			add("scar", s, b)
		}
		if d, ok := a["death"].(map[string]any); ok {
			b := lpString(nil, str(d["agent_id"]), str(d["cause"]))
			b = be(b, integer(t, d["final_capital"], 6), integer(t, d["peak_capital"], 6), integer(t, d["scars"], 0),
				integer(t, d["trades"], 0), integer(t, d["lifespan_ticks"], 0))
			add("death", d, b)
		}
	}
	for _, x := range list(rep["spawns"]) {
		s := x.(map[string]any)
		b := lpString(nil, str(s["parent_id"]), str(s["child_id"]), str(s["strategy"]), str(s["inheritance"]))
		params := s["params"].(map[string]any)
		b = be(b, integer(t, s["generation"], 0), integer(t, s["endowment"], 6), int64(len(params)))
		keys := make([]string, 0, len(params))
		for k := range params {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			f, err := strconv.ParseFloat(str(params[k]), 64)
			if err != nil {
				t.Fatal(err)
			}
			b = lpString(b, k)
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(f))
		}
		add("spawn", s, b)
	}
	for _, x := range list(rep["rounds"]) {
		o := x.(map[string]any)
		st := list(o["standings"])
		b := lpString(nil, str(o["winner"]))
		b = be(b, integer(t, o["round"], 0), integer(t, o["start_tick"], 0), integer(t, o["end_tick"], 0), int64(len(st)))
		for _, y := range st {
			s := y.(map[string]any)
			b = lpString(b, str(s["agent_id"]), str(s["status"]))
			b = be(b, integer(t, s["capital"], 6))
		}
		add("round", o, b)
	}
	for _, typ := range []string{"trade", "scar", "death", "spawn", "round"} {
		if counts[typ] == 0 {
			t.Errorf("the run has no %s record: the check would not cover it", typ)
		}
	}
	slices.SortFunc(recs, func(a, b record) int { return cmpU(a.seq, b.seq) })
	h := sha256.New()
	for _, rc := range recs {
		h.Write(rc.b)
	}
	if got, want := hex.EncodeToString(h.Sum(nil)), str(rep["ledger_hash"]); got != want {
		t.Errorf("recomputed ledger hash %s, the report says %s", got, want)
	}
	if got, want := strconv.Itoa(len(recs)), str(rep["ledger_records"]); got != want {
		t.Errorf("%s records rebuilt, the report says %s", got, want)
	}
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return ""
}

// integer reads a JSON decimal with at most decimals places as an integer
// count of its smallest unit: "100000.50" with 6 decimals is 100000500000.
func integer(t *testing.T, v any, decimals int) int64 {
	t.Helper()
	s := str(v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > decimals {
		t.Fatalf("%q has more than %d decimals", str(v), decimals)
	}
	n, err := strconv.ParseInt(whole+frac+strings.Repeat("0", decimals-len(frac)), 10, 64)
	if err != nil {
		t.Fatalf("%q: %v", str(v), err)
	}
	if neg {
		n = -n
	}
	return n
}

func lpString(b []byte, ss ...string) []byte {
	for _, s := range ss {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

func be(b []byte, vs ...int64) []byte {
	for _, v := range vs {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	return b
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// The CSV trade ledger has the JSON's columns, cash included, with the same
// values.
func TestReportCSVLedgerMatchesJSON(t *testing.T) {
	base := []string{"arena", "--seed", "7", "--ticks", "3000", "--trades"}
	j := runCmd(t, nil, append(base, "--format", "json")...)
	c := runCmd(t, nil, append(base, "--format", "csv")...)
	if j.code != 0 || c.code != 0 {
		t.Fatalf("exit %d, %d: %s %s", j.code, c.code, j.stderr, c.stderr)
	}
	var rep struct {
		Trades []map[string]json.RawMessage `json:"trades"`
	}
	if err := json.Unmarshal([]byte(j.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(c.stdout), "\n")
	header := strings.Split(lines[0], ",")
	if len(lines)-1 != len(rep.Trades) || len(rep.Trades) == 0 {
		t.Fatalf("%d CSV rows, %d JSON trades", len(lines)-1, len(rep.Trades))
	}
	want := map[string]string{"agent": "agent_id", "time": "time"}
	for _, col := range []string{"cash", "fee", "realized_pnl", "net_pnl", "price", "quantity", "slippage_ppm", "decision_tick", "tick", "sequence"} {
		if !slices.Contains(header, col) {
			t.Errorf("CSV header %v has no %s column", header, col)
		}
	}
	for i, line := range lines[1:] {
		row := strings.Split(line, ",")
		for k, col := range header {
			key := col
			if w, ok := want[col]; ok {
				key = w
			}
			raw, ok := rep.Trades[i][key]
			if !ok {
				t.Fatalf("CSV column %s is not a JSON trade field", col)
			}
			jv := string(bytes.Trim(raw, `"`))
			if col == "time" {
				continue // RFC 3339 either way; JSON keeps the offset form
			}
			if jv != row[k] {
				t.Fatalf("trade %d %s: CSV %q, JSON %q", i, col, row[k], jv)
			}
		}
	}
}

// TestLedgerHashSameInServeAndArena: a session serve records, replayed by
// arena with the same seed and rules, reports serve's ledger hash, though
// serve broadcast agent states on its own clock in between.
func TestLedgerHashSameInServeAndArena(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.csv")
	s := startServer(t, "--data-dir", filepath.Join(dir, "data"), "--seed", "5", "--tick-interval", "1ms",
		"--agent-interval", "3ms", "--round-ticks", "25", "--record", rec)
	s.logs.waitFor(t, "round=3", s.exited)
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, s.logs)
	}
	logs := s.logs.String()
	served := field(t, logs, "shutting down", "ledger_hash")
	// The recording may end with a tick read while serve was stopping and
	// never stepped: replay the ticks serve took.
	took := field(t, logs, "shutting down", "ticks")
	r := runCmd(t, nil, "arena", "--feed", "replay", "--replay", rec, "--ticks", took, "--seed", "5", "--round-ticks", "25", "--format", "json")
	if r.code != 0 {
		t.Fatalf("arena exited %d: %s", r.code, r.stderr)
	}
	var rep struct {
		Hash   string `json:"ledger_hash"`
		Ticks  int64  `json:"ticks"`
		Events int    `json:"events"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if strconv.FormatInt(rep.Ticks, 10) != took {
		t.Fatalf("arena replayed %d ticks, serve took %s", rep.Ticks, took)
	}
	// serve's events are the arena's plus its agent states.
	if next, _ := strconv.Atoi(field(t, logs, "shutting down", "next_sequence")); next-1 <= rep.Events {
		t.Fatalf("serve emitted %d events, arena %d: no agent states in between", next-1, rep.Events)
	}
	if rep.Hash != served {
		t.Errorf("arena's ledger hash %s, serve's %s", rep.Hash, served)
	}
}
