package hub

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// Frames follow RFC 6455 § 5.2 at each length encoding's edges.
func TestFrameHeaders(t *testing.T) {
	for _, tt := range []struct {
		n      int
		header []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xff, 0xff}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		p := bytes.Repeat([]byte{'x'}, tt.n)
		f := frame(p)
		if !bytes.Equal(f[:len(tt.header)], tt.header) || !bytes.Equal(f[len(tt.header):], p) {
			t.Errorf("%d bytes: header % x, want % x", tt.n, f[:len(tt.header)], tt.header)
		}
		if got := payloadLen(f); got != tt.n {
			t.Errorf("%d bytes: payloadLen %d", tt.n, got)
		}
	}
	var buf [6]byte
	if got := pingFrame(&buf, 0x01020304); !bytes.Equal(got, []byte{0x89, 4, 1, 2, 3, 4}) {
		t.Errorf("ping frame % x", got)
	}
}

// A close frame's reason is cut to fit 125 bytes without splitting a rune.
func TestCloseFrame(t *testing.T) {
	f := closeFrame(1008, "too slow")
	if want := append([]byte{0x88, 10, 0x03, 0xf0}, "too slow"...); !bytes.Equal(f, want) {
		t.Errorf("close frame % x, want % x", f, want)
	}
	long := strings.Repeat("é", 100) // 200 bytes
	f = closeFrame(1001, long)
	if len(f) > 2+125 || int(f[1]) != len(f)-2 {
		t.Fatalf("close frame of %d bytes, length byte %d", len(f), f[1])
	}
	if r := f[4:]; !utf8.Valid(r) || len(r) != 122 {
		t.Errorf("reason cut to %d bytes (valid UTF-8: %v), want 122", len(r), utf8.Valid(r))
	}
}
