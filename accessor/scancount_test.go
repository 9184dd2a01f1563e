package accessor_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestScanCountNamedAsGiven checks that a scan refused for a negative
// offset or a closed Manager names its count as given when that count is
// negative or its bytes overflow int64, as a scan refused for the count
// itself does ("(-1 values)"), and never as "(0 bytes)", an extent the
// caller did not ask for. A count whose bytes can be stated is still named
// in bytes.
func TestScanCountNamedAsGiven(t *testing.T) {
	m, va, _ := advScanSetup(t, 100, nil)
	huge := int(^uint(0)>>1) / 4 // 8-byte values overflowing int64 where int is 64 bits
	type scan struct {
		name  string
		run   func(s *accessor.Scanner)
		want  string // the message's beginning
		wide  bool   // needs a 64-bit int
		after bool   // run after Close
	}
	cases := []scan{
		{"Int32s(-8, -1)", func(s *accessor.Scanner) {
			for range s.Int32s(-8, -1) {
			}
		}, "scan int32s (-1 values) at offset -8", false, false},
		{"Uint64s(-8, huge)", func(s *accessor.Scanner) {
			for range s.Uint64s(-8, huge) {
			}
		}, "scan uint64s (" + strconv.Itoa(huge) + " values) at offset -8", true, false},
		{"Blocks(-8, -5)", func(s *accessor.Scanner) {
			for range s.Blocks(-8, -5) {
			}
		}, "scan blocks (-5 bytes) at offset -8", false, false},
		{"Uint16s(-8, 3)", func(s *accessor.Scanner) {
			for range s.Uint16s(-8, 3) {
			}
		}, "scan uint16s (6 bytes) at offset -8", false, false},
		{"Int32s(0, -1) after Close", func(s *accessor.Scanner) {
			for range s.Int32s(0, -1) {
			}
		}, "scan int32s (-1 values) at offset 0", false, true},
		{"Uint64s(8, huge) after Close", func(s *accessor.Scanner) {
			for range s.Uint64s(8, huge) {
			}
		}, "scan uint64s (" + strconv.Itoa(huge) + " values) at offset 8", true, true},
		{"Blocks(8, -3) after Close", func(s *accessor.Scanner) {
			for range s.Blocks(8, -3) {
			}
		}, "scan blocks (-3 bytes) at offset 8", false, true},
		{"Uint16s(8, 3) after Close", func(s *accessor.Scanner) {
			for range s.Uint16s(8, 3) {
			}
		}, "scan uint16s (6 bytes) at offset 8", false, true},
	}
	closed := false
	for _, c := range cases {
		if c.wide && strconv.IntSize < 64 {
			continue
		}
		if c.after && !closed {
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			closed = true
		}
		want := chunkmap.ErrOutOfRange
		if c.after {
			want = chunkmap.ErrClosed
		}
		s := va.Scan()
		c.run(s)
		err := s.Err()
		if !errors.Is(err, want) {
			t.Fatalf("%s: Err %v, want %v", c.name, err, want)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, c.want) {
			t.Errorf("%s: message %q, want it to begin %q", c.name, msg, c.want)
		}
	}
}
