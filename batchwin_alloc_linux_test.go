//go:build linux

package chunkmap_test

// The writable window of a Batch must lie where the chunk files are
// allocated on disk: a store through a mapping into a hole of a full file
// system raises SIGBUS, which the batch reports as ErrFault. Chunks of 1 MiB
// are allocated in steps of 64 KiB, so a chunk can be allocated in part.

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestBatchWin_WritableWindowAllocated builds, on a tmpfs, writable runs
// of chunks 0, 1 and 2 where chunk 1's ends at an old Size inside it (the
// rest of chunk 1 is a hole once Size has grown past it), fills the disk,
// and asks for writable bytes in the hole: the answer must be ErrNoSpace,
// never bytes (a window joined across the hole would hand them out, and
// the store would fault). Then random reads and stores over the dataset:
// every store to bytes WritableBytes returned must land.
func TestBatchWin_WritableWindowAllocated(t *testing.T) {
	seed := testSeed(t, "BATCHWIN_SEED")
	r := rand.New(rand.NewPCG(seed, 3))
	const cs = 1 << 20
	root := mountTmpfs(t, 8<<20)
	dir := filepath.Join(root, "ds")
	filler := filepath.Join(root, "filler")
	for _, scattered := range []bool{false, true} {
		os.RemoveAll(dir)
		os.Remove(filler)
		// Holes below Size, as a file system that keeps them has; on
		// tmpfs a Manager allocates them (see TestHoles_GrowOnFullTmpfs).
		was, wasHoles := chunkmap.SetScatteredArena(scattered), chunkmap.SetKeepHoles(true)
		m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: cs, MaxMapped: 8})
		chunkmap.SetScatteredArena(was)
		chunkmap.SetKeepHoles(wasHoles)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Append(bwWords(0, cs+100<<10, 1)); err != nil {
			t.Fatal(err)
		}
		var noSpace, stores int
		err = m.Batch(func(b *chunkmap.Batch) error {
			for _, off := range []int64{8, cs + 8} {
				if _, err := b.WritableBytes(off, 8); err != nil {
					return err
				}
			}
			// Size past chunk 1: its rest (from 128 KiB) is a hole.
			if err := m.Truncate(2*cs + 100<<10); err != nil {
				return err
			}
			if _, err := b.WritableBytes(2*cs+8, 8); err != nil { // allocates chunk 2's first 128 KiB only
				return err
			}
			fillDisk(t, root, "filler")
			for _, off := range []int64{cs + 500<<10, 2*cs - 8, cs + 128<<10} {
				p, err := b.WritableBytes(off, 8)
				if err == nil {
					copy(p, "faulted?") // faults if the bytes are a hole
					t.Errorf("scattered %v: WritableBytes(%d, 8) in a hole of a full disk succeeded", scattered, off)
				} else if !errors.Is(err, chunkmap.ErrNoSpace) {
					t.Errorf("scattered %v: WritableBytes(%d, 8) in a hole of a full disk: %v, want ErrNoSpace", scattered, off, err)
				}
			}
			// Random reads (whose runs are not writable) and stores.
			for range 3000 {
				if sz := m.Size(); r.IntN(50) == 0 && sz < 2*cs+120<<10 {
					// Grow within chunk 2's allocated 128 KiB: the runs end
					// at the old Size, so the next calls there take the
					// slow path (and a read there makes chunk 2's run
					// not writable).
					if err := m.Truncate(sz + 1<<10); err != nil {
						return err
					}
				}
				// A chunk first, then an offset in it: chunk 2 has 100 KiB.
				c := r.Int64N(3)
				off := (c*cs + r.Int64N(min(cs, m.Size()-c*cs))) &^ 7
				n := 8 * (1 + r.IntN(64))
				if r.IntN(2) == 0 {
					_, _ = b.Bytes(off, n)
					continue
				}
				p, err := b.WritableBytes(off, n)
				switch {
				case err == nil:
					for i := range p {
						p[i] = byte(i) // faults in a hole
					}
					stores++
				case errors.Is(err, chunkmap.ErrNoSpace):
					noSpace++
				case !errors.Is(err, chunkmap.ErrOutOfRange):
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("scattered %v: Batch: %v", scattered, err)
		}
		t.Logf("scattered %v: %d stores, %d refused for lack of space", scattered, stores, noSpace)
		os.Remove(filler)
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}
