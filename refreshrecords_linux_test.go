//go:build linux

package chunkmap_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestRefresh_RecordsLeaveNamesPastSizeAlone opens a reader on a dataset
// whose state page a writer of another boot left (so the reader follows the
// manifest's records, as after a power loss), with something under the
// chunk name just past Size: a FIFO, a directory, a short or empty file (a
// crash during growth leaves those), or a whole spare chunk. A ReadOnly Open
// leaves such a name alone, since it holds nothing of the dataset, and so
// must Refresh: it failed with ErrCorrupt ("0 bytes, want 65536") for all
// but the whole file, which it counted as a chunk of the dataset.
func TestRefresh_RecordsLeaveNamesPastSizeAlone(t *testing.T) {
	kinds := []struct {
		name string
		make func(p string) error
	}{
		{"FIFO", func(p string) error { return syscall.Mkfifo(p, 0o644) }},
		{"directory", func(p string) error { return os.Mkdir(p, 0o755) }},
		{"empty file", func(p string) error { return os.WriteFile(p, nil, 0o644) }},
		{"short file", func(p string) error { return os.WriteFile(p, []byte("x"), 0o644) }},
		{"whole spare chunk", func(p string) error { return os.WriteFile(p, make([]byte, cs), 0o644) }},
	}
	for _, k := range kinds {
		t.Run(strings.ReplaceAll(k.name, " ", "_"), func(t *testing.T) {
			dir := rrSetup(t)
			if err := k.make(filepath.Join(dir, "0000000000000003.chunk")); err != nil {
				t.Fatal(err)
			}
			r := rrOpenReader(t, dir)
			opened := r.Stats().Chunks
			if err := r.Refresh(); err != nil {
				t.Fatalf("Refresh with %s past Size: %v, want nil (Open left it alone)", k.name, err)
			}
			if got := r.Stats().Chunks; got != opened || got != 3 {
				t.Errorf("Refresh with %s past Size: %d chunks, want 3 (as Open counted %d)", k.name, got, opened)
			}
			got := make([]byte, rrSize)
			if n, err := r.ReadAt(got, 0); n != rrSize || err != nil || !bytes.Equal(got, rrData) {
				t.Errorf("ReadAt after Refresh = %d, %v; want the %d bytes written", n, err, rrSize)
			}
		})
	}
}

// rrSize is the Size of rrSetup's dataset: chunks 0 to 2.
const rrSize = 2*cs + 5

// rrData is what rrSetup's dataset holds.
var rrData = pattern(7, rrSize)

// rrSetup makes a dataset of rrData, closed, whose state page a writer of
// another boot left (a reader follows its records), and returns its
// directory.
func rrSetup(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt(rrData, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(manifestPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	copy(b[stateBootOff:], "00000000-0000-4000-8000-000000000000")
	if err := os.WriteFile(manifestPath(dir), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// rrOpenReader opens a ReadOnly Manager on dir, closed when t ends.
func rrOpenReader(t *testing.T, dir string) *chunkmap.Manager {
	t.Helper()
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("ReadOnly Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
