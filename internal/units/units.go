// Package units parses and formats byte counts for the chunkmap command,
// the examples and the benchmarks, so that every flag that takes a size
// accepts the same forms and every size printed for people reads the same;
// and counts things for the messages of the library and the accessor
// (Count).
//
// It lives under internal/ because its syntax is a convention of this
// repository's programs, not part of the library's API. The nested bench
// module may import it too: its module path,
// github.com/chunkmap/chunkmap/bench, lies under this module's.
package units

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Sentinel errors. Every error of ParseSize is a *ParseError that wraps one
// of them, so callers test them with [errors.Is].
var (
	// ErrSyntax is returned for input that is not a byte count: empty, not
	// a number, or a number with an unknown unit.
	ErrSyntax = errors.New("units: not a byte count")
	// ErrRange is returned for a byte count larger than math.MaxInt64.
	ErrRange = errors.New("units: byte count out of range")
	// ErrNegative is returned for a negative byte count.
	ErrNegative = errors.New("units: negative byte count")
	// ErrFraction is returned for a fraction that does not come to a whole
	// number of bytes, such as 1.5B or 0.1KiB.
	ErrFraction = errors.New("units: not a whole number of bytes")
)

// ParseError is the error of ParseSize: the input and what is wrong with
// it. Its message names the input (quoted) and says what is wrong in
// words that make sense on a command line.
type ParseError struct {
	// Input is the string given to ParseSize.
	Input string
	// Err is ErrSyntax, ErrRange, ErrNegative or ErrFraction.
	Err error

	reason string // what is wrong, for Error
}

// Error returns "invalid size", the quoted input and the reason.
func (e *ParseError) Error() string {
	return "invalid size " + strconv.Quote(e.Input) + ": " + e.reason
}

// Unwrap returns e.Err.
func (e *ParseError) Unwrap() error { return e.Err }

// unitsHelp lists the units ParseSize knows, for its errors.
const unitsHelp = "want B, KiB, MiB, GiB, TiB, PiB, EiB (powers of 1024) or kB, MB, GB, TB, PB, EB (powers of 1000)"

// multipliers maps each unit ParseSize knows, in lower case, to its number
// of bytes. The empty unit is a plain number of bytes.
var multipliers = map[string]int64{
	"": 1, "b": 1,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "pib": 1 << 50, "eib": 1 << 60,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15, "eb": 1e18,
}

// ParseSize parses a byte count:
//
//   - a decimal integer: "4096";
//   - a hexadecimal integer after 0x or 0X: "0x10000" (no unit);
//   - a decimal number followed by a unit: B; KiB, MiB, GiB, TiB, PiB or
//     EiB (powers of 1024); kB (or KB), MB, GB, TB, PB or EB (powers of
//     1000). Units are case-insensitive ("64kib" is 64 KiB, "10mb" is 10 MB)
//     and may be preceded by spaces ("0.5 MiB").
//
// The number may have a fraction ("1.5GiB") as long as the result is a
// whole number of bytes; otherwise (1.5B, 0.1KiB) the error matches
// ErrFraction. Leading and trailing spaces are ignored. A negative number
// gives an error matching ErrNegative, a count above math.MaxInt64 one
// matching ErrRange, and anything else that is not a byte count (empty
// input included) one matching ErrSyntax. Every error is a *ParseError
// whose message names s.
func ParseSize(s string) (int64, error) {
	fail := func(err error, format string, args ...any) (int64, error) {
		return 0, &ParseError{Input: s, Err: err, reason: fmt.Sprintf(format, args...)}
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return fail(ErrSyntax, "empty")
	}
	if t[0] == '-' {
		return fail(ErrNegative, "negative")
	}
	if len(t) >= 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') {
		// strconv.ParseUint with base 16 takes hex digits only: no sign,
		// no prefix, no underscores.
		n, err := strconv.ParseUint(t[2:], 16, 64)
		switch {
		case errors.Is(err, strconv.ErrRange) || (err == nil && n > math.MaxInt64):
			return fail(ErrRange, "more than %d bytes", int64(math.MaxInt64))
		case err != nil:
			return fail(ErrSyntax, "not a hexadecimal number (hexadecimal takes no unit)")
		}
		return int64(n), nil
	}

	// The number: digits, optionally a point and more digits.
	i := 0
	for i < len(t) && isDigit(t[i]) {
		i++
	}
	whole, frac := t[:i], ""
	if i < len(t) && t[i] == '.' {
		j := i + 1
		for j < len(t) && isDigit(t[j]) {
			j++
		}
		frac, i = t[i+1:j], j
		if frac == "" {
			return fail(ErrSyntax, "no digits after the decimal point")
		}
	}
	if whole == "" {
		return fail(ErrSyntax, "not a number (want e.g. 4096, 0x1000, 64KiB, 1.5GiB or 10MB)")
	}
	unit := strings.TrimSpace(t[i:])
	mult, ok := multipliers[strings.ToLower(unit)]
	if !ok {
		return fail(ErrSyntax, "unknown unit %q (%s)", unit, unitsHelp)
	}

	// (whole.frac × mult) exactly: (whole‖frac) × mult / 10^len(frac).
	// big.Int keeps it exact for any number of digits.
	n, _ := new(big.Int).SetString(whole+frac, 10) // only digits, so it parses
	n.Mul(n, big.NewInt(mult))
	if frac != "" {
		den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
		var rem big.Int
		n.QuoRem(n, den, &rem)
		if rem.Sign() != 0 {
			return fail(ErrFraction, "not a whole number of bytes")
		}
	}
	if !n.IsInt64() {
		return fail(ErrRange, "more than %d bytes", int64(math.MaxInt64))
	}
	return n.Int64(), nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// binaryUnits are the units FormatBytes uses, from the largest down, with
// their power of two.
var binaryUnits = []struct {
	name  string
	shift uint
}{
	{"EiB", 60}, {"PiB", 50}, {"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10},
}

// FormatBytes formats n bytes for people, with the largest binary unit that
// keeps the number at least 1: "512 B", "64 KiB" for an exact multiple of
// the unit, and two decimals otherwise ("1.50 GiB", "320.98 KiB"). A
// negative n gets a minus sign ("-4 MiB"). A value that rounds up to 1024
// of a unit is written in the next one ("1.00 MiB", not "1024.00 KiB").
// A result with neither decimals nor a minus sign parses back to n with
// ParseSize.
func FormatBytes(n int64) string {
	sign := ""
	u := uint64(n)
	if n < 0 {
		sign, u = "-", -u // two's complement: also right for math.MinInt64
	}
	for k, unit := range binaryUnits {
		size := uint64(1) << unit.shift
		if u < size {
			continue
		}
		if u%size == 0 {
			return sign + strconv.FormatUint(u/size, 10) + " " + unit.name
		}
		v := float64(u) / float64(size)
		if math.Round(v*100) >= 1024*100 && k > 0 {
			// 1023.995 KiB and more print as 1.00 MiB.
			unit = binaryUnits[k-1]
			v = float64(u) / float64(uint64(1)<<unit.shift)
		}
		return sign + strconv.FormatFloat(v, 'f', 2, 64) + " " + unit.name
	}
	return sign + strconv.FormatUint(u, 10) + " B"
}

// Count returns n and noun, in the plural (noun + "s") unless n is 1:
// "1 offset", "3 offsets", "0 offsets".
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
