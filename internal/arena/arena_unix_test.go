//go:build unix

package arena

import (
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestReserve_Aligned checks that every arena starts at a multiple of its
// slot size, up to 2 MiB, wherever the kernel would have put it: a one-page
// mapping made just before each reservation leaves the next free address
// unaligned, and lengths that are not multiples of 2 MiB are not aligned by
// the kernel itself.
func TestReserve_Aligned(t *testing.T) {
	page := os.Getpagesize()
	for _, tc := range []struct {
		nslots int
		size   int64
	}{
		{3, 64 << 10}, {5, 128 << 10}, {1, 1 << 20}, {3, 2 << 20}, {7, 8 << 20}, {3, 64 << 20},
	} {
		for range 8 {
			filler, err := unix.Mmap(-1, 0, page, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON)
			if err != nil {
				t.Fatal(err)
			}
			a, err := Reserve(tc.nslots, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			want := uintptr(min(tc.size, 2<<20))
			if b := uintptr(a.Base()); b%want != 0 {
				t.Errorf("Reserve(%d, %d): base %#x is not a multiple of %#x", tc.nslots, tc.size, b, want)
			}
			// The whole range is reserved: its last byte faults, it does
			// not belong to another mapping.
			if _, faulted := load(unsafe.Add(a.Base(), int64(tc.nslots)*tc.size-1)); !faulted {
				t.Errorf("Reserve(%d, %d): the last byte of the range is accessible", tc.nslots, tc.size)
			}
			if err := a.Release(); err != nil {
				t.Fatal(err)
			}
			if err := unix.Munmap(filler); err != nil {
				t.Fatal(err)
			}
		}
	}
}
