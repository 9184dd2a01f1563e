//go:build unix

// Package faulttest gives tests memory that faults when touched, as a
// program's buffer does when it maps a file that another program then
// truncates: what a call handed such a buffer must report as an error,
// never a crash of the process.
package faulttest

import (
	"os"
	"path/filepath"
	"testing"

	mmap "github.com/edsrzf/mmap-go"
)

// Buffer returns n bytes that fault when touched: a shared mapping of a
// file in a test directory, truncated to nothing after it was mapped. The
// mapping goes at the end of the test.
func Buffer(t testing.TB, n int) []byte {
	t.Helper()
	return PartlyFaulting(t, n, 0)
}

// PartlyFaulting returns n bytes whose first good bytes read as zeros and
// whose rest fault when touched: the mapping of Buffer, its file cut to
// good bytes instead of nothing.
func PartlyFaulting(t testing.TB, n, good int) []byte {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "foreign"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(n)); err != nil {
		t.Fatal(err)
	}
	mm, err := mmap.Map(f, mmap.RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mm.Unmap() })
	if err := f.Truncate(int64(good)); err != nil {
		t.Fatal(err)
	}
	return mm[:n:n]
}
