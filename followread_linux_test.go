// BenchmarkFollowRead measures a ReadOnly Manager's 8-byte reads, in
// parallel, when it follows a live writer's state page and when the page is
// of an earlier boot (nothing to follow): the second must not cost more,
// since it takes no lock.

package chunkmap

import (
	"testing"

	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

func benchFollowRead(b *testing.B, boot string) {
	dir := b.TempDir()
	w, err := Open(dir, &Options{ChunkSize: cs})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.Append(make([]byte, cs)); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	o := &Options{ReadOnly: true}
	SetFS(o, vfstest.WithBootID(vfs.OS, boot))
	r, err := Open(dir, o)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 8)
	r.ReadAt(buf, 0)
	b.RunParallel(func(pb *testing.PB) {
		var off int64
		for pb.Next() {
			r.ReadAt(buf, off)
			off = (off + 4096) & (cs - 1)
		}
	})
}

func BenchmarkFollowRead(b *testing.B) {
	boot, err := vfs.OS.BootID()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("page=live", func(b *testing.B) { benchFollowRead(b, boot) })
	b.Run("page=earlier-boot", func(b *testing.B) { benchFollowRead(b, "another-boot") })
}
