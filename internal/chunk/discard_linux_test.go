package chunk_test

import (
	"os"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap/internal/chunk"
)

func init() { zeroOps = append(zeroOps, zeroOp{"discard", (*chunk.File).Discard}) }

// TestFile_DiscardGivesBackBlocks checks that Discard leaves whole pages a
// hole (their blocks given back), and writes the partial ones, where Zero
// keeps every block.
func TestFile_DiscardGivesBackBlocks(t *testing.T) {
	for _, tc := range []struct {
		op       zeroOp
		discards bool
	}{{zeroOps[0], false}, {zeroOp{"discard", (*chunk.File).Discard}, true}} {
		t.Run(tc.op.name, func(t *testing.T) {
			_, f := create(t, 1)
			if err := f.Allocate(0, testSize); err != nil {
				t.Fatal(err)
			}
			before := blocks(t, f.Path())
			if before < testSize {
				t.Skipf("the file system allocated %d bytes of %d", before, testSize)
			}
			// Whole pages, and parts of the first and the last.
			pg := int64(os.Getpagesize())
			whole := (testSize-100)&^(pg-1) - (100+pg-1)&^(pg-1)
			if whole <= 0 {
				t.Skipf("no whole page of %d bytes in the range", pg)
			}
			if err := tc.op.call(f, 100, testSize-200); err != nil {
				t.Fatal(err)
			}
			after := blocks(t, f.Path())
			if want := before - whole; tc.discards && after > want {
				t.Errorf("after %s of %d bytes of whole pages the file has %d bytes on disk, want at most %d", tc.op.name, whole, after, want)
			}
			if !tc.discards && after < before {
				t.Errorf("after %s the file has %d bytes on disk, want %d", tc.op.name, after, before)
			}
		})
	}
}

// blocks returns the bytes allocated on disk to the file at path.
func blocks(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}
