//go:build unix && !linux

package chunkmap

import (
	"os"

	"golang.org/x/sys/unix"
)

// flushMapped writes back the pages b, a shared mapping, dirtied with
// msync(MS_SYNC): on these systems an fsync of the file does not promise
// to cover stores made through a mapping, as for a chunk (see the arena's
// flushSlot).
func flushMapped(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return os.NewSyscallError("msync", unix.Msync(b, unix.MS_SYNC))
}
