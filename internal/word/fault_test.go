//go:build linux

package word_test

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"unsafe"

	"github.com/chunkmap/chunkmap/internal/word"
)

// faulted runs fn with SetPanicOnFault and reports whether it panicked with
// a memory fault (a runtime.Error with an Addr method).
func faulted(fn func()) (hit bool, addr uintptr) {
	defer func() {
		if r := recover(); r != nil {
			a, ok := r.(interface {
				runtime.Error
				Addr() uintptr
			})
			if !ok {
				panic(r)
			}
			hit, addr = true, a.Addr()
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	fn()
	return false, 0
}

// TestFaultOnTruncatedMappingIsPanic checks that every operation on a
// word of a shared file mapping whose file was truncated underneath it turns
// into a recoverable panic (SIGBUS), and that the operations give the right
// values on the mapping before the truncation.
func TestFaultOnTruncatedMappingIsPanic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 1 << 16
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	p32 := (*uint32)(unsafe.Pointer(&mem[size-64]))
	p64 := (*uint64)(unsafe.Pointer(&mem[size-56]))
	word.Store32(p32, 5)
	word.Store64(p64, 1<<40)
	if word.Add32(p32, 2) != 7 || word.Add64(p64, 3) != 1<<40+3 || !word.Cas32(p32, 7, 8) || word.Cas64(p64, 1, 2) || word.Load32(p32) != 8 || word.Load64(p64) != 1<<40+3 {
		t.Fatalf("mapped word values wrong: %d %d", word.Load32(p32), word.Load64(p64))
	}
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	ops := map[string]func(){
		"Load32":  func() { word.Load32(p32) },
		"Load64":  func() { word.Load64(p64) },
		"Store32": func() { word.Store32(p32, 1) },
		"Store64": func() { word.Store64(p64, 1) },
		"Add32":   func() { word.Add32(p32, 1) },
		"Add64":   func() { word.Add64(p64, 1) },
		"Cas32":   func() { word.Cas32(p32, 0, 1) },
		"Cas64":   func() { word.Cas64(p64, 0, 1) },
	}
	for name, op := range ops {
		hit, addr := faulted(op)
		if !hit {
			t.Errorf("%s on a truncated mapping did not fault", name)
			continue
		}
		lo := uintptr(unsafe.Pointer(&mem[0]))
		if addr < lo || addr >= lo+size {
			t.Errorf("%s: fault address %#x outside the mapping [%#x, %#x)", name, addr, lo, lo+size)
		}
	}
}
