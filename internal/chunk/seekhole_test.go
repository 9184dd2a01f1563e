package chunk_test

import (
	"errors"
	"io/fs"
	"testing"
)

// TestFile_FirstHole: a new chunk is all hole; bytes written in its middle
// are data, up to the next hole; a closed File says so.
func TestFile_FirstHole(t *testing.T) {
	_, f := create(t, 1)
	const at = testSize / 2
	if got, err := f.FirstHole(0); errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("no SEEK_HOLE here: %v", err)
	} else if err != nil || got != 0 {
		t.Fatalf("FirstHole(0) of a new chunk = %d, %v; want 0", got, err)
	}
	if _, err := f.WriteAt(make([]byte, 4096), at); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from     int64
		min, max int64 // where the hole may begin: blocks round it up
	}{
		{0, 0, 0},
		{at, at + 4096, testSize},
		{at + 4096, at + 4096, testSize},
	} {
		got, err := f.FirstHole(tc.from)
		if err != nil || got < tc.min || got > tc.max {
			t.Errorf("FirstHole(%d) = %d, %v; want %d to %d", tc.from, got, err, tc.min, tc.max)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.FirstHole(0); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("FirstHole of a closed File: %v, want fs.ErrClosed", err)
	}
}

// TestFile_AllocatedBytes: a new chunk takes less disk than its size (it is
// sparse, except where the file system fills files whole: tmpfs takes no
// blocks for holes either); allocated whole, it takes at least its size,
// which FirstHole may still call a hole; a closed File says so.
func TestFile_AllocatedBytes(t *testing.T) {
	_, f := create(t, 1)
	b, err := f.AllocatedBytes()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("no st_blocks here: %v", err)
	}
	if err != nil || b >= testSize {
		t.Fatalf("AllocatedBytes of a new chunk = %d, %v; want less than %d", b, err, testSize)
	}
	if err := f.Allocate(0, testSize); err != nil {
		t.Fatal(err)
	}
	if b, err := f.AllocatedBytes(); err != nil || b < testSize {
		t.Fatalf("AllocatedBytes of a chunk allocated whole = %d, %v; want at least %d", b, err, testSize)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.AllocatedBytes(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("AllocatedBytes of a closed File: %v, want fs.ErrClosed", err)
	}
}
