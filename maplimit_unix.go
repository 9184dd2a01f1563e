//go:build unix

package chunkmap

import (
	"errors"

	"golang.org/x/sys/unix"
)

// mapRefused reports whether err is the system refusing a mapping for want
// of memory or of mappings: mmap(2)'s ENOMEM, returned when the process has
// reached its most mappings (vm.max_map_count on Linux) or its address-space
// limit (RLIMIT_AS), or when no range of addresses is left.
func mapRefused(err error) bool { return errors.Is(err, unix.ENOMEM) }

// mapRefusedHint is what a refused mapping's error adds for the operator.
const mapRefusedHint = "the process is out of memory mappings or address space: raise vm.max_map_count (Linux) or the address-space limit (ulimit -v), or lower MaxMapped"
