package chunkmap

import (
	"strconv"
	"testing"
)

// TestRecentAt checks that the table of recent chunks of Gather's and
// Scatter's blocks keeps 32 consecutive chunks at 32 different places, for
// every chunk size and wherever the run starts: a block over them then
// checks each chunk once. With one multiplier for every chunk size, 1 GiB
// chunks shared places in pairs and 2 GiB chunks in fours.
func TestRecentAt(t *testing.T) {
	for shift := log2(MinChunkSize); shift <= log2(MaxChunkSize); shift++ {
		mul, mask := recentMul(shift), int64(1)<<shift-1
		top := int64(1)<<(52-shift) - 32 // where recentMul's argument ends
		for _, first := range []int64{0, 1, 2, 31, 1000, 12345, 1 << 15, top / 3, top} {
			at := map[uint64]int64{}
			for i := first; i < first+32; i++ {
				h := recentAt(i<<shift|mask, mul)
				if prev, ok := at[h]; ok {
					t.Fatalf("chunk size %d: chunks %d and %d share place %d of the table", int64(1)<<shift, prev, i, h)
				}
				at[h] = i
			}
		}
	}
}

// TestGatherBlock_ChecksEachChunkOnce checks that a block of Gather or
// Scatter over a few large chunks, its values going to each chunk in turn,
// checks (or enters) each chunk's slot once and takes every value: with
// the table of recent chunks keeping them apart, which the chunk size must
// not change.
func TestGatherBlock_ChecksEachChunkOnce(t *testing.T) {
	if strconv.IntSize == 32 {
		t.Skip("the chunks span 16 GiB of address space")
	}
	for _, c := range []struct {
		chunk  int64
		chunks int
	}{{1 << 30, 16}, {2 << 30, 8}, {64 << 10, 32}} {
		t.Run(strconv.FormatInt(c.chunk>>10, 10)+"KiB", func(t *testing.T) {
			m, err := Open(t.TempDir(), &Options{ChunkSize: c.chunk, MaxMapped: c.chunks})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			// Allocate as little of each chunk as stores may go to, so
			// that the test takes a few MiB of disk, not 64 MiB a chunk,
			// and leave the gaps between the writes holes where the
			// Manager would allocate them (holesFault: on a tmpfs, 16 GiB
			// of memory a case).
			m.allocStep = m.allocAlign
			m.holesFault = false
			offs := make([]int64, gatherBlock)
			for i := range offs {
				offs[i] = int64(i%c.chunks)*c.chunk + int64(i/c.chunks)*8
			}
			for i := range c.chunks {
				if _, err := m.WriteAt(make([]byte, 4096), int64(i)*c.chunk); err != nil {
					t.Fatal(err)
				}
				p, err := m.Pin(int64(i)*c.chunk, 8) // maps the chunk in its slot
				if err != nil {
					t.Fatal(err)
				}
				defer p.Release()
			}
			var gs gatherSlots
			if k := m.resolve(offs, 8, &gs); k != len(offs) || gs.n != c.chunks {
				t.Errorf("Gather's check pass took %d of %d values and checked %d slots for %d chunks", k, len(offs), gs.n, c.chunks)
			}
			var ws scatterSlots
			k := m.enterAll(offs, 8, &ws)
			for _, s := range ws.entered[:ws.n] {
				s.leave()
			}
			if k != len(offs) || ws.n != c.chunks {
				t.Errorf("Scatter's check pass took %d of %d values and entered %d slots for %d chunks", k, len(offs), ws.n, c.chunks)
			}
		})
	}
}

// TestGatherBlock_StopsAtStraddle checks that both check passes stop before
// a value across a chunk boundary whose first chunk the block has checked
// already (Scatter's pass finds it past the bytes it may store to in that
// chunk, and its announcement in the slot then refuses it).
func TestGatherBlock_StopsAtStraddle(t *testing.T) {
	m := dirtyMapped(t, 0, 1)
	cs := m.ChunkSize()
	offs := []int64{8, 16, cs - 4, 24}
	var gs gatherSlots
	if k := m.resolve(offs, 8, &gs); k != 2 {
		t.Errorf("Gather's check pass took %d values of %v (8 bytes each, chunks of %d): want 2", k, offs, cs)
	}
	var ws scatterSlots
	k := m.enterAll(offs, 8, &ws)
	for _, s := range ws.entered[:ws.n] {
		s.leave()
	}
	if k != 2 {
		t.Errorf("Scatter's check pass took %d values of %v (8 bytes each, chunks of %d): want 2", k, offs, cs)
	}
	if err := m.Scatter(make([]byte, 32), offs, 8); err != nil {
		t.Fatalf("Scatter over a boundary: %v", err)
	}
	wantRead(t, m, cs-4, 8, 0, "the value Scatter stored across the boundary")
	wantRead(t, m, cs-12, 8, 'A', "the bytes before it")
}
