package bench

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/chunkmap/chunkmap/internal/units"
)

// ParseSize parses a positive byte count such as "256MiB", "2GiB", "64K"
// or "4096": the forms of internal/units (bytes, 0x-prefixed hex, a number
// with a unit: KiB to EiB in powers of 1024, kB to EB in powers of 1000,
// 1.5GiB where that is whole bytes) and, as the -cold flag has always
// taken them, the single letters K, M, G and T (any case) as binary units:
// "64K" and "64KiB" are both 64<<10, while "64kB" is 64,000.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	// A single letter after the number ("64K", "2 g") is a binary unit.
	if k := len(t) - 1; k > 0 && strings.IndexByte("kKmMgGtT", t[k]) >= 0 && strings.IndexByte("0123456789. ", t[k-1]) >= 0 {
		t += "iB"
	}
	n, err := units.ParseSize(t)
	if pe, ok := errors.AsType[*units.ParseError](err); ok {
		e := *pe
		e.Input = s // name what was given, not what it was read as
		return 0, fmt.Errorf("bench: %w", &e)
	}
	if n <= 0 {
		return 0, fmt.Errorf("bench: size %q is not a positive byte count such as 256MiB", s)
	}
	return n, nil
}

// FormatSize formats n with the largest binary unit that divides it, with
// no space and no decimals ("256MiB", "1536MiB", "12B"), so that it can be
// part of a benchmark or file name and ParseSize reads it back exactly.
// It is not internal/units.FormatBytes, which writes "256 MiB" and "1.50
// GiB" for people: the names benchstat groups by, and the data files
// already built, use this form.
func FormatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.n && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
