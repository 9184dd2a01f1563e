package accessor_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestScanOverflowMessage checks the message of a scan whose end overflows
// int64: a typed scan names its count in values of their size, a block
// scan, whose count is bytes, names bytes only (not "values of 1 bytes").
func TestScanOverflowMessage(t *testing.T) {
	m, va, _ := advScanSetup(t, 100, nil)
	_ = m
	for _, c := range []struct {
		name      string
		run       func(s *accessor.Scanner)
		want, bad string
		wide      bool // needs a 64-bit int to overflow
	}{
		{"Uint64s", func(s *accessor.Scanner) {
			for range s.Uint64s(8, int(^uint(0)>>1)/4) {
			}
		}, "scan uint64s (2305843009213693951 values) at offset 8", "", true},
		{"Blocks", func(s *accessor.Scanner) {
			for range s.Blocks(10, 1<<63-5) {
			}
		}, "scan blocks (9223372036854775803 bytes) at offset 10", "values", false},
	} {
		if c.wide && strconv.IntSize < 64 {
			continue // no int count of 8-byte values reaches past int64
		}
		s := va.Scan()
		c.run(s)
		err := s.Err()
		if !errors.Is(err, chunkmap.ErrOutOfRange) {
			t.Fatalf("%s: Err %v, want ErrOutOfRange", c.name, err)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, c.want) || !strings.Contains(msg, "overflows int64") ||
			c.bad != "" && strings.Contains(msg, c.bad) {
			t.Errorf("%s: message %q: want it to begin %q, say the end overflows int64, and not say %q", c.name, msg, c.want, c.bad)
		}
	}
}

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
