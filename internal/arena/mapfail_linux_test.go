package arena

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestMap_RefusedByTheFileSystemKeepsTheSlot: a file system that fails
// (ext4 shut down, as after a device error) refuses to map its files with
// EIO, and the kernel refuses so only after it has emptied the range of a
// MAP_FIXED mapping: the slot's reservation was gone, a hole in the arena
// that the Go runtime's next small allocation could take (64 KiB, a chunk
// of the smallest size, is the size of its mark-bit arenas), and the
// arena's next Map or Unmap of the slot, or its Release, replaced or
// unmapped that memory: the process died with SIGSEGV in the runtime. A
// refused Map must leave the slot reserved.
func TestMap_RefusedByTheFileSystemKeepsTheSlot(t *testing.T) {
	f := shutDownFile(t)
	const size = 64 << 10
	a, err := Reserve(3, size)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	if _, err := a.Map(1, f, true); !errors.Is(err, unix.EIO) {
		t.Fatalf("Map of a file on a file system shut down: %v, want EIO", err)
	}
	q, err := reserveAt(a.slotAddr(1), size, unix.MAP_FIXED_NOREPLACE)
	if err == nil {
		unix.MunmapPtr(q, size)
		t.Fatalf("after the refused Map, slot 1's range is a hole (a mapping took it at %p)", q)
	}
	if !errors.Is(err, unix.EEXIST) {
		t.Fatalf("probe of slot 1's range: %v", err)
	}
	if a.Lost(1) {
		t.Errorf("slot 1 is lost")
	}
}

// TestMapSpan_RefusedLeavesOthersMappings: where MapSpan's mapping of a
// file was refused after the kernel had emptied its range (see
// TestMap_RefusedByTheFileSystemKeepsTheSlot), MapSpan unmapped its whole
// reservation, and with it whatever another thread had mapped into that
// hole meanwhile.
func TestMapSpan_RefusedLeavesOthersMappings(t *testing.T) {
	bad := shutDownFile(t)
	good, err := os.Create(filepath.Join(t.TempDir(), "good"))
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	const size = 64 << 10
	if err := good.Truncate(size); err != nil {
		t.Fatal(err)
	}
	var other unsafe.Pointer
	spanRefusedHook = func(at unsafe.Pointer, n uintptr) {
		if q, err := reserveAt(at, n, unix.MAP_FIXED_NOREPLACE); err == nil && q == at {
			other = q
		}
	}
	defer func() { spanRefusedHook = nil }()
	if _, err := MapSpan([]*os.File{good, bad}, size, size-4096, 4096, true); !errors.Is(err, unix.EIO) {
		t.Fatalf("MapSpan over a file on a file system shut down: %v, want EIO", err)
	}
	if other == nil {
		t.Skip("the kernel left no hole where the mapping was refused")
	}
	// A mapping still there makes a new one at its address fail.
	if q, err := reserveAt(other, 4096, unix.MAP_FIXED_NOREPLACE); err == nil {
		unix.MunmapPtr(q, 4096)
		t.Fatalf("the mapping another owner made in the hole at %p was unmapped", other)
	}
	unix.MunmapPtr(other, 4096)
}

// shutDownFile returns a file of 64 KiB, open for writing, on an ext4
// image it mounts and then shuts down as after a device error
// (EXT4_IOC_SHUTDOWN with EXT4_GOING_FLAGS_NOLOGFLUSH), and unmounts when
// t ends. It skips t unless it runs as root with mkfs.ext4 and loop
// devices.
func shutDownFile(t *testing.T) *os.File {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to mount a file system image")
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("needs mkfs.ext4")
	}
	img := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v: %s", err, out)
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a loop device: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	f, err := os.Create(filepath.Join(mnt, "chunk"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(64 << 10); err != nil {
		t.Fatal(err)
	}
	flag := uint32(2)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), 0x8004587D, uintptr(unsafe.Pointer(&flag))); e != 0 {
		t.Skipf("cannot shut the file system down: %v", e)
	}
	return f
}
