// Regression tests for bugs a review of the durability redesign found:
// each failed before its fix.

package chunkmap

import (
	"testing"

	"github.com/chunkmap/chunkmap/internal/vfs"
	"github.com/chunkmap/chunkmap/internal/vfs/vfstest"
)

func benchReader(b *testing.B, boot string) {
	dir := b.TempDir()
	w, _ := Open(dir, &Options{ChunkSize: cs})
	w.Append(make([]byte, cs))
	w.Close()
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

func BenchmarkReview_ReaderLive(b *testing.B)      { benchReader(b, vfs.OS.BootID()) }
func BenchmarkReview_ReaderAfterBoot(b *testing.B) { benchReader(b, "another-boot") }
