package chunkmap_test

import (
	"errors"
	"io"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestFullDiskWriteAtPastSizeCountsNoBytes: a bulk WriteAt past Size on a
// disk without room for it fails in its pwrite, after filling what room
// there was. As the latest claim it gives its range back, leaving Size as
// it was, so none of its bytes are in the dataset, and it must return
// n = 0, as io.WriterAt callers take n as bytes written at off.
func TestFullDiskWriteAtPastSizeCountsNoBytes(t *testing.T) {
	const cs = chunkmap.MinChunkSize
	mnt := fzMount(t, "size=512k")
	m, err := chunkmap.Open(mnt, &chunkmap.Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p := make([]byte, 12*cs) // growth by 12 chunks, not refused up front
	for i := range p {
		p[i] = byte(i%251 + 1)
	}
	n, err := m.WriteAt(p, 0)
	if !errors.Is(err, chunkmap.ErrNoSpace) {
		t.Fatalf("WriteAt of %d bytes on a 512 KiB tmpfs: %d, %v; want ErrNoSpace", len(p), n, err)
	}
	t.Logf("WriteAt returned n=%d, err=%v; Size %d", n, err, m.Size())
	if n > 0 {
		got := make([]byte, n)
		k, rerr := m.ReadAt(got, 0)
		if rerr != nil || k != n {
			t.Errorf("WriteAt reported %d bytes written at 0, but they are not in the dataset: Size %d, ReadAt = %d, %v", n, m.Size(), k, rerr)
		}
		if rerr == io.EOF && m.Size() == 0 {
			return
		}
	}
}
