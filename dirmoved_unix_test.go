//go:build unix

package chunkmap_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestDirMovedWhileOpen renames, or removes, a dataset's directory while a
// writer has it open, and makes another dataset under the old path, as
// another program may (the lock is on the old directory, so the other
// Open succeeds). The writer must go on working in its own directory,
// wherever it now is, or fail with a sentinel: it must never read the
// other dataset's bytes or store into its files. A Manager that names
// its files by path reads the other dataset's chunk 3, stores into its
// chunk 2 and creates its chunk 4.
func TestDirMovedWhileOpen(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	for _, removed := range []bool{false, true} {
		name := map[bool]string{false: "renamed", true: "removed"}[removed]
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ds")
			w, err := chunkmap.Open(path, &chunkmap.Options{ChunkSize: cs, MaxMapped: 1, NoAdmission: true})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			mine := movedPattern(1, 4*cs)
			if _, err := w.Append(mine); err != nil {
				t.Fatal(err)
			}
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			// Only chunk 0 mapped: the calls below must open chunks 2
			// and 3 again, and create chunk 4.
			if _, err := w.LoadUint64(0); err != nil {
				t.Fatal(err)
			}
			moved := path + ".old"
			if removed {
				err = os.RemoveAll(path)
			} else {
				err = os.Rename(path, moved)
			}
			if err != nil {
				t.Fatal(err)
			}
			other, err := chunkmap.Open(path, &chunkmap.Options{ChunkSize: cs})
			if err != nil {
				t.Fatalf("another dataset under the old path: %v", err)
			}
			theirs := movedPattern(2, 4*cs)
			if _, err := other.Append(theirs); err != nil {
				t.Fatal(err)
			}
			if err := other.Close(); err != nil {
				t.Fatal(err)
			}

			got := make([]byte, 100)
			_, rerr := w.ReadAt(got, 3*cs+10)
			_, werr := w.WriteAt(bytes.Repeat([]byte{0xee}, 100), 2*cs+10)
			_, aerr := w.Append(bytes.Repeat([]byte{0xdd}, cs))
			serr := w.Sync()
			t.Logf("after the directory was %s: ReadAt %v, WriteAt %v, Append %v, Sync %v", name, rerr, werr, aerr, serr)
			for what, err := range map[string]error{"ReadAt": rerr, "WriteAt": werr, "Append": aerr, "Sync": serr} {
				switch {
				case err != nil && !matchesSentinel(err):
					t.Errorf("%s after the directory was %s: %v matches no sentinel", what, name, err)
				case err != nil && !removed:
					t.Errorf("%s after the directory was renamed: %v, want it to work in the directory where it is now", what, err)
				}
			}
			if rerr == nil && !bytes.Equal(got, mine[3*cs+10:3*cs+110]) {
				t.Errorf("ReadAt after the directory was %s returned bytes not its own (the other dataset's: %v)",
					name, bytes.Equal(got, theirs[3*cs+10:3*cs+110]))
			}
			if err := w.Close(); err != nil && !removed {
				t.Errorf("Close: %v", err)
			}

			o, err := chunkmap.Open(path, &chunkmap.Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("the other dataset: %v", err)
			}
			defer o.Close()
			buf := make([]byte, o.Size())
			if _, err := o.ReadAt(buf, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf, theirs) {
				t.Errorf("the other dataset changed under the first writer (Size %d, want %d)", len(buf), len(theirs))
			}
			if removed {
				return
			}
			// The writer's calls went to its own directory.
			r, err := chunkmap.Open(moved, &chunkmap.Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("the renamed dataset: %v", err)
			}
			defer r.Close()
			want := append(append([]byte(nil), mine...), bytes.Repeat([]byte{0xdd}, cs)...)
			copy(want[2*cs+10:], bytes.Repeat([]byte{0xee}, 100))
			buf = make([]byte, r.Size())
			if _, err := r.ReadAt(buf, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf, want) {
				t.Errorf("the renamed dataset does not hold the writer's writes (Size %d, want %d)", len(buf), len(want))
			}
		})
	}
}

// movedPattern returns n bytes that depend on seed and on their offset.
func movedPattern(seed byte, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed*31 + byte(i) + byte(i>>8)*7
	}
	return p
}
