package chunkmap_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chunkmap/chunkmap"
	"github.com/chunkmap/chunkmap/internal/chunk"
)

// TestAdvice_WillNeedReadsTheWholeRange checks that AdviceWillNeed reads in
// every page of its range, for chunks mapped and not: Linux reads no more
// than the read-ahead window (or the device's largest request) of one
// WILLNEED hint, so one hint of a whole chunk brought in 8 MiB of each of
// two 32 MiB chunks (read_ahead_kb 8192) and 128 KiB on a device with the
// default window. The pages come in after the call returns, so the test
// waits for them while their count grows (the reading, not its speed, is
// checked).
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
		// Wait while the count grows; a reclaim under memory pressure
		// may take back a page or two.
		n, last, moved := 0, -1, time.Now()
		for time.Since(moved) < 5*time.Second {
			if n = resident(); n >= 2*pages {
				break
			}
			if n != last {
				last, moved = n, time.Now()
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n < 2*pages*99/100 {
			t.Errorf("pinned %v: %d of %d pages resident after AdviceWillNeed of both chunks", pinned, n, 2*pages)
		}
	}
}

// TestAdvice_WillNeedDefaultSkipsNewChunks checks that Options.Advice
// AdviceWillNeed reads no chunk file whole that the Manager creates, which
// holds only holes: each new chunk of 32 MiB read in whole, as zeros, took
// 0.4 s and its size in page cache (1 GiB chunks: 865 ms for two, against
// 4.6 ms with one hint of the read-ahead window per mapping).
func TestAdvice_WillNeedDefaultSkipsNewChunks(t *testing.T) {
	dir := t.TempDir()
	readAheadHere(t, dir)
	const chunkSize = 32 << 20
	// A mapping gets one hint, which reads the device's window: where that
	// is half a chunk or more, a new chunk read in whole cannot be told
	// from one hint.
	probe := filepath.Join(dir, "window")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(probe, chunkSize); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(probe)
	if err != nil {
		t.Fatal(err)
	}
	err = unix.Fadvise(int(f.Fd()), 0, chunkSize, unix.FADV_WILLNEED)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := residentPages(t, probe); n >= chunkSize/4096/2 {
		t.Skipf("one WILLNEED hint reads %d of a %d-page file here", n, chunkSize/4096)
	}
	m, err := chunkmap.Open(filepath.Join(dir, "ds"), &chunkmap.Options{ChunkSize: chunkSize, Advice: chunkmap.AdviceWillNeed})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	writeAt(t, m, []byte("hello"), 0)
	writeAt(t, m, []byte("hello"), chunkSize+7)
	p, err := m.Pin(chunkSize, 5) // maps chunk 1
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	time.Sleep(200 * time.Millisecond) // what a hint started, done
	for i := range int64(2) {
		path := filepath.Join(dir, "ds", chunk.Name(i))
		if n := residentPages(t, path); n > chunkSize/4096/2 {
			t.Errorf("chunk %d: %d of %d pages of a new chunk file resident", i, n, chunkSize/4096)
		}
	}
}
