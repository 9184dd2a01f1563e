package accessor_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// TestAdversarialBulkFaultNamesCall truncates a chunk file from outside, as
// another process might, and checks that a bulk read or write that passes
// its range check and then faults there names its own call, type, length
// and offset once, like every other error of the typed calls: not the
// ReadAt or WriteAt underneath, nor (for a write of more than 4 KiB) the
// piece of it that faulted.
func TestAdversarialBulkFaultNamesCall(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows cannot truncate a mapped file")
	}
	m := advOpen(t, t.TempDir(), &chunkmap.Options{MaxMapped: 4})
	if _, err := m.WriteAt(make([]byte, 3*advCS), 0); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(m.Dir(), chunk.Name(1))
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	// Put the size back before the Manager syncs and closes.
	t.Cleanup(func() {
		if err := os.Truncate(path, advCS); err != nil {
			t.Error(err)
		}
	})
	for _, o := range advOrders {
		va := accessor.New(m, o.order)
		for _, c := range []struct {
			name  string
			off   int64
			count int // values of 8 bytes (4 for the uint32 calls)
			call  func(off int64, count int) error
			op    string
			size  int
		}{
			{"ReadUint64s", advCS - 16, 8, func(off int64, k int) error { return va.ReadUint64s(off, make([]uint64, k)) }, "read uint64s", 8},
			{"ReadUint32s", advCS - 8, 1 << 12, func(off int64, k int) error { return va.ReadUint32s(off, make([]uint32, k)) }, "read uint32s", 4},
			{"WriteUint64s", advCS - 16, 8, func(off int64, k int) error { return va.WriteUint64s(off, make([]uint64, k)) }, "write uint64s", 8},
			// Bigger than a bulk write's piece (4 KiB): the fault is in
			// a later piece than the first.
			{"WriteUint64s/pieces", advCS - 3*4096, 1 << 12, func(off int64, k int) error { return va.WriteUint64s(off, make([]uint64, k)) }, "write uint64s", 8},
			{"WriteFloat32s/pieces", advCS - 5000, 1 << 12, func(off int64, k int) error { return va.WriteFloat32s(off, make([]float32, k)) }, "write float32s", 4},
		} {
			what := fmt.Sprintf("%s: %s(%d, %d values)", o.name, c.name, c.off, c.count)
			err := c.call(c.off, c.count)
			extent := fmt.Sprintf("%s (%d bytes) at offset %d", c.op, c.count*c.size, c.off)
			advIsErr(t, what, err, chunkmap.ErrFault, extent, chunk.Name(1))
			if err != nil && strings.Count(err.Error(), "at offset") != 1 {
				t.Errorf("%s: %q names more than one place", what, err)
			}
		}
	}
}
