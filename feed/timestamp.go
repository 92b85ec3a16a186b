package feed

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// parseTimestamp parses an RFC 3339 time (fractional seconds optional) or
// a unix epoch number (see parseEpoch), returning it in UTC.
func parseTimestamp(s string) (time.Time, error) {
	if s != "" && strings.Trim(s, "0123456789.") == "" {
		t, _, err := parseEpoch(s)
		if err != nil {
			return time.Time{}, fmt.Errorf("timestamp %q: %w", s, err)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: want RFC 3339 or a unix epoch number", s)
	}
	return t.UTC(), nil
}

var errEpoch = errors.New("want a unix epoch number in seconds, milliseconds or microseconds")

// parseEpoch parses a non-negative unix time whose unit follows from the
// magnitude of its integer part: below 1e11 seconds, below 1e14
// milliseconds, below 1e17 microseconds (so every date from 1973 to 5138
// reads correctly). An optional fraction is kept to the nanosecond. It
// returns the time in UTC and the unit.
func parseEpoch(s string) (time.Time, time.Duration, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if !isDigits(whole) || len(whole) > 17 || (dot && !isDigits(frac)) {
		return time.Time{}, 0, errEpoch
	}
	var v int64
	for i := 0; i < len(whole); i++ {
		v = v*10 + int64(whole[i]-'0')
	}
	var unit time.Duration
	switch {
	case v < 1e11:
		unit = time.Second
	case v < 1e14:
		unit = time.Millisecond
	case v < 1e17:
		unit = time.Microsecond
	default:
		return time.Time{}, 0, errEpoch
	}
	perSec := int64(time.Second / unit)
	var nsec int64
	for i, d := 0, unit/10; d > 0; i, d = i+1, d/10 {
		if i < len(frac) {
			nsec += int64(frac[i]-'0') * int64(d)
		}
	}
	nsec += v % perSec * int64(unit)
	return time.Unix(v/perSec, nsec).UTC(), unit, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
