package market

import (
	"strings"
	"testing"
)

func TestParseMoneyExact(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Money
		err  string
	}{
		{"100.123456", 100_123_456, ""},
		{"100.1234560", 100_123_456, ""},
		{"1e-6", 1, ""},
		{"100.1234567", 0, "finer than the money resolution 0.000001"},
		{"1e-7", 0, "finer than the money resolution"},
		{"abc", 0, "not a decimal number"},
	} {
		got, err := ParseMoneyExact(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseMoneyExact(%q) = %v, %v; want an error naming %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseMoneyExact(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// A positive price that rounds to zero is reported as below the
// resolution, not as not positive.
func TestParsePriceBelowResolution(t *testing.T) {
	for in, want := range map[string]string{
		"0.000000001":  "below the price resolution 0.00000001",
		"1e-12":        "below the price resolution",
		"0":            "must be positive",
		"-0.000000001": "must be positive",
		"-5":           "must be positive",
	} {
		if _, err := ParsePrice(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePrice(%q): %v, want an error naming %q", in, err, want)
		}
	}
	if p, err := ParsePrice("0.000000005"); err != nil || p != 1 {
		t.Errorf("ParsePrice(0.000000005) = %v, %v; want the resolution (rounded half up)", p, err)
	}
}
