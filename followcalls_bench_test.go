package chunkmap_test

import (
	"testing"

	"github.com/chunkmap/chunkmap"
)

// BenchmarkFollowCalls measures single calls on data in the CPU's caches,
// by a writer and by a ReadOnly Manager that follows it live in the same
// process: a follower's call also checks that the writer's state is the one
// it took, and where that is one look at the shared state page inside the
// call's fault guard (ReadAt, LoadUint64) it should cost about what the
// writer's call does.
func BenchmarkFollowCalls(b *testing.B) {
	dir := b.TempDir()
	w, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteAt(make([]byte, 4<<20), 0); err != nil {
		b.Fatal(err)
	}
	r, err := chunkmap.Open(dir, &chunkmap.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for _, c := range []struct {
		name string
		m    *chunkmap.Manager
	}{{"writer", w}, {"follower", r}} {
		m := c.m
		p := make([]byte, 8)
		b.Run("op=ReadAt/by="+c.name, func(b *testing.B) {
			i := int64(0)
			for b.Loop() {
				if _, err := m.ReadAt(p, (i*4104)&(4<<20-1)&^7); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run("op=LoadUint64/by="+c.name, func(b *testing.B) {
			i := int64(0)
			for b.Loop() {
				if _, err := m.LoadUint64((i * 4104) & (4<<20 - 1) &^ 7); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run("op=Gather/by="+c.name, func(b *testing.B) {
			offs := make([]int64, 64)
			for j := range offs {
				offs[j] = int64(j*4104) & (4<<20 - 1) &^ 7
			}
			dst := make([]byte, 64*8)
			for b.Loop() {
				if err := m.Gather(dst, offs, 8); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("op=Pin/by="+c.name, func(b *testing.B) {
			for b.Loop() {
				pn, err := m.Pin(4096, 8)
				if err != nil {
					b.Fatal(err)
				}
				pn.Release()
			}
		})
		b.Run("op=Batch/by="+c.name, func(b *testing.B) {
			for b.Loop() {
				if err := m.Batch(func(bt *chunkmap.Batch) error { _, err := bt.Bytes(4096, 8); return err }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
