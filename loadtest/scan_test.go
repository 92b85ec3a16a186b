package loadtest

import (
	"testing"
	"time"
)

func TestScanMessage(t *testing.T) {
	at := time.Date(2026, 2, 3, 14, 30, 45, 123456789, time.UTC)
	for _, tc := range []struct {
		msg  string
		kind msgKind
		seq  uint64
		ts   time.Time
	}{
		{`{"type":"welcome","client_id":7,"timestamp":"2026-02-03T14:30:45Z","message":"hi","sequence":1041}`, msgWelcome, 1041, time.Time{}},
		{`{"event_type":"market","market":{"symbol":"BTC-USD","price":45150.32,"timestamp":"2026-02-03T14:30:45.123456789Z","change_percent":0.45},"agent":null,"sequence":1042}`, msgEvent, 1042, at},
		{`{"event_type":"agent","market":null,"agent":{"agent_id":"Balanced","capital":1,"timestamp":"2026-02-03T14:30:45.123456789Z","strategy":"x"},"sequence":1043,"snapshot":true}`, msgEvent, 1043, at},
		{`{"event_type":"scar","market":null,"agent":null,"scar":{"agent":"A","scar":{"kind":"drawdown","sequence":7},"timestamp":"2026-02-03T14:30:45.123456789Z"},"sequence":1044}`, msgEvent, 1044, at},
		{`{"type":"market","symbol":"BTC-USD","price":1,"timestamp":"2026-02-03T14:30:45.123456789Z","sequence":1045}`, msgEvent, 1045, at},
		{`{"type":"pong"}`, msgControl, 0, time.Time{}},
		{`{"type":"resume","code":"truncated","from":3,"sequence":9}`, msgControl, 0, time.Time{}},
		{`{"sequence":1046,"event_type":"market","market":{"timestamp":"2026-02-03T14:30:45.123456789Z"}}`, msgEvent, 1046, at},
		{`not json`, msgUnknown, 0, time.Time{}},
		// The timestamp's fast path: microseconds, none, a zone offset.
		{`{"type":"market","symbol":"BTC-USD","price":1,"timestamp":"2026-02-03T14:30:45.123456Z","sequence":1047}`, msgEvent, 1047, at.Truncate(time.Microsecond)},
		{`{"type":"market","symbol":"BTC-USD","price":1,"timestamp":"2026-02-03T14:30:45Z","sequence":1048}`, msgEvent, 1048, at.Truncate(time.Second)},
		{`{"type":"market","symbol":"BTC-USD","price":1,"timestamp":"2026-02-03T16:00:45.5+01:30","sequence":1049}`, msgEvent, 1049, at.Truncate(time.Second).Add(500 * time.Millisecond)},
		// Not RFC 3339, or out of range: no time.
		{`{"type":"market","timestamp":"2026-02-30T14:30:45Z","sequence":1050}`, msgEvent, 1050, time.Time{}},
		{`{"type":"market","timestamp":"yesterday","sequence":1051}`, msgEvent, 1051, time.Time{}},
		// The last key of each name counts, wherever it is.
		{`{"event_type":"market","market":{"timestamp":"2026-02-03T14:30:45Z","x":{"timestamp":"2026-02-03T14:30:45.123456789Z"}},"sequence":7,"sequence":1052,"snapshot":true}`, msgEvent, 1052, at},
		{`{"type":"welcome","sequence":1053,"tail":"a:b:c"}`, msgWelcome, 1053, time.Time{}},
		// No usable sequence: decoded, which finds none or the first.
		{`{"event_type":"market","sequence":x}`, msgUnknown, 0, time.Time{}},
		{`{"event_type":"market","sequence":99999999999999999999}`, msgUnknown, 0, time.Time{}},
		{`{"event_type":"market","market":null}`, msgControl, 0, time.Time{}},
	} {
		kind, seq, ts := scanMessage([]byte(tc.msg))
		if kind != tc.kind || seq != tc.seq || !ts.Equal(tc.ts) {
			t.Errorf("%s:\n got %v %d %v, want %v %d %v", tc.msg, kind, seq, ts, tc.kind, tc.seq, tc.ts)
		}
	}
}

// fastTime reads the layout Go writes times in JSON and nothing else,
// and agrees with time.Parse on what it reads.
func TestFastTime(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"2026-02-03T14:30:45.123456789Z", true},
		{"2026-02-03T14:30:45.123456Z", true},
		{"2026-02-03T14:30:45.1Z", true},
		{"2026-02-03T14:30:45Z", true},
		{"2026-02-03T14:30:45.123-07:00", true},
		{"2026-02-03T14:30:45+05:45", true},
		{"2024-02-29T23:59:59.999999999Z", true},
		{"1969-12-31T23:59:59.5Z", true},
		{"0000-03-01T00:00:00Z", true},
		{"0000-01-01T00:00:00+23:59", true},
		{"9999-12-31T23:59:59.999999999-23:59", true},
		{"2025-02-29T00:00:00Z", false},
		{"2026-13-01T00:00:00Z", false},
		{"2026-02-03T24:00:00Z", false},
		{"2026-02-03T14:60:00Z", false},
		{"2026-02-03T14:30:60Z", false},
		{"2026-02-03T14:30:45.Z", false},
		{"2026-02-03T14:30:45.1234567891Z", false}, // time.Parse takes it; the fast path does not
		{"2026-02-03T14:30:45,123Z", false},
		{"2026-02-03t14:30:45Z", false},
		{"2026-02-03T14:30:45z", false},
		{"2026-02-03T14:30:45+24:00", false},
		{"2026-02-03T14:30:45+05:60", false},
		{"2026-02-03T14:30:45+0545", false},
		{"2026-02-03T14:30:45", false},
		{"2026-2-03T14:30:45Z", false},
		{"+026-02-03T14:30:45Z", false},
	} {
		got, ok := fastTime([]byte(tc.in))
		if ok != tc.ok {
			t.Errorf("%s: fast path %v, want %v", tc.in, ok, tc.ok)
			continue
		}
		want, err := time.Parse(time.RFC3339Nano, tc.in)
		if ok && (err != nil || !got.Equal(want)) {
			t.Errorf("%s: %v, time.Parse %v (%v)", tc.in, got, want, err)
		}
		if !ok && err == nil && !parseTime([]byte(tc.in)).Equal(want) {
			t.Errorf("%s: the fallback does not give time.Parse's %v", tc.in, want)
		}
	}
}

// Every day from 1900 to 2100, and every leap day and year's end from
// year 0 to 9999, is as many days from 1970 as time.Date counts.
func TestDaysSinceEpoch(t *testing.T) {
	check := func(d time.Time) {
		want := d.Unix() / 86400
		if d.Unix() < 0 && d.Unix()%86400 != 0 {
			want--
		}
		if got := daysSinceEpoch(d.Year(), int(d.Month()), d.Day()); got != want {
			t.Fatalf("%s: %d days, want %d", d.Format(time.DateOnly), got, want)
		}
	}
	for d := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() <= 2100; d = d.AddDate(0, 0, 1) {
		check(d)
	}
	for y := 0; y <= 9999; y++ {
		check(time.Date(y, 2, 28, 0, 0, 0, 0, time.UTC))
		check(time.Date(y, 3, 1, 0, 0, 0, 0, time.UTC))
		check(time.Date(y, 12, 31, 0, 0, 0, 0, time.UTC))
	}
}

// Whatever fastTime accepts, time.Parse reads as the same instant.
func FuzzFastTime(f *testing.F) {
	for _, s := range []string{"2026-02-03T14:30:45.123456789Z", "2026-02-03T14:30:45+05:45", "0000-02-29T00:00:00Z", "2026-02-03T14:30:45.Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := fastTime([]byte(s))
		if !ok {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !got.Equal(want) {
			t.Fatalf("%q: fast path %v, time.Parse %v (%v)", s, got, want, err)
		}
	})
}

// Messages as the hub writes them, for BenchmarkScanMessage.
var benchMessages = []struct{ name, msg string }{
	{"v1-market", `{"event_type":"market","market":{"symbol":"BTC-USD","price":45150.32,"timestamp":"2026-02-03T14:30:45.123456789Z","change_percent":0.45,"source":"sim"},"agent":null,"sequence":104212}`},
	{"v1-agent", `{"event_type":"agent","market":null,"agent":{"agent_id":"Balanced-7","capital":10234.5,"trades_executed":41,"win_rate":0.512,"status":"active","timestamp":"2026-02-03T14:30:45.123456Z","strategy":"balanced","generation":3,"parent":"Balanced-2","scars":2,"roi":0.0234,"trust":0.71,"trust_tier":"trusted","cash":5234.5,"exposure":5000},"sequence":104213}`},
	{"v2-market", `{"type":"market","symbol":"BTC-USD","price":45150.32,"timestamp":"2026-02-03T14:30:45Z","sequence":104214}`},
}

func BenchmarkScanMessage(b *testing.B) {
	for _, m := range benchMessages {
		b.Run(m.name, func(b *testing.B) {
			msg := []byte(m.msg)
			b.ReportAllocs()
			for b.Loop() {
				if kind, _, ts := scanMessage(msg); kind != msgEvent || ts.IsZero() {
					b.Fatalf("%v %v", kind, ts)
				}
			}
		})
	}
}
