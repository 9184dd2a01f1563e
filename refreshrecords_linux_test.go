//go:build linux

package chunkmap_test

import (
	"bytes"
	"errors"
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

// TestRefresh_RecordsCheckOpenChunks opens a reader that follows the
// manifest's records (rrSetup), reads every chunk so that it holds their
// files, and then removes, cuts short or replaces with a FIFO the file of
// a chunk Size needs. Refresh promises that when it returns the reader has
// checked every chunk file it holds open against the directory, and reports
// such a file as ErrCorrupt naming it, as it does for a reader that follows
// a live writer; it returned nil, since it looked only at the chunks past
// the ones it had checked at Open.
func TestRefresh_RecordsCheckOpenChunks(t *testing.T) {
	for _, c := range []struct {
		name   string
		break_ func(p string) error
	}{
		{"removed", os.Remove},
		{"cut short", func(p string) error { return os.Truncate(p, cs/2) }},
		{"replaced by a FIFO", func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return syscall.Mkfifo(p, 0o644)
		}},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			dir := rrSetup(t)
			r := rrOpenReader(t, dir)
			if _, err := r.ReadAt(make([]byte, rrSize), 0); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "0000000000000001.chunk")
			if err := c.break_(p); err != nil {
				t.Fatal(err)
			}
			err := r.Refresh()
			if !errors.Is(err, chunkmap.ErrCorrupt) || !strings.Contains(err.Error(), p) {
				t.Errorf("Refresh with chunk 1 %s: %v, want ErrCorrupt naming %s", c.name, err, p)
			}
		})
	}
}
