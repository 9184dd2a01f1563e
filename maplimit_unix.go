//go:build unix

package chunkmap

import (
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// mapRefused reports whether err is the system refusing a mapping for want
// of memory or of mappings: mmap(2)'s ENOMEM, returned when the process has
// reached its most mappings (vm.max_map_count on Linux) or its address-space
// limit (RLIMIT_AS), or when no range of addresses is left.
func mapRefused(err error) bool { return errors.Is(err, unix.ENOMEM) }

// mapRefusedHint is what a refused mapping's error adds for the operator.
const mapRefusedHint = "the process is out of memory mappings or address space: raise vm.max_map_count (Linux) or the address-space limit (ulimit -v)"

// init meets, once, the error types of a refused mapping or descriptor, as
// the paths that handle one do (refused, refusalError, the caller's
// wrapping and its errors.Is and errors.As): the runtime makes a table
// entry the first time an interface assertion meets a type, in memory it
// maps, and a process at its limit of mappings dies when that map fails.
// Met here, the entries exist before the limit is reached.
func init() {
	var said *refusal
	for _, errno := range []error{unix.ENOMEM, unix.EMFILE, unix.ENOENT} {
		err := chunkError(&fs.PathError{Op: "map", Path: "chunk", Err: errno})
		if refused(err) && !errors.As(err, &said) {
			err = &refusal{err: err, why: mapRefusedHint}
		}
		err = fmt.Errorf("pin 8 bytes at offset 0: %w", fmt.Errorf("map chunks 0 to 1 side by side: %w", err))
		_ = err.Error()
		_ = errors.Is(err, ErrIO) && errors.As(err, &said) && refused(err)
	}
}
