package chunkmap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/vfs"
)

// openHookFS is vfs.OS, with hook run before each open of a file named
// name (of every chunk file, if name is "").
type openHookFS struct {
	vfs.FS
	name string
	hook func()
}

func (h *openHookFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	if (filepath.Base(name) == h.name || h.name == "" && filepath.Ext(name) == ".chunk") && h.hook != nil {
		h.hook()
	}
	return h.FS.OpenFile(name, flag, perm)
}

// straddleFollower opens a writer of 3 chunks of 'A' (64 KiB chunks) and
// a follower whose opens of chunk files run h's hook, and maps the
// follower's chunk 0; both are closed when the test ends.
func straddleFollower(t *testing.T, h *openHookFS) (w, r *chunkmap.Manager) {
	t.Helper()
	const cs = chunkmap.MinChunkSize
	dir := t.TempDir()
	w = openTestManager(t, dir, &chunkmap.Options{ChunkSize: cs})
	if _, err := w.WriteAt(bytes.Repeat([]byte{'A'}, 3*cs), 0); err != nil {
		t.Fatal(err)
	}
	o := &chunkmap.Options{ReadOnly: true, NoAdmission: true, MaxMapped: 4}
	chunkmap.SetFS(o, h)
	r, err := chunkmap.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := r.ReadAt(make([]byte, 1), 0); err != nil { // maps chunk 0
		t.Fatal(err)
	}
	return w, r
}

// TestAccessorBatch_StraddleAcrossRemake checks an accessor Batch's read of
// a value that straddles chunks 0 and 1 on a follower, when the follower's
// open of chunk 1 (its first touch) finds that the writer deleted both
// chunks and wrote them anew meanwhile: the value must be wholly the old
// chunks' or wholly the new ones', never the old chunk 0's half joined to
// the new chunk 1's.
func TestAccessorBatch_StraddleAcrossRemake(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	h := &openHookFS{FS: vfs.OS, name: "0000000000000001.chunk"}
	w, r := straddleFollower(t, h)
	var fired atomic.Bool
	var truncErr error // judged after the batch: the hook runs inside it
	h.hook = func() {
		if fired.Swap(true) {
			return
		}
		if truncErr = w.Truncate(0); truncErr != nil {
			return
		}
		if _, err := w.WriteAt(bytes.Repeat([]byte{'B'}, 3*cs), 0); err != nil {
			t.Error(err)
		}
	}
	var got uint64
	err := accessor.New(r, binary.LittleEndian).Batch(func(b *accessor.Batch) error {
		var err error
		got, err = b.ReadUint64(cs - 4)
		return err
	})
	if !fired.Load() {
		t.Fatal("the follower never opened chunk 1: the test needs it to")
	}
	if truncErr != nil {
		chunkmap.SkipIfHeldDelete(t, truncErr)
		t.Fatal(truncErr)
	}
	var p [8]byte
	binary.LittleEndian.PutUint64(p[:], got)
	t.Logf("value straddling chunks 0 and 1: %q, %v", p, err)
	if err == nil && string(p[:]) != "AAAAAAAA" && string(p[:]) != "BBBBBBBB" {
		t.Errorf("value straddling chunks 0 and 1 = %q: halves of the deleted chunks and of the new ones", p)
	}
}

// TestAccessorBatch_StraddlesMapEachChunkOnce checks what an accessor
// Batch maps to read values across chunk boundaries where the arena cannot
// place two chunks side by side (an arena of one slot): each chunk is held
// once, in the slot or a view of its own, so the batch maps at most as
// many chunks as it touches, not a view of two chunks per boundary on top.
func TestAccessorBatch_StraddlesMapEachChunkOnce(t *testing.T) {
	const cs, chunks = chunkmap.MinChunkSize, 32
	m := openTestManager(t, t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 4, ArenaSize: cs})
	data := make([]byte, chunks*cs)
	for i := range data {
		data[i] = byte(i)
	}
	if _, err := m.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	most := 0
	err := accessor.New(m, binary.LittleEndian).Batch(func(b *accessor.Batch) error {
		for i := int64(1); i < chunks; i++ {
			off := i*cs - 4
			x, err := b.ReadUint64(off)
			if err != nil {
				return err
			}
			if want := binary.LittleEndian.Uint64(data[off:]); x != want {
				t.Errorf("ReadUint64(%d) = %#x, want %#x", off, x, want)
			}
			most = max(most, m.Stats().Mapped)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if most > chunks {
		t.Errorf("a Batch reading across %d boundaries mapped %d chunks at most; want no more than the %d chunks it touched", chunks-1, most, chunks)
	}
}

// TestAccessorBatch_StraddleRemadeEveryTime is
// TestAccessorBatch_StraddleAcrossRemake with a writer that deletes and
// remakes both chunks, with a new byte, at every open of a chunk file (40
// times at most): the batch does not hold the same first chunk across its
// two parts for long, so after its tries it takes the value in one range,
// which must still hold one version of the value (8 equal bytes), never
// two.
func TestAccessorBatch_StraddleRemadeEveryTime(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	h := &openHookFS{FS: vfs.OS}
	w, r := straddleFollower(t, h)
	var remakes atomic.Int64
	var truncErr error // judged after the batch: the hook runs inside it
	h.hook = func() {
		n := remakes.Add(1)
		if n > 40 || truncErr != nil {
			return
		}
		if truncErr = w.Truncate(0); truncErr != nil {
			return
		}
		if _, err := w.WriteAt(bytes.Repeat([]byte{byte('A' + n)}, 3*cs), 0); err != nil {
			t.Error(err)
		}
	}
	var got uint64
	err := accessor.New(r, binary.LittleEndian).Batch(func(b *accessor.Batch) error {
		var err error
		got, err = b.ReadUint64(cs - 4)
		return err
	})
	var p [8]byte
	binary.LittleEndian.PutUint64(p[:], got)
	t.Logf("value straddling chunks 0 and 1 after %d remakes: %q, %v", remakes.Load(), p, err)
	if truncErr != nil {
		chunkmap.SkipIfHeldDelete(t, truncErr)
		t.Fatal(truncErr)
	}
	if remakes.Load() < 8 {
		t.Fatalf("the writer remade the chunks %d times: the test needs the batch to run out of its 3 tries", remakes.Load())
	}
	if err == nil && !bytes.Equal(p[:], bytes.Repeat(p[:1], 8)) {
		t.Errorf("value straddling chunks 0 and 1 = %q: two versions joined", p)
	}
	if err != nil && !errors.Is(err, chunkmap.ErrOutOfRange) {
		t.Errorf("value straddling chunks remade at every open: %v; want a value, or ErrOutOfRange", err)
	}
}
