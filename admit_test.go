package chunkmap_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/chunkmap/chunkmap"
)

// admissionDataset opens a dataset of chunks 64 KiB chunks, each filled with
// its own index, with Admission on and at most maxMapped of them mapped.
func admissionDataset(t *testing.T, chunks int64, maxMapped int) *chunkmap.Manager {
	t.Helper()
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: maxMapped})
	for i := range chunks {
		writeAt(t, m, bytes.Repeat([]byte{byte(i)}, int(cs)), i*cs)
	}
	return m
}

// readChunks does n random 8-byte reads spread uniformly over chunks
// [from, to), checking each read's bytes.
func readChunks(t *testing.T, m *chunkmap.Manager, r *rand.Rand, from, to int64, n int) {
	t.Helper()
	var b [8]byte
	for range n {
		idx := from + r.Int64N(to-from)
		off := idx*cs + r.Int64N(cs-8)
		if _, err := m.ReadAt(b[:], off); err != nil {
			t.Fatalf("ReadAt(%d): %v", off, err)
		}
		if b != [8]byte(bytes.Repeat([]byte{byte(idx)}, 8)) {
			t.Fatalf("ReadAt(%d) = %x, want chunk %d's bytes", off, b, idx)
		}
	}
}

// TestAdmission_UniformDoesNotRemap checks that with a uniform working set
// larger than the mapped window, Admission serves the misses with pread
// rather than remapping: no chunk is hotter than the mapped ones, so
// remapping would buy nothing and cost a map, an unmap and page faults.
func TestAdmission_UniformDoesNotRemap(t *testing.T) {
	for _, tc := range []struct {
		name      string
		chunks    int64
		maxMapped int
	}{
		{"chunks=32/maxmapped=8", 32, 8},
		{"chunks=64/maxmapped=1", 64, 1},
		{"chunks=1024/maxmapped=256", 1024, 256},
		// One chunk more than fits: the reads between two misses then
		// reach a given mapped chunk only every other time.
		{"chunks=5/maxmapped=4", 5, 4},
		{"chunks=17/maxmapped=16", 17, 16},
		{"chunks=2/maxmapped=1", 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if raceEnabled && tc.chunks > 64 {
				// Counting, not racing: 400,000 reads take 6 s under the
				// race detector, and the smaller windows race the same.
				t.Skip("a window of hundreds of chunks is left to the run without -race")
			}
			m := admissionDataset(t, tc.chunks, tc.maxMapped)
			r := rand.New(rand.NewPCG(1, uint64(tc.chunks)))
			// Warm up: the window fills and the counts settle.
			readChunks(t, m, r, 0, tc.chunks, 200*int(tc.chunks))
			s0 := m.Stats()
			n := 200_000
			if raceEnabled {
				n = 60_000 // and at most 3 maps
			}
			readChunks(t, m, r, 0, tc.chunks, n)
			s1 := m.Stats()
			maps := s1.Maps - s0.Maps
			misses := s1.Misses - s0.Misses
			t.Logf("%d reads: %d maps, %d misses", n, maps, misses)
			// Unmapped chunks are (chunks-maxMapped)/chunks of the reads.
			if want := int64(n) * (tc.chunks - int64(tc.maxMapped)) / tc.chunks; misses < want*9/10 {
				t.Errorf("%d misses, want about %d: reads of unmapped chunks are not all counted", misses, want)
			}
			if maps > int64(n/20_000) {
				t.Errorf("%d maps in %d uniform reads; want at most %d", maps, n, n/20_000)
			}
			if s1.Mapped > tc.maxMapped {
				t.Errorf("Mapped = %d, want at most MaxMapped %d", s1.Mapped, tc.maxMapped)
			}
		})
	}
}

// TestAdmission_FollowsHotSet checks that chunks that become hot are mapped
// promptly, replacing the ones that went cold, so the pread path does not
// keep serving a working set that now fits the window.
func TestAdmission_FollowsHotSet(t *testing.T) {
	for _, tc := range []struct {
		name              string
		chunks, maxMapped int64
		warm              int
	}{
		// With many chunks mapped the scans for a victim are spread out
		// (see admitLocked), and the hot set is larger: it takes longer.
		{"chunks=64/maxmapped=4", 64, 4, 5_000},
		{"chunks=512/maxmapped=64", 512, 64, 60_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := admissionDataset(t, tc.chunks, int(tc.maxMapped))
			r := rand.New(rand.NewPCG(2, 2))
			readChunks(t, m, r, 0, tc.chunks, 100_000)
			for _, hot := range []int64{tc.chunks * 5 / 8, tc.chunks / 8, tc.chunks * 7 / 8} { // three shifts
				hot = min(hot, tc.chunks-tc.maxMapped)
				readChunks(t, m, r, hot, hot+tc.maxMapped, tc.warm)
				s0 := m.Stats()
				readChunks(t, m, r, hot, hot+tc.maxMapped, 20_000)
				s1 := m.Stats()
				if d := s1.Misses - s0.Misses; d > 200 {
					t.Errorf("hot set %d..%d: %d of 20000 reads missed after %d reads of warm-up; want the set mapped",
						hot, hot+tc.maxMapped-1, d, tc.warm)
				}
			}
		})
	}
}

// TestAdmission_SkewedWorkingSet checks the common case between the two: a
// few chunks take most reads and many take the rest. The hot ones must end
// up mapped, and the rest must not churn the window.
func TestAdmission_SkewedWorkingSet(t *testing.T) {
	const chunks, maxMapped, hot = 128, 8, 6
	m := admissionDataset(t, chunks, maxMapped)
	r := rand.New(rand.NewPCG(3, 3))
	mixed := func(n int) {
		for range n / 10 {
			readChunks(t, m, r, 0, hot, 9) // 90% of reads on 6 chunks
			readChunks(t, m, r, hot, chunks, 1)
		}
	}
	mixed(100_000)
	s0 := m.Stats()
	const n = 200_000
	mixed(n)
	s1 := m.Stats()
	misses, maps := s1.Misses-s0.Misses, s1.Maps-s0.Maps
	t.Logf("%d reads: %d misses, %d maps", n, misses, maps)
	if misses > n/10 {
		t.Errorf("%d misses in %d reads with 90%% on %d chunks; want at most the cold 10%%", misses, n, hot)
	}
	if maps > n/10_000 {
		t.Errorf("%d maps in %d reads; want the window to settle", maps, n)
	}
}

// TestAdmission_UnmappableChunkEvictsNothing checks that admission does
// not evict a mapped chunk for a chunk that cannot be mapped anyway, whose
// arena slot is held by another chunk (a pin of a chunk a whole arena
// apart, or of a chunk deleted while pinned and made anew): pread serves
// it, and the mapped chunks stay. Reads many times as frequent on that
// chunk as on the two mapped ones, which admission would let replace one,
// must evict nothing.
func TestAdmission_UnmappableChunkEvictsNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		// hold pins what keeps chunk 0 out of its slot, and returns the
		// release.
		hold func(t *testing.T, m *chunkmap.Manager) func()
	}{
		{"slot held by another chunk", func(t *testing.T, m *chunkmap.Manager) func() {
			p, err := m.Pin(4*cs, 8) // chunk 4, slot 0
			if err != nil {
				t.Fatal(err)
			}
			return p.Release
		}},
		{"slot of a chunk deleted while held", func(t *testing.T, m *chunkmap.Manager) func() {
			p, err := m.Pin(0, 8)
			if err != nil {
				t.Fatal(err)
			}
			data := readAt(t, m, 0, int(6*cs))
			if err := m.Truncate(0); err != nil {
				t.Fatal(err)
			}
			writeAt(t, m, data, 0)
			return p.Release
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sharedSlotManager(t)
			release := tc.hold(t, m)
			defer release()
			r := rand.New(rand.NewPCG(2, 3))
			readChunks(t, m, r, 1, 3, 8) // chunks 1 and 2 mapped
			before := m.Stats()
			for range 20 {
				readChunks(t, m, r, 0, 1, 20)
				readChunks(t, m, r, 1, 3, 2)
			}
			after := m.Stats()
			if d := after.Evictions - before.Evictions; d != 0 {
				t.Errorf("reads of a chunk whose slot is held evicted %d mapped chunks for it, want 0 (Stats %+v)", d, after)
			}
		})
	}
}

// sharedSlotManager opens a dataset of six chunks, each filled with its
// index, with MaxMapped 2 and an arena of four slots: chunks 0 and 4 share
// slot 0.
func sharedSlotManager(t *testing.T) *chunkmap.Manager {
	t.Helper()
	m := newTestManager(t, &chunkmap.Options{ChunkSize: cs, MaxMapped: 2, ArenaSize: 4 * cs})
	for i := range int64(6) {
		writeAt(t, m, bytes.Repeat([]byte{byte(i)}, int(cs)), i*cs)
	}
	return m
}

// TestAdmission_SharedSlotComparesItsOccupant checks admission for a chunk
// whose arena slot holds another mapped chunk, with MaxMapped chunks
// mapped: mapping it replaces that occupant, so the occupant is the chunk
// it must outdo, and no other is evicted. Chunks 0 and 4 share slot 0 and
// are read in turn, as often as each other; chunk 1, mapped and idle, has
// the fewest uses. Admission must keep serving chunk 0 with pread (it is
// no hotter than chunk 4), rather than evict chunk 1 and chunk 4 for it
// and then remap chunks 0 and 4 at every read.
func TestAdmission_SharedSlotComparesItsOccupant(t *testing.T) {
	m := sharedSlotManager(t)
	r := rand.New(rand.NewPCG(4, 5))
	readChunks(t, m, r, 1, 2, 1)
	readChunks(t, m, r, 4, 5, 1)
	before := m.Stats()
	for range 200 {
		readChunks(t, m, r, 4, 5, 1)
		readChunks(t, m, r, 0, 1, 1)
	}
	after := m.Stats()
	if d := after.Evictions - before.Evictions; d != 0 {
		t.Errorf("reads taking turns on two chunks that share a slot evicted %d times, want 0 (Stats %+v)", d, after)
	}
}

// TestAdmission_LargeReadsDisplaceNothing: a scan in reads of 64 KiB or
// more, over more chunks than MaxMapped, maps the chunks there is room for
// and reads the rest with pread, pass after pass, while small reads still
// decide what is mapped. Each chunk's sixteen misses outdid the mapped
// chunk with the fewest uses, so every pass remapped every chunk past the
// window and faulted its pages in again: a scan of 16 chunks of 64 MiB, 4
// mapped, in 1 MiB reads, took twice as long as os.File's.
func TestAdmission_LargeReadsDisplaceNothing(t *testing.T) {
	const (
		chunkSize = 1 << 20
		chunks    = 8
		piece     = 64 << 10
	)
	m := newTestManager(t, &chunkmap.Options{ChunkSize: chunkSize, MaxMapped: 2})
	for i := range int64(chunks) {
		writeAt(t, m, bytes.Repeat([]byte{byte(i + 1)}, chunkSize), i*chunkSize)
	}
	m = reopen(t, m, &chunkmap.Options{ChunkSize: chunkSize, MaxMapped: 2})
	p := make([]byte, piece)
	for pass := range 3 {
		for off := int64(0); off < chunks*chunkSize; off += piece {
			if _, err := m.ReadAt(p, off); err != nil {
				t.Fatalf("pass %d: ReadAt(%d): %v", pass, off, err)
			}
			if want := byte(off/chunkSize + 1); p[0] != want || p[piece-1] != want {
				t.Fatalf("pass %d: ReadAt(%d) read %d…%d, want %d", pass, off, p[0], p[piece-1], want)
			}
		}
	}
	st := m.Stats()
	t.Logf("after 3 scans: %+v", st)
	if st.Maps > 2 || st.Evictions != 0 {
		t.Errorf("3 scans of %d chunks, MaxMapped 2: %d maps, %d evictions; want the 2 there was room for, and none evicted", chunks, st.Maps, st.Evictions)
	}
	// Small reads still decide: many of them on a chunk the scan left
	// unmapped map it, displacing one.
	var b [8]byte
	for i := range 2000 {
		if _, err := m.ReadAt(b[:], 5*chunkSize+int64(i%1000)*8); err != nil {
			t.Fatal(err)
		}
	}
	if after := m.Stats(); after.Maps != st.Maps+1 || after.Evictions != 1 {
		t.Errorf("2000 small reads of chunk 5: %d maps and %d evictions after the scans' %d and %d; want one more of each", after.Maps, after.Evictions, st.Maps, st.Evictions)
	}
}
