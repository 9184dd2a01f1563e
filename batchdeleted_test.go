package chunkmap_test

import (
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestBatchChunkDeletedWhileHeld deletes the chunk a Batch call has just
// held, and creates it again, before the call returns its bytes (a
// Truncate down and up in the window between the hold and the checks
// after it, which a concurrent Truncate hits by chance): the bytes
// returned must be the chunk's as it is now. A store through them must
// land in the dataset, not in the removed file (where it would be lost,
// or fault on a full disk), and a read must see the zeros of the new
// chunk, not what the deleted one held.
func TestBatchChunkDeletedWhileHeld(t *testing.T) {
	for _, write := range []bool{false, true} {
		name := map[bool]string{false: "Bytes", true: "WritableBytes"}[write]
		t.Run(name, func(t *testing.T) {
			m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			writeAt(t, m, pattern(7, 3*cs), 0)
			const off = 2*cs + 8
			once := false
			chunkmap.SetBatchHeldHook(func() {
				if once {
					return
				}
				once = true
				for _, size := range []int64{cs, 3 * cs} {
					if err := m.Truncate(size); err != nil {
						t.Errorf("Truncate(%d) while the batch holds chunk 2: %v", size, err)
					}
				}
			})
			defer chunkmap.SetBatchHeldHook(nil)
			err = m.Batch(func(b *chunkmap.Batch) error {
				if !write {
					p, err := b.Bytes(off, 8)
					if err != nil {
						return err
					}
					if want := make([]byte, 8); string(p) != string(want) {
						t.Errorf("Bytes after chunk 2 was deleted and created again: %x, want zeros", p)
					}
					return nil
				}
				p, err := b.WritableBytes(off, 8)
				if err != nil {
					return err
				}
				copy(p, "storedAB")
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !once {
				t.Fatal("the hook did not run: the batch held nothing")
			}
			chunkmap.SetBatchHeldHook(nil)
			if write {
				got := make([]byte, 8)
				if _, err := m.ReadAt(got, off); err != nil {
					t.Fatal(err)
				}
				if string(got) != "storedAB" {
					t.Fatalf("a store through WritableBytes after the chunk was made again reads back %q: it went to the removed file", got)
				}
			}
		})
	}
}
