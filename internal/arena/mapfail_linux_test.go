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

// TestMap_RefusedWhereMincoreCannotTell: after a mapping refused with
// ENOMEM, refusedMap asks mincore whether the kernel left a hole in the
// slot. mincore fails with EAGAIN when it cannot allocate the page it
// works in, and that answer was taken for "no hole": the slot counted as
// reserved while its range was the kernel's to hand out, and the slot's
// next mapping would replace whatever another owner (the Go runtime) got
// there. A slot whose range mincore cannot look at is lost; one it can
// look at on a later try is reserved again.
func TestMap_RefusedWhereMincoreCannotTell(t *testing.T) {
	const size = 64 << 10
	for _, tc := range []struct {
		name  string
		fails int // mincore's EAGAINs before it answers
		lost  bool
	}{
		{"transient", mincoreTries - 1, false},
		{"persistent", 1 << 30, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Reserve(3, size)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Release()
			f, err := os.Create(filepath.Join(t.TempDir(), "chunk"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(size); err != nil {
				t.Fatal(err)
			}
			fails := tc.fails
			mincoreHook = func() unix.Errno {
				if fails == 0 {
					return 0
				}
				fails--
				return unix.EAGAIN
			}
			// The refusal empties the slot first and maps nothing into
			// the hole, as the kernel does where the file system refuses.
			SetLimitHooks(func(k int) bool { return k == 1 }, nil, func(unsafe.Pointer, uintptr) {})
			_, err = a.Map(1, f, true)
			SetLimitHooks(nil, nil, nil)
			mincoreHook = nil
			if !errors.Is(err, unix.ENOMEM) {
				t.Fatalf("refused Map = %v, want ENOMEM", err)
			}
			if got := errors.Is(err, ErrSlotLost); got != tc.lost {
				t.Fatalf("refused Map = %v: ErrSlotLost %v, want %v", err, got, tc.lost)
			}
			if a.Lost(1) != tc.lost {
				t.Fatalf("Lost(1) = %v, want %v", a.Lost(1), tc.lost)
			}
			if tc.lost {
				return // the range is the kernel's: the arena never touches it again
			}
			// A kernel before 4.17 (and qemu-user 7.2) takes the flag
			// for a hint, and maps elsewhere where the range is taken.
			q, err := reserveAt(a.slotAddr(1), size, unix.MAP_FIXED_NOREPLACE)
			if err == nil {
				unix.MunmapPtr(q, size)
				if q == a.slotAddr(1) {
					t.Fatalf("slot 1 counts as reserved, but its range is a hole (a mapping took it at %p)", q)
				}
			}
			if _, err := a.Map(1, f, true); err != nil {
				t.Fatalf("Map of slot 1 after the refusal: %v", err)
			}
		})
	}
}
