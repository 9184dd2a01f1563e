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
