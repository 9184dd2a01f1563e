package chunkmap

import (
	"bytes"
	"os"
	"strconv"
)

// addressSpaceInUse returns the address space the process has mapped, in
// bytes (what RLIMIT_AS bounds: vsize, the 23rd field of /proc/self/stat),
// and whether it could be read.
func addressSpaceInUse() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// The command's name, the second field, is in parentheses and may
	// hold spaces and parentheses itself: count from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:])
	const vsize = 23 - 3 // fields from the third (the state) on
	if len(f) <= vsize {
		return 0, false
	}
	n, err := strconv.ParseUint(string(f[vsize]), 10, 64)
	return n, err == nil
}
