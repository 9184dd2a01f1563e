package chunkmap_test

import (
	"bytes"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// TestBulkWriteAcrossAWideGapUnderAFileLimit writes 100,000 bytes at
// chunk 2,000 of a new dataset, with the process allowed 256 descriptors
// more than it has open: the 2,000 chunk files of the gap are created by
// the write and its maker, which must not keep a descriptor open for
// each (that failed with EMFILE, also on retry, where a Truncate over the
// same gap succeeded).
func TestBulkWriteAcrossAWideGapUnderAFileLimit(t *testing.T) {
	limitFiles(t, 256)
	dir := t.TempDir()
	m, err := chunkmap.Open(dir, &chunkmap.Options{ChunkSize: aheadChunk})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const off = 2000 * aheadChunk
	p := pattern(8, 100000)
	if _, err := m.WriteAt(p, off); err != nil {
		t.Fatalf("WriteAt of %d bytes at %d (a gap of 2,000 chunks) with 256 descriptors to spare: %v", len(p), off, err)
	}
	if got := readAt(t, m, off, len(p)); !bytes.Equal(got, p) {
		t.Fatalf("the write reads back differently at %d", firstDiff(got, p))
	}
	if got := readAt(t, m, 1000*aheadChunk, 8); !bytes.Equal(got, make([]byte, 8)) {
		t.Fatalf("the gap reads %x, want zeros", got)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	wantDatasetFiles(t, m, dir, "after the write across the gap")
}
