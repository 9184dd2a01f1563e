package chunkmap

import "testing"

// TestPlace checks how an error message names its call: the operation, the
// length with its unit in the right number, and the offset, each only
// where the call has one.
func TestPlace(t *testing.T) {
	for _, c := range []struct {
		op   string
		s    span
		want string
	}{
		{"read", at(12, 4), "read 4 bytes at offset 12"},
		{"read", at(3, 1), "read 1 byte at offset 3"},
		{"write", at(0, 0), "write 0 bytes at offset 0"},
		{"drop", atOff(12), "drop at offset 12"},
		{"append", ofLen(1), "append 1 byte"},
		{"append", ofLen(4), "append 4 bytes"},
		{"close", whole, "close"},
	} {
		if got := place(c.op, c.s); got != c.want {
			t.Errorf("place(%q, %+v) = %q, want %q", c.op, c.s, got, c.want)
		}
	}
}
