//go:build unix

package chunk

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// retire maps an anonymous, inaccessible region over b with MAP_FIXED.
// mmap(2) replaces the old mapping atomically, so there is no instant at
// which the range is unmapped and free for the kernel to hand to another
// mapping. unsafe is needed because x/sys exposes fixed-address mapping only
// as MmapPtr.
func retire(b []byte) (bool, error) {
	_, err := unix.MmapPtr(-1, 0, unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)),
		unix.PROT_NONE, unix.MAP_FIXED|unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return false, err
	}
	return true, nil
}
