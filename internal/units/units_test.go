package units

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr error
	}{
		{"zero", "0", 0, nil},
		{"integer", "4096", 4096, nil},
		{"max", "9223372036854775807", math.MaxInt64, nil},
		{"spaces around", "  4096\t", 4096, nil},
		{"leading zeros", "007", 7, nil},
		{"bytes", "10B", 10, nil},
		{"bytes lower", "10b", 10, nil},

		{"KiB", "64KiB", 64 << 10, nil},
		{"MiB", "64MiB", 64 << 20, nil},
		{"GiB", "4GiB", 4 << 30, nil},
		{"TiB", "2TiB", 2 << 40, nil},
		{"PiB", "3PiB", 3 << 50, nil},
		{"EiB", "7EiB", 7 << 60, nil},
		{"kib", "64kib", 64 << 10, nil},
		{"Mib", "1Mib", 1 << 20, nil},
		{"GIB", "1GIB", 1 << 30, nil},
		{"space before unit", "64 KiB", 64 << 10, nil},
		{"spaces before unit", "64   MiB", 64 << 20, nil},

		{"kB", "10kB", 10_000, nil},
		{"KB", "10KB", 10_000, nil},
		{"MB", "10MB", 10_000_000, nil},
		{"mb", "10mb", 10_000_000, nil},
		{"GB", "2GB", 2_000_000_000, nil},
		{"TB", "1TB", 1e12, nil},
		{"PB", "1PB", 1e15, nil},
		{"EB", "9EB", 9e18, nil},

		{"fraction GiB", "1.5GiB", 3 << 29, nil},
		{"fraction MiB spaced", "0.5 MiB", 1 << 19, nil},
		{"fraction KiB", "0.25KiB", 256, nil},
		{"fraction exact bytes", "2.0", 2, nil},
		{"fraction MB", "1.5MB", 1_500_000, nil},
		{"fraction many digits", "1.000000000000000000000000000001EiB", 0, ErrFraction},
		{"fraction trailing zeros", "1.50000000000000000000KiB", 1536, nil},
		{"fraction of bytes", "1.5", 0, ErrFraction},
		{"fraction B", "1.5B", 0, ErrFraction},
		{"fraction KiB not whole", "0.1KiB", 0, ErrFraction},

		{"hex", "0x10000", 1 << 16, nil},
		{"hex upper", "0X1F", 31, nil},
		{"hex max", "0x7fffffffffffffff", math.MaxInt64, nil},
		{"hex overflow int64", "0x8000000000000000", 0, ErrRange},
		{"hex overflow uint64", "0x10000000000000000", 0, ErrRange},
		{"hex with unit", "0x10KiB", 0, ErrSyntax},
		{"hex empty", "0x", 0, ErrSyntax},
		{"hex garbage", "0xzz", 0, ErrSyntax},

		{"overflow integer", "9223372036854775808", 0, ErrRange},
		{"overflow TiB", "8388608TiB", 0, ErrRange},
		{"overflow EiB", "8EiB", 0, ErrRange},
		{"overflow EB", "10EB", 0, ErrRange},
		{"overflow long", strings.Repeat("9", 40) + "KiB", 0, ErrRange},

		{"negative", "-1", 0, ErrNegative},
		{"negative unit", "-1MiB", 0, ErrNegative},
		{"negative hex", "-0x10", 0, ErrNegative},
		{"negative zero", "-0", 0, ErrNegative},

		{"empty", "", 0, ErrSyntax},
		{"blank", "   ", 0, ErrSyntax},
		{"unit only", "GiB", 0, ErrSyntax},
		{"unknown unit", "12XB", 0, ErrSyntax},
		{"Ki without B", "64Ki", 0, ErrSyntax},
		{"K alone", "64K", 0, ErrSyntax},
		{"plus sign", "+5", 0, ErrSyntax},
		{"point only", ".", 0, ErrSyntax},
		{"no whole part", ".5KiB", 0, ErrSyntax},
		{"no fraction digits", "1.KiB", 0, ErrSyntax},
		{"two points", "1.2.3", 0, ErrSyntax},
		{"exponent", "1e3", 0, ErrSyntax},
		{"underscore", "1_000", 0, ErrSyntax},
		{"garbage", "lots", 0, ErrSyntax},
		{"unit twice", "1KiBKiB", 0, ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if tc.wantErr == nil {
				if err != nil || got != tc.want {
					t.Fatalf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || got != 0 {
				t.Fatalf("ParseSize(%q) = %d, %v; want 0, %v", tc.in, got, err, tc.wantErr)
			}
			pe, ok := errors.AsType[*ParseError](err)
			if !ok || pe.Input != tc.in {
				t.Errorf("ParseSize(%q): error %#v is not a *ParseError with the input", tc.in, err)
			}
			if want := "invalid size " + strconv.Quote(tc.in) + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("ParseSize(%q): error %q does not start with %q", tc.in, err, want)
			}
		})
	}
}

// TestParseSize_Messages checks that the errors say what is wrong.
func TestParseSize_Messages(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", `invalid size "": empty`},
		{"12XB", `invalid size "12XB": unknown unit "XB" (want B, KiB,`},
		{"-1", `invalid size "-1": negative`},
		{"1.5B", `invalid size "1.5B": not a whole number of bytes`},
		{"8EiB", `invalid size "8EiB": more than 9223372036854775807 bytes`},
		{"0xg", `invalid size "0xg": not a hexadecimal number`},
		{"abc", `invalid size "abc": not a number`},
	}
	for _, tc := range tests {
		_, err := ParseSize(tc.in)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("ParseSize(%q) error = %v, want it to start with %q", tc.in, err, tc.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{512, "512 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{64 << 10, "64 KiB"},
		{1536, "1.50 KiB"},
		{5<<16 + 1000, "320.98 KiB"},
		{1<<20 - 1, "1.00 MiB"}, // 1023.999 KiB rounds to the next unit
		{1<<20 - 6, "1023.99 KiB"},
		{1 << 20, "1 MiB"},
		{1<<20 + 1, "1.00 MiB"},
		{3 << 29, "1.50 GiB"},
		{4 << 40, "4 TiB"},
		{5 << 50, "5 PiB"},
		{1 << 60, "1 EiB"},
		{math.MaxInt64, "8.00 EiB"},
		{-512, "-512 B"},
		{-64 << 20, "-64 MiB"},
		{-(3 << 29), "-1.50 GiB"},
		{math.MinInt64, "-8 EiB"},
	}
	for _, tc := range tests {
		if got := FormatBytes(tc.in); got != tc.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestRoundTrip checks that ParseSize reads back what FormatBytes writes
// for exact multiples of every unit, and that FormatBytes writes back what
// ParseSize read for inputs in FormatBytes's own form.
func TestRoundTrip(t *testing.T) {
	for _, n := range []int64{0, 1, 1000, 1023, 1 << 10, 3 << 10, 1000 << 10, 64 << 20, 7 << 30, 1 << 40, 1023 << 40, 9 << 50, 7 << 60} {
		s := FormatBytes(n)
		if strings.Contains(s, ".") {
			t.Errorf("FormatBytes(%d) = %q, want no decimals for an exact multiple", n, s)
		}
		if got, err := ParseSize(s); err != nil || got != n {
			t.Errorf("ParseSize(FormatBytes(%d) = %q) = %d, %v", n, s, got, err)
		}
	}
	for _, s := range []string{"0 B", "512 B", "64 KiB", "1 MiB", "2 GiB", "3 TiB", "4 PiB", "5 EiB"} {
		n, err := ParseSize(s)
		if err != nil {
			t.Fatalf("ParseSize(%q): %v", s, err)
		}
		if got := FormatBytes(n); got != s {
			t.Errorf("FormatBytes(ParseSize(%q) = %d) = %q", s, n, got)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "4096", "1.5GiB", "0x10", "10 MB", "-1", "8EiB", "0.1KiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if _, ok := errors.AsType[*ParseError](err); !ok {
				t.Fatalf("ParseSize(%q): error %v is not a *ParseError", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, n)
		}
		if back, err := ParseSize(FormatBytes(n)); err == nil && back != n && !strings.Contains(FormatBytes(n), ".") {
			t.Fatalf("ParseSize(FormatBytes(%d) = %q) = %d", n, FormatBytes(n), back)
		}
	})
}

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		noun string
		want string
	}{
		{0, "offset", "0 offsets"},
		{1, "offset", "1 offset"},
		{2, "value", "2 values"},
		{8, "more chunk file", "8 more chunk files"},
		{-1, "value", "-1 values"},
	} {
		if got := Count(tc.n, tc.noun); got != tc.want {
			t.Errorf("Count(%d, %q) = %q, want %q", tc.n, tc.noun, got, tc.want)
		}
	}
}
