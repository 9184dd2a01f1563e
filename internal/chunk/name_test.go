package chunk_test

import (
	"math"
	"slices"
	"testing"

	"github.com/chunkmap/chunkmap/internal/chunk"
)

func TestName(t *testing.T) {
	tests := []struct {
		index int64
		want  string
	}{
		{0, "0000000000000000.chunk"},
		{1, "0000000000000001.chunk"},
		{42, "000000000000002a.chunk"},
		{0xabcdef, "0000000000abcdef.chunk"},
		{math.MaxInt64, "7fffffffffffffff.chunk"},
		{0x123456789abcdef0, "123456789abcdef0.chunk"},
	}
	for _, tc := range tests {
		if got := chunk.Name(tc.index); got != tc.want {
			t.Errorf("Name(%d) = %q, want %q", tc.index, got, tc.want)
		}
		got, ok := chunk.ParseName(tc.want)
		if !ok || got != tc.index {
			t.Errorf("ParseName(%q) = %d, %v, want %d, true", tc.want, got, ok, tc.index)
		}
	}
	// A negative index is never made (ParseName refuses its name), but is
	// named as two's complement, as before.
	if got := chunk.Name(-1); got != "ffffffffffffffff.chunk" {
		t.Errorf("Name(-1) = %q", got)
	}
}

func TestParseName_RoundTrip(t *testing.T) {
	for _, index := range []int64{0, 1, 9, 10, 15, 16, 255, 256, 1 << 32, 1<<62 + 12345, math.MaxInt64 - 1, math.MaxInt64} {
		name := chunk.Name(index)
		got, ok := chunk.ParseName(name)
		if !ok || got != index {
			t.Errorf("ParseName(Name(%d) = %q) = %d, %v, want %d, true", index, name, got, ok, index)
		}
		if chunk.IsTemp(name) {
			t.Errorf("IsTemp(%q) = true, want false", name)
		}
	}
}

// TestName_SortOrder checks that names sort in index order, which is what
// lets a directory listing come back in offset order.
func TestName_SortOrder(t *testing.T) {
	indices := []int64{0, 1, 2, 9, 10, 15, 16, 17, 31, 255, 256, 4095, 4096, 1 << 40, math.MaxInt64}
	var names []string
	for _, i := range indices {
		names = append(names, chunk.Name(i))
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	if !slices.Equal(sorted, names) {
		t.Errorf("sorted names = %q, want index order %q", sorted, names)
	}
}

func TestParseName_Reject(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"ext only", ".chunk"},
		{"short", "2a.chunk"},
		{"15 digits", "00000000000002a.chunk"},
		{"17 digits", "0000000000000002a.chunk"},
		{"upper case", "000000000000002A.chunk"},
		{"upper case ext", "000000000000002a.CHUNK"},
		{"non-hex", "000000000000002g.chunk"},
		{"sign", "+00000000000002a.chunk"},
		{"minus", "-00000000000002a.chunk"},
		{"0x prefix", "0x0000000000002a.chunk"},
		{"space", " 00000000000002a.chunk"},
		{"no ext", "000000000000002a"},
		{"bad suffix", "000000000000002a.chunks"},
		{"other ext", "000000000000002a.chnk"},
		{"temp", "000000000000002a.chunk.tmp"},
		{"negative", "ffffffffffffffff.chunk"},
		{"min int64", "8000000000000000.chunk"},
		{"manifest", "MANIFEST"},
		{"directory-like", "sub/000000000000002a.chunk"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := chunk.ParseName(tc.in); ok {
				t.Errorf("ParseName(%q) = %d, true, want false", tc.in, got)
			}
		})
	}
}

func TestIsTemp(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"000000000000002a.chunk.tmp", true},
		{"0000000000000000.chunk.tmp", true},
		{"7fffffffffffffff.chunk.tmp", true},
		{"000000000000002a.chunk", false},
		{"000000000000002A.chunk.tmp", false},
		{"ffffffffffffffff.chunk.tmp", false},
		{"2a.chunk.tmp", false},
		{"x.chunk.tmp", false},
		{"MANIFEST.tmp", false},
		{".tmp", false},
		{"000000000000002a.chunk.tmp.tmp", false},
		{"000000000000002a.chunk.TMP", false},
		{"000000000000002a.tmp", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := chunk.IsTemp(tc.in); got != tc.want {
			t.Errorf("IsTemp(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
