package loadtest

import (
	"bytes"
	"encoding/json"
	"math"
	"time"
)

// Kinds of server message.
type msgKind int

const (
	msgUnknown msgKind = iota
	msgWelcome
	msgControl // pong, error, resume, subscribed
	msgEvent
)

var (
	v1Prefix   = []byte(`{"event_type":"`)
	typePrefix = []byte(`{"type":"`)
	seqName    = []byte(`"sequence"`)  // a key, before its ':'
	timeName   = []byte(`"timestamp"`) // a key, before its ':'
)

// scanMessage reads what loadtest needs of a server message: its kind,
// its sequence and its event time, without decoding the rest. The hub
// writes the envelope's "sequence" after any payload's (a scar carries its
// own), and one "timestamp" per event: in the v1 payload, or at the top in
// v2. Anything shaped otherwise is decoded with encoding/json.
//
// Both keys are the last of their name in the message, and the hub writes
// them near its end: they are looked for from the end, at every ':' in
// turn, so that only the message's tail is read.
func scanMessage(b []byte) (kind msgKind, seq uint64, ts time.Time) {
	switch {
	case bytes.HasPrefix(b, v1Prefix):
		kind = msgEvent
	case bytes.HasPrefix(b, typePrefix):
		rest := b[len(typePrefix):]
		end := bytes.IndexByte(rest, '"')
		if end < 0 {
			return msgUnknown, 0, ts
		}
		switch string(rest[:end]) {
		case "welcome":
			kind = msgWelcome
		case "pong", "error", "resume", "subscribed":
			return msgControl, 0, ts
		default:
			kind = msgEvent
		}
	default:
		return decodeMessage(b)
	}
	seqAt, tsAt := -1, -1 // where the value of each key starts
	if kind != msgEvent {
		tsAt = 0 // not wanted
	}
	for end := len(b); seqAt < 0 || tsAt < 0; {
		i := bytes.LastIndexByte(b[:end], ':')
		if i < 0 {
			break
		}
		end = i
		switch {
		case seqAt < 0 && bytes.HasSuffix(b[:i], seqName):
			seqAt = i + 1
		case tsAt < 0 && i+1 < len(b) && b[i+1] == '"' && bytes.HasSuffix(b[:i], timeName):
			tsAt = i + 2
		}
	}
	if seqAt < 0 {
		return decodeMessage(b)
	}
	seq, ok := parseUint(b[seqAt:])
	if !ok {
		return decodeMessage(b)
	}
	if kind == msgEvent && tsAt >= 0 {
		v := b[tsAt:]
		if k := bytes.IndexByte(v, '"'); k > 0 {
			ts = parseTime(v[:k])
		}
	}
	return kind, seq, ts
}

// parseUint reads the decimal digits b starts with, as
// strconv.ParseUint would: false when there is none or they overflow.
func parseUint(b []byte) (uint64, bool) {
	const cutoff = math.MaxUint64/10 + 1
	var n uint64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if n >= cutoff {
			return 0, false
		}
		n1 := n*10 + uint64(b[i]-'0')
		if n1 < n*10 {
			return 0, false
		}
		n = n1
	}
	return n, i > 0
}

// parseTime reads an RFC 3339 time; the zero time if it is not one.
// The layout Go writes times in JSON — 2006-01-02T15:04:05.999999999Z07:00
// — is read by fastTime; anything else by time.Parse.
func parseTime(b []byte) time.Time {
	if t, ok := fastTime(b); ok {
		return t
	}
	t, _ := time.Parse(time.RFC3339Nano, string(b))
	return t
}

// fastTime reads b if it is a time in the layout
// 2006-01-02T15:04:05.999999999Z07:00 (the fraction of 1 to 9 digits, or
// none; the zone Z or ±hh:mm) and in range, and returns the instant
// time.Parse would, in UTC. ok is false for anything else.
func fastTime(b []byte) (t time.Time, ok bool) {
	if len(b) < len("2006-01-02T15:04:05Z") ||
		b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return t, false
	}
	ok = true
	num := func(p []byte, lo, hi int) int {
		n := 0
		for _, c := range p {
			if c < '0' || c > '9' {
				ok = false
				return lo
			}
			n = n*10 + int(c-'0')
		}
		if n < lo || n > hi {
			ok = false
			return lo
		}
		return n
	}
	year := num(b[0:4], 0, 9999)
	month := num(b[5:7], 1, 12)
	day := num(b[8:10], 1, daysIn(month, year))
	hour := num(b[11:13], 0, 23)
	minute := num(b[14:16], 0, 59)
	sec := num(b[17:19], 0, 59)
	rest := b[19:]
	nsec := 0
	if rest[0] == '.' {
		k := 1
		for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
			k++
		}
		if k == 1 || k > 10 {
			return t, false
		}
		nsec = num(rest[1:k], 0, 999999999)
		for range 10 - k {
			nsec *= 10
		}
		rest = rest[k:]
	}
	offset := 0
	switch {
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		offset = (num(rest[1:3], 0, 23)*60 + num(rest[4:6], 0, 59)) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return t, false
	}
	if !ok {
		return t, false
	}
	days := daysSinceEpoch(year, month, day)
	unix := days*86400 + int64(hour*3600+minute*60+sec-offset)
	return time.Unix(unix, int64(nsec)).UTC(), true
}

// daysIn is the number of days in month of year.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch is the number of days from 1970-01-01 to the date,
// in the proleptic Gregorian calendar (H. Hinnant's days_from_civil).
func daysSinceEpoch(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400                     // [0, 399]
	mp := int64((month + 9) % 12)          // March is 0
	doy := (153*mp+2)/5 + int64(day) - 1   // [0, 365]
	doe := yoe*365 + yoe/4 - yoe/100 + doy // [0, 146096]
	return era*146097 + doe - 719468
}

// decodeMessage is scanMessage for messages in an unexpected shape.
func decodeMessage(b []byte) (msgKind, uint64, time.Time) {
	type stamped struct {
		Timestamp time.Time `json:"timestamp"`
	}
	var m struct {
		Type      string    `json:"type"`
		EventType string    `json:"event_type"`
		Sequence  *uint64   `json:"sequence"`
		Timestamp time.Time `json:"timestamp"`
		Market    *stamped  `json:"market"`
		Agent     *stamped  `json:"agent"`
	}
	if json.Unmarshal(b, &m) != nil {
		return msgUnknown, 0, time.Time{}
	}
	switch {
	case m.Type == "welcome" && m.Sequence != nil:
		return msgWelcome, *m.Sequence, time.Time{}
	case m.Sequence == nil || (m.EventType == "" && m.Type == ""):
		return msgControl, 0, time.Time{}
	}
	ts := m.Timestamp
	switch {
	case m.Market != nil:
		ts = m.Market.Timestamp
	case m.Agent != nil:
		ts = m.Agent.Timestamp
	}
	return msgEvent, *m.Sequence, ts
}
