//go:build unix

package chunkmap_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// TestSmallWrites_ReplacedMappedChunk: another program replaces the file
// of a mapped, clean chunk after a Sync. A write after it, small or bulk,
// must be read back by ReadAt (which reads through the mapping, of the old
// file), and the next Sync must report the replacement: sent with pwrite
// to a file opened by name, the write went to the new file, ReadAt
// returned the old bytes and Sync returned nil (small writes until
// pwritesMappedLocked; bulk ones, of bulkWrite bytes or more, after it;
// and those past a hole of a sparse chunk, which go by pwrite, until the
// same check went with them).
func TestSmallWrites_ReplacedMappedChunk(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for _, tc := range []struct {
		name   string
		off    int64
		data   []byte
		sparse bool // the dataset Truncated to a chunk, and the file replaced by a sparse one
	}{
		{"small", 64, []byte("written!"), false},
		{"bulk", 0, bytes.Repeat([]byte("bulk, whole chunk"), cs/16)[:cs], false},
		{"past a hole of a sparse chunk", cs / 2, []byte("written!"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, NoAdmission: true})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if tc.sparse {
				keepHolesOnTmpfs(t)
				if err := m.Truncate(cs); err != nil {
					t.Fatal(err)
				}
			} else if _, err := m.WriteAt(bytes.Repeat([]byte{5}, cs), 0); err != nil {
				t.Fatal(err)
			}
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			// A read maps the chunk, taking its file from the descriptor
			// cache: the cache holds no file of it now.
			got := make([]byte, 8)
			if _, err := m.ReadAt(got, 8); err != nil {
				t.Fatal(err)
			}
			if live, _, _ := m.Mappings(); live != 1 {
				t.Fatalf("%d chunks mapped, want 1", live)
			}
			if tc.sparse {
				replaceSparse(t, dir, 0, cs)
			} else {
				chunkmap.ReplaceChunkFile(t, dir, 0)
			}
			if _, err := m.WriteAt(tc.data, tc.off); err != nil {
				t.Fatal(err)
			}
			got = make([]byte, len(tc.data))
			if _, err := m.ReadAt(got, tc.off); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.data) {
				t.Errorf("ReadAt(%d) does not read back the %d bytes WriteAt wrote there", tc.off, len(tc.data))
			}
			if err := m.Sync(); !errors.Is(err, chunkmap.ErrFault) {
				t.Errorf("Sync after a write to a mapped chunk whose file was replaced = %v, want ErrFault", err)
			}
		})
	}
}

// replaceSparse replaces chunk idx of the dataset in dir, as another
// program may, with a file of size bytes that is all hole.
func replaceSparse(t *testing.T, dir string, idx, size int64) {
	t.Helper()
	tmp := filepath.Join(dir, "copy")
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(f.Truncate(size), f.Close()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, chunk.Name(idx))); err != nil {
		t.Fatal(err)
	}
}
