package chunkmap_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestEmptyRanges checks the README's two rules for a length of 0 (see
// Errors): calls that copy accept any offset that is not negative, calls
// that hand out or act on mapped bytes need one within [Start, Size).
func TestEmptyRanges(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	m := openTestManager(t, t.TempDir(), &chunkmap.Options{ChunkSize: cs})
	if _, err := m.WriteAt(make([]byte, 3*cs), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.DropBefore(cs); err != nil {
		t.Fatal(err)
	}
	start, size := m.Start(), m.Size()
	va := accessor.New(m, nil)

	copies := map[string]func(off int64) error{
		"ReadAt":  func(off int64) error { _, err := m.ReadAt(nil, off); return err },
		"WriteAt": func(off int64) error { _, err := m.WriteAt(nil, off); return err },
		"ReadUint64s": func(off int64) error {
			return va.ReadUint64s(off, nil)
		},
		"WriteUint64s": func(off int64) error { return va.WriteUint64s(off, nil) },
		"Scan": func(off int64) error {
			sc := va.Scan()
			for range sc.Uint64s(off, 0) {
				return errors.New("yielded a value for 0 of them")
			}
			return sc.Err()
		},
	}
	mapped := map[string]func(off int64) error{
		"Pin": func(off int64) error {
			p, err := m.Pin(off, 0)
			if err == nil {
				p.Release()
			}
			return err
		},
		"PinWritable": func(off int64) error {
			p, err := m.PinWritable(off, 0)
			if err == nil {
				p.Release()
			}
			return err
		},
		"Slice": func(off int64) error {
			v, err := va.Slice(off, 0)
			if err == nil {
				v.Release()
			}
			return err
		},
		"Advise": func(off int64) error { return m.Advise(off, 0, chunkmap.AdviceRandom) },
		"Batch.Bytes": func(off int64) error {
			return m.Batch(func(b *chunkmap.Batch) error { _, err := b.Bytes(off, 0); return err })
		},
		"Batch.WritableBytes": func(off int64) error {
			return m.Batch(func(b *chunkmap.Batch) error { _, err := b.WritableBytes(off, 0); return err })
		},
		"Batch.Hold": func(off int64) error {
			return m.Batch(func(b *chunkmap.Batch) error { return b.Hold(off, 0) })
		},
	}
	offsets := []struct {
		off    int64
		inside bool // within [Start, Size)
	}{
		{-1, false},
		{0, false},
		{start - 1, false},
		{start, true},
		{size - 1, true},
		{size, false},
		{size + 5*cs, false},
	}
	for _, o := range offsets {
		for name, call := range copies {
			t.Run(fmt.Sprintf("%s/%d", name, o.off), func(t *testing.T) {
				err := call(o.off)
				if o.off < 0 && !errors.Is(err, chunkmap.ErrOutOfRange) || o.off >= 0 && err != nil {
					t.Errorf("%s of 0 at %d (Start %d, Size %d) = %v", name, o.off, start, size, err)
				}
			})
		}
		for name, call := range mapped {
			t.Run(fmt.Sprintf("%s/%d", name, o.off), func(t *testing.T) {
				err := call(o.off)
				if o.inside && err != nil || !o.inside && !errors.Is(err, chunkmap.ErrOutOfRange) {
					t.Errorf("%s of 0 at %d (Start %d, Size %d) = %v", name, o.off, start, size, err)
				}
			})
		}
	}
	if m.Start() != start || m.Size() != size {
		t.Errorf("after the empty calls Start, Size = %d, %d, want %d, %d", m.Start(), m.Size(), start, size)
	}
	if st := m.Stats(); st.Pinned != 0 {
		t.Errorf("Stats.Pinned = %d after every pin was released", st.Pinned)
	}
}
