//go:build unix

package chunkmap_test

// Tests of hostile directory entries under a dataset's names: FIFOs, whose
// open or read would block until a writer comes, and symlinks, which would
// lead the library to files outside the dataset. Every call must refuse them
// promptly. A call that blocks instead is a failure after hostileTimeout,
// not a stuck test: the test opens the FIFO itself to release it.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// hostileTimeout bounds every call on a hostile directory. It turns a hang
// into a failure and asserts nothing about speed.
const hostileTimeout = 20 * time.Second

// within runs f and fails the test if it does not return within
// hostileTimeout. It then opens fifo for reading and writing until f
// returns, which releases an open or a read blocked on it, so that the
// test fails instead of hanging.
func within(t *testing.T, fifo, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		return
	case <-time.After(hostileTimeout):
	}
	for deadline := time.Now().Add(hostileTimeout); time.Now().Before(deadline); {
		if fd, err := syscall.Open(fifo, syscall.O_RDWR|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0); err == nil {
			syscall.Close(fd)
		}
		select {
		case <-done:
			t.Fatalf("%s blocked on the FIFO %s (for %v, until the test opened it)", what, fifo, hostileTimeout)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("%s blocked for %v, and still does after the FIFO %s was opened", what, 2*hostileTimeout, fifo)
}

// dirState describes every entry of dir by type, size and, for regular
// files, contents; unlike snapshot it opens nothing else, so a FIFO in dir
// cannot block it.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := make(map[string]string)
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		desc := fmt.Sprintf("%v %d", fi.Mode(), fi.Size())
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			desc += "\x00" + string(b)
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				t.Fatal(err)
			}
			desc += " -> " + target
		}
		s[e.Name()] = desc
	}
	return s
}

// mkfifo replaces dir/name (if there is one) with a FIFO and returns its
// path.
func mkfifo(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatalf("mkfifo %s: %v", path, err)
	}
	return path
}

// TestHostile_FIFOManifest opens directories whose MANIFEST is a FIFO:
// read-write and ReadOnly Open fail with ErrCorrupt at once (no writer ever
// opens the FIFO) and change nothing.
func TestHostile_FIFOManifest(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string
	}{
		{"empty directory", func(t *testing.T) string { return t.TempDir() }},
		{"dataset", func(t *testing.T) string {
			dir, _ := buildDataset(t)
			return dir
		}},
	}
	for _, tc := range tests {
		for _, opts := range []chunkmap.Options{{ChunkSize: cs}, {ReadOnly: true}} {
			t.Run(fmt.Sprintf("%s/ReadOnly=%v", tc.name, opts.ReadOnly), func(t *testing.T) {
				dir := tc.setup(t)
				fifo := mkfifo(t, dir, chunkmap.ManifestName)
				before := dirState(t, dir)
				var (
					m   *chunkmap.Manager
					err error
				)
				within(t, fifo, "Open", func() { m, err = chunkmap.Open(dir, &opts) })
				if err == nil {
					m.Close()
					t.Fatalf("Open(%+v) with a FIFO as %s succeeded", opts, chunkmap.ManifestName)
				}
				wantErr(t, fmt.Sprintf("Open(%+v)", opts), err, chunkmap.ErrCorrupt)
				wantSameSnapshot(t, before, dirState(t, dir))
			})
		}
	}
}

// TestHostile_FIFOChunkWhileReading replaces a chunk file with a FIFO under
// a ReadOnly Manager opened before, that has not mapped the chunk: reading
// it fails at once, Stats stays callable meanwhile, and the other chunks
// still read.
func TestHostile_FIFOChunkWhileReading(t *testing.T) {
	for _, noAdmission := range []bool{false, true} { // pread, or map
		t.Run(fmt.Sprintf("NoAdmission=%v", noAdmission), func(t *testing.T) {
			dir, data := buildDataset(t)
			r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, NoAdmission: noAdmission})
			if err != nil {
				t.Fatal(err)
			}
			fifo := mkfifo(t, dir, chunk.Name(1))

			var (
				n       int
				readErr error
				read    = make(chan struct{})
			)
			p := make([]byte, 100)
			go func() {
				defer close(read)
				n, readErr = r.ReadAt(p, cs+10)
			}()
			within(t, fifo, "Stats during ReadAt", func() { _ = r.Stats() })
			within(t, fifo, "ReadAt", func() { <-read })
			if readErr == nil {
				t.Fatalf("ReadAt of a chunk replaced by a FIFO = %d, nil, want an error", n)
			}
			t.Logf("ReadAt: %v", readErr)
			if !errors.Is(readErr, chunkmap.ErrCorrupt) && !errors.Is(readErr, chunkmap.ErrFault) {
				t.Errorf("ReadAt of a chunk replaced by a FIFO: error %v, want ErrCorrupt or ErrFault", readErr)
			}
			within(t, fifo, "ReadAt of another chunk", func() { n, readErr = r.ReadAt(p, 3*cs) })
			if readErr != nil || !bytes.Equal(p, data[3*cs:3*cs+100]) {
				t.Errorf("ReadAt of chunk 3 = %d, %v (bytes equal: %v), want %d, nil and the data",
					n, readErr, bytes.Equal(p, data[3*cs:3*cs+100]), len(p))
			}
			within(t, fifo, "Close", func() { err = r.Close() })
			if err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

// TestHostile_Symlink opens datasets where a symlink stands under a
// dataset's name, pointing at the right file of another dataset: Open
// refuses it as corrupt rather than following it, and changes neither
// directory.
func TestHostile_Symlink(t *testing.T) {
	for _, name := range []string{chunkmap.ManifestName, chunk.Name(2)} {
		for _, opts := range []chunkmap.Options{{ChunkSize: cs}, {ReadOnly: true}} {
			t.Run(fmt.Sprintf("%s/ReadOnly=%v", name, opts.ReadOnly), func(t *testing.T) {
				src, _ := buildDataset(t)
				dir := t.TempDir() // a copy of src, with the symlink
				entries, err := os.ReadDir(src)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					if e.Name() == name {
						continue
					}
					b, err := os.ReadFile(filepath.Join(src, e.Name()))
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Symlink(filepath.Join(src, name), filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
				beforeSrc, before := snapshot(t, src), dirState(t, dir)
				m, err := chunkmap.Open(dir, &opts)
				if err == nil {
					m.Close()
					t.Fatalf("Open(%+v) followed the symlink %s", opts, name)
				}
				wantErr(t, fmt.Sprintf("Open(%+v)", opts), err, chunkmap.ErrCorrupt)
				wantSameSnapshot(t, before, dirState(t, dir))
				wantSameSnapshot(t, beforeSrc, snapshot(t, src))
			})
		}
	}
}

// TestHostile_Remove removes datasets with a FIFO or a symlink under a
// dataset's name: Remove refuses with ErrCorrupt at once, before it removes
// anything, and leaves the symlink's target alone.
func TestHostile_Remove(t *testing.T) {
	tests := []struct {
		name  string
		entry string
		fifo  bool
	}{
		{"FIFO chunk", chunk.Name(1), true},
		{"FIFO past the chunks", chunk.Name(9), true},
		{"FIFO manifest", chunkmap.ManifestName, true},
		{"FIFO temporary file", chunk.Name(4) + ".tmp", true},
		{"symlink manifest", chunkmap.ManifestName, false},
		{"symlink chunk", chunk.Name(0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := buildDataset(t)
			other, _ := buildDataset(t)
			path := filepath.Join(dir, tc.entry)
			if tc.fifo {
				mkfifo(t, dir, tc.entry)
			} else {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(filepath.Join(other, tc.entry), path); err != nil {
					t.Fatal(err)
				}
			}
			before, beforeOther := dirState(t, dir), snapshot(t, other)
			var err error
			within(t, path, "Remove", func() { err = chunkmap.Remove(dir) })
			wantRemoveErr(t, dir, err, chunkmap.ErrCorrupt)
			wantSameSnapshot(t, before, dirState(t, dir))
			wantSameSnapshot(t, beforeOther, snapshot(t, other))
		})
	}
}
