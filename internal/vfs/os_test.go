package vfs

import (
	"os"
	"path/filepath"
	"testing"

	mmap "github.com/edsrzf/mmap-go"
)

// TestLstat_SameFileWhileMapped checks that what Lstat says of a file that
// is open and mapped writable tells it for the same file as the open
// handle's Stat does: the Manager asks that of its manifest and of its
// chunk files, which it keeps mapped, to see whether another program
// replaced them.
func TestLstat_SameFileWhileMapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OS.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	mm, err := mmap.MapRegion(f.OS(), 64<<10, mmap.RDWR, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer mm.Unmap()
	onDisk, err := OS.Lstat(path)
	if err != nil {
		t.Fatalf("Lstat of a mapped file: %v", err)
	}
	if !os.SameFile(onDisk, info) {
		t.Fatalf("Lstat(%s) of a file open and mapped is not the same file as its handle's Stat", path)
	}
}
