//go:build linux

package chunkmap_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// TestDiskUse_StaleBytesStayHoles checks that bytes a growth must zero
// because they may be stale (past Size since a Truncate, or past Size when
// the dataset was opened, where a crash may have left writes) read as
// zeros, and take no disk space where they were not allocated: they become
// holes, as bytes never written are. Zeroing them in place allocated them:
// a growth after an Open took the whole rest of the last chunk, a chunk's
// worth of disk space (1 GiB with the default chunk size) for nothing
// written. Stale bytes are planted past Size (written, then cut off by a
// Truncate); the data before them must stay.
func TestDiskUse_StaleBytesStayHoles(t *testing.T) {
	keepHolesOnTmpfs(t)
	const cs = 64 << 20
	data := bytes.Repeat([]byte{'A'}, 64<<10)
	const at = 5 << 20           // data at [at, at+len(data)); Size ends there
	stale := make([]byte, 1<<20) // written past it, then cut off
	const step = 4 << 20         // the allocation step of 64 MiB chunks
	tests := []struct {
		name   string
		reopen bool
		grow   func(m *chunkmap.Manager) error
		wrote  []byte // at the old Size
		limit  int64  // the bytes chunk 0 may have on disk after, if more than before
	}{
		{"reopen, Truncate up", true, func(m *chunkmap.Manager) error { return m.Truncate(4 * cs) }, nil, 0},
		{"reopen, WriteAt past Size", true, func(m *chunkmap.Manager) error {
			_, err := m.WriteAt([]byte("far"), 4*cs-3)
			return err
		}, nil, 0},
		// A small Append allocates its chunk's prefix up to the next step.
		{"reopen, Append", true, func(m *chunkmap.Manager) error {
			_, err := m.Append([]byte("next"))
			return err
		}, []byte("next"), 2 * step},
		{"Truncate down and up", false, func(m *chunkmap.Manager) error {
			if err := m.Truncate(16 * cs); err != nil {
				return err
			}
			if err := m.Truncate(at + int64(len(data))); err != nil {
				return err
			}
			return m.Truncate(16 * cs)
		}, nil, 0},
	}
	for i := range stale {
		stale[i] = 'S'
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := &chunkmap.Options{ChunkSize: cs}
			m, err := chunkmap.Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { m.Close() }()
			size := at + int64(len(data))
			if _, err := m.WriteAt(data, at); err != nil {
				t.Fatal(err)
			}
			if _, err := m.WriteAt(stale, size); err != nil {
				t.Fatal(err)
			}
			if err := m.Truncate(size); err != nil {
				t.Fatal(err)
			}
			if tc.reopen {
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
				if m, err = chunkmap.Open(dir, opts); err != nil {
					t.Fatal(err)
				}
			}
			chunk0 := filepath.Join(dir, chunk.Name(0))
			before := fileBlocks(t, chunk0)
			if err := tc.grow(m); err != nil {
				t.Fatal(err)
			}
			// One page at the old Size may be written with zeros.
			if after := fileBlocks(t, chunk0); after > max(before, tc.limit)+4096 {
				t.Errorf("growth from Size %d to %d took chunk 0 from %d to %d bytes on disk, with %d bytes written there",
					size, m.Size(), before, after, len(tc.wrote))
			}
			if m.Size() < cs {
				if err := m.Truncate(cs); err != nil {
					t.Fatal(err)
				}
			}
			wantBytes(t, m, at, data, "the data before the growth")
			wantBytes(t, m, size, tc.wrote, "the bytes the growth wrote")
			for _, off := range []int64{size + int64(len(tc.wrote)), size + 4096, size + int64(len(stale)) - 4096, at + 8<<20, cs - 4096} {
				wantBytes(t, m, off, make([]byte, 4096), "bytes past the old Size")
			}
		})
	}
}

// wantBytes fails the test unless the len(want) bytes at off read as want.
func wantBytes(t *testing.T, m *chunkmap.Manager, off int64, want []byte, what string) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := m.ReadAt(got, off); err != nil {
		t.Fatalf("%s: ReadAt(%d bytes at %d): %v", what, len(got), off, err)
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("%s: byte at %d = %#x, want %#x", what, off+int64(i), got[i], want[i])
	}
}
