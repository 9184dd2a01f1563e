package chunkmap

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// TestBatchEpoch_WindowAtTopOfRange: a window over the four top chunks of the
// int64 range hands out the last byte, refuses every range that reaches
// past MaxInt64 or lies below Start, and its bytes are the dataset's.
func TestBatchEpoch_WindowAtTopOfRange(t *testing.T) {
	first := int64(torTop - 3)
	dir, md := torBuild(t, first, torMax)
	m, err := Open(dir, &Options{MaxMapped: 8, NoAdmission: true})
	if err != nil {
		t.Fatal(err)
	}
	skipNoSideBySide(t, m)
	defer m.Close()
	err = m.Batch(func(b *Batch) error {
		for idx := first; idx <= torTop; idx++ {
			if _, err := b.WritableBytes(idx<<torShift+1, 1); err != nil {
				return err
			}
			if _, err := b.Bytes(idx<<torShift+1, 1); err != nil {
				return err
			}
		}
		if b.n != uint64(torMax-(first<<torShift)) || b.wn != b.n || b.lo != first<<torShift || b.wlo != b.lo {
			t.Errorf("window [%d,+%d) w [%d,+%d), want [%d,+%d)", b.lo, b.n, b.wlo, b.wn, first<<torShift, torMax-(first<<torShift))
		}
		for _, c := range []struct {
			off int64
			n   int
			ok  bool
		}{
			{torMax - 1, 1, true},
			{torMax - 8, 8, true},
			{first << torShift, 4*torCS - 1, true},
			{first << torShift, 4 * torCS, false},
			{torMax - 8, 9, false},
			{torMax, 1, false},
			{torMax, 0, false},
			{first<<torShift - 1, 1, false},
			{first<<torShift - 1, 2, false},
			{math.MinInt64, 1, false},
			{math.MinInt64 + torCS, 1, false},
			{torMax - 8, -1, false},
			{torMax - 8, math.MaxInt, false},
		} {
			for _, w := range []bool{false, true} {
				var p []byte
				var err error
				if w {
					p, err = b.WritableBytes(c.off, c.n)
				} else {
					p, err = b.Bytes(c.off, c.n)
				}
				if c.ok != (err == nil) {
					t.Errorf("write %v off %d n %d: err %v, want ok %v", w, c.off, c.n, err, c.ok)
					continue
				}
				if err != nil && !errors.Is(err, ErrOutOfRange) {
					t.Errorf("write %v off %d n %d: err %v, want ErrOutOfRange", w, c.off, c.n, err)
				}
				if err == nil && !bytes.Equal(p, md.bytes(c.off, int64(c.n))) {
					t.Errorf("write %v off %d n %d: wrong bytes", w, c.off, c.n)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
