package chunkmap_test

import (
	"bytes"
	"fmt"
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

// TestBatchViewAfterChunkDeleted has a Batch reach a range through a
// private view (across the arena's end, or after a chunk it held was
// deleted), then deletes a chunk of the range and creates it again inside
// the next call for the same range: the call must not hand out the view
// it mapped before, which maps the removed file.
func TestBatchViewAfterChunkDeleted(t *testing.T) {
	for _, arena := range []int64{0, cs} {
		for _, write := range []bool{false, true} {
			t.Run(fmt.Sprintf("arena=%d/write=%v", arena, write), func(t *testing.T) {
				m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: arena})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				writeAt(t, m, bytes.Repeat([]byte{0xaa}, 3*cs), 0)
				const off = 2*cs - 8 // across chunks 1 and 2
				downUp := func() {
					for _, size := range []int64{cs + 4, 3 * cs} { // chunk 2 deleted and made anew
						if err := m.Truncate(size); err != nil {
							t.Errorf("Truncate(%d): %v", size, err)
						}
					}
				}
				armed, fired := false, false
				chunkmap.SetBatchHeldHook(func() {
					if armed && !fired {
						fired = true
						downUp()
					}
				})
				defer chunkmap.SetBatchHeldHook(nil)
				err = m.Batch(func(b *chunkmap.Batch) error {
					get := b.Bytes
					if write {
						get = b.WritableBytes
					}
					if _, err := get(off, 16); err != nil {
						return err
					}
					if arena == 0 {
						// Chunk 2 deleted while held: from here on the
						// range goes through a view.
						downUp()
						if _, err := get(off, 16); err != nil {
							return err
						}
					}
					writeAt(t, m, bytes.Repeat([]byte{0xbb}, 16), off)
					armed = true
					p, err := get(off, 16) // the hook deletes and makes chunk 2 again
					if err != nil {
						return err
					}
					if !write {
						if want := make([]byte, 16); !bytes.Equal(p, want) {
							t.Errorf("Bytes after chunk 2 was deleted and made again: %x, want %x", p, want)
						}
						return nil
					}
					copy(p, "0123456789abcdef")
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if !fired {
					t.Fatal("the hook did not run")
				}
				if write {
					if got := readAt(t, m, off, 16); string(got) != "0123456789abcdef" {
						t.Errorf("a store through WritableBytes after chunk 2 was made again reads back %x: it went to the removed file", got)
					}
				}
			})
		}
	}
}
