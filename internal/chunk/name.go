package chunk

// This file holds the naming scheme of chunk files and of the temporary
// files that Create wrote before renaming them in version 0.1.0, which a
// crash then could leave behind and which openers still remove.

import (
	"fmt"
	"strconv"
	"strings"
)

// Ext is the extension of every chunk file.
const Ext = ".chunk"

// tempSuffix marks a chunk file that Create (of version 0.1.0) had not
// finished; [IsTemp] recognises one so that an opener can remove it.
const tempSuffix = ".tmp"

// Name returns the file name of chunk index: the index as 16 lower-case hex
// digits followed by [Ext], so that names sort in offset order
// (Name(42) == "000000000000002a.chunk").
func Name(index int64) string {
	// Written out rather than with fmt: Open names every chunk it checks,
	// and Sprintf was a tenth of its time.
	const digits = "0123456789abcdef"
	var b [16 + len(Ext)]byte
	u := uint64(index)
	for i := 15; i >= 0; i-- {
		b[i] = digits[u&15]
		u >>= 4
	}
	copy(b[16:], Ext)
	return string(b[:])
}

// ParseName reports the index that name encodes, and whether name is a chunk
// file name at all. Only names that [Name] produces are accepted: exactly 16
// lower-case hex digits, [Ext], and an index that is not negative.
func ParseName(name string) (index int64, ok bool) {
	hex, found := strings.CutSuffix(name, Ext)
	if !found || !IndexDigits(hex) {
		return 0, false
	}
	u, err := strconv.ParseUint(hex, 16, 64)
	if err != nil || int64(u) < 0 {
		return 0, false
	}
	return int64(u), true
}

// IndexDigits reports whether s has the form of a chunk name's index: 16
// lower-case hex digits (whether or not their value is an index, which
// must not be negative as an int64).
func IndexDigits(s string) bool {
	if len(s) != 16 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// scratchName is a name for a scratch chunk of index that CreateScratch
// makes where it must create a file by name before unlinking it: unique
// with tag, so that scratch datasets sharing a directory never collide,
// and recognised by IsTemp, so that a crash in that instant leaves nothing
// a writer's Open does not remove.
func scratchName(index int64, tag uint32) string {
	return fmt.Sprintf("%s.%08x%s", Name(index), tag, tempSuffix)
}

// IsTemp reports whether name is a temporary chunk file: one left by an
// interrupted Create of version 0.1.0 (a chunk's Name and tempSuffix), or a
// scratch chunk's name of an instant (scratchName). Such a file never holds
// acknowledged data.
func IsTemp(name string) bool {
	base, found := strings.CutSuffix(name, tempSuffix)
	if !found {
		return false
	}
	if _, ok := ParseName(base); ok {
		return true
	}
	chunkPart, tag, found := strings.Cut(base, Ext+".")
	if !found || len(tag) != 8 || strings.Trim(tag, "0123456789abcdef") != "" {
		return false
	}
	_, ok := ParseName(chunkPart + Ext)
	return ok
}
