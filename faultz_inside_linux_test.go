//go:build linux

package chunkmap_test

// Faults in the middle of a call: a chunk file truncated from inside a
// Batch function or a scan's loop body, that is, while the call holds the
// chunk mapped. Manager.Batch: "A fault on mapped memory inside fn (a chunk
// file truncated by another process, an I/O error) ends fn at once and
// Batch returns an error matching ErrFault; stores fn made before the fault
// stay made." Scanner.Uint64s: a piece that cannot be read "ends the scan,
// with the error in Err; the values yielded before it are correct".
// Scanner.Blocks: "A fault while the loop body itself reads a block (the
// file truncated in that very step) panics in the loop body with an error
// matching chunkmap.ErrFault".

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
	"github.com/chunkmap/chunkmap/internal/watchdog"
)

// fzInsideDataset returns a Manager over three chunks of random bytes, the
// bytes, and chunk 1's path; chunk 1 is mapped.
func fzInsideDataset(t *testing.T, seed uint64) (*chunkmap.Manager, []byte, string) {
	r := rand.New(rand.NewPCG(seed, 13))
	dir := filepath.Join(t.TempDir(), "ds")
	m := fzOpen(t, dir, chunkmap.Options{MaxMapped: 8, NoAdmission: true})
	model := fzRandom(r, int(3*fzCS))
	if _, err := m.WriteAt(model, 0); err != nil {
		t.Fatal(err)
	}
	fzExpect(t, "chunk 1", m, fzCS, model[fzCS:2*fzCS])
	return m, model, fzChunk(fzRealDir(t, dir), 1)
}

// fzHealsAfter gives chunk 1's file its size back (its bytes are lost) and
// checks that the Manager works: the other chunks kept their bytes, chunk 1
// takes a write, and Close reports nothing (no batch is left open).
func fzHealsAfter(t *testing.T, m *chunkmap.Manager, model []byte, path string) {
	if err := os.Truncate(path, fzCS); err != nil {
		t.Fatal(err)
	}
	fzExpect(t, "chunk 0 after the fault", m, 0, model[:fzCS])
	fzExpect(t, "chunk 2 after the fault", m, 2*fzCS, model[2*fzCS:])
	fresh := []byte("chunk one, written again")
	if _, err := m.WriteAt(fresh, fzCS+100); err != nil {
		t.Fatalf("WriteAt chunk 1 once its file was whole again: %v", err)
	}
	fzExpect(t, "chunk 1 written again", m, fzCS+100, fresh)
	var err error
	fzDo(t, "Close", func() { err = m.Close() })
	if err != nil {
		t.Errorf("Close after the fault: %v (a batch or scan left something held?)", err)
	}
}

// TestFaultz_TruncationInsideBatchEndsIt truncates chunk 1's file from
// inside a Batch function that holds it, then touches its bytes: the
// function must end at that access, Batch must return ErrFault naming the
// chunk file once, and the Manager must work on.
func TestFaultz_TruncationInsideBatchEndsIt(t *testing.T) {
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	seed := fzSeed(t)
	kinds := []struct {
		name string
		run  func(m *chunkmap.Manager, path string, reached *bool) error
	}{
		{"Manager.Batch, WritableBytes", func(m *chunkmap.Manager, path string, reached *bool) error {
			return m.Batch(func(b *chunkmap.Batch) error {
				p, err := b.WritableBytes(fzCS+20000, 16)
				if err != nil {
					return err
				}
				copy(p, "before the fault")
				if err := os.Truncate(path, 0); err != nil {
					return err
				}
				p[0] = 'X'
				*reached = true
				return nil
			})
		}},
		{"Manager.Batch, Bytes", func(m *chunkmap.Manager, path string, reached *bool) error {
			return m.Batch(func(b *chunkmap.Batch) error {
				p, err := b.Bytes(fzCS+20000, 4096)
				if err != nil {
					return err
				}
				if err := os.Truncate(path, 0); err != nil {
					return err
				}
				fzTouch(p)
				*reached = true
				return nil
			})
		}},
		{"accessor Batch, ReadUint64", func(m *chunkmap.Manager, path string, reached *bool) error {
			return accessor.New(m, nil).Batch(func(b *accessor.Batch) error {
				if _, err := b.ReadUint64(fzCS + 20000); err != nil {
					return err
				}
				if err := os.Truncate(path, 0); err != nil {
					return err
				}
				// The value is used: a typed read is inlined, and a
				// load whose value is dropped may be dropped with it.
				v, err := b.ReadUint64(fzCS + 20008)
				if err != nil {
					return err
				}
				fzSink.Add(v)
				*reached = true
				return nil
			})
		}},
		{"accessor Batch, WriteUint32", func(m *chunkmap.Manager, path string, reached *bool) error {
			return accessor.New(m, nil).Batch(func(b *accessor.Batch) error {
				if err := b.WriteUint32(fzCS+20000, 7); err != nil {
					return err
				}
				if err := os.Truncate(path, 100); err != nil {
					return err
				}
				if err := b.WriteUint32(fzCS+20004, 8); err != nil {
					return err
				}
				*reached = true
				return nil
			})
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			m, model, path := fzInsideDataset(t, seed)
			reached := false
			var err error
			fzDo(t, k.name, func() { err = k.run(m, path, &reached) })
			fzCheck(t, k.name+" with its chunk file truncated inside", err, chunkmap.ErrFault, fzMsg{op: "batch", files: []string{path}})
			if reached {
				t.Errorf("%s: the function ran on past the faulting access", k.name)
			}
			fzHealsAfter(t, m, model, path)
		})
	}
}

// TestFaultz_TruncationInsideScanEndsIt truncates chunk 1's file from a
// scan's loop body: a value scan ends with ErrFault in Err after yielding
// only correct values; a block scan's body that then touches its block
// panics with an error matching ErrFault, and the scan holds nothing after.
func TestFaultz_TruncationInsideScanEndsIt(t *testing.T) {
	fzSkipInChild(t)
	watchdog.Start(t, 20*time.Second)
	seed := fzSeed(t)
	t.Run("Uint64s", func(t *testing.T) {
		m, model, path := fzInsideDataset(t, seed)
		s := accessor.New(m, nil).Scan()
		const n = 2048 // 16 KiB: several pieces
		yielded := 0
		fzDo(t, "scan", func() {
			for off, x := range s.Uint64s(fzCS, n) {
				if want := binary.LittleEndian.Uint64(model[off:]); x != want || off != fzCS+int64(yielded)*8 {
					t.Errorf("value %d: got %#x at %d, want %#x at %d", yielded, x, off, want, fzCS+int64(yielded)*8)
				}
				if yielded == 0 {
					if err := os.Truncate(path, 0); err != nil {
						t.Error(err)
					}
				}
				yielded++
			}
		})
		if yielded == 0 || yielded >= n {
			t.Errorf("the scan yielded %d of %d values, want some but not all", yielded, n)
		}
		fzCheck(t, "Err of a scan whose chunk file was truncated", s.Err(), chunkmap.ErrFault, fzMsg{op: "scan", files: []string{path}, wrapped: true})
		fzHealsAfter(t, m, model, path)
	})
	t.Run("Blocks", func(t *testing.T) {
		m, model, path := fzInsideDataset(t, seed)
		s := accessor.New(m, nil).Scan()
		var recovered any
		fzDo(t, "block scan", func() {
			defer func() { recovered = recover() }()
			for _, b := range s.Blocks(fzCS, fzCS) {
				if err := os.Truncate(path, 0); err != nil {
					t.Error(err)
				}
				fzTouch(b)
				t.Error("the loop body ran on past touching a truncated block")
			}
		})
		err, ok := recovered.(error)
		if !ok || !errors.Is(err, chunkmap.ErrFault) {
			t.Errorf("a block scan's body touching a truncated block: recovered %v, want a panic with an error matching ErrFault", recovered)
		} else {
			fzCheckText(t, "the block scan's panic", err, fzMsg{files: []string{path}, wrapped: true})
		}
		fzHealsAfter(t, m, model, path)
	})
}
