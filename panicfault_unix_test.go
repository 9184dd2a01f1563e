//go:build unix

package chunkmap_test

// Every call that touches mapped memory turns faults into panics on its
// goroutine for the moment it does (debug.SetPanicOnFault) and must then
// put back the caller's own setting: a host that set it itself (to recover
// faults on mappings of its own) must still have it after each call, and
// one that did not must not find faults turned into panics.

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

var panicFaultSink byte

// TestPanicOnFault_CallersSettingKept runs each call that touches mapped
// memory, first on a chunk that is whole and then on one cut by another
// process (the call then faults and returns ErrFault), with the caller's
// setting true and then false, and checks the setting after each.
func TestPanicOnFault_CallersSettingKept(t *testing.T) {
	calls := []struct {
		name string
		do   func(m *chunkmap.Manager, off int64) error
	}{
		{"ReadAt", func(m *chunkmap.Manager, off int64) error { _, err := m.ReadAt(make([]byte, 100), off); return err }},
		{"WriteAt", func(m *chunkmap.Manager, off int64) error { _, err := m.WriteAt(make([]byte, 100), off); return err }},
		{"Gather", func(m *chunkmap.Manager, off int64) error {
			return m.Gather(make([]byte, 16), []int64{off, off + 64}, 8)
		}},
		{"Scatter", func(m *chunkmap.Manager, off int64) error {
			return m.Scatter(make([]byte, 16), []int64{off, off + 64}, 8)
		}},
		{"AddUint64", func(m *chunkmap.Manager, off int64) error { _, err := m.AddUint64(off, 1); return err }},
		{"LoadUint32", func(m *chunkmap.Manager, off int64) error { _, err := m.LoadUint32(off); return err }},
		{"Batch", func(m *chunkmap.Manager, off int64) error {
			return m.Batch(func(b *chunkmap.Batch) error {
				p, err := b.Bytes(off, 8)
				if err == nil {
					panicFaultSink ^= p[3]
				}
				return err
			})
		}},
	}
	runtime.LockOSThread() // not needed (the setting is the goroutine's), but a host may do so
	defer runtime.UnlockOSThread()
	for _, c := range calls {
		for _, want := range []bool{true, false} {
			dir := t.TempDir()
			m := openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 4})
			if _, err := m.Append(pattern(1, 3*cs)); err != nil {
				t.Fatal(err)
			}
			readAt(t, m, cs, 8) // chunk 1 mapped
			prev := debug.SetPanicOnFault(want)
			err := c.do(m, cs+64)
			if got := debug.SetPanicOnFault(want); got != want || err != nil {
				t.Errorf("%s with the caller's setting %v: %v, setting %v after it", c.name, want, err, got)
			}
			if err := os.Truncate(filepath.Join(dir, chunk.Name(1)), 0); err != nil {
				t.Fatal(err)
			}
			err = c.do(m, cs+64)
			got := debug.SetPanicOnFault(prev)
			if got != want || !errors.Is(err, chunkmap.ErrFault) {
				t.Errorf("%s faulting with the caller's setting %v: %v (want ErrFault), setting %v after it", c.name, want, err, got)
			}
			if err := os.Truncate(filepath.Join(dir, chunk.Name(1)), cs); err != nil {
				t.Fatal(err) // whole again, for the cleanup's checks
			}
		}
	}
}
