//go:build unix

package chunkmap_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestFollow_MissingChunkIsErrFault proves that every read path of a
// follower reports a chunk file that [Start, Size) needs and another
// program removed as ErrFault naming the file, as the README's Errors
// table says, also when the follower had not yet opened that chunk before
// it learned of it from its writer's Size. Pin, the atomics, Batch and
// Advise used to report it as ErrOutOfRange ("chunks 1 to 1 do not all
// exist"), which tells the caller that Start or Size moved, though
// neither did, and names no file.
func TestFollow_MissingChunkIsErrFault(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	off := int64(cs + 8) // in chunk 1, the one removed
	tests := []struct {
		name string
		call func(r *chunkmap.Manager) error
	}{
		{"ReadAt", func(r *chunkmap.Manager) error { _, err := r.ReadAt(make([]byte, 8), off); return err }},
		{"Gather", func(r *chunkmap.Manager) error { return r.Gather(make([]byte, 8), []int64{off}, 8) }},
		{"LoadUint64", func(r *chunkmap.Manager) error { _, err := r.LoadUint64(off); return err }},
		{"Pin", func(r *chunkmap.Manager) error {
			p, err := r.Pin(off, 8)
			if err == nil {
				p.Release()
			}
			return err
		}},
		{"Batch.Bytes", func(r *chunkmap.Manager) error {
			return r.Batch(func(b *chunkmap.Batch) error { _, err := b.Bytes(off, 8); return err })
		}},
		{"Advise", func(r *chunkmap.Manager) error { return r.Advise(off, 8, chunkmap.AdviceWillNeed) }},
	}
	for _, tt := range tests {
		for _, live := range []bool{false, true} {
			name := tt.name + "/closed-writer"
			if live {
				name = tt.name + "/live-writer"
			}
			t.Run(name, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "ds")
				w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
				if err != nil {
					t.Fatal(err)
				}
				defer w.Close()
				writeAt(t, w, make([]byte, cs), 0)
				// The follower opens knowing one chunk, and learns of
				// chunks 1 and 2 only from its writer's Size.
				r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1})
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				writeAt(t, w, make([]byte, 2*cs), cs)
				if !live {
					if err := w.Close(); err != nil {
						t.Fatal(err)
					}
				}
				missing := filepath.Join(dir, "0000000000000001.chunk")
				if err := os.Remove(missing); err != nil {
					t.Fatal(err)
				}
				err = tt.call(r)
				if !errors.Is(err, chunkmap.ErrFault) || errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Fatalf("%s at %d of [%d, %d) with its chunk file removed: %v; want ErrFault", tt.name, off, r.Start(), r.Size(), err)
				}
				if !strings.Contains(err.Error(), missing) {
					t.Errorf("%s: %v does not name the missing file %s", tt.name, err, missing)
				}
			})
		}
	}
}

// TestFollow_FailedMissKeepsMappedChunk proves that a follower whose
// chunk files are gone (the dataset was removed under it) goes on reading
// the chunk it has mapped after a read of another chunk fails for want of
// its file: Remove's doc says such readers fail to read the chunks they
// have not mapped. The failed miss used to evict the mapped chunk first,
// to make room for a mapping it then could not make, and every later read
// of that chunk failed too.
func TestFollow_FailedMissKeepsMappedChunk(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	dir := filepath.Join(t.TempDir(), "ds")
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	want := followBytes(0, 3*cs)
	writeAt(t, w, want, 0)
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true, MaxMapped: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.LoadUint64(0); err != nil { // maps chunk 0
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := chunkmap.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := r.LoadUint64(cs); !errors.Is(err, chunkmap.ErrFault) {
		t.Fatalf("LoadUint64 of chunk 1, whose file is gone: %v; want ErrFault", err)
	}
	got := make([]byte, cs)
	if _, err := r.ReadAt(got, 0); err != nil {
		t.Fatalf("ReadAt of chunk 0, mapped before its file went: %v (stats %+v)", err, r.Stats())
	}
	if !bytes.Equal(got, want[:cs]) {
		t.Fatal("ReadAt of chunk 0 read other bytes than were written")
	}
	if st := r.Stats(); st.Mapped != 1 || st.Evictions != 0 {
		t.Errorf("stats %+v: want chunk 0 still mapped and nothing evicted", st)
	}
}
