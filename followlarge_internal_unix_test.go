//go:build unix

package chunkmap

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestFollowerBrokenPage_LargeReadsStand cuts the manifest of a dataset
// whose writer is gone under a following reader (its state page then
// faults, and it reads the records, as after a Refresh): a ReadAt of
// several 256 KiB pieces and a Gather of several blocks of 256 values,
// whose whole-read checks cannot read the page, stand on their pieces'
// own checks, as they did before those checks, instead of failing with
// ErrOutOfRange after every try.
func TestFollowerBrokenPage_LargeReadsStand(t *testing.T) {
	dir := t.TempDir()
	const cs = 64 << 10
	w, err := Open(dir, &Options{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	if _, err := w.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir, &Options{ChunkSize: cs, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for o := int64(0); o < int64(len(data)); o += cs {
		if _, err := r.ReadAt(make([]byte, cs), o); err != nil {
			t.Fatal(err)
		}
	}
	r.followedLive.Store(false) // as after a Refresh that took the records
	if err := os.Truncate(filepath.Join(dir, ManifestName), 0); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, len(data))
	if n, err := r.ReadAt(p, 0); n != len(p) || err != nil {
		t.Fatalf("ReadAt of 1 MiB with the state page cut = %d, %v; want %d, nil", n, err, len(p))
	}
	if !bytes.Equal(p, data) {
		t.Fatal("ReadAt of 1 MiB with the state page cut read other bytes than were written")
	}
	offs := make([]int64, 1000)
	for i := range offs {
		offs[i] = int64(i) * 1000
	}
	dst := make([]byte, 8*len(offs))
	if err := r.Gather(dst, offs, 8); err != nil {
		t.Fatalf("Gather of 1,000 values with the state page cut: %v", err)
	}
	for i, o := range offs {
		if !bytes.Equal(dst[8*i:8*i+8], data[o:o+8]) {
			t.Fatalf("Gather: value %d (at %d) = %x, want %x", i, o, dst[8*i:8*i+8], data[o:o+8])
		}
	}
}
