package accessor_test

// Lifecycle and concurrency probes from an adversarial review (hunt4):
// callbacks that call back in or panic, Close and shrinks racing holds,
// followers, and owned-region models under -race. Randomized tests log
// their seed; LIFECYCLE_SEED replays one.

import (
	"testing"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/accessor"
)

func TestLifecycle_ZeroValues(t *testing.T) {
	try := func(name string, f func() error) {
		t.Helper()
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s panicked: %v", name, r)
				}
			}()
			err := f()
			t.Logf("%s: %v", name, err)
		}()
	}
	var ab accessor.Batch
	try("accessor.Batch{}.ReadUint64", func() error { _, err := ab.ReadUint64(0); return err })
	try("accessor.Batch{}.WriteUint64", func() error { return ab.WriteUint64(0, 1) })
	try("accessor.Batch{}.ReadUint8", func() error { _, err := ab.ReadUint8(0); return err })
	try("accessor.Batch{}.WriteFloat64", func() error { return ab.WriteFloat64(65533, 1) })
	try("accessor.Batch{}.Hold", func() error { return ab.Hold(0, 1) })
	try("accessor.Batch{}.HoldWritable", func() error { return ab.HoldWritable(0, 1) })
	var cb chunkmap.Batch
	try("chunkmap.Batch{}.Bytes", func() error { _, err := cb.Bytes(0, 1); return err })
	try("chunkmap.Batch{}.WritableBytes", func() error { _, err := cb.WritableBytes(0, 1); return err })
	try("chunkmap.Batch{}.Hold", func() error { return cb.Hold(0, 1) })
	var v accessor.View
	try("View{}", func() error { _ = v.Bytes(); v.Release(); v.Release(); return nil })
	var p chunkmap.Pinned
	try("Pinned{}", func() error { _ = p.Bytes(); p.Release(); return nil })
	var pn *chunkmap.Pinned
	try("nil Pinned", func() error { _ = pn.Bytes(); pn.Release(); return nil })
	var vn *accessor.View
	try("nil View", func() error { _ = vn.Bytes(); vn.Release(); _ = vn.Off(); return nil })

	m := advOpen(t, t.TempDir(), nil)
	va := accessor.New(m, nil)
	if _, err := m.WriteAt(make([]byte, 3*advCS), 0); err != nil {
		t.Fatal(err)
	}
	var esc *accessor.Batch
	var escCopy accessor.Batch
	_ = va.Batch(func(b *accessor.Batch) error {
		esc = b
		escCopy = *b
		_, _ = b.ReadUint64(advCS - 4)
		return b.HoldWritable(0, 3*advCS)
	})
	try("escaped ReadUint64", func() error { _, err := esc.ReadUint64(8); return err })
	try("escaped WriteUint64 straddle", func() error { return esc.WriteUint64(advCS-4, 8) })
	try("escaped copy WriteUint64", func() error { return escCopy.WriteUint64(16, 8) })
	try("escaped copy ReadUint32", func() error { _, err := escCopy.ReadUint32(advCS - 2); return err })
	try("escaped Hold", func() error { return esc.Hold(0, 8) })
	x, _ := va.ReadUint64(16)
	if x != 0 {
		t.Errorf("escaped copy stored %d", x)
	}
	advPinned(t, m, "after")
}
