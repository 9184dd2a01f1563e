//go:build linux

package chunkmap_test

// Tests of Sync when another program removes or replaces the file of a
// chunk that has unsynced writes.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// TestHostileFS_SyncDirtyChunkGone writes into chunk 1 after another
// program removed its file, or replaced it (by rename) with a file of the
// right size, while the Manager had it mapped or open. The write went to a
// file that no Open will read, so no Sync may report it durable: the
// README says Sync reports a dirty chunk file removed by another program
// with ErrFault, every time. A replaced file is the worse case: a Sync
// that returns nil is followed by an Open that succeeds and reads bytes
// that are not the ones written, with no error anywhere; the test checks
// that too.
func TestHostileFS_SyncDirtyChunkGone(t *testing.T) {
	for _, how := range []string{"removed", "replaced"} {
		for _, tc := range []struct {
			size   int  // 8: a store through the mapping; cs: a bulk pwrite
			stored bool // chunk 1 made dirty through its mapping before it goes
		}{{8, false}, {cs, false}, {cs, true}} {
			size := tc.size
			t.Run(fmt.Sprintf("%s/write=%d/stored=%v", how, size, tc.stored), func(t *testing.T) {
				dir := t.TempDir()
				m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 4, NoAdmission: true})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				writeAt(t, m, pattern(1, 3*cs), 0)
				if err := m.Sync(); err != nil {
					t.Fatal(err)
				}
				readAt(t, m, cs+8, 8) // maps chunk 1
				if tc.stored {
					writeAt(t, m, []byte{1}, cs+10)
				}
				path := filepath.Join(dir, chunk.Name(1))
				switch how {
				case "removed":
					if err := os.Remove(path); err != nil {
						t.Fatal(err)
					}
				case "replaced":
					tmp := filepath.Join(dir, "evil")
					if err := os.WriteFile(tmp, make([]byte, cs), 0o644); err != nil {
						t.Fatal(err)
					}
					if err := os.Rename(tmp, path); err != nil {
						t.Fatal(err)
					}
				}
				p := pattern(9, size)
				if _, err := m.WriteAt(p, cs); err != nil {
					t.Logf("WriteAt after the file was %s: %v", how, err)
					wantErrNaming(t, "WriteAt", err, chunkmap.ErrFault, path)
					return // reported: nothing was acknowledged
				}
				syncErr := m.Sync()
				t.Logf("Sync: %v", syncErr)
				if syncErr != nil {
					wantErrNaming(t, "Sync", syncErr, chunkmap.ErrFault, path)
					if n := strings.Count(syncErr.Error(), path); n != 1 {
						t.Errorf("Sync's error names %s %d times: %v", path, n, syncErr)
					}
					if err := m.Sync(); !errors.Is(err, chunkmap.ErrFault) {
						t.Errorf("the second Sync: %v, want ErrFault again", err)
					}
					return
				}
				if err := m.Close(); err != nil {
					t.Logf("Close: %v", err)
				}
				msg := fmt.Sprintf("Sync returned nil after a write to chunk file %s, which another program had %s", path, how)
				r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
				if err != nil {
					t.Fatalf("%s; Open then fails: %v", msg, err)
				}
				defer r.Close()
				got := make([]byte, size)
				if _, err := r.ReadAt(got, cs); err != nil || !bytes.Equal(got, p) {
					t.Fatalf("%s; after reopening, ReadAt(%d bytes at %d) = %v, and the bytes are not the ones written (first difference at %d): silently lost",
						msg, size, cs, err, firstDiff(got, p))
				}
			})
		}
	}
}
