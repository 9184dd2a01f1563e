//go:build unix

package chunkmap_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestFollow_ReadErrorNamesTheCall checks that the error of a following
// reader's ReadAt names the call's length and offset, as every other
// ReadAt error does, and not those of the 256 KiB piece the reader was at
// when it failed: "chunkmap cat" said "read 262144 bytes at offset
// 262144" of a 1 MiB read at offset 0 that met a removed chunk file.
func TestFollow_ReadErrorNamesTheCall(t *testing.T) {
	const cs = 64 << 10
	dir := filepath.Join(t.TempDir(), "ds")
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(make([]byte, 16*cs), 0); err != nil {
		t.Fatal(err)
	}
	for _, live := range []bool{true, false} {
		name := "closed writer"
		if live {
			name = "live writer"
		}
		t.Run(name, func(t *testing.T) {
			r, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, ReadOnly: true, MaxMapped: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			// Chunk 5 lies in the read's second 256 KiB piece.
			// It is moved away and back, so that the writer finds its
			// own file again.
			name := filepath.Join(dir, "0000000000000005.chunk")
			if err := os.Rename(name, name+".away"); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := os.Rename(name+".away", name); err != nil {
					t.Error(err)
				}
			}()
			n, err := r.ReadAt(make([]byte, 1<<20), 0)
			if err == nil {
				t.Fatalf("ReadAt past a removed chunk file read %d bytes and no error", n)
			}
			if want := "read 1048576 bytes at offset 0"; !strings.HasPrefix(err.Error(), want+":") {
				t.Errorf("ReadAt error %q, want it to begin with %q", err, want)
			}
		})
		if live {
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}
