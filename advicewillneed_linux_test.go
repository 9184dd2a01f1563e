package chunkmap_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// TestAdvice_WillNeedReadsTheWholeRange checks that AdviceWillNeed reads in
// every page of its range, for chunks mapped and not: Linux reads no more
// than the read-ahead window (or the device's largest request) of one
// WILLNEED hint, so one hint of a whole chunk brought in 8 MiB of each of
// two 32 MiB chunks (read_ahead_kb 8192) and 128 KiB on a device with the
// default window. The pages come in after the call returns, so the test
// waits for them (the reading, not its speed, is checked: the wait is a
// bound on a disk read of 64 MiB, far above what it takes).
func TestAdvice_WillNeedReadsTheWholeRange(t *testing.T) {
	dir := t.TempDir()
	readAheadHere(t, dir)
	const chunkSize = 32 << 20
	m, err := chunkmap.Open(filepath.Join(dir, "ds"), &chunkmap.Options{ChunkSize: chunkSize})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i*7 + 1)
	}
	for off := int64(0); off < 2*chunkSize; off += int64(len(block)) {
		writeAt(t, m, block, off)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	paths := []string{filepath.Join(dir, "ds", chunk.Name(0)), filepath.Join(dir, "ds", chunk.Name(1))}
	const pages = chunkSize / 4096
	resident := func() (n int) {
		for _, p := range paths {
			n += residentPages(t, p)
		}
		return n
	}
	for _, pinned := range []bool{false, true} {
		if pinned {
			// Chunk 0 mapped: its hint goes to the mapping too.
			p, err := m.Pin(0, 4096)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Release()
		}
		if err := m.Advise(0, 2*chunkSize, chunkmap.AdviceDontNeed); err != nil {
			t.Fatal(err)
		}
		if n := resident(); n > pages/8 {
			t.Skipf("%d of %d pages stay cached after AdviceDontNeed", n, 2*pages)
		}
		if err := m.Advise(0, 2*chunkSize, chunkmap.AdviceWillNeed); err != nil {
			t.Fatal(err)
		}
		n := 0
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if n = resident(); n == 2*pages {
				break
			}
		}
		if n != 2*pages {
			t.Errorf("pinned %v: %d of %d pages resident after AdviceWillNeed of both chunks", pinned, n, 2*pages)
		}
	}
}
