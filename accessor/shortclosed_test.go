package accessor_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

// TestGather_ShortValuesAfterCloseNameTheCall calls each gather and scatter
// call with fewer values than offsets after Close: the error matches
// ErrClosed and is the one the call gives with enough values, which names
// Gather or Scatter, the value size and the first offset (a scatter call
// said "gather 1 bytes").
func TestGather_ShortValuesAfterCloseNameTheCall(t *testing.T) {
	m, err := chunkmap.Open(t.TempDir(), &chunkmap.Options{ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt(make([]byte, 64), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	offs := []int64{16, 24}
	for _, o := range advOrders {
		v := accessor.New(m, o.order)
		for _, c := range []struct {
			name        string
			short, full func() error
			want        string
		}{
			{"ReadUint64sAt", func() error { return v.ReadUint64sAt(offs, make([]uint64, 1)) },
				func() error { return v.ReadUint64sAt(offs, make([]uint64, 2)) }, "gather 8 bytes at offset 16"},
			{"ReadUint32sAt", func() error { return v.ReadUint32sAt(offs, nil) },
				func() error { return v.ReadUint32sAt(offs, make([]uint32, 2)) }, "gather 4 bytes at offset 16"},
			{"WriteUint64sAt", func() error { return v.WriteUint64sAt(offs, make([]uint64, 1)) },
				func() error { return v.WriteUint64sAt(offs, make([]uint64, 2)) }, "scatter 8 bytes at offset 16"},
			{"WriteUint32sAt", func() error { return v.WriteUint32sAt(offs, nil) },
				func() error { return v.WriteUint32sAt(offs, make([]uint32, 2)) }, "scatter 4 bytes at offset 16"},
		} {
			short, full := c.short(), c.full()
			if !errors.Is(short, chunkmap.ErrClosed) {
				t.Errorf("%s %s short after Close: %v, want ErrClosed", o.name, c.name, short)
				continue
			}
			if !strings.HasPrefix(short.Error(), c.want+" in ") {
				t.Errorf("%s %s short after Close: %q, want it to start with %q", o.name, c.name, short, c.want)
			}
			if full == nil || short.Error() != full.Error() {
				t.Errorf("%s %s after Close: short %q, with enough values %v", o.name, c.name, short, full)
			}
		}
	}
}
